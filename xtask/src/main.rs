//! `cargo xtask`: the developer tooling of win-shared-memory.
//!
//! The library is Windows-first, but developers and CI run Linux. This binary
//! turns a Debian machine that has nothing but rustup into one that builds,
//! runs and lints everything: it installs the cross targets plus Wine and
//! MinGW, prepares a private Wine prefix (with a shim for a DLL that Wine 8.0
//! lacks), builds the C peer programs and runs every suite and lint.
//!
//! It uses std only, so it builds in seconds on a fresh machine.
//!
//! ```text
//! cargo xtask test [--skip-native] [--skip-windows] [-- <cargo test args>]
//! cargo xtask wine [--] <program.exe> [args...]
//! cargo xtask example [NAME] [-- <program args>]
//! ```
#![warn(clippy::missing_docs_in_private_items)]

use std::env;
use std::ffi::{OsStr, OsString};
use std::fmt::{self, Display};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};
use std::thread::sleep;
use std::time::{Duration, Instant};

mod bench;

/// The one Windows target that can *run* here: MinGW links it, Wine runs it.
const WINDOWS_GNU: &str = "x86_64-pc-windows-gnu";

/// Targets that can only be type-checked on Linux (no linker or OS for them
/// here), but which the library must keep compiling for.
const CHECK_TARGETS: [&str; 5] = [
    "x86_64-pc-windows-msvc",
    "i686-pc-windows-msvc",
    "aarch64-pc-windows-msvc",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
];

/// The library's package name, for `cargo -p`.
const LIB_PACKAGE: &str = "win-shared-memory";

/// MinGW's C compiler: builds the Wine shim and the C peers (and is the
/// linker rustc uses for the windows-gnu target).
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";

/// Host commands the Windows steps need, each with the Debian package that
/// provides it, so a failure can say what to install.
const HOST_TOOLS: [(&str, &str); 4] = [
    ("wine", "wine"),
    ("wineboot", "wine"),
    ("wineserver", "wine"),
    (MINGW_GCC, "gcc-mingw-w64-x86-64"),
];

/// Debian packages providing [`HOST_TOOLS`]: `wine64` is the 64-bit loader,
/// `wine` the `wine`/`wineboot`/`wineserver` commands in front of it.
const APT_PACKAGES: [&str; 3] = ["wine", "wine64", "gcc-mingw-w64-x86-64"];

/// Flags for every C peer: strict, so a sloppy peer cannot hide a bug from
/// the tests; `-municode` because peers take UTF-16 names through `wmain`.
const PEER_CFLAGS: [&str; 5] = ["-O2", "-Wall", "-Wextra", "-Werror", "-municode"];

/// Example that `cargo xtask example` runs when given no name.
const DEFAULT_EXAMPLE: &str = "telemetry";

/// The examples the test command runs natively, each two processes talking.
const EXAMPLES: [&str; 2] = ["game_state", "telemetry"];

/// How long `wineserver -w` may wait for Wine processes to finish after a
/// run. The server itself lingers about 3 s; much longer means a process
/// leaked (e.g. a peer still waiting on stdin).
const WINESERVER_GRACE: Duration = Duration::from_secs(60);

/// Upper bound for `wineboot -i`: it normally takes 10-20 s, and a hang (a
/// dialog nobody can click) must fail the run rather than stall it.
const WINEBOOT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Upper bound for the Windows test run, so a test deadlocked under Wine
/// fails the run instead of eating CI's whole time budget.
const WINE_TEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Name of the file marking a fully initialised Wine prefix, so an
/// interrupted `wineboot` is redone instead of trusted.
const PREFIX_STAMP: &str = ".xtask-prefix-ready";

/// Usage text, printed by `help` and after a command-line error.
const USAGE: &str = "\
usage:
  cargo xtask test [--skip-native] [--skip-windows] [-- <cargo test args>]
      Run every test and lint: native tests, the Windows tests under Wine,
      cross-target checks, clippy and rustfmt. Installs what is missing
      (rustup targets; Wine and MinGW through apt-get when root).
      Arguments after `--` are appended to both `cargo test` commands, e.g.
      `cargo xtask test -- my_filter` or `cargo xtask test -- -- --nocapture`.
  cargo xtask wine [--] <program.exe> [args...]
      Run a Windows program in the prepared Wine prefix (WSM_C_PEER_DIR set).
  cargo xtask example [NAME] [-- <program args>]
      Run an example (default: telemetry) for x86_64-pc-windows-gnu under Wine.
  cargo xtask bench
      Run the benchmarks, natively and under Wine, and write BENCHMARKS.md.
  cargo xtask fuzz [--runs N]
      Fuzz names and sizes through to real regions (default 10 000 000 inputs;
      needs a nightly toolchain, installs cargo-fuzz when missing).
  cargo xtask help
      Show this text.";

/// The xtask's error: a message for a human. Nothing here recovers from an
/// error; it is reported and turned into a failed step or exit code.
#[derive(Debug)]
struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Result with the xtask's [`Error`]; `()` by default since most steps
/// only succeed or fail.
type Result<T = ()> = std::result::Result<T, Error>;

/// Return early with an [`Error`] built like `format!`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(Error(format!($($arg)*)))
    };
}

/// Adds what we were doing to a low-level error: an `io::Error` alone says
/// "No such file or directory" but not which file.
trait Context<T> {
    /// Prefix the error, if any, with `what`.
    fn context(self, what: impl Display) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
}

/// What the user asked for, parsed from the command line.
#[derive(Debug, PartialEq)]
enum Cli {
    /// `cargo xtask test`: everything, in order, with a summary.
    Test {
        /// `--skip-native`: leave out the native `cargo test`.
        skip_native: bool,
        /// `--skip-windows`: leave out Wine setup, C peers and Wine tests.
        skip_windows: bool,
        /// Everything after `--`, appended to both `cargo test` commands.
        extra: Vec<OsString>,
    },
    /// `cargo xtask wine`: run one Windows program in the prefix.
    Wine {
        /// The `.exe` to run (Unix or Windows path).
        program: OsString,
        /// Its arguments.
        args: Vec<OsString>,
    },
    /// `cargo xtask example`: build and run an example under Wine.
    Example {
        /// The example's name.
        name: String,
        /// Arguments for the example program.
        args: Vec<OsString>,
    },
    /// `cargo xtask bench`: the benchmarks, into BENCHMARKS.md.
    Bench,
    /// `cargo xtask fuzz`: the fuzz target, long.
    Fuzz {
        /// How many inputs to run.
        runs: u64,
    },
    /// `cargo xtask help`.
    Help,
}

/// Turn the raw arguments (after `cargo xtask`) into a [`Cli`], rejecting
/// anything unknown so that typos do not silently run the wrong thing.
fn parse_cli(args: Vec<OsString>) -> Result<Cli> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Cli::Help);
    };
    match command.to_str() {
        Some("test") => {
            let (mut skip_native, mut skip_windows) = (false, false);
            let mut extra = Vec::new();
            while let Some(arg) = args.next() {
                match arg.to_str() {
                    Some("--skip-native") => skip_native = true,
                    Some("--skip-windows") => skip_windows = true,
                    Some("--") => {
                        extra.extend(args.by_ref());
                        break;
                    }
                    _ => bail!(
                        "unknown argument {arg:?} for `test` (put cargo test arguments after `--`)"
                    ),
                }
            }
            Ok(Cli::Test {
                skip_native,
                skip_windows,
                extra,
            })
        }
        Some("bench") => match args.next() {
            None => Ok(Cli::Bench),
            Some(arg) => bail!("unknown argument {arg:?} for `bench`"),
        },
        Some("fuzz") => match (args.next(), args.next()) {
            (None, _) => Ok(Cli::Fuzz { runs: FUZZ_RUNS }),
            (Some(flag), Some(runs)) if flag == "--runs" => {
                match runs.to_str().and_then(|runs| runs.parse().ok()) {
                    Some(runs) => Ok(Cli::Fuzz { runs }),
                    None => bail!("--runs takes a number, not {runs:?}"),
                }
            }
            (Some(arg), _) => bail!("unknown argument {arg:?} for `fuzz` (--runs N)"),
        },
        Some("wine") => {
            let mut rest: Vec<OsString> = args.collect();
            if rest.first().is_some_and(|a| a == "--") {
                rest.remove(0);
            }
            if rest.is_empty() {
                bail!("`wine` needs a program to run");
            }
            let program = rest.remove(0);
            Ok(Cli::Wine {
                program,
                args: rest,
            })
        }
        Some("example") => {
            let mut name = DEFAULT_EXAMPLE.to_owned();
            let mut rest: Vec<OsString> = args.collect();
            if let Some(first) = rest.first().and_then(|a| a.to_str())
                && first != "--"
            {
                if first.starts_with('-') {
                    bail!("unknown flag {first:?} for `example`");
                }
                name = first.to_owned();
                rest.remove(0);
            }
            if rest.first().is_some_and(|a| a == "--") {
                rest.remove(0);
            } else if !rest.is_empty() {
                bail!("put the example's arguments after `--`");
            }
            Ok(Cli::Example { name, args: rest })
        }
        Some("help" | "-h" | "--help") => Ok(Cli::Help),
        _ => bail!("unknown command {command:?}"),
    }
}

/// Where everything lives. All paths derive from the xtask's own location,
/// so the commands behave the same from any working directory.
struct Workspace {
    /// The repository root (the workspace's root package).
    root: PathBuf,
    /// Cargo's target directory, which also holds the Wine prefix, the shim
    /// and the C peers (all build products, all ignored by git).
    target: PathBuf,
}

impl Workspace {
    /// Find the root from this crate's manifest dir and the target dir the
    /// way cargo does (`CARGO_TARGET_DIR`, else `<root>/target`).
    fn locate() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives one level below the workspace root")
            .to_path_buf();
        let target = match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => std::path::absolute(dir).context("resolving CARGO_TARGET_DIR")?,
            None => root.join("target"),
        };
        Ok(Self { root, target })
    }

    /// `cargo` of the given rustup toolchain, in the workspace.
    fn cargo_on(&self, toolchain: &str) -> Command {
        let mut cmd = Command::new("rustup");
        cmd.args(["run", toolchain, "cargo"])
            .current_dir(&self.root);
        cmd
    }

    /// A `cargo` command run from the root, using the same cargo that runs
    /// us (so `cargo +nightly xtask` stays on nightly).
    fn cargo(&self) -> Command {
        let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(&self.root);
        cmd
    }

    /// Sources of the bcryptprimitives.dll shim.
    fn shim_sources(&self) -> [PathBuf; 2] {
        let dir = self.root.join("xtask").join("shim");
        [dir.join("shim.c"), dir.join("shim.def")]
    }

    /// Where the shim DLL is built.
    fn shim_dll(&self) -> PathBuf {
        self.target.join("wine-shim").join("bcryptprimitives.dll")
    }

    /// The private Wine prefix: never the developer's `~/.wine`.
    fn wine_prefix(&self) -> PathBuf {
        self.target.join("wine-prefix")
    }

    /// Sources of the C peer programs.
    fn peer_sources(&self) -> PathBuf {
        self.root.join("tests").join("c")
    }

    /// Where the C peers are built; the tests get it as `WSM_C_PEER_DIR`.
    fn peer_dir(&self) -> PathBuf {
        self.target.join("c-peers")
    }
}

/// Render a command as a shell-like line, environment overrides first, so
/// the log shows exactly what ran and a developer can paste it.
fn show(cmd: &Command) -> String {
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
fn brief(cmd: &Command) -> String {
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
fn status(cmd: &mut Command) -> Result<ExitStatus> {
    println!("$ {}", show(cmd));
    cmd.status().context(format_args!(
        "cannot start `{}`",
        cmd.get_program().to_string_lossy()
    ))
}

/// Run a command to completion and fail unless it succeeded.
fn run(cmd: &mut Command) -> Result {
    let st = status(cmd)?;
    if !st.success() {
        bail!("`{}` failed ({st})", brief(cmd));
    }
    Ok(())
}

/// Run a command quietly and return its stdout, for queries like
/// `rustup target list`.
fn capture(cmd: &mut Command) -> Result<String> {
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
/// --version` alone would start Wine machinery).
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file we may execute (following symlinks, so a
/// dangling Debian alternative counts as missing).
#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `path` is a file we may execute (non-Unix fallback).
#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Whether we run as root, i.e. may install packages ourselves (CI does).
fn is_root() -> bool {
    capture(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// Make sure rustup has the standard library for every target we build or
/// check; a fresh machine has only the host's.
fn ensure_rust_targets(targets: &[&str]) -> Result {
    let installed = capture(Command::new("rustup").args(["target", "list", "--installed"]))
        .map_err(|e| {
            Error(format!(
                "{e}\n(without rustup, install the Rust standard library for {} yourself)",
                targets.join(", ")
            ))
        })?;
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|line| line.trim() == *t))
        .collect();
    if missing.is_empty() {
        println!("rustup targets present: {}", targets.join(", "));
        return Ok(());
    }
    run(Command::new("rustup")
        .args(["target", "add"])
        .args(&missing))
}

/// Make sure Wine and MinGW are installed, installing them through apt-get
/// when we are root (as on CI); otherwise say exactly what to install.
fn ensure_host_tools() -> Result {
    let missing = || -> Vec<&str> {
        HOST_TOOLS
            .iter()
            .filter(|(tool, _)| find_in_path(tool).is_none())
            .map(|(tool, _)| *tool)
            .collect()
    };
    let absent = missing();
    if absent.is_empty() {
        println!(
            "host tools present: {}",
            HOST_TOOLS.map(|(tool, _)| tool).join(", ")
        );
        return Ok(());
    }
    let packages = APT_PACKAGES.join(" ");
    let absent = absent.join(", ");
    if !is_root() {
        bail!(
            "missing {absent}; install them with `sudo apt-get install -y {packages}` \
             (Debian/Ubuntu), or Wine 64-bit and the MinGW-w64 x86_64 C compiler \
             with your package manager"
        );
    }
    if find_in_path("apt-get").is_none() {
        bail!(
            "missing {absent} and there is no apt-get here: install Wine (64-bit) and \
             the MinGW-w64 x86_64 C compiler ({MINGW_GCC}) with your package manager"
        );
    }
    println!("missing {absent}: installing {packages} with apt-get");
    let apt = || {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(apt().args(["update", "-q"]))?;
    run(apt().args(["install", "-y", "-q"]).args(APT_PACKAGES))?;
    let still = missing();
    if !still.is_empty() {
        bail!(
            "apt-get installed {packages}, but {} is still not on PATH",
            still.join(", ")
        );
    }
    Ok(())
}

/// Modification time of `path`, or `None` if it does not exist.
fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Build the bcryptprimitives.dll shim (see `xtask/shim/shim.c` for why it
/// exists) unless it is newer than its sources; returns the DLL's path.
fn build_shim(ws: &Workspace) -> Result<PathBuf> {
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
struct WineEnv {
    /// The `WINEPREFIX`.
    prefix: PathBuf,
    /// `WSM_C_PEER_DIR` as Windows code sees it (`Z:\...`).
    peer_dir: String,
}

impl WineEnv {
    /// The environment for this workspace (nothing is created yet).
    fn new(ws: &Workspace) -> Result<Self> {
        Ok(Self {
            prefix: ws.wine_prefix(),
            peer_dir: wine_path(&ws.peer_dir())?,
        })
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
    fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
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
    fn wait_for_wineserver(&self) -> Result {
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
    fn run_bounded(&self, cmd: &mut Command, limit: Duration) -> Result {
        match self.spawn_bounded(cmd, limit)? {
            Some(st) if st.success() => Ok(()),
            Some(st) => bail!("`{}` failed ({st})", brief(cmd)),
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
fn setup_wine_prefix(ws: &Workspace, dll: &Path) -> Result<WineEnv> {
    let env = WineEnv::new(ws)?;
    let stamp = env.prefix.join(PREFIX_STAMP);
    if stamp.exists() {
        println!("wine prefix ready: {}", env.prefix.display());
    } else {
        if env.prefix.exists() {
            println!("removing unfinished wine prefix {}", env.prefix.display());
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
        fs::write(&stamp, "created by cargo xtask\n")
            .context(format_args!("writing {}", stamp.display()))?;
        println!(
            "wine prefix created in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    let installed = system32(&env.prefix).join("bcryptprimitives.dll");
    let new = fs::read(dll).context(format_args!("reading {}", dll.display()))?;
    if fs::read(&installed).ok().as_ref() != Some(&new) {
        fs::write(&installed, &new).context(format_args!("writing {}", installed.display()))?;
        println!("installed shim into {}", installed.display());
    }
    Ok(env)
}

/// The prefix's `C:\windows\system32`, where the shim DLL goes (64-bit
/// DLLs live there, despite the name).
fn system32(prefix: &Path) -> PathBuf {
    prefix.join("drive_c").join("windows").join("system32")
}

/// Compile every `tests/c/*.c` into `target/c-peers/<stem>.exe`. Always
/// rebuilt: it takes a moment and cannot go stale that way.
fn build_c_peers(ws: &Workspace) -> Result {
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
        run(Command::new(MINGW_GCC)
            .args(PEER_CFLAGS)
            .arg("-o")
            .arg(&exe)
            .arg(src))?;
    }
    Ok(())
}

/// Everything `wine` and `example` need before running a Windows program:
/// the same pieces `test` runs as separate steps.
fn prepare_wine(ws: &Workspace) -> Result<WineEnv> {
    ensure_host_tools()?;
    let dll = build_shim(ws)?;
    let env = setup_wine_prefix(ws, &dll)?;
    build_c_peers(ws)?;
    Ok(env)
}

/// How one step of `cargo xtask test` ended.
enum Outcome {
    /// It succeeded.
    Ok,
    /// It failed, with the reason.
    Failed(String),
    /// It did not run, with the reason.
    Skipped(String),
}

/// The steps of a `cargo xtask test` run, for the closing summary.
#[derive(Default)]
struct Report {
    /// Each step's name, outcome and duration, in order.
    steps: Vec<(String, Outcome, Duration)>,
}

impl Report {
    /// Run one step under a `==> name` header and record how it went; the
    /// value on success, so later steps can depend on it.
    fn step<T>(&mut self, name: impl Into<String>, f: impl FnOnce() -> Result<T>) -> Option<T> {
        let name = name.into();
        println!("\n==> {name}");
        let started = Instant::now();
        let result = f();
        let took = started.elapsed();
        match result {
            Ok(value) => {
                self.steps.push((name, Outcome::Ok, took));
                Some(value)
            }
            Err(e) => {
                eprintln!("xtask: step `{name}` FAILED: {e}");
                self.steps.push((name, Outcome::Failed(e.0), took));
                None
            }
        }
    }

    /// Record a step that was not run, and why.
    fn skip(&mut self, name: impl Into<String>, why: &str) {
        let name = name.into();
        println!("\n==> {name}: skipped ({why})");
        self.steps
            .push((name, Outcome::Skipped(why.to_owned()), Duration::ZERO));
    }

    /// Print one line per step plus a `passed, failed` count; the exit code
    /// fails if any step did.
    fn finish(&self) -> ExitCode {
        println!("\n==> summary");
        let (mut passed, mut failed, mut skipped) = (0, 0, 0);
        for (name, outcome, took) in &self.steps {
            let secs = took.as_secs_f64();
            match outcome {
                Outcome::Ok => {
                    passed += 1;
                    println!("  ok       {name} ({secs:.1} s)");
                }
                Outcome::Failed(why) => {
                    failed += 1;
                    let first = why.lines().next().unwrap_or_default();
                    println!("  FAILED   {name} ({secs:.1} s): {first}");
                }
                Outcome::Skipped(why) => {
                    skipped += 1;
                    println!("  skipped  {name} ({why})");
                }
            }
        }
        // The plain `N passed, N failed` form that log readers recognise.
        println!("steps: {passed} passed, {failed} failed, {skipped} skipped");
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// The loom model of the seqlock protocol, in a target directory of its own since `--cfg loom`
/// rebuilds everything.
const LOOM_STEP: &str = "loom model of the seqlock";

/// The brief fuzz run of the test command.
const FUZZ_STEP: &str = "fuzz: names and sizes, 100 000 inputs";

/// The single-process synchronisation tests under Miri.
const MIRI_STEP: &str = "miri: cargo +nightly miri test (sync)";

/// `cargo test` of the loom models, built with `--cfg loom`.
fn loom_test(ws: &Workspace) -> Command {
    let mut cargo = ws.cargo();
    cargo
        .args([
            "test",
            "--release",
            "-p",
            LIB_PACKAGE,
            "--lib",
            "loom_model",
        ])
        .arg("--target-dir")
        .arg(ws.root.join("target").join("loom"))
        .env("RUSTFLAGS", "--cfg loom");
    cargo
}

/// Whether rustup has a nightly toolchain, which Miri needs.
fn has_nightly() -> bool {
    capture(Command::new("rustup").args(["toolchain", "list"]))
        .is_ok_and(|list| list.lines().any(|line| line.starts_with("nightly")))
}

/// Inputs of a long fuzz run (`cargo xtask fuzz`).
const FUZZ_RUNS: u64 = 10_000_000;

/// Inputs of the brief fuzz run in `cargo xtask test`.
const BRIEF_FUZZ_RUNS: u64 = 100_000;

/// The fuzz target's run of `runs` inputs, with cargo-fuzz installed first if missing.
fn fuzz(ws: &Workspace, runs: u64) -> Result<Command> {
    if find_in_path("cargo-fuzz").is_none() {
        run(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))?;
    }
    let mut cargo = ws.cargo_on("nightly");
    cargo
        .args(["fuzz", "run", "names", "--fuzz-dir", "fuzz", "--"])
        .arg(format!("-runs={runs}"));
    Ok(cargo)
}

/// How many holders the stress runs kill at random points.
const STRESS_KILLS: usize = 1000;

/// How many create/open/use/drop cycles of every object kind the stress runs count leaks over.
const LEAK_CYCLES: usize = 100_000;

/// The stress runs of the cross-process suite (the tests named `*leak*`: the ignored one that
/// kills `STRESS_KILLS` holders, and the leak count over `LEAK_CYCLES` cycles), built for
/// `target` (the host when `None`).
fn stress_test(mut cargo: Command, target: Option<&str>) -> Command {
    cargo.args(["test", "-p", LIB_PACKAGE, "--test", "cross_process"]);
    if let Some(target) = target {
        cargo.args(["--target", target]);
    }
    cargo
        .args(["--", "--include-ignored", "leak"])
        .env("WSM_STRESS_KILLS", STRESS_KILLS.to_string())
        .env("WSM_LEAK_CYCLES", LEAK_CYCLES.to_string());
    cargo
}

/// `cargo xtask test`: every test and lint, continuing past failures so one
/// run shows everything; the exit code fails if any step failed.
fn cmd_test(ws: &Workspace, skip_native: bool, skip_windows: bool, extra: &[OsString]) -> ExitCode {
    let mut report = Report::default();
    let windows = !skip_windows;

    let mut targets = vec![WINDOWS_GNU];
    targets.extend(CHECK_TARGETS);
    let tools = report.step("toolchain: rustup targets, Wine, MinGW", || {
        ensure_rust_targets(&targets)?;
        if windows {
            ensure_host_tools()?;
        }
        Ok(())
    });

    let mut wine = None;
    let mut peers = None;
    let wine_steps = ["wine prefix and bcryptprimitives shim", "C peers"];
    if windows && tools.is_some() {
        wine = report.step(wine_steps[0], || {
            let dll = build_shim(ws)?;
            setup_wine_prefix(ws, &dll)
        });
        peers = report.step(wine_steps[1], || build_c_peers(ws));
    } else {
        let why = if windows {
            "toolchain step failed"
        } else {
            "--skip-windows"
        };
        for name in wine_steps {
            report.skip(name, why);
        }
    }

    let native = "native tests: cargo test --workspace";
    let native_stress =
        format!("native stress: {STRESS_KILLS} holders killed, {LEAK_CYCLES} leak cycles");
    if skip_native {
        report.skip(native, "--skip-native");
        report.skip(native_stress, "--skip-native");
        report.skip(
            format!("examples: {}", EXAMPLES.join(", ")),
            "--skip-native",
        );
    } else {
        report.step(native, || {
            run(ws.cargo().args(["test", "--workspace"]).args(extra))
        });
        report.step(native_stress, || run(&mut stress_test(ws.cargo(), None)));
        report.step(format!("examples: {}", EXAMPLES.join(", ")), || {
            EXAMPLES.iter().try_for_each(|example| {
                run(ws.cargo().args(["run", "--quiet", "--example", example]))
            })
        });
    }

    let wine_tests = format!("windows tests under wine: cargo test --target {WINDOWS_GNU}");
    match (&wine, peers) {
        (Some(env), Some(())) => {
            report.step(wine_tests, || {
                let mut cmd = ws.cargo();
                cmd.args(["test", "--target", WINDOWS_GNU, "-p", LIB_PACKAGE])
                    .args(["--tests", "--examples"])
                    .args(extra);
                env.apply(&mut cmd);
                let tested = env.run_bounded(&mut cmd, WINE_TEST_TIMEOUT);
                let drained = env.wait_for_wineserver();
                tested.and(drained)
            });
            report.step(
                format!("windows stress under wine: {STRESS_KILLS} holders killed, {LEAK_CYCLES} leak cycles"),
                || {
                    let mut cmd = stress_test(ws.cargo(), Some(WINDOWS_GNU));
                    env.apply(&mut cmd);
                    let tested = env.run_bounded(&mut cmd, WINE_TEST_TIMEOUT);
                    let drained = env.wait_for_wineserver();
                    tested.and(drained)
                },
            );
        }
        _ => {
            let why = if windows {
                "wine setup failed"
            } else {
                "--skip-windows"
            };
            report.skip(wine_tests, why);
        }
    }

    for target in CHECK_TARGETS {
        report.step(format!("check {target}"), || {
            run(ws.cargo().args([
                "check",
                "-p",
                LIB_PACKAGE,
                "--all-targets",
                "--target",
                target,
            ]))
        });
    }

    report.step("clippy (native)", || {
        run(ws.cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    });
    report.step(format!("clippy ({WINDOWS_GNU})"), || {
        run(ws
            .cargo()
            .args(["clippy", "-p", LIB_PACKAGE, "--all-targets"])
            .args(["--target", WINDOWS_GNU, "--", "-D", "warnings"]))
    });
    report.step("rustfmt", || {
        run(ws.cargo().args(["fmt", "--all", "--", "--check"]))
    });

    if skip_native {
        report.skip(LOOM_STEP, "--skip-native");
        report.skip(MIRI_STEP, "--skip-native");
        report.skip(FUZZ_STEP, "--skip-native");
    } else {
        report.step(LOOM_STEP, || run(&mut loom_test(ws)));
        if has_nightly() {
            report.step(FUZZ_STEP, || run(&mut fuzz(ws, BRIEF_FUZZ_RUNS)?));
            report.step(MIRI_STEP, || {
                run(Command::new("rustup")
                    .args(["component", "add", "--toolchain", "nightly"])
                    .args(["miri", "rust-src"]))?;
                run(ws.cargo_on("nightly").args([
                    "miri",
                    "test",
                    "-p",
                    LIB_PACKAGE,
                    "--lib",
                    "sync::",
                ]))
            });
        } else {
            report.skip(MIRI_STEP, "no nightly toolchain; Miri needs one");
            report.skip(FUZZ_STEP, "no nightly toolchain; cargo fuzz needs one");
        }
    }

    report.finish()
}

/// Turn a child's status into our exit code, so `cargo xtask wine` and
/// `example` fail exactly when the Windows program did.
fn exit_code(st: ExitStatus) -> ExitCode {
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

/// `cargo xtask wine`: run one Windows program in the prepared prefix.
fn cmd_wine(ws: &Workspace, program: &OsStr, args: &[OsString]) -> Result<ExitCode> {
    let env = prepare_wine(ws)?;
    let mut cmd = Command::new("wine");
    cmd.arg(program).args(args);
    env.apply(&mut cmd);
    let st = status(&mut cmd)?;
    env.wait_for_wineserver()?;
    Ok(exit_code(st))
}

/// `cargo xtask example`: build an example for Windows and run it under Wine.
fn cmd_example(ws: &Workspace, name: &str, args: &[OsString]) -> Result<ExitCode> {
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

/// Parse the command line, run the command, and map errors to a failing
/// exit code (2 for a bad command line, like most CLIs).
fn main() -> ExitCode {
    let cli = match parse_cli(env::args_os().skip(1).collect()) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("xtask: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = Workspace::locate().and_then(|ws| match cli {
        Cli::Test {
            skip_native,
            skip_windows,
            extra,
        } => Ok(cmd_test(&ws, skip_native, skip_windows, &extra)),
        Cli::Wine { program, args } => cmd_wine(&ws, &program, &args),
        Cli::Example { name, args } => cmd_example(&ws, &name, &args),
        Cli::Bench => bench::cmd_bench(&ws),
        Cli::Fuzz { runs } => run(&mut fuzz(&ws, runs)?).map(|()| ExitCode::SUCCESS),
        Cli::Help => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
    });
    result.unwrap_or_else(|e| {
        eprintln!("xtask: error: {e}");
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shorthand: parse a command line given as `&str`s.
    fn parse(args: &[&str]) -> Result<Cli> {
        parse_cli(args.iter().map(OsString::from).collect())
    }

    /// Shorthand: a `Vec<OsString>` from `&str`s.
    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// Flags are recognised and everything after `--` is passed through.
    #[test]
    fn test_flags_and_passthrough() {
        assert_eq!(
            parse(&["test", "--skip-native", "--", "filter", "--", "--nocapture"]).unwrap(),
            Cli::Test {
                skip_native: true,
                skip_windows: false,
                extra: os(&["filter", "--", "--nocapture"]),
            }
        );
        assert!(parse(&["test", "filter"]).is_err());
    }

    /// `wine` works with and without a `--` before the program.
    #[test]
    fn wine_takes_program_with_or_without_separator() {
        let want = Cli::Wine {
            program: "a.exe".into(),
            args: os(&["--flag", "x"]),
        };
        assert_eq!(
            parse(&["wine", "--", "a.exe", "--flag", "x"]).unwrap(),
            want
        );
        assert_eq!(parse(&["wine", "a.exe", "--flag", "x"]).unwrap(), want);
        assert!(parse(&["wine"]).is_err());
        assert!(parse(&["wine", "--"]).is_err());
    }

    /// `example` has a default name and takes program args after `--`.
    #[test]
    fn example_defaults_to_telemetry() {
        let example = |name: &str, args: &[&str]| Cli::Example {
            name: name.into(),
            args: os(args),
        };
        assert_eq!(parse(&["example"]).unwrap(), example("telemetry", &[]));
        assert_eq!(parse(&["example", "x"]).unwrap(), example("x", &[]));
        assert_eq!(
            parse(&["example", "--", "a"]).unwrap(),
            example("telemetry", &["a"])
        );
        assert_eq!(
            parse(&["example", "x", "--", "a"]).unwrap(),
            example("x", &["a"])
        );
        assert!(parse(&["example", "x", "y"]).is_err());
        assert!(parse(&["example", "--release"]).is_err());
    }

    /// A bare `cargo xtask` helps; a typo is an error, not a guess.
    #[test]
    fn no_command_is_help_and_unknown_is_error() {
        assert_eq!(parse(&[]).unwrap(), Cli::Help);
        assert!(parse(&["tset"]).is_err());
    }

    /// Unix paths map to Wine's Z: drive.
    #[test]
    fn wine_paths_live_on_drive_z() {
        assert_eq!(
            wine_path(Path::new("/work/main/target/c-peers")).unwrap(),
            r"Z:\work\main\target\c-peers"
        );
        assert!(wine_path(Path::new("relative")).is_err());
    }

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
