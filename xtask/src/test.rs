//! `cargo xtask test`: every test and lint, as one list of steps ([`test_steps`]).
//!
//! Each step says what it needs (flags, host, toolchains, what earlier steps made) and what it
//! does; `step::run_steps` runs them in order and records each in the report, skipped with a
//! reason when a need is missing. To add a step, add it to the list where it belongs, with its
//! needs; if later steps use what it makes, give it a `Product`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::mirror;
use crate::outside::{
    outside_cargo, package, rust_version, write_outside_crate, write_windows_user_crate,
};
use crate::process::{find_in_path, run};
use crate::proton;
use crate::release;
use crate::report::Report;
use crate::step::{Context, Need, Product, Step, describe, run_steps, select};
use crate::toolchain::{
    AARCH64_GCC, AARCH64_LINUX, AARCH64_SYSROOT, AARCH64_TOOLS, Host, MINGW_GCC, WINDOWS_GNU,
    WINE_TOOLS, ensure_aarch64_binfmt, ensure_host_tools, ensure_rust_targets,
};
use crate::wine::{CCompiler, build_c_peers, build_shim, setup_wine_prefix};
use crate::workflow::lint_workflows;
use crate::workspace::{LIB_PACKAGE, Workspace};

/// The examples the test command runs natively, each two processes talking.
const EXAMPLES: [&str; 2] = ["game_state", "telemetry"];

/// Upper bound for the Windows test run, so a test deadlocked under Wine
/// fails the run instead of eating CI's whole time budget.
const WINE_TEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The loom model of the seqlock protocol, in a target directory of its own since `--cfg loom`
/// rebuilds everything.
const LOOM_STEP: &str = "loom model of the seqlock";

/// The library's tests and the cross-process suite against the portable Unix backend (the
/// macOS code), built on Linux with `--cfg wsm_portable`.
const PORTABLE_STEP: &str = "native tests, portable Unix backend: --cfg wsm_portable";

/// The brief fuzz run of the test command.
const FUZZ_STEP: &str = "fuzz: names and sizes, 100 000 inputs";

/// The single-process synchronisation tests under Miri.
const MIRI_STEP: &str = "miri: cargo +nightly miri test (sync, copy)";

/// Inputs of a long fuzz run (`cargo xtask fuzz`).
pub(crate) const FUZZ_RUNS: u64 = 10_000_000;

/// Inputs of the brief fuzz run in `cargo xtask test`.
const BRIEF_FUZZ_RUNS: u64 = 100_000;

/// How many holders the stress runs kill at random points.
const STRESS_KILLS: usize = 1000;

/// How many create/open/use/drop cycles of every object kind the stress runs count leaks over.
const LEAK_CYCLES: usize = 100_000;

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

/// `cargo test` of the library, the cross-process suite and the error messages (the portable
/// mutex's lock file must not show in them) with the portable Unix backend, in a target
/// directory of its own since the cfg rebuilds everything.
fn portable_test(mut cargo: Command, ws: &Workspace, extra: &[OsString]) -> Command {
    cargo
        .args([
            "test",
            "-p",
            LIB_PACKAGE,
            "--lib",
            "--test",
            "cross_process",
            "--test",
            "error_messages",
        ])
        .arg("--target-dir")
        .arg(ws.target.join("portable"))
        .args(extra)
        .env("RUSTFLAGS", "--cfg wsm_portable");
    cargo
}

/// The fuzz target's run of `runs` inputs, with cargo-fuzz installed first if missing.
pub(crate) fn fuzz(ws: &Workspace, runs: u64) -> Result<Command> {
    if find_in_path("cargo-fuzz").is_none() {
        run(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))?;
    }
    let mut cargo = ws.cargo_on("nightly");
    cargo
        .args(["fuzz", "run", "names", "--fuzz-dir", "fuzz", "--"])
        .arg(format!("-runs={runs}"));
    Ok(cargo)
}

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

/// The aarch64 library tests under qemu-user.
const AARCH64_LIB_STEP: &str = "aarch64 under qemu-user: library tests";

/// The aarch64 cross-process suite under qemu-user.
const AARCH64_CROSS_PROCESS_STEP: &str =
    "aarch64 under qemu-user: cross-process suite (children through binfmt_misc)";

/// `cargo test` for [`AARCH64_LINUX`], linked by the cross gcc and run by qemu-user. The
/// library's aarch64 code (its assembly copy, its atomics and futex calls) runs nowhere else
/// on an x86_64 machine.
///
/// qemu finds the aarch64 loader and C library through `QEMU_LD_PREFIX` rather than `-L`:
/// the cross-process tests' children are started by the kernel through binfmt_misc, which
/// passes no `-L`, but they inherit the environment. The default target directory serves: the
/// target has a subdirectory of its own there, and no flag differs from the other builds, so
/// nothing is rebuilt back and forth.
fn aarch64_test(cx: &Context<'_>, suite: &[&str]) -> Command {
    let mut cargo = cx.ws.cargo();
    cargo
        .args(["test", "-p", LIB_PACKAGE, "--target", AARCH64_LINUX])
        .args(suite)
        .args(cx.extra)
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", AARCH64_GCC)
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER",
            "qemu-aarch64",
        )
        .env("QEMU_LD_PREFIX", AARCH64_SYSROOT);
    cargo
}

/// What the package step makes: the outside crates on the packaged library.
pub(crate) struct OutsideCrates {
    /// The crate with every README block and example.
    manifest: PathBuf,
    /// Those of its examples that run (the README blocks that rustdoc runs, and the
    /// examples).
    runnable: Vec<String>,
    /// The crate that uses the library with the `windows` crate's error type.
    windows_user: PathBuf,
}

/// What `cargo xtask test` was asked for.
#[derive(Debug, PartialEq)]
pub(crate) struct TestOptions {
    /// `--skip-native`: leave out the native steps.
    pub(crate) skip_native: bool,
    /// `--skip-windows`: leave out Wine setup, C peers and the Windows steps.
    pub(crate) skip_windows: bool,
    /// `--step PATTERN`s: run only the steps whose names contain one (and what they need).
    pub(crate) steps: Vec<String>,
    /// `--list`: print the steps instead of running them.
    pub(crate) list: bool,
    /// Everything after `--`, appended to the test suites' `cargo test` commands.
    pub(crate) extra: Vec<OsString>,
}

/// `cargo xtask test`: every test and lint, continuing past failures so one run shows
/// everything; the exit code fails if any step failed.
pub(crate) fn cmd_test(ws: &Workspace, options: &TestOptions) -> Result<ExitCode> {
    let host = Host::this();
    let windows = !options.skip_windows;
    let mut cx = Context::new(ws, host, !options.skip_native, windows, &options.extra);
    let steps = select(test_steps(host, windows), &options.steps)?;
    if options.list {
        print!("{}", describe(&steps, &cx));
        return Ok(ExitCode::SUCCESS);
    }
    let mut report = Report::default();
    run_steps(&steps, &mut cx, &mut report);
    Ok(report.finish())
}

/// Where Wine runs Windows code: on a Linux host asked for the Windows steps.
const UNDER_WINE: [Need; 3] = [
    Need::NotOn(
        Host::Windows,
        "a Windows host runs the Windows tests natively",
    ),
    Need::NotOn(
        Host::OtherUnix,
        "no Wine here: the Windows code is checked and linted, not run",
    ),
    Need::Windows,
];

/// Why qemu-user runs no aarch64 code here.
const NO_QEMU_USER: &str = "qemu-user runs Linux programs on Linux only";

/// Where the aarch64 code runs under qemu-user: on a Linux host that is not aarch64 itself,
/// when the native steps (which these repeat on another architecture) are asked for.
const UNDER_QEMU: [Need; 4] = [
    Need::Native,
    Need::NotOn(Host::Windows, NO_QEMU_USER),
    Need::NotOn(Host::OtherUnix, NO_QEMU_USER),
    Need::NotOnArch(
        "aarch64",
        "this host is aarch64: the native tests ran the aarch64 code",
    ),
];

/// Only on Linux, the one host actionlint's wheel is pinned for.
const LINUX_LINT: &str = "linted by the Linux run, the one actionlint's wheel is pinned for";

/// The steps of `cargo xtask test` on `host`, in the order they run; `windows` is whether the
/// Windows steps were asked for, which decides what the toolchain step installs.
pub(crate) fn test_steps(host: Host, windows: bool) -> Vec<Step> {
    use Need::{Made, Native, Nightly, NotOn, WindowsCCompiler};
    use Product::{Aarch64Emulation, NativeCPeers, Toolchain, WineCPeers, WinePrefix};
    let wine = [&UNDER_WINE[..], &[Made(WinePrefix), Made(WineCPeers)]].concat();
    let wine_setup = [&UNDER_WINE[..], &[Made(Toolchain)]].concat();
    // The tool's tests are Linux's (see `mirror`): so is its Windows publisher's.
    let wine_tool = [&wine[..], &mirror::ON_LINUX[..]].concat();
    let qemu = [&UNDER_QEMU[..], &[Made(Aarch64Emulation)]].concat();
    let installs_wine = windows && host == Host::Linux;
    let mut steps = vec![
        // Toolchain and Wine.
        Step::new(
            if installs_wine {
                "toolchain: rustup targets, Wine, MinGW"
            } else {
                "toolchain: rustup targets"
            },
            &[],
            move |cx| {
                let mut targets = vec![WINDOWS_GNU];
                targets.extend(cx.host.check_targets());
                ensure_rust_targets(&targets)?;
                if installs_wine {
                    ensure_host_tools(&WINE_TOOLS)?;
                }
                Ok(())
            },
        )
        .makes(Toolchain),
        Step::new("wine prefix and bcryptprimitives shim", &wine_setup, |cx| {
            let dll = build_shim(cx.ws)?;
            cx.wine = Some(setup_wine_prefix(cx.ws, &dll)?);
            Ok(())
        })
        .makes(WinePrefix),
        Step::new("C peers", &wine_setup, |cx| {
            build_c_peers(cx.ws, CCompiler::Gcc(MINGW_GCC))
        })
        .makes(WineCPeers),
    ];
    // Only a Windows host builds the C peers for its native tests; elsewhere they are the
    // Windows tests' and the step above builds them.
    if host == Host::Windows {
        steps.push(
            Step::new("C peers (native)", &[Native, WindowsCCompiler], |cx| {
                let compiler = CCompiler::on_windows_host()
                    .ok_or_else(|| Error("no C compiler (gcc or cl) on PATH".to_owned()))?;
                build_c_peers(cx.ws, compiler)
            })
            .makes(NativeCPeers),
        );
    }
    // The native tests.
    steps.extend([
        // `wsm` builds Zenoh: its own steps below.
        Step::command(
            "native tests: cargo test --workspace --exclude wsm",
            &[Native],
            |cx| {
                let mut cargo = native_cargo(cx);
                cargo
                    .args(["test", "--workspace", "--exclude", mirror::TOOL_PACKAGE])
                    .args(cx.extra);
                cargo
            },
        ),
        Step::command(
            PORTABLE_STEP,
            &[
                Native,
                NotOn(
                    Host::OtherUnix,
                    "the portable backend is this OS's own: the native tests ran it",
                ),
                NotOn(Host::Windows, "the portable backend is Unix code"),
            ],
            |cx| portable_test(native_cargo(cx), cx.ws, cx.extra),
        ),
        Step::command(
            format!("native stress: {STRESS_KILLS} holders killed, {LEAK_CYCLES} leak cycles"),
            &[Native],
            |cx| stress_test(native_cargo(cx), None),
        ),
        Step::new(
            format!("examples: {}", EXAMPLES.join(", ")),
            &[Native],
            |cx| {
                EXAMPLES.iter().try_for_each(|example| {
                    run(cx.ws.cargo().args(["run", "--quiet", "--example", example]))
                })
            },
        ),
    ]);
    steps.extend(mirror::steps());
    // The Windows tests under Wine.
    steps.extend([
        Step::new(
            format!("windows tests under wine: cargo test --target {WINDOWS_GNU}"),
            &wine,
            |cx| {
                let mut cmd = cx.ws.cargo();
                cmd.args(["test", "--target", WINDOWS_GNU, "-p", LIB_PACKAGE])
                    .args(["--tests", "--examples"])
                    .args(cx.extra);
                run_under_wine(cx, &mut cmd)
            },
        ),
        Step::new(proton::STEP, &wine, |cx| {
            proton::cross_boundary_tests(cx.ws, wine_env(cx)?)
        }),
        Step::new(mirror::WINE_STEP, &wine_tool, |cx| {
            mirror::windows_publisher_under_wine(cx.ws, wine_env(cx)?)
        }),
        Step::new(release::STEP, &wine_setup, |cx| {
            release::check_on_stock_prefix(cx.ws)
        }),
        Step::new(
            format!(
                "windows stress under wine: {STRESS_KILLS} holders killed, {LEAK_CYCLES} leak cycles"
            ),
            &wine,
            |cx| run_under_wine(cx, &mut stress_test(cx.ws.cargo(), Some(WINDOWS_GNU))),
        ),
    ]);
    // The other targets: type-checked, and aarch64 Linux run under qemu-user.
    for target in host.check_targets() {
        steps.push(Step::command(format!("check {target}"), &[], move |cx| {
            let mut cargo = cx.ws.cargo();
            cargo.args([
                "check",
                "-p",
                LIB_PACKAGE,
                "--all-targets",
                "--target",
                target,
            ]);
            cargo
        }));
    }
    steps.extend([
        Step::new(
            "aarch64 emulation: rustup target, cross gcc, qemu-user",
            &UNDER_QEMU,
            |_| {
                ensure_rust_targets(&[AARCH64_LINUX])?;
                ensure_host_tools(&AARCH64_TOOLS)
            },
        )
        .makes(Aarch64Emulation),
        Step::command(AARCH64_LIB_STEP, &qemu, |cx| aarch64_test(cx, &["--lib"])),
        // Every test of the suite passes under qemu-user 7.2 once the kernel hands the
        // children to qemu (measured: 57 passed). Its OFD locks, process-shared futexes and
        // mappings are plain system calls that qemu passes to the host kernel. The ignored ones
        // stay ignored as in the native run: the Wine tests, and the kill stress, which
        // the stress steps run.
        Step::new(AARCH64_CROSS_PROCESS_STEP, &qemu, |cx| {
            ensure_aarch64_binfmt()?;
            run(&mut aarch64_test(cx, &["--test", "cross_process"]))
        }),
    ]);
    steps.extend(as_users_get_it(host));
    // Lints.
    steps.extend([
        Step::command("clippy (native)", &[], |cx| {
            let mut cargo = cx.ws.cargo();
            cargo.args([
                "clippy",
                "--workspace",
                "--exclude",
                mirror::TOOL_PACKAGE,
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]);
            cargo
        }),
        Step::command(format!("clippy ({WINDOWS_GNU})"), &[], |cx| {
            let mut cargo = cx.ws.cargo();
            cargo
                .args(["clippy", "-p", LIB_PACKAGE, "-p", proton::BRIDGE_PACKAGE])
                .arg("--all-targets")
                .args(["--target", WINDOWS_GNU, "--", "-D", "warnings"]);
            cargo
        }),
        Step::command("rustfmt", &[], |cx| {
            let mut cargo = cx.ws.cargo();
            cargo.args(["fmt", "--all", "--", "--check"]);
            cargo
        }),
        Step::new(
            "actionlint: .github/workflows",
            &[
                NotOn(Host::Windows, LINUX_LINT),
                NotOn(Host::OtherUnix, LINUX_LINT),
            ],
            |cx| lint_workflows(cx.ws),
        ),
    ]);
    // The loom model, the brief fuzz run and Miri.
    steps.extend([
        Step::command(LOOM_STEP, &[Native], |cx| loom_test(cx.ws)),
        Step::new(
            FUZZ_STEP,
            &[
                Native,
                Nightly("no nightly toolchain; cargo fuzz needs one"),
                NotOn(
                    Host::Windows,
                    "cargo fuzz's sanitizers are set up for Linux and macOS runs only",
                ),
            ],
            |cx| run(&mut fuzz(cx.ws, BRIEF_FUZZ_RUNS)?),
        ),
        Step::new(
            MIRI_STEP,
            &[Native, Nightly("no nightly toolchain; Miri needs one")],
            |cx| {
                run(Command::new("rustup")
                    .args(["component", "add", "--toolchain", "nightly"])
                    .args(["miri", "rust-src"]))?;
                run(cx.ws.cargo_on("nightly").args([
                    "miri",
                    "test",
                    "-p",
                    LIB_PACKAGE,
                    "--lib",
                    "--",
                    "sync::",
                    "copy::",
                ]))
            },
        ),
    ]);
    steps
}

/// The crate as a user gets it: `cargo package` (which builds the packaged copy), then a
/// crate that depends on that copy alone builds every README block and example, natively
/// (running the blocks that rustdoc runs), for Windows, and with the declared MSRV.
fn as_users_get_it(host: Host) -> Vec<Step> {
    use Need::{Made, Native, NotOn, Windows};
    use Product::Package;
    // Linking needs MinGW, which only the Linux runs install: elsewhere, a type check.
    let windows_build = if host == Host::Linux {
        "build"
    } else {
        "check"
    };
    vec![
        Step::new(
            "package: cargo package (builds the packaged copy), outside crates on it",
            &[],
            |cx| {
                let library = package(cx.ws)?;
                let (manifest, runnable) = write_outside_crate(cx.ws, &library)?;
                let windows_user = write_windows_user_crate(cx.ws, &library)?;
                cx.outside = Some(OutsideCrates {
                    manifest,
                    runnable,
                    windows_user,
                });
                Ok(())
            },
        )
        .makes(Package),
        Step::new(
            "outside crate: README blocks and examples, built natively, blocks run",
            &[Made(Package), Native],
            |cx| {
                let (ws, outside) = (cx.ws, outside_crates(cx)?);
                run(outside_cargo(ws, ws.cargo(), &outside.manifest, "build").arg("--examples"))?;
                outside.runnable.iter().try_for_each(|example| {
                    run(
                        outside_cargo(ws, ws.cargo(), &outside.manifest, "run").args([
                            "--quiet",
                            "--example",
                            example,
                        ]),
                    )
                })
            },
        ),
        Step::new(
            format!("outside crate: README blocks and examples for {WINDOWS_GNU}"),
            &[
                Made(Package),
                NotOn(Host::Windows, "the native build is the Windows build"),
                Windows,
            ],
            move |cx| {
                let (ws, outside) = (cx.ws, outside_crates(cx)?);
                run(
                    outside_cargo(ws, ws.cargo(), &outside.manifest, windows_build).args([
                        "--examples",
                        "--target",
                        WINDOWS_GNU,
                    ]),
                )
            },
        ),
        // A type check, which needs no linker: on a Windows host the native build is Windows'.
        Step::new(
            format!(
                "outside crate on windows 0.62 ({WINDOWS_GNU}): OsError is windows::core::Error"
            ),
            &[Made(Package), Windows],
            |cx| {
                let (ws, outside) = (cx.ws, outside_crates(cx)?);
                let mut check = outside_cargo(ws, ws.cargo(), &outside.windows_user, "check");
                if cx.host != Host::Windows {
                    check.args(["--target", WINDOWS_GNU]);
                }
                run(&mut check)
            },
        ),
        Step::new(
            "outside crate with the MSRV (rust-version) toolchain",
            &[Made(Package)],
            |cx| {
                let (ws, outside) = (cx.ws, outside_crates(cx)?);
                let version = rust_version(ws)?;
                run(Command::new("rustup").args([
                    "toolchain",
                    "install",
                    &version,
                    "--profile",
                    "minimal",
                ]))?;
                run(
                    outside_cargo(ws, ws.cargo_on(&version), &outside.manifest, "build")
                        .arg("--examples"),
                )
            },
        ),
    ]
}

/// `cargo` for the native test suites: on a Windows host, with the C peers when they were
/// built (without them, the tests that need them are ignored).
fn native_cargo(cx: &Context<'_>) -> Command {
    let mut cargo = cx.ws.cargo();
    if cx.has(Product::NativeCPeers) {
        cargo.env("WSM_C_PEER_DIR", cx.ws.peer_dir());
    }
    cargo
}

/// The Wine prefix of a step that needs [`Product::WinePrefix`].
fn wine_env<'c>(cx: &'c Context<'_>) -> Result<&'c crate::wine::WineEnv> {
    cx.wine
        .as_ref()
        .ok_or_else(|| Error("no Wine prefix: its step did not pass".to_owned()))
}

/// The outside crates of a step that needs [`Product::Package`].
fn outside_crates<'c>(cx: &'c Context<'_>) -> Result<&'c OutsideCrates> {
    cx.outside
        .as_ref()
        .ok_or_else(|| Error("no outside crates: the package step did not pass".to_owned()))
}

/// Run `cmd` in the Wine prefix, bounded by [`WINE_TEST_TIMEOUT`], then wait for the prefix's
/// processes to end, so that one test run's leftovers cannot disturb the next.
fn run_under_wine(cx: &Context<'_>, cmd: &mut Command) -> Result {
    let env = wine_env(cx)?;
    env.apply(cmd);
    let tested = env.run_bounded(cmd, WINE_TEST_TIMEOUT);
    let drained = env.wait_for_wineserver();
    tested.and(drained)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every host, for tests that check the list wherever it runs.
    const HOSTS: [Host; 3] = [Host::Linux, Host::Windows, Host::OtherUnix];

    /// The report and `--step` tell steps apart by name: no two may share one.
    #[test]
    fn step_names_are_unique() {
        for host in HOSTS {
            for windows in [true, false] {
                let steps = test_steps(host, windows);
                for (i, step) in steps.iter().enumerate() {
                    assert!(
                        steps[..i].iter().all(|other| other.name != step.name),
                        "{host:?}: two steps named {:?}",
                        step.name
                    );
                }
            }
        }
    }

    /// Each product is made by exactly one step, and before every step that needs it, so the
    /// runner (in order) and `--step` (which pulls in the maker) always find it.
    #[test]
    fn every_product_is_made_once_before_its_use() {
        for host in HOSTS {
            let steps = test_steps(host, true);
            for (i, step) in steps.iter().enumerate() {
                for need in &step.needs {
                    let Need::Made(product) = *need else { continue };
                    let makers: Vec<usize> = (0..steps.len())
                        .filter(|&j| steps[j].makes == Some(product))
                        .collect();
                    assert_eq!(makers.len(), 1, "{host:?}: makers of {product:?}");
                    assert!(makers[0] < i, "{host:?}: {:?} before its maker", step.name);
                }
            }
        }
    }

    /// Choosing steps brings the steps that make what they need, and nothing else: the
    /// aarch64 steps (whose names, unlike the aarch64 checks', all have "qemu"), the Wine ones.
    #[test]
    fn selecting_a_step_pulls_in_what_it_needs() {
        let names = |patterns: &[&str]| -> Vec<String> {
            let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
            select(test_steps(Host::Linux, true), &patterns)
                .unwrap()
                .into_iter()
                .map(|step| step.name)
                .collect()
        };
        assert_eq!(
            names(&["QEMU"]),
            [
                "aarch64 emulation: rustup target, cross gcc, qemu-user",
                AARCH64_LIB_STEP,
                AARCH64_CROSS_PROCESS_STEP,
            ]
        );
        assert_eq!(
            names(&[proton::STEP]),
            [
                "toolchain: rustup targets, Wine, MinGW",
                "wine prefix and bcryptprimitives shim",
                "C peers",
                proton::STEP,
            ]
        );
        assert_eq!(names(&["rustfmt", "loom"]), ["rustfmt", LOOM_STEP]);
        let nothing = select(test_steps(Host::Linux, true), &["no such step".to_owned()]);
        assert!(nothing.is_err());
    }

    /// The steps that the flags and the host leave out are skipped with the reasons the
    /// report has always given.
    #[test]
    fn needs_give_the_reports_reasons() {
        let ws = Workspace::locate().unwrap();
        let skipped = |host: Host, native: bool, windows: bool, name: &str| {
            let cx = Context::new(&ws, host, native, windows, &[]);
            let steps = test_steps(host, windows);
            let step = steps.iter().find(|s| s.name.starts_with(name)).unwrap();
            cx.planned_skip(step)
        };
        let linux = |name| skipped(Host::Linux, false, false, name);
        assert_eq!(linux("toolchain: rustup targets"), None);
        assert_eq!(linux("wine prefix"), Some("--skip-windows"));
        assert_eq!(linux("native tests"), Some("--skip-native"));
        assert_eq!(linux(AARCH64_LIB_STEP), Some("--skip-native"));
        assert_eq!(linux("actionlint"), None);
        let mac = |name| skipped(Host::OtherUnix, true, true, name);
        assert_eq!(
            mac("windows tests under wine"),
            Some("no Wine here: the Windows code is checked and linted, not run")
        );
        assert_eq!(mac(AARCH64_LIB_STEP), Some(NO_QEMU_USER));
        assert_eq!(mac("actionlint"), Some(LINUX_LINT));
        let windows = |name| skipped(Host::Windows, true, false, name);
        assert_eq!(windows("outside crate on windows 0.62"), None);
        assert_eq!(
            windows("outside crate: README blocks and examples for"),
            Some("the native build is the Windows build")
        );
    }
}
