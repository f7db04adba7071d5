//! What the tests need installed: rustup targets, Wine and MinGW, qemu-user and the aarch64
//! cross compiler (through apt-get when root), qemu's binfmt_misc entry, and whether a nightly
//! toolchain is there.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::error::{Context, Error, Result, bail};
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

/// The Linux target whose tests run under qemu-user: the library's other architecture with
/// hand-written assembly, which no x86_64 machine runs natively.
pub(crate) const AARCH64_LINUX: &str = "aarch64-unknown-linux-gnu";

/// The C compiler that links [`AARCH64_LINUX`] programs.
pub(crate) const AARCH64_GCC: &str = "aarch64-linux-gnu-gcc";

/// Where Debian's cross C library for aarch64 lives: qemu-user loads the programs' dynamic
/// loader and libraries from below it.
pub(crate) const AARCH64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// The qemu-user binfmt_misc entry for aarch64 programs, as qemu-user-binfmt ships it for
/// systemd-binfmt, which is not running on a CI machine.
const QEMU_AARCH64_BINFMT: &str = "/usr/lib/binfmt.d/qemu-aarch64.conf";

/// qemu-user and the aarch64 cross compiler and C library, for the aarch64 steps.
/// qemu-user-binfmt is named although qemu-user recommends it, since the cross-process tests
/// need its binfmt_misc entry (see [`ensure_aarch64_binfmt`]).
pub(crate) const AARCH64_TOOLS: HostTools = HostTools {
    what: "qemu-user (with its binfmt_misc entries) and the aarch64 Linux C cross compiler",
    needed: &[
        "qemu-aarch64",
        AARCH64_GCC,
        "/usr/aarch64-linux-gnu/lib/libc.so",
        QEMU_AARCH64_BINFMT,
    ],
    packages: &[
        "qemu-user",
        "qemu-user-binfmt",
        "gcc-aarch64-linux-gnu",
        "libc6-dev-arm64-cross",
    ],
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

/// Where the kernel lists its binfmt_misc entries, once the file system is mounted there.
const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";

/// Make sure the kernel hands aarch64 programs to qemu-user, registering qemu-user-binfmt's
/// entry when we are root (as on CI, where no systemd-binfmt did it at boot).
///
/// The cross-process tests start their own binary again as children. Under qemu-user that
/// `execve` is the kernel's, which without the entry refuses an aarch64 binary (ENOEXEC); the
/// aarch64 C library's `posix_spawn` then loses the error, because qemu emulates its
/// `CLONE_VFORK` child as a plain fork, and every child seems to exit with status 127.
pub(crate) fn ensure_aarch64_binfmt() -> Result {
    let entry = Path::new(BINFMT_MISC).join("qemu-aarch64");
    let enabled = || fs::read_to_string(&entry).is_ok_and(|e| e.lines().next() == Some("enabled"));
    if enabled() {
        println!(
            "binfmt_misc hands aarch64 programs to qemu: {}",
            entry.display()
        );
        return Ok(());
    }
    if !is_root() {
        bail!(
            "the kernel does not hand aarch64 programs to qemu-aarch64 ({} is not enabled); \
             as root: `mount -t binfmt_misc binfmt_misc {BINFMT_MISC}` if it is not mounted, \
             then `cat {QEMU_AARCH64_BINFMT} > {BINFMT_MISC}/register`",
            entry.display()
        );
    }
    let register = Path::new(BINFMT_MISC).join("register");
    if !register.exists() {
        run(Command::new("mount").args(["-t", "binfmt_misc", "binfmt_misc", BINFMT_MISC]))?;
    }
    if entry.exists() {
        // Registered but switched off: switch it back on.
        fs::write(&entry, "1").context(format_args!("enabling {}", entry.display()))?;
    } else {
        let line = fs::read_to_string(QEMU_AARCH64_BINFMT)
            .context(format_args!("reading {QEMU_AARCH64_BINFMT}"))?;
        println!("registering {QEMU_AARCH64_BINFMT} with binfmt_misc");
        fs::write(&register, line.trim_end())
            .context(format_args!("writing {}", register.display()))?;
    }
    if !enabled() {
        bail!(
            "{} is still not enabled after registering it",
            entry.display()
        );
    }
    Ok(())
}

/// Whether rustup has a nightly toolchain, which Miri needs.
pub(crate) fn has_nightly() -> bool {
    capture(Command::new("rustup").args(["toolchain", "list"]))
        .is_ok_and(|list| list.lines().any(|line| line.starts_with("nightly")))
}
