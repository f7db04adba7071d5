//! `cargo xtask`: the developer tooling of win-shared-memory.
//!
//! The library is Windows-first, but developers and CI run Linux. This binary
//! turns a Debian machine that has nothing but rustup into one that builds,
//! runs and lints everything: it installs the cross targets plus Wine and
//! MinGW (and qemu-user for aarch64), prepares a private Wine prefix (with a
//! shim for a DLL that Wine 8.0 lacks), builds the C peer programs and runs
//! every suite and lint.
//!
//! It uses std only, so it builds in seconds on a fresh machine.
//!
//! ```text
//! cargo xtask test [--skip-native] [--skip-windows] [--step PATTERN]... [--list]
//!                  [-- <cargo test args>]
//! cargo xtask wine [--] <program.exe> [args...]
//! cargo xtask example [NAME] [-- <program args>]
//! cargo xtask bridge-release
//! ```
#![warn(clippy::missing_docs_in_private_items)]

use std::env;
use std::process::ExitCode;

mod error;

mod bench;
mod cli;
mod mirror;
mod outside;
mod process;
mod proton;
mod release;
mod report;
mod step;
mod test;
mod toolchain;
mod wine;
mod workflow;
mod workspace;

use cli::{Cli, USAGE, parse_cli};
use process::run;
use workspace::Workspace;

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
        Cli::Test(options) => test::cmd_test(&ws, &options),
        Cli::Wine { program, args } => wine::cmd_wine(&ws, &program, &args),
        Cli::Example { name, args } => wine::cmd_example(&ws, &name, &args),
        Cli::Bench => bench::cmd_bench(&ws),
        Cli::BridgeRelease => release::build_release(&ws).map(|_| ExitCode::SUCCESS),
        Cli::BenchMirror => mirror::cmd_bench_mirror(&ws),
        Cli::Fuzz { runs } => run(&mut test::fuzz(&ws, runs)?).map(|()| ExitCode::SUCCESS),
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
