//! The command line: what the user asked for, and the usage text.

use std::ffi::OsString;

use crate::error::{Result, bail};
use crate::test::{FUZZ_RUNS, TestOptions};

/// Example that `cargo xtask example` runs when given no name.
const DEFAULT_EXAMPLE: &str = "telemetry";

/// Usage text, printed by `help` and after a command-line error.
pub(crate) const USAGE: &str = "\
usage:
  cargo xtask test [--skip-native] [--skip-windows] [--step PATTERN]... [--list]
                   [-- <cargo test args>]
      Run every test and lint: native tests, the Windows tests under Wine,
      cross-target checks, the aarch64 Linux tests under qemu-user, clippy and
      rustfmt. Installs what is missing (rustup targets; Wine, MinGW, qemu-user
      and the aarch64 cross compiler through apt-get when root).
      --skip-native leaves out the native tests (and their aarch64 run),
      --skip-windows the Wine setup and the Windows tests.
      --step PATTERN runs only the steps whose names contain PATTERN (any case;
      repeatable), with the steps that make what they need, e.g.
      `cargo xtask test --step qemu` (the aarch64 steps) or
      `--step rustfmt --step clippy`.
      --list prints the steps in order, with what each needs, and runs nothing.
      Arguments after `--` are appended to the test suites' `cargo test`
      commands (native, portable, aarch64 and Windows), e.g.
      `cargo xtask test -- my_filter` or `cargo xtask test -- -- --nocapture`.
  cargo xtask wine [--] <program.exe> [args...]
      Run a Windows program in the prepared Wine prefix (WSM_C_PEER_DIR set).
  cargo xtask example [NAME] [-- <program args>]
      Run an example (default: telemetry) for x86_64-pc-windows-gnu under Wine.
  cargo xtask bench [--mirror]
      Run the benchmarks, natively and under Wine, and write BENCHMARKS.md.
      --mirror runs only the wsm mirror's (as root on Linux: network
      namespaces) and replaces its section of BENCHMARKS.md.
  cargo xtask bridge-release
      Build wsm-bridge.exe for release into target/bridge-release/: a folder
      and a .tar.gz with the exe, the bcryptprimitives.dll that Wine 8.0
      lacks beside it, and a short README.
  cargo xtask fuzz [--runs N]
      Fuzz names and sizes through to real regions (default 10 000 000 inputs;
      needs a nightly toolchain, installs cargo-fuzz when missing).
  cargo xtask help
      Show this text.";

/// What the user asked for, parsed from the command line.
#[derive(Debug, PartialEq)]
pub(crate) enum Cli {
    /// `cargo xtask test`: everything (or the steps chosen), in order, with a summary.
    Test(TestOptions),
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
    /// `cargo xtask bridge-release`: the bridge as users get it.
    BridgeRelease,
    /// `cargo xtask bench --mirror`: the wsm mirror's figures, into BENCHMARKS.md.
    BenchMirror,
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
pub(crate) fn parse_cli(args: Vec<OsString>) -> Result<Cli> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Cli::Help);
    };
    match command.to_str() {
        Some("test") => {
            let mut options = TestOptions {
                skip_native: false,
                skip_windows: false,
                steps: Vec::new(),
                list: false,
                extra: Vec::new(),
            };
            while let Some(arg) = args.next() {
                match arg.to_str() {
                    Some("--skip-native") => options.skip_native = true,
                    Some("--skip-windows") => options.skip_windows = true,
                    Some("--list") => options.list = true,
                    Some("--step") => match args.next().map(OsString::into_string) {
                        Some(Ok(pattern)) if !pattern.is_empty() => options.steps.push(pattern),
                        _ => bail!("--step takes a part of a step's name (see --list)"),
                    },
                    Some("--") => {
                        options.extra.extend(args.by_ref());
                        break;
                    }
                    _ => bail!(
                        "unknown argument {arg:?} for `test` (put cargo test arguments after `--`)"
                    ),
                }
            }
            Ok(Cli::Test(options))
        }
        Some("bench") => match args.next() {
            None => Ok(Cli::Bench),
            Some(arg) if arg == "--mirror" => Ok(Cli::BenchMirror),
            Some(arg) => bail!("unknown argument {arg:?} for `bench`"),
        },
        Some("bridge-release") => match args.next() {
            None => Ok(Cli::BridgeRelease),
            Some(arg) => bail!("unknown argument {arg:?} for `bridge-release`"),
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
            Cli::Test(TestOptions {
                skip_native: true,
                skip_windows: false,
                steps: Vec::new(),
                list: false,
                extra: os(&["filter", "--", "--nocapture"]),
            })
        );
        assert!(parse(&["test", "filter"]).is_err());
    }

    /// `--step` takes a pattern each time it is given; `--list` is a plain flag.
    #[test]
    fn test_steps_are_chosen_by_name() {
        assert_eq!(
            parse(&["test", "--step", "aarch64", "--list", "--step", "clippy"]).unwrap(),
            Cli::Test(TestOptions {
                skip_native: false,
                skip_windows: false,
                steps: vec!["aarch64".to_owned(), "clippy".to_owned()],
                list: true,
                extra: Vec::new(),
            })
        );
        assert!(parse(&["test", "--step"]).is_err());
        assert!(parse(&["test", "--step", ""]).is_err());
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

    #[test]
    fn bridge_release_takes_no_argument() {
        assert_eq!(parse(&["bridge-release"]).unwrap(), Cli::BridgeRelease);
        assert!(parse(&["bridge-release", "--debug"]).is_err());
    }
}
