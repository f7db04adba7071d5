//! Running commands: echoed so the log shows what ran, checked so a failure names the
//! command, captured for queries, looked up on `PATH`.

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};

use crate::error::{Context, Result, bail};

/// Render a command as a shell-like line, environment overrides first, so
/// the log shows exactly what ran and a developer can paste it.
pub(crate) fn show(cmd: &Command) -> String {
    let envs = cmd.get_envs().filter_map(|(key, value)| {
        value.map(|v| format!("{}={}", key.to_string_lossy(), quote(v)))
    });
    let words = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote);
    envs.chain(words).collect::<Vec<_>>().join(" ")
}

/// Quote one word for [`show`] when the shell would otherwise split or
/// interpret it.
fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A command's short form for error messages: program name and arguments,
/// without the environment and directory that [`show`] echoed beforehand.
pub(crate) fn brief(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(name)
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Start a command (echoed first) and wait for it, returning its status
/// whatever it is; for callers that pass a program's exit code on.
pub(crate) fn status(cmd: &mut Command) -> Result<ExitStatus> {
    println!("$ {}", show(cmd));
    cmd.status().context(format_args!(
        "cannot start `{}`",
        cmd.get_program().to_string_lossy()
    ))
}

/// Run a command to completion and fail unless it succeeded.
pub(crate) fn run(cmd: &mut Command) -> Result {
    let st = status(cmd)?;
    if !st.success() {
        bail!("`{}` failed ({st})", brief(cmd));
    }
    Ok(())
}

/// Run a command quietly and return its stdout, for queries like
/// `rustup target list`.
pub(crate) fn capture(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .context(format_args!("cannot start `{}`", show(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).context(format_args!("`{}` printed non-UTF-8", show(cmd)))
}

/// Look a command up on `PATH` as a shell would, without running it (`wine
/// --version` alone would start Wine machinery); on Windows, `name.exe`.
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    let file = format!("{name}{}", env::consts::EXE_SUFFIX);
    env::split_paths(&path)
        .map(|dir| dir.join(&file))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file we may execute (following symlinks, so a
/// dangling Debian alternative counts as missing).
#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `path` is a file we may execute (non-Unix fallback).
#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Whether we run as root, i.e. may install packages ourselves (CI does).
pub(crate) fn is_root() -> bool {
    capture(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// Turn a child's status into our exit code, so `cargo xtask wine` and
/// `example` fail exactly when the Windows program did.
pub(crate) fn exit_code(st: ExitStatus) -> ExitCode {
    match st.code() {
        Some(0) => ExitCode::SUCCESS,
        // Keep the low byte when it is informative (Windows codes can be
        // larger than a Unix exit status), but never turn failure into 0.
        Some(code) => ExitCode::from(
            u8::try_from(code & 0xFF)
                .ok()
                .filter(|&c| c != 0)
                .unwrap_or(1),
        ),
        None => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoed commands can be pasted into a shell.
    #[test]
    fn show_quotes_only_what_needs_it() {
        let mut cmd = Command::new("wine");
        cmd.env("WINEDEBUG", "-all")
            .arg(r"Local\x")
            .arg("a b")
            .arg("it's");
        assert_eq!(
            show(&cmd),
            r#"WINEDEBUG=-all wine 'Local\x' 'a b' 'it'\''s'"#
        );
    }
}
