//! Running Windows code here: the shim DLL, the private Wine prefix, the environment every
//! Wine command gets (`WineEnv`), the C peers, and the `wine` and `example` commands.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::error::{Context, Result, bail};
use crate::process::{brief, exit_code, find_in_path, run, show, status};
use crate::toolchain::{
    MINGW_GCC, WINDOWS_GNU, WINE_TOOLS, ensure_host_tools, ensure_rust_targets,
};
use crate::workspace::{LIB_PACKAGE, Workspace};

/// Flags for every C peer: strict, so a sloppy peer cannot hide a bug from
/// the tests; `-municode` because peers take UTF-16 names through `wmain`.
const PEER_CFLAGS: [&str; 5] = ["-O2", "-Wall", "-Wextra", "-Werror", "-municode"];

/// How long `wineserver -w` may wait for Wine processes to finish after a
/// run. The server itself lingers about 3 s; much longer means a process
/// leaked (e.g. a peer still waiting on stdin).
const WINESERVER_GRACE: Duration = Duration::from_secs(60);

/// Upper bound for `wineboot -i`: it normally takes 10-20 s, and a hang (a
/// dialog nobody can click) must fail the run rather than stall it.
const WINEBOOT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Name of the file marking a fully initialised Wine prefix, so an
/// interrupted `wineboot` is redone instead of trusted.
const PREFIX_STAMP: &str = ".xtask-prefix-ready";

/// Modification time of `path`, or `None` if it does not exist.
fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Build the bcryptprimitives.dll shim (see `xtask/shim/shim.c` for why it
/// exists) unless it is newer than its sources; returns the DLL's path.
pub(crate) fn build_shim(ws: &Workspace) -> Result<PathBuf> {
    let dll = ws.shim_dll();
    let sources = ws.shim_sources();
    let built = mtime(&dll);
    let fresh = sources
        .iter()
        .all(|src| matches!((mtime(src), built), (Some(s), Some(b)) if s <= b));
    if fresh {
        println!("shim up to date: {}", dll.display());
        return Ok(dll);
    }
    let dir = dll.parent().expect("shim DLL has a parent dir");
    fs::create_dir_all(dir).context(format_args!("creating {}", dir.display()))?;
    run(Command::new(MINGW_GCC)
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-o"])
        .arg(&dll)
        .args(&sources)
        .arg("-lbcrypt"))?;
    Ok(dll)
}

/// The environment in which Windows programs run here: one private prefix,
/// quiet Wine, cargo's runner pointed at `wine`, the C peers' location.
/// Shared by `test`, `wine` and `example` so they cannot drift apart.
pub(crate) struct WineEnv {
    /// The `WINEPREFIX`.
    prefix: PathBuf,
    /// `WSM_C_PEER_DIR` as Windows code sees it (`Z:\...`).
    peer_dir: String,
}

impl WineEnv {
    /// The environment for this workspace (nothing is created yet).
    fn new(ws: &Workspace) -> Result<Self> {
        Self::at(ws, ws.wine_prefix())
    }

    /// The environment of another prefix of this workspace (nothing is created yet).
    fn at(ws: &Workspace, prefix: PathBuf) -> Result<Self> {
        Ok(Self {
            prefix,
            peer_dir: wine_path(&ws.peer_dir())?,
        })
    }

    /// The prefix's `C:\windows\system32`.
    pub(crate) fn system32(&self) -> PathBuf {
        system32(&self.prefix)
    }

    /// Variables every Wine-related command gets.
    fn vars(&self) -> [(&'static str, &OsStr); 5] {
        [
            ("WINEPREFIX", self.prefix.as_os_str()),
            // Silence Wine's debug channels and its "wine32 is missing" hint.
            ("WINEDEBUG", OsStr::new("-all")),
            // Never offer to install Mono or Gecko (a GUI prompt on a display,
            // a hang or a download otherwise).
            ("WINEDLLOVERRIDES", OsStr::new("mscoree,mshtml=")),
            (
                "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER",
                OsStr::new("wine"),
            ),
            ("WSM_C_PEER_DIR", OsStr::new(&self.peer_dir)),
        ]
    }

    /// Put [`Self::vars`] on `cmd`.
    pub(crate) fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.envs(self.vars())
    }

    /// A `wineserver` command for this prefix.
    fn wineserver(&self, flag: &str) -> Command {
        let mut cmd = Command::new("wineserver");
        cmd.arg(flag);
        self.apply(&mut cmd);
        cmd
    }

    /// Wait for every Wine process of the prefix and the server to exit
    /// (the server outlives the last program by a few seconds, and must not
    /// hold files or CI's process tree). Processes still alive after
    /// [`WINESERVER_GRACE`] were leaked by someone: they are killed and
    /// reported as an error.
    pub(crate) fn wait_for_wineserver(&self) -> Result {
        let mut cmd = self.wineserver("-w");
        match self.spawn_bounded(&mut cmd, WINESERVER_GRACE)? {
            Some(_) => Ok(()),
            None => bail!(
                "Wine processes were still running {} s after the run \
                 (leaked by a test?); killed them",
                WINESERVER_GRACE.as_secs()
            ),
        }
    }

    /// Kill every Wine process of the prefix; best effort, for cleanup
    /// after a timeout.
    fn kill_all(&self) {
        let mut cmd = self.wineserver("-k");
        println!("$ {}", show(&cmd));
        let _ = cmd.status();
    }

    /// Like [`run`], but kills the command and every Wine process of the
    /// prefix after `limit`: under Wine a deadlocked test or an invisible
    /// dialog would otherwise hang the run until CI's own, much later,
    /// timeout.
    pub(crate) fn run_bounded(&self, cmd: &mut Command, limit: Duration) -> Result {
        match self.status_bounded(cmd, limit)? {
            st if st.success() => Ok(()),
            st => bail!("`{}` failed ({st})", brief(cmd)),
        }
    }

    /// Like [`Self::run_bounded`], but any exit status is returned, not an error.
    pub(crate) fn status_bounded(&self, cmd: &mut Command, limit: Duration) -> Result<ExitStatus> {
        match self.spawn_bounded(cmd, limit)? {
            Some(st) => Ok(st),
            None => bail!(
                "`{}` did not finish within {} s; killed it and all Wine processes",
                brief(cmd),
                limit.as_secs()
            ),
        }
    }

    /// Runs `cmd` for at most `limit`; its exit status, or `None` when it ran
    /// out of time and was killed with every Wine process of the prefix.
    fn spawn_bounded(&self, cmd: &mut Command, limit: Duration) -> Result<Option<ExitStatus>> {
        println!("$ {}", show(cmd));
        let mut child = cmd.spawn().context(format_args!(
            "cannot start `{}`",
            cmd.get_program().to_string_lossy()
        ))?;
        let started = Instant::now();
        loop {
            if let Some(st) = child.try_wait().context("waiting for a child")? {
                return Ok(Some(st));
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                self.kill_all();
                return Ok(None);
            }
            sleep(Duration::from_millis(100));
        }
    }
}

/// The path Windows code under Wine sees for a Unix path: Wine maps `/` to
/// drive `Z:`, so `/a/b` is `Z:\a\b`.
fn wine_path(unix: &Path) -> Result<String> {
    let Some(text) = unix.to_str() else {
        bail!("{} is not UTF-8", unix.display());
    };
    if !unix.is_absolute() {
        bail!("{text} is not an absolute path");
    }
    Ok(format!("Z:{}", text.replace('/', "\\")))
}

/// Create the private Wine prefix unless a previous run finished it, then
/// (re)install the shim DLL into its system32 if it differs.
pub(crate) fn setup_wine_prefix(ws: &Workspace, dll: &Path) -> Result<WineEnv> {
    let env = WineEnv::new(ws)?;
    if env.prefix.join(PREFIX_STAMP).exists() {
        println!("wine prefix ready: {}", env.prefix.display());
    } else {
        boot_prefix(ws, &env)?;
    }
    let installed = system32(&env.prefix).join("bcryptprimitives.dll");
    let new = fs::read(dll).context(format_args!("reading {}", dll.display()))?;
    if fs::read(&installed).ok().as_ref() != Some(&new) {
        fs::write(&installed, &new).context(format_args!("writing {}", installed.display()))?;
        println!("installed shim into {}", installed.display());
    }
    Ok(env)
}

/// A new prefix as a user's stock Wine makes it, with nothing installed into it: made anew on
/// every call, in `target/<name>`, so that nothing an earlier run put there can help.
pub(crate) fn fresh_stock_prefix(ws: &Workspace, name: &str) -> Result<WineEnv> {
    let env = WineEnv::at(ws, ws.target.join(name))?;
    boot_prefix(ws, &env)?;
    Ok(env)
}

/// Creates the prefix of `env` with `wineboot -i`, removing what an earlier or unfinished
/// run left there, and stamps it as finished.
fn boot_prefix(ws: &Workspace, env: &WineEnv) -> Result {
    if env.prefix.exists() {
        println!("removing wine prefix {}", env.prefix.display());
        env.kill_all();
        fs::remove_dir_all(&env.prefix)
            .context(format_args!("removing {}", env.prefix.display()))?;
    }
    fs::create_dir_all(&ws.target).context(format_args!("creating {}", ws.target.display()))?;
    println!(
        "creating wine prefix {} (takes ~15 s)",
        env.prefix.display()
    );
    let started = Instant::now();
    let mut boot = Command::new("wineboot");
    boot.arg("-i");
    env.apply(&mut boot);
    // A console-only prefix: no window may pop up, even on a desktop.
    boot.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    env.run_bounded(&mut boot, WINEBOOT_TIMEOUT)?;
    println!(
        "(a \"syswow64\\rundll32.exe\": c0000135 message above is expected: \
         there is no 32-bit Wine here, and nothing needs it)"
    );
    env.wait_for_wineserver()?;
    if !system32(&env.prefix).is_dir() {
        bail!(
            "wineboot succeeded but {} is missing",
            system32(&env.prefix).display()
        );
    }
    let stamp = env.prefix.join(PREFIX_STAMP);
    fs::write(&stamp, "created by cargo xtask\n")
        .context(format_args!("writing {}", stamp.display()))?;
    println!(
        "wine prefix created in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The prefix's `C:\windows\system32`, where the shim DLL goes (64-bit
/// DLLs live there, despite the name).
fn system32(prefix: &Path) -> PathBuf {
    prefix.join("drive_c").join("windows").join("system32")
}

/// A C compiler that makes Windows programs of the C peers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CCompiler {
    /// MinGW's gcc, by its command name: the cross compiler on Linux, `gcc` on Windows.
    Gcc(&'static str),
    /// MSVC's `cl`, on a Windows host whose environment has it (a developer prompt).
    Msvc,
}

impl CCompiler {
    /// The compiler a Windows host offers on `PATH`: MinGW's gcc first (the compiler and flags
    /// of the Wine runs), else MSVC's `cl`; `None` when there is neither.
    pub(crate) fn on_windows_host() -> Option<Self> {
        if find_in_path("gcc").is_some() {
            Some(Self::Gcc("gcc"))
        } else if find_in_path("cl").is_some() {
            Some(Self::Msvc)
        } else {
            None
        }
    }

    /// The command that compiles `source` into `exe`, with every warning an error.
    fn compile(self, source: &Path, exe: &Path) -> Command {
        match self {
            Self::Gcc(gcc) => {
                let mut cmd = Command::new(gcc);
                cmd.args(PEER_CFLAGS).arg("-o").arg(exe).arg(source);
                cmd
            }
            Self::Msvc => {
                let mut cmd = Command::new("cl");
                // The objects go beside the programs; wmain needs no flag with MSVC; the CRT's
                // "use the _s functions" advice is not a defect in a test peer.
                cmd.args(["/nologo", "/O2", "/W3", "/WX", "/D_CRT_SECURE_NO_WARNINGS"])
                    .arg(format!("/Fe{}", exe.display()))
                    .arg(source);
                if let Some(dir) = exe.parent() {
                    cmd.current_dir(dir);
                }
                cmd
            }
        }
    }
}

/// Compile every `tests/c/*.c` into `target/c-peers/<stem>.exe` with `compiler`. Always
/// rebuilt: it takes a moment and cannot go stale that way.
pub(crate) fn build_c_peers(ws: &Workspace, compiler: CCompiler) -> Result {
    let src_dir = ws.peer_sources();
    let out_dir = ws.peer_dir();
    let mut sources: Vec<PathBuf> = match fs::read_dir(&src_dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()
            .context(format_args!("listing {}", src_dir.display()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => bail!("listing {}: {e}", src_dir.display()),
    };
    sources.retain(|p| p.extension().is_some_and(|ext| ext == "c"));
    sources.sort();
    if sources.is_empty() {
        println!("no C peers in {}", src_dir.display());
        return Ok(());
    }
    fs::create_dir_all(&out_dir).context(format_args!("creating {}", out_dir.display()))?;
    for src in &sources {
        let stem = src.file_stem().expect("a .c file has a stem");
        let mut exe_name = stem.to_owned();
        exe_name.push(".exe");
        let exe = out_dir.join(exe_name);
        run(&mut compiler.compile(src, &exe))?;
    }
    Ok(())
}

/// Everything `wine` and `example` need before running a Windows program:
/// the same pieces `test` runs as separate steps.
pub(crate) fn prepare_wine(ws: &Workspace) -> Result<WineEnv> {
    ensure_host_tools(&WINE_TOOLS)?;
    let dll = build_shim(ws)?;
    let env = setup_wine_prefix(ws, &dll)?;
    build_c_peers(ws, CCompiler::Gcc(MINGW_GCC))?;
    Ok(env)
}

/// `cargo xtask wine`: run one Windows program in the prepared prefix.
pub(crate) fn cmd_wine(ws: &Workspace, program: &OsStr, args: &[OsString]) -> Result<ExitCode> {
    let env = prepare_wine(ws)?;
    let mut cmd = Command::new("wine");
    cmd.arg(program).args(args);
    env.apply(&mut cmd);
    let st = status(&mut cmd)?;
    env.wait_for_wineserver()?;
    Ok(exit_code(st))
}

/// `cargo xtask example`: build an example for Windows and run it under Wine.
pub(crate) fn cmd_example(ws: &Workspace, name: &str, args: &[OsString]) -> Result<ExitCode> {
    ensure_rust_targets(&[WINDOWS_GNU])?;
    let env = prepare_wine(ws)?;
    let mut cmd = ws.cargo();
    cmd.args([
        "run",
        "--target",
        WINDOWS_GNU,
        "-p",
        LIB_PACKAGE,
        "--example",
        name,
    ]);
    if !args.is_empty() {
        cmd.arg("--").args(args);
    }
    env.apply(&mut cmd);
    let st = status(&mut cmd)?;
    env.wait_for_wineserver()?;
    Ok(exit_code(st))
}

// Wine runs on Unix hosts, whose absolute paths these map; on Windows they are not absolute.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Unix paths map to Wine's Z: drive.
    #[test]
    fn wine_paths_live_on_drive_z() {
        assert_eq!(
            wine_path(Path::new("/work/main/target/c-peers")).unwrap(),
            r"Z:\work\main\target\c-peers"
        );
        assert!(wine_path(Path::new("relative")).is_err());
    }
}
