//! The tests of one region shared across the Wine boundary (Proton and Wine): native tests of
//! the cross-process suite (`tests/cross_process/wine.rs`) that start `wsm-bridge.exe`, the C
//! game (`tests/c/wine_game.c`, built with the other C peers) and the suite's own Windows
//! build in the prefix.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Result, bail};
use crate::process::{capture, run};
use crate::toolchain::WINDOWS_GNU;
use crate::wine::WineEnv;
use crate::workspace::{LIB_PACKAGE, Workspace};

/// The bridge's package, for `cargo -p`.
pub(crate) const BRIDGE_PACKAGE: &str = "wsm-bridge";

/// The name the step has in the report.
pub(crate) const STEP: &str =
    "proton/wine: regions shared with native Linux (wsm-bridge, Options::linux_host)";

/// The filter that selects the suite's cross-boundary tests (their names start with it).
const TEST_FILTER: &str = "wine_";

/// Upper bound for the run: each test starts a few Wine processes and reads for seconds.
const TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Builds the Windows side, runs the cross-boundary tests natively against it, and waits for
/// the prefix's processes to end.
pub(crate) fn cross_boundary_tests(ws: &Workspace, env: &WineEnv) -> Result {
    run(ws
        .cargo()
        .args(["build", "-p", BRIDGE_PACKAGE, "--target", WINDOWS_GNU]))?;
    let bridge = ws
        .target
        .join(WINDOWS_GNU)
        .join("debug")
        .join(format!("{BRIDGE_PACKAGE}.exe"));
    // The native build is the Steam launcher (`wsm-bridge launch`).
    run(ws.cargo().args(["build", "-p", BRIDGE_PACKAGE]))?;
    let launcher = ws.target.join("debug").join(BRIDGE_PACKAGE);
    let suite = windows_suite(ws)?;
    let mut cmd = ws.cargo();
    cmd.args(["test", "-p", LIB_PACKAGE, "--test", "cross_process", "--"])
        .arg(TEST_FILTER)
        .env("WSM_WINE_BRIDGE", &bridge)
        .env("WSM_NATIVE_BRIDGE", &launcher)
        .env("WSM_WINE_TEST_EXE", &suite);
    env.apply(&mut cmd);
    let tested = env.run_bounded(&mut cmd, TIMEOUT);
    let drained = env.wait_for_wineserver();
    tested.and(drained)
}

/// Builds the cross-process suite for Windows and returns its executable, which cargo names
/// with a hash (read from its JSON messages).
fn windows_suite(ws: &Workspace) -> Result<PathBuf> {
    let messages = capture(ws.cargo().args([
        "test",
        "-p",
        LIB_PACKAGE,
        "--test",
        "cross_process",
        "--no-run",
        "--message-format=json",
        "--target",
        WINDOWS_GNU,
    ]))?;
    const KEY: &str = "\"executable\":\"";
    let executable = messages
        .lines()
        .filter(|line| line.contains("\"name\":\"cross_process\""))
        .filter_map(|line| {
            let start = line.find(KEY)? + KEY.len();
            let rest = &line[start..];
            Some(&rest[..rest.find('"')?])
        })
        .next_back();
    match executable {
        Some(path) => Ok(PathBuf::from(path)),
        None => bail!("cargo named no Windows executable of the cross_process suite"),
    }
}
