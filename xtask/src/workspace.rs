//! Where everything lives: the repository root, cargo's target directory and the build
//! products kept there, and `cargo` commands run from the root.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Context, Result};

/// The library's package name, for `cargo -p`.
pub(crate) const LIB_PACKAGE: &str = "win-shared-memory";

/// Where everything lives. All paths derive from the xtask's own location,
/// so the commands behave the same from any working directory.
pub(crate) struct Workspace {
    /// The repository root (the workspace's root package).
    pub(crate) root: PathBuf,
    /// Cargo's target directory, which also holds the Wine prefix, the shim
    /// and the C peers (all build products, all ignored by git).
    pub(crate) target: PathBuf,
}

impl Workspace {
    /// Find the root from this crate's manifest dir and the target dir the
    /// way cargo does (`CARGO_TARGET_DIR`, else `<root>/target`).
    pub(crate) fn locate() -> Result<Self> {
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
    pub(crate) fn cargo_on(&self, toolchain: &str) -> Command {
        let mut cmd = Command::new("rustup");
        cmd.args(["run", toolchain, "cargo"])
            .current_dir(&self.root);
        cmd
    }

    /// A `cargo` command run from the root, using the same cargo that runs
    /// us (so `cargo +nightly xtask` stays on nightly).
    pub(crate) fn cargo(&self) -> Command {
        let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(&self.root);
        cmd
    }

    /// Sources of the bcryptprimitives.dll shim.
    pub(crate) fn shim_sources(&self) -> [PathBuf; 2] {
        let dir = self.root.join("xtask").join("shim");
        [dir.join("shim.c"), dir.join("shim.def")]
    }

    /// Where the shim DLL is built.
    pub(crate) fn shim_dll(&self) -> PathBuf {
        self.target.join("wine-shim").join("bcryptprimitives.dll")
    }

    /// The private Wine prefix: never the developer's `~/.wine`.
    pub(crate) fn wine_prefix(&self) -> PathBuf {
        self.target.join("wine-prefix")
    }

    /// Sources of the C peer programs.
    pub(crate) fn peer_sources(&self) -> PathBuf {
        self.root.join("tests").join("c")
    }

    /// Where the C peers are built; the tests get it as `WSM_C_PEER_DIR`.
    pub(crate) fn peer_dir(&self) -> PathBuf {
        self.target.join("c-peers")
    }
}
