//! The steps of a `cargo xtask test` run: each under a header, timed, and summed up at the end.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::error::Result;

/// How one step of `cargo xtask test` ended.
enum Outcome {
    /// It succeeded.
    Ok,
    /// It failed, with the reason.
    Failed(String),
    /// It did not run, with the reason.
    Skipped(String),
}

/// The steps of a `cargo xtask test` run, for the closing summary.
#[derive(Default)]
pub(crate) struct Report {
    /// Each step's name, outcome and duration, in order.
    steps: Vec<(String, Outcome, Duration)>,
}

impl Report {
    /// Run one step under a `==> name` header and record how it went; the
    /// value on success, so later steps can depend on it.
    pub(crate) fn step<T>(
        &mut self,
        name: impl Into<String>,
        f: impl FnOnce() -> Result<T>,
    ) -> Option<T> {
        let name = name.into();
        println!("\n==> {name}");
        let started = Instant::now();
        let result = f();
        let took = started.elapsed();
        match result {
            Ok(value) => {
                self.steps.push((name, Outcome::Ok, took));
                Some(value)
            }
            Err(e) => {
                eprintln!("xtask: step `{name}` FAILED: {e}");
                self.steps.push((name, Outcome::Failed(e.0), took));
                None
            }
        }
    }

    /// Record a step that was not run, and why.
    pub(crate) fn skip(&mut self, name: impl Into<String>, why: &str) {
        let name = name.into();
        println!("\n==> {name}: skipped ({why})");
        self.steps
            .push((name, Outcome::Skipped(why.to_owned()), Duration::ZERO));
    }

    /// Print one line per step plus a `passed, failed` count; the exit code
    /// fails if any step did.
    pub(crate) fn finish(&self) -> ExitCode {
        println!("\n==> summary");
        let (mut passed, mut failed, mut skipped) = (0, 0, 0);
        for (name, outcome, took) in &self.steps {
            let secs = took.as_secs_f64();
            match outcome {
                Outcome::Ok => {
                    passed += 1;
                    println!("  ok       {name} ({secs:.1} s)");
                }
                Outcome::Failed(why) => {
                    failed += 1;
                    let first = why.lines().next().unwrap_or_default();
                    println!("  FAILED   {name} ({secs:.1} s): {first}");
                }
                Outcome::Skipped(why) => {
                    skipped += 1;
                    println!("  skipped  {name} ({why})");
                }
            }
        }
        // The plain `N passed, N failed` form that log readers recognise.
        println!("steps: {passed} passed, {failed} failed, {skipped} skipped");
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
