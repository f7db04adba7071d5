//! What the tests need installed: rustup targets, Wine and MinGW (through apt-get when root),
//! and whether a nightly toolchain is there.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result, bail};
use crate::process::{capture, find_in_path, is_root, run};

/// The OS `cargo xtask test` runs on, which decides how the Windows code is tested.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Host {
    /// Linux (Debian on CI): the Unix tests natively, the Windows ones under Wine.
    Linux,
    /// Windows: every test natively, no Wine.
    Windows,
    /// macOS (or another Unix): the Unix tests natively; the Windows code is checked, not run.
    OtherUnix,
}

impl Host {
    /// The host this xtask was built for, which is the one it runs on.
    pub(crate) fn this() -> Self {
        if cfg!(windows) {
            Self::Windows
        } else if cfg!(target_os = "linux") {
            Self::Linux
        } else {
            Self::OtherUnix
        }
    }

    /// The targets to type-check here: [`CHECK_TARGETS`], and Linux from another host, less
    /// the host's own target, which the native steps build.
    pub(crate) fn check_targets(self) -> Vec<&'static str> {
        let native = |target: &str| {
            target.starts_with(std::env::consts::ARCH)
                && match self {
                    Self::Linux => target.contains("linux"),
                    Self::Windows => target.contains("windows-msvc"),
                    Self::OtherUnix => target.contains("apple"),
                }
        };
        let linux = (self != Self::Linux).then_some("x86_64-unknown-linux-gnu");
        CHECK_TARGETS
            .into_iter()
            .chain(linux)
            .filter(|target| !native(target))
            .collect()
    }
}

/// The one Windows target that can *run* here: MinGW links it, Wine runs it.
pub(crate) const WINDOWS_GNU: &str = "x86_64-pc-windows-gnu";

/// Targets that can only be type-checked on Linux (no linker or OS for them
/// here), but which the library must keep compiling for.
pub(crate) const CHECK_TARGETS: [&str; 5] = [
    "x86_64-pc-windows-msvc",
    "i686-pc-windows-msvc",
    "aarch64-pc-windows-msvc",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
];

/// MinGW's C compiler: builds the Wine shim and the C peers (and is the
/// linker rustc uses for the windows-gnu target).
pub(crate) const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";

/// What a group of steps needs installed on the host, and the Debian packages that install it.
pub(crate) struct HostTools {
    /// What the tools are, for a message telling a developer what to install.
    pub(crate) what: &'static str,
    /// What must be there: commands looked up on `PATH`, or absolute paths of files (a C
    /// library, a configuration file), which no command stands for.
    pub(crate) needed: &'static [&'static str],
    /// The Debian packages that provide `needed`.
    pub(crate) packages: &'static [&'static str],
}

/// Wine and MinGW, for the Windows steps. `wine64` is the 64-bit loader, `wine` the
/// `wine`/`wineboot`/`wineserver` commands in front of it.
pub(crate) const WINE_TOOLS: HostTools = HostTools {
    what: "Wine (64-bit) and the MinGW-w64 x86_64 C compiler",
    needed: &["wine", "wineboot", "wineserver", MINGW_GCC],
    packages: &["wine", "wine64", "gcc-mingw-w64-x86-64"],
};

/// Make sure rustup has the standard library for every target we build or
/// check; a fresh machine has only the host's.
pub(crate) fn ensure_rust_targets(targets: &[&str]) -> Result {
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

/// Make sure `tools` are installed, installing them through apt-get when we are root (as on
/// CI); otherwise say exactly what to install.
pub(crate) fn ensure_host_tools(tools: &HostTools) -> Result {
    let missing = || -> Vec<&str> {
        tools
            .needed
            .iter()
            .copied()
            .filter(|tool| {
                if tool.starts_with('/') {
                    !Path::new(tool).exists()
                } else {
                    find_in_path(tool).is_none()
                }
            })
            .collect()
    };
    let absent = missing();
    if absent.is_empty() {
        println!("host tools present: {}", tools.needed.join(", "));
        return Ok(());
    }
    let packages = tools.packages.join(" ");
    let absent = absent.join(", ");
    let what = tools.what;
    if !is_root() {
        bail!(
            "missing {absent}; install them with `sudo apt-get install -y {packages}` \
             (Debian/Ubuntu), or {what} with your package manager"
        );
    }
    if find_in_path("apt-get").is_none() {
        bail!(
            "missing {absent} and there is no apt-get here: install {what} with your \
             package manager"
        );
    }
    println!("missing {absent}: installing {packages} with apt-get");
    let apt = || {
        let mut cmd = Command::new("apt-get");
        // Another apt or dpkg (an unattended upgrade, a second xtask run) may hold the lock:
        // wait for it rather than fail the step at once.
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["-o", "DPkg::Lock::Timeout=600"]);
        cmd
    };
    run(apt().args(["update", "-q"]))?;
    run(apt().args(["install", "-y", "-q"]).args(tools.packages))?;
    let still = missing();
    if !still.is_empty() {
        bail!(
            "apt-get installed {packages}, but {} is still not there",
            still.join(", ")
        );
    }
    Ok(())
}

/// Whether rustup has a nightly toolchain, which Miri needs.
pub(crate) fn has_nightly() -> bool {
    capture(Command::new("rustup").args(["toolchain", "list"]))
        .is_ok_and(|list| list.lines().any(|line| line.starts_with("nightly")))
}
