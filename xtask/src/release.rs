//! `cargo xtask bridge-release`: `wsm-bridge.exe` as users get it, a folder (and a `.tar.gz`
//! of it) with the exe, the `bcryptprimitives.dll` shim beside it, the native launcher
//! `wsm-bridge` (for Steam's launch options) and a short README; and the test step that runs
//! that folder in a prefix a stock Wine has just made, where nothing was installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{Context, Result, bail};
use crate::process::{capture, run, show};
use crate::proton::BRIDGE_PACKAGE;
use crate::toolchain::{WINDOWS_GNU, ensure_rust_targets};
use crate::wine::{WineEnv, build_shim, fresh_stock_prefix};
use crate::workspace::Workspace;

/// The name the test step has in the report.
pub(crate) const STEP: &str =
    "wsm-bridge release: runs on a fresh stock Wine prefix, nothing installed (the DLL beside it)";

/// The shim's file name: the DLL that Wine 8.0 lacks.
const SHIM_NAME: &str = "bcryptprimitives.dll";

/// The exit code of a Windows program whose DLL is missing under Wine (`c0000135`).
const DLL_NOT_FOUND_EXIT: i32 = 53;

/// Upper bound for each Wine command of the check.
const WINE_TIMEOUT: Duration = Duration::from_secs(120);

/// What `bridge-release` made.
pub(crate) struct Release {
    /// The folder users copy.
    pub(crate) dir: PathBuf,
    /// The same folder as one archive.
    pub(crate) archive: PathBuf,
}

/// Builds the release exe and the shim and lays them out with the README, anew.
pub(crate) fn build_release(ws: &Workspace) -> Result<Release> {
    ensure_rust_targets(&[WINDOWS_GNU])?;
    run(ws.cargo().args([
        "build",
        "--release",
        "-p",
        BRIDGE_PACKAGE,
        "--target",
        WINDOWS_GNU,
    ]))?;
    run(ws
        .cargo()
        .args(["build", "--release", "-p", BRIDGE_PACKAGE]))?;
    let exe = ws
        .target
        .join(WINDOWS_GNU)
        .join("release")
        .join(format!("{BRIDGE_PACKAGE}.exe"));
    let launcher = ws.target.join("release").join(BRIDGE_PACKAGE);
    let dll = build_shim(ws)?;
    let name = format!("{BRIDGE_PACKAGE}-{}-x86_64", bridge_version(ws)?);
    let out = ws.target.join("bridge-release");
    let dir = out.join(&name);
    if dir.exists() {
        fs::remove_dir_all(&dir).context(format_args!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).context(format_args!("creating {}", dir.display()))?;
    let readme = ws
        .root
        .join(BRIDGE_PACKAGE)
        .join("release")
        .join("README.txt");
    for (from, to) in [
        (&exe, format!("{BRIDGE_PACKAGE}.exe")),
        (&dll, SHIM_NAME.to_owned()),
        (&launcher, BRIDGE_PACKAGE.to_owned()),
        (&readme, "README.txt".to_owned()),
    ] {
        fs::copy(from, dir.join(&to)).context(format_args!("copying {}", from.display()))?;
    }
    let archive = out.join(format!("{name}.tar.gz"));
    run(Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&out)
        .arg(&name))?;
    println!("release: {} and {}", dir.display(), archive.display());
    Ok(Release { dir, archive })
}

/// The bridge package's version, from its manifest.
fn bridge_version(ws: &Workspace) -> Result<String> {
    let manifest = ws.root.join(BRIDGE_PACKAGE).join("Cargo.toml");
    let text =
        fs::read_to_string(&manifest).context(format_args!("reading {}", manifest.display()))?;
    let version = text.lines().find_map(|line| {
        let value = line
            .strip_prefix("version")?
            .trim_start()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_owned())
    });
    match version {
        Some(version) if !version.is_empty() => Ok(version),
        _ => bail!("{} has no version line", manifest.display()),
    }
}

/// Makes the release, unpacks its archive, and runs the bridge from it in a prefix that a
/// stock Wine has just made: `--version`, and a real bridge whose `/dev/shm` file appears and
/// goes. The same exe without the DLL beside it must fail with exit code 53 where the prefix
/// lacks the DLL (Wine 8.0), which shows that the DLL is what makes it run.
pub(crate) fn check_on_stock_prefix(ws: &Workspace) -> Result {
    let release = build_release(ws)?;
    let env = fresh_stock_prefix(ws, "wine-prefix-stock")?;
    let checked = check_release(ws, &env, &release);
    let drained = env.wait_for_wineserver();
    checked.and(drained)
}

/// The checks of [`check_on_stock_prefix`], in the prefix of `env`.
fn check_release(ws: &Workspace, env: &WineEnv, release: &Release) -> Result {
    let unpacked = ws.target.join("bridge-release-unpacked");
    if unpacked.exists() {
        fs::remove_dir_all(&unpacked).context(format_args!("removing {}", unpacked.display()))?;
    }
    fs::create_dir_all(&unpacked).context(format_args!("creating {}", unpacked.display()))?;
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&release.archive)
        .arg("-C")
        .arg(&unpacked))?;
    let dir = unpacked.join(
        release
            .dir
            .file_name()
            .expect("the release folder has a name"),
    );
    let exe = dir.join(format!("{BRIDGE_PACKAGE}.exe"));

    if env.system32().join(SHIM_NAME).exists() {
        println!("this Wine has its own {SHIM_NAME}: the exe alone is not expected to fail");
    } else {
        let alone = unpacked.join("exe-alone");
        fs::create_dir_all(&alone).context(format_args!("creating {}", alone.display()))?;
        fs::copy(&exe, alone.join("wsm-bridge.exe")).context("copying the exe alone")?;
        let mut cmd = wine(env, &alone.join("wsm-bridge.exe"));
        cmd.arg("--version");
        let status = env.status_bounded(&mut cmd, WINE_TIMEOUT)?;
        if status.code() != Some(DLL_NOT_FOUND_EXIT) {
            bail!(
                "without {SHIM_NAME} beside it the exe gave {status}, not exit code {DLL_NOT_FOUND_EXIT}: the check cannot show that the DLL is needed"
            );
        }
        println!("without {SHIM_NAME} beside it: exit code {DLL_NOT_FOUND_EXIT}, as expected");
    }

    let version = capture(wine(env, &exe).arg("--version"))?;
    let expected = format!("{BRIDGE_PACKAGE} {}", bridge_version(ws)?);
    if version.trim() != expected {
        bail!("--version printed {version:?}, not {expected:?}");
    }
    bridge_once(env, &exe)?;
    launch_once(env, &dir.join(BRIDGE_PACKAGE))
}

/// Runs the release's launcher (which finds the exe beside it) with plain Wine and a game
/// that exits with code 7 (`cmd /c exit 7`): the launcher's exit code is the game's, and the
/// bridge's file is gone afterwards.
fn launch_once(env: &WineEnv, launcher: &Path) -> Result {
    let name = format!("wsm-release-launch-{}", std::process::id());
    let mut cmd = Command::new(launcher);
    cmd.arg("launch")
        .arg(format!("{name}=5000"))
        .args(["--", "wine", "cmd", "/c", "exit 7"])
        .stdin(Stdio::null());
    env.apply(&mut cmd);
    let status = env.status_bounded(&mut cmd, WINE_TIMEOUT)?;
    if status.code() != Some(7) {
        bail!("the release's launcher gave {status}, not the game's exit code 7");
    }
    if Path::new("/dev/shm").join(&name).exists() {
        bail!("/dev/shm/{name} is left after the launched game ended");
    }
    println!("release launcher: the game's exit code 7, nothing left in /dev/shm");
    Ok(())
}

/// Runs the release's bridge with one section, sees its `/dev/shm` file while it says
/// `ready`, closes its input and sees the file go.
fn bridge_once(env: &WineEnv, exe: &Path) -> Result {
    let name = format!("wsm-release-check-{}", std::process::id());
    let file = Path::new("/dev/shm").join(&name);
    let mut cmd = wine(env, exe);
    cmd.arg(format!("{name}=5000"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    println!("$ {}", show(&cmd));
    let mut child = cmd.spawn().context("starting the release's bridge")?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    let read = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
    let size = fs::metadata(&file).map(|meta| meta.len());
    drop(child.stdin.take());
    let status = child.wait().context("waiting for the release's bridge")?;
    read.context("reading the bridge's output")?;
    if line.trim() != "ready" {
        bail!("the release's bridge printed {line:?}, not \"ready\" ({status})");
    }
    match size {
        Ok(5000..) => {}
        other => bail!(
            "while ready, {} was {other:?}, not a section of 5000 bytes",
            file.display()
        ),
    }
    if !status.success() {
        bail!("the release's bridge ended with {status}");
    }
    if file.exists() {
        bail!("{} is left after the bridge ended", file.display());
    }
    println!("release bridge: ready, {} made and removed", file.display());
    Ok(())
}

/// `wine exe` in the prefix of `env`.
fn wine(env: &WineEnv, exe: &Path) -> Command {
    let mut cmd = Command::new("wine");
    cmd.arg(exe);
    env.apply(&mut cmd);
    cmd
}
