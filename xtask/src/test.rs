//! `cargo xtask test`: every test and lint, as groups of steps.
//!
//! Each group is one method of `TestRun` that records its steps in the report (a step that
//! cannot run is recorded as skipped, with why). To add a step, add it to the group it belongs
//! to, or add a method for a new group and call it from `cmd_test`.

use std::ffi::OsString;
use std::process::{Command, ExitCode};
use std::time::Duration;

use crate::error::Result;
use crate::outside::{
    outside_cargo, package, rust_version, write_outside_crate, write_windows_user_crate,
};
use crate::process::{find_in_path, run};
use crate::proton;
use crate::report::Report;
use crate::toolchain::{
    Host, MINGW_GCC, WINDOWS_GNU, WINE_TOOLS, ensure_host_tools, ensure_rust_targets, has_nightly,
};
use crate::wine::{CCompiler, WineEnv, build_c_peers, build_shim, setup_wine_prefix};
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

/// `cargo test` of the library and the cross-process suite with the portable Unix backend,
/// in a target directory of its own since the cfg rebuilds everything.
fn portable_test(mut cargo: Command, ws: &Workspace, extra: &[OsString]) -> Command {
    cargo
        .args([
            "test",
            "-p",
            LIB_PACKAGE,
            "--lib",
            "--test",
            "cross_process",
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

/// `cargo xtask test`: every test and lint, continuing past failures so one
/// run shows everything; the exit code fails if any step failed.
pub(crate) fn cmd_test(
    ws: &Workspace,
    skip_native: bool,
    skip_windows: bool,
    extra: &[OsString],
) -> ExitCode {
    let mut run = TestRun {
        ws,
        host: Host::this(),
        native: !skip_native,
        windows: !skip_windows,
        extra,
        report: Report::default(),
    };
    let tools = run.toolchain();
    let wine = run.wine_setup(tools);
    let peers = run.native_c_peers();
    run.native_tests(peers);
    run.windows_tests(wine.as_ref());
    run.cross_checks();
    run.as_users_get_it();
    run.lints();
    run.loom_fuzz_miri();
    run.report.finish()
}

/// One `cargo xtask test` run: what it was asked for, and the steps so far.
struct TestRun<'a> {
    /// Where everything lives.
    ws: &'a Workspace,
    /// The OS this runs on: Wine runs the Windows tests on Linux only.
    host: Host,
    /// Whether the native steps run (no `--skip-native`).
    native: bool,
    /// Whether the Windows steps run (no `--skip-windows`).
    windows: bool,
    /// Everything after `--`, appended to both `cargo test` commands.
    extra: &'a [OsString],
    /// The steps so far.
    report: Report,
}

impl TestRun<'_> {
    /// The rustup targets, and on Linux Wine and MinGW unless `--skip-windows`; whether they
    /// are there.
    fn toolchain(&mut self) -> bool {
        let wine = self.windows && self.host == Host::Linux;
        let mut targets = vec![WINDOWS_GNU];
        targets.extend(self.host.check_targets());
        let name = if wine {
            "toolchain: rustup targets, Wine, MinGW"
        } else {
            "toolchain: rustup targets"
        };
        self.report
            .step(name, || {
                ensure_rust_targets(&targets)?;
                if wine {
                    ensure_host_tools(&WINE_TOOLS)?;
                }
                Ok(())
            })
            .is_some()
    }

    /// The Wine prefix with its shim, and the C peers; the environment to run Windows tests
    /// in when both are ready.
    fn wine_setup(&mut self, tools: bool) -> Option<WineEnv> {
        let ws = self.ws;
        let wine_steps = ["wine prefix and bcryptprimitives shim", "C peers"];
        if !(self.windows && tools && self.host == Host::Linux) {
            let why = match self.host {
                Host::Windows => "a Windows host runs the Windows tests natively",
                Host::OtherUnix => "no Wine here: the Windows code is checked and linted, not run",
                Host::Linux if !self.windows => "--skip-windows",
                Host::Linux => "toolchain step failed",
            };
            for name in wine_steps {
                self.report.skip(name, why);
            }
            return None;
        }
        let wine = self.report.step(wine_steps[0], || {
            let dll = build_shim(ws)?;
            setup_wine_prefix(ws, &dll)
        });
        let peers = self.report.step(wine_steps[1], || {
            build_c_peers(ws, CCompiler::Gcc(MINGW_GCC))
        });
        wine.filter(|_| peers.is_some())
    }

    /// On a Windows host, the C peers built with the compiler it has, for the native tests;
    /// whether they were built. Without a compiler, the tests that need them are ignored.
    fn native_c_peers(&mut self) -> bool {
        let ws = self.ws;
        let name = "C peers (native)";
        if self.host != Host::Windows || !self.native {
            return false;
        }
        let Some(compiler) = CCompiler::on_windows_host() else {
            self.report.skip(
                name,
                "no C compiler (gcc or cl) on PATH: the Win32 interop tests are ignored",
            );
            return false;
        };
        self.report
            .step(name, || build_c_peers(ws, compiler))
            .is_some()
    }

    /// The native tests, their stress runs and the examples; on a Windows host, the C peers
    /// in `peers` when they were built.
    fn native_tests(&mut self, peers: bool) {
        let (ws, extra) = (self.ws, self.extra);
        let cargo = || {
            let mut cargo = ws.cargo();
            if peers {
                cargo.env("WSM_C_PEER_DIR", ws.peer_dir());
            }
            cargo
        };
        let native = "native tests: cargo test --workspace";
        let native_stress =
            format!("native stress: {STRESS_KILLS} holders killed, {LEAK_CYCLES} leak cycles");
        let examples = format!("examples: {}", EXAMPLES.join(", "));
        if !self.native {
            for name in [
                native.to_owned(),
                PORTABLE_STEP.to_owned(),
                native_stress,
                examples,
            ] {
                self.report.skip(name, "--skip-native");
            }
            return;
        }
        self.report.step(native, || {
            run(cargo().args(["test", "--workspace"]).args(extra))
        });
        match self.host {
            Host::Linux => {
                let mut portable = portable_test(cargo(), ws, extra);
                self.report.step(PORTABLE_STEP, || run(&mut portable));
            }
            Host::OtherUnix => self.report.skip(
                PORTABLE_STEP,
                "the portable backend is this OS's own: the native tests ran it",
            ),
            Host::Windows => self
                .report
                .skip(PORTABLE_STEP, "the portable backend is Unix code"),
        }
        self.report
            .step(native_stress, || run(&mut stress_test(cargo(), None)));
        self.report.step(examples, || {
            EXAMPLES.iter().try_for_each(|example| {
                run(ws.cargo().args(["run", "--quiet", "--example", example]))
            })
        });
    }

    /// The Windows tests and their stress runs under Wine, in `wine` (`None` when it could not
    /// be set up or was not asked for).
    fn windows_tests(&mut self, wine: Option<&WineEnv>) {
        let (ws, extra) = (self.ws, self.extra);
        let wine_tests = format!("windows tests under wine: cargo test --target {WINDOWS_GNU}");
        let Some(env) = wine else {
            let why = match self.host {
                Host::Windows => "a Windows host runs the Windows tests natively",
                Host::OtherUnix => "no Wine here: the Windows code is checked and linted, not run",
                Host::Linux if !self.windows => "--skip-windows",
                Host::Linux => "wine setup failed",
            };
            self.report.skip(wine_tests, why);
            self.report.skip(proton::STEP, why);
            return;
        };
        self.report.step(wine_tests, || {
            let mut cmd = ws.cargo();
            cmd.args(["test", "--target", WINDOWS_GNU, "-p", LIB_PACKAGE])
                .args(["--tests", "--examples"])
                .args(extra);
            env.apply(&mut cmd);
            let tested = env.run_bounded(&mut cmd, WINE_TEST_TIMEOUT);
            let drained = env.wait_for_wineserver();
            tested.and(drained)
        });
        self.report
            .step(proton::STEP, || proton::cross_boundary_tests(ws, env));
        self.report.step(
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

    /// `cargo check` of the library for every target that cannot run here.
    fn cross_checks(&mut self) {
        let ws = self.ws;
        for target in self.host.check_targets() {
            self.report.step(format!("check {target}"), || {
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
    }

    /// Clippy, natively and for Windows, and rustfmt.
    fn lints(&mut self) {
        let ws = self.ws;
        self.report.step("clippy (native)", || {
            run(ws.cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        });
        self.report.step(format!("clippy ({WINDOWS_GNU})"), || {
            run(ws
                .cargo()
                .args(["clippy", "-p", LIB_PACKAGE, "-p", proton::BRIDGE_PACKAGE])
                .arg("--all-targets")
                .args(["--target", WINDOWS_GNU, "--", "-D", "warnings"]))
        });
        self.report.step("rustfmt", || {
            run(ws.cargo().args(["fmt", "--all", "--", "--check"]))
        });
        let workflows = "actionlint: .github/workflows";
        if self.host == Host::Linux {
            self.report.step(workflows, || lint_workflows(ws));
        } else {
            self.report.skip(
                workflows,
                "linted by the Linux run, the one actionlint's wheel is pinned for",
            );
        }
    }

    /// The crate as a user gets it: `cargo package` (which builds the packaged copy), then a
    /// crate that depends on that copy alone builds every README block and example, natively
    /// (running the blocks that rustdoc runs), for Windows, and with the declared MSRV.
    fn as_users_get_it(&mut self) {
        let ws = self.ws;
        let native = "outside crate: README blocks and examples, built natively, blocks run";
        let windows = format!("outside crate: README blocks and examples for {WINDOWS_GNU}");
        let msrv = "outside crate with the MSRV (rust-version) toolchain";
        let windows_user = format!(
            "outside crate on windows 0.62 ({WINDOWS_GNU}): OsError is windows::core::Error"
        );
        let written = self.report.step(
            "package: cargo package (builds the packaged copy), outside crates on it",
            || {
                let library = package(ws)?;
                Ok((
                    write_outside_crate(ws, &library)?,
                    write_windows_user_crate(ws, &library)?,
                ))
            },
        );
        let Some(((manifest, runnable), windows_user_manifest)) = written else {
            for name in [native, &windows, &windows_user, msrv] {
                self.report.skip(name, "the package step failed");
            }
            return;
        };
        if self.native {
            self.report.step(native, || {
                run(outside_cargo(ws, ws.cargo(), &manifest, "build").arg("--examples"))?;
                runnable.iter().try_for_each(|example| {
                    run(outside_cargo(ws, ws.cargo(), &manifest, "run").args([
                        "--quiet",
                        "--example",
                        example,
                    ]))
                })
            });
        } else {
            self.report.skip(native, "--skip-native");
        }
        match self.host {
            Host::Windows => self
                .report
                .skip(windows, "the native build is the Windows build"),
            _ if !self.windows => {
                self.report.skip(windows, "--skip-windows");
                self.report.skip(&windows_user, "--skip-windows");
            }
            host => {
                // Linking needs MinGW, which only the Linux runs install.
                let build = if host == Host::Linux {
                    "build"
                } else {
                    "check"
                };
                self.report.step(windows, || {
                    run(outside_cargo(ws, ws.cargo(), &manifest, build).args([
                        "--examples",
                        "--target",
                        WINDOWS_GNU,
                    ]))
                });
            }
        }
        // A type check, which needs no linker: on a Windows host the native build is Windows'.
        let host = self.host;
        if host == Host::Windows || self.windows {
            self.report.step(windows_user, || {
                let mut check = outside_cargo(ws, ws.cargo(), &windows_user_manifest, "check");
                if host != Host::Windows {
                    check.args(["--target", WINDOWS_GNU]);
                }
                run(&mut check)
            });
        }
        self.report.step(msrv, || {
            let version = rust_version(ws)?;
            run(Command::new("rustup").args([
                "toolchain",
                "install",
                &version,
                "--profile",
                "minimal",
            ]))?;
            run(outside_cargo(ws, ws.cargo_on(&version), &manifest, "build").arg("--examples"))
        });
    }

    /// The loom model, then the brief fuzz run and Miri when there is a nightly toolchain.
    fn loom_fuzz_miri(&mut self) {
        let ws = self.ws;
        if !self.native {
            self.report.skip(LOOM_STEP, "--skip-native");
            self.report.skip(MIRI_STEP, "--skip-native");
            self.report.skip(FUZZ_STEP, "--skip-native");
            return;
        }
        self.report.step(LOOM_STEP, || run(&mut loom_test(ws)));
        if !has_nightly() {
            self.report
                .skip(MIRI_STEP, "no nightly toolchain; Miri needs one");
            self.report
                .skip(FUZZ_STEP, "no nightly toolchain; cargo fuzz needs one");
            return;
        }
        if self.host == Host::Windows {
            self.report.skip(
                FUZZ_STEP,
                "cargo fuzz's sanitizers are set up for Linux and macOS runs only",
            );
        } else {
            self.report
                .step(FUZZ_STEP, || run(&mut fuzz(ws, BRIEF_FUZZ_RUNS)?));
        }
        self.report.step(MIRI_STEP, || {
            run(Command::new("rustup")
                .args(["component", "add", "--toolchain", "nightly"])
                .args(["miri", "rust-src"]))?;
            run(ws.cargo_on("nightly").args([
                "miri",
                "test",
                "-p",
                LIB_PACKAGE,
                "--lib",
                "--",
                "sync::",
                "copy::",
            ]))
        });
    }
}
