//! The crate as a user gets it: `cargo package`, then a scratch package that depends on the
//! packaged copy alone and builds every README code block and every example, as a user's own
//! crate would. The crate's doctests and examples cannot see what this sees, since they build
//! with the crate's dev-dependencies at hand.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Context, Result, bail};
use crate::process::run;
use crate::workspace::{LIB_PACKAGE, Workspace};

/// The scratch package's name, and its folder under the target directory.
const OUTSIDE: &str = "outside-user";

/// The scratch package of a Windows user who also depends on `windows` 0.62, and its folder.
const WINDOWS_USER: &str = "outside-windows-user";

/// What that user writes: it compiles only if the 0.1.0 variants (which still compile, though
/// no longer returned) and `Open`, which replaced `OpenMapping`, carry the very
/// `windows::core::Error` of `windows` 0.62 (the library names `windows-result`, not `windows`).
const WINDOWS_USER_CODE: &str = "\
//! Written by `cargo xtask test`: compiles only if `OsError` is `windows::core::Error`.

pub fn open_cause(e: win_shared_memory::SharedMemoryError) -> Option<windows::core::Error> {
    match e {
        win_shared_memory::SharedMemoryError::OpenMapping(e) => Some(e),
        _ => None,
    }
}

pub fn os_error(e: win_shared_memory::OsError) -> windows::core::Error {
    e
}

pub fn open_source(e: win_shared_memory::SharedMemoryError) -> Option<windows::core::Error> {
    match e {
        win_shared_memory::SharedMemoryError::Open { source, .. } => Some(source),
        _ => None,
    }
}
";

/// `cargo package` of the library, which also builds the packaged copy (its verification);
/// returns the folder of that copy. `--allow-dirty` so that a developer's uncommitted work is
/// what gets checked.
pub(crate) fn package(ws: &Workspace) -> Result<PathBuf> {
    run(ws
        .cargo()
        .args(["package", "--allow-dirty", "-p", LIB_PACKAGE])
        .arg("--target-dir")
        .arg(&ws.target))?;
    let manifest = ws.root.join("Cargo.toml");
    let text =
        fs::read_to_string(&manifest).context(format_args!("reading {}", manifest.display()))?;
    let Some(version) = package_version(&text) else {
        bail!("no `version = \"...\"` in {}", manifest.display());
    };
    let copy = ws
        .target
        .join("package")
        .join(format!("{LIB_PACKAGE}-{version}"));
    if !copy.join("Cargo.toml").is_file() {
        bail!("cargo package left no copy at {}", copy.display());
    }
    Ok(copy)
}

/// The `[package]` version of a manifest: its first `version = "..."` line.
fn package_version(manifest: &str) -> Option<&str> {
    manifest_value(manifest, "version")
}

/// The first `key = "value"` of a manifest: a `[package]` field, which comes first.
fn manifest_value<'m>(manifest: &'m str, key: &str) -> Option<&'m str> {
    manifest.lines().find_map(|line| {
        let value = line.trim().strip_prefix(key)?.trim_start();
        value
            .strip_prefix('=')?
            .trim()
            .strip_prefix('"')?
            .strip_suffix('"')
    })
}

/// The library's declared MSRV, `rust-version` in its manifest.
pub(crate) fn rust_version(ws: &Workspace) -> Result<String> {
    let manifest = ws.root.join("Cargo.toml");
    let text =
        fs::read_to_string(&manifest).context(format_args!("reading {}", manifest.display()))?;
    match manifest_value(&text, "rust-version") {
        Some(version) => Ok(version.to_owned()),
        None => bail!("no `rust-version = \"...\"` in {}", manifest.display()),
    }
}

/// One ` ```rust ` block of a README, as rustdoc would test it.
#[derive(Debug, PartialEq)]
pub(crate) struct Block {
    /// The line of its opening fence, counted from 1, to name it in errors.
    line: usize,
    /// Its code, with rustdoc's hidden-line markers (`# `) taken off.
    code: String,
    /// Whether rustdoc would run it (not `no_run` or `should_panic`).
    runs: bool,
}

/// The README's Rust blocks: those whose fence says `rust`, less the `ignore` and
/// `compile_fail` ones, which rustdoc does not build either.
pub(crate) fn rust_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(Block, bool)> = None;
    for (index, line) in readme.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (Some(_), Some(_)) => {
                let (block, wanted) = open.take().expect("a block is open");
                if wanted {
                    blocks.push(block);
                }
            }
            (Some((block, _)), None) => {
                block.code.push_str(unhide(line));
                block.code.push('\n');
            }
            (None, Some(info)) => {
                let words: Vec<&str> = info
                    .split([',', ' '])
                    .map(str::trim)
                    .filter(|word| !word.is_empty())
                    .collect();
                let has = |word| words.contains(&word);
                let wanted =
                    words.first() == Some(&"rust") && !has("ignore") && !has("compile_fail");
                let runs = !has("no_run") && !has("should_panic");
                let block = Block {
                    line: index + 1,
                    code: String::new(),
                    runs,
                };
                open = Some((block, wanted));
            }
            (None, None) => {}
        }
    }
    blocks
}

/// A code line as rustdoc compiles it: `# ` (or a lone `#`) hides a line from the reader, not
/// from the compiler, and `##` stands for a line that starts with `#`.
fn unhide(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed == "#" {
        ""
    } else if let Some(rest) = trimmed.strip_prefix("# ") {
        rest
    } else if trimmed.starts_with("##") {
        &trimmed[1..]
    } else {
        line
    }
}

/// A block's code as a program, wrapped as rustdoc wraps a doctest: inside `fn main` unless it
/// has one, returning its `Result` when it ends in `Ok::<(), E>(())`, with unused code allowed.
fn as_program(code: &str) -> String {
    let (attributes, body): (Vec<&str>, Vec<&str>) = code
        .lines()
        .partition(|line| line.trim_start().starts_with("#!["));
    let body = body.join("\n");
    let mut program = String::from("#![allow(unused)]\n");
    for attribute in attributes {
        program.push_str(attribute);
        program.push('\n');
    }
    let ends_in_ok = body
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|last| last.trim_start().starts_with("Ok::<"));
    if body.contains("fn main") {
        program.push_str(&body);
    } else if ends_in_ok {
        program.push_str(&format!(
            "fn main() {{\n    fn _inner() -> Result<(), impl core::fmt::Debug> {{\n{body}\n    }}\n    _inner().unwrap()\n}}"
        ));
    } else {
        program.push_str(&format!("fn main() {{\n{body}\n}}"));
    }
    program.push('\n');
    program
}

/// The scratch package, written afresh under the target directory: it depends on the
/// library at `library` (by path, and on nothing else) and has one example per README block
/// (`readme_line_N`, named for its fence's line) and per example of the library
/// (`example_NAME`, so that none shares a binary's name with the workspace's own). Returns its
/// manifest and the names of the examples that run.
pub(crate) fn write_outside_crate(
    ws: &Workspace,
    library: &Path,
) -> Result<(PathBuf, Vec<String>)> {
    let dir = ws.target.join(OUTSIDE);
    let examples = dir.join("examples");
    if examples.exists() {
        fs::remove_dir_all(&examples).context(format_args!("clearing {}", examples.display()))?;
    }
    fs::create_dir_all(&examples).context(format_args!("creating {}", examples.display()))?;
    let library = toml_literal(library)?;
    let manifest = write_scratch_package(
        ws,
        &dir,
        OUTSIDE,
        "a user's crate that depends on win-shared-memory alone",
        &format!("{LIB_PACKAGE} = {{ path = '{library}' }}\n"),
        "",
    )?;

    let readme_path = Path::new(library).join("README.md");
    let readme = fs::read_to_string(&readme_path)
        .context(format_args!("reading {}", readme_path.display()))?;
    let blocks = rust_blocks(&readme);
    if blocks.is_empty() {
        bail!("{} has no ```rust blocks", readme_path.display());
    }
    let mut runnable = Vec::new();
    for block in &blocks {
        let name = format!("readme_line_{}", block.line);
        let source = format!(
            "// README.md, the block at line {}.\n{}",
            block.line,
            as_program(&block.code)
        );
        write_file(&examples.join(format!("{name}.rs")), &source)?;
        if block.runs {
            runnable.push(name);
        }
    }
    let library_examples = Path::new(library).join("examples");
    let entries = fs::read_dir(&library_examples)
        .context(format_args!("listing {}", library_examples.display()))?;
    for entry in entries {
        let path = entry
            .context(format_args!("listing {}", library_examples.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            let file = path.file_name().expect("a listed file has a name");
            let mut renamed = std::ffi::OsString::from("example_");
            renamed.push(file);
            fs::copy(&path, examples.join(renamed))
                .context(format_args!("copying {}", path.display()))?;
        }
    }
    println!(
        "{}: {} README blocks ({} run) and the examples of {}",
        dir.display(),
        blocks.len(),
        runnable.len(),
        library_examples.display()
    );
    Ok((manifest, runnable))
}

/// The scratch package of a Windows user who depends on the library at `library` and on
/// `windows` 0.62, matching the library's OS errors as `windows::core::Error`; returns its
/// manifest. `cargo check` of it for a Windows target proves the two types are one.
pub(crate) fn write_windows_user_crate(ws: &Workspace, library: &Path) -> Result<PathBuf> {
    let library = toml_literal(library)?;
    write_scratch_package(
        ws,
        &ws.target.join(WINDOWS_USER),
        WINDOWS_USER,
        "a Windows user's crate on win-shared-memory and windows 0.62",
        &format!("{LIB_PACKAGE} = {{ path = '{library}' }}\nwindows = \"0.62\"\n"),
        WINDOWS_USER_CODE,
    )
}

/// `path` as the body of a TOML literal string, which cannot hold a `'`.
fn toml_literal(path: &Path) -> Result<&str> {
    path.to_str()
        .filter(|path| !path.contains('\''))
        .ok_or_else(|| {
            crate::error::Error(format!(
                "{} cannot be written in a TOML literal string",
                path.display()
            ))
        })
}

/// Writes a scratch package (its own workspace) in `dir`: the manifest with `dependencies`,
/// `src/lib.rs`, and the library's Cargo.lock, so that it builds the locked versions the tests
/// tested. Returns the manifest.
fn write_scratch_package(
    ws: &Workspace,
    dir: &Path,
    name: &str,
    what: &str,
    dependencies: &str,
    lib: &str,
) -> Result<PathBuf> {
    fs::create_dir_all(dir.join("src")).context(format_args!("creating {}", dir.display()))?;
    let manifest = dir.join("Cargo.toml");
    write_file(
        &manifest,
        &format!(
            "# Written by `cargo xtask test`: {what}.\n\
             [package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\n{dependencies}\n[workspace]\n"
        ),
    )?;
    write_file(&dir.join("src").join("lib.rs"), lib)?;
    fs::copy(ws.root.join("Cargo.lock"), dir.join("Cargo.lock")).context("copying Cargo.lock")?;
    Ok(manifest)
}

/// Writes `text` to `path`, naming the path if that fails.
fn write_file(path: &Path, text: &str) -> Result {
    fs::write(path, text).context(format_args!("writing {}", path.display()))
}

/// `cargo` (the given command, with a toolchain chosen or not) on the scratch package, sharing
/// the workspace's target directory so that the dependencies built for the tests are reused.
pub(crate) fn outside_cargo(
    ws: &Workspace,
    mut cargo: Command,
    manifest: &Path,
    subcommand: &str,
) -> Command {
    cargo
        .arg(subcommand)
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(&ws.target);
    cargo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_fields_are_their_first_lines() {
        let manifest = "[package]\nname = \"x\"\nversion = \"0.2.0\"\nrust-version = \"1.85\"\n\
                        [dependencies]\ny = { version = \"1\" }\n";
        assert_eq!(package_version(manifest), Some("0.2.0"));
        assert_eq!(manifest_value(manifest, "rust-version"), Some("1.85"));
        assert_eq!(manifest_value(manifest, "license"), None);
    }

    #[test]
    fn rust_blocks_keep_rust_and_say_which_run() {
        let readme = "\
intro
```bash
cargo run
```
```rust
let a = 1;
# let hidden = 2;
```
```rust,no_run
fn main() {}
```
```rust,ignore
broken
```
```toml
[x]
```
";
        let blocks = rust_blocks(readme);
        assert_eq!(
            blocks,
            [
                Block {
                    line: 5,
                    code: "let a = 1;\nlet hidden = 2;\n".into(),
                    runs: true
                },
                Block {
                    line: 9,
                    code: "fn main() {}\n".into(),
                    runs: false
                },
            ]
        );
    }

    #[test]
    fn programs_are_wrapped_as_rustdoc_wraps_doctests() {
        let bare = as_program("#![deny(unsafe_code)]\nlet a = 1;\n");
        assert!(
            bare.starts_with("#![allow(unused)]\n#![deny(unsafe_code)]\nfn main() {\nlet a = 1;")
        );
        let with_main = as_program("fn main() {}\n");
        assert_eq!(with_main, "#![allow(unused)]\nfn main() {}\n");
        let fallible = as_program("let a = f()?;\nOk::<(), E>(())\n");
        assert!(fallible.contains("fn _inner() -> Result<(), impl core::fmt::Debug>"));
        assert!(fallible.contains("_inner().unwrap()"));
    }
}
