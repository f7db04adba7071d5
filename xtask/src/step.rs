//! The machinery under `cargo xtask test`: a step is a name, what it needs, what it makes for
//! later steps and what it does; one runner goes through a list of steps in order and records
//! each in the report, as skipped with the reason of its first missing need when it cannot run.
//!
//! The list itself is in `test.rs`. Keeping the needs as data, rather than as `if`s around each
//! step, is what lets `--step` pull in the steps a chosen one depends on, `--list` show the
//! plan without running it, and a unit test check the list.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::process::Command;

use crate::error::{Result, bail};
use crate::report::Report;
use crate::test::OutsideCrates;
use crate::toolchain::{Host, has_nightly};
use crate::wine::{CCompiler, WineEnv};
use crate::workspace::Workspace;

/// Something a step needs before it can run; when it is missing, the step is skipped with
/// [`Need`]'s reason.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Need {
    /// The native steps were asked for (no `--skip-native`).
    Native,
    /// The Windows steps were asked for (no `--skip-windows`); always true on a Windows host,
    /// whose native code is the Windows code.
    Windows,
    /// A rustup nightly toolchain; the text is the reason to give when there is none.
    Nightly(&'static str),
    /// Any host but this one; the text says why not there.
    NotOn(Host, &'static str),
    /// Any CPU architecture but this one (as in `std::env::consts::ARCH`); the text says why.
    NotOnArch(&'static str, &'static str),
    /// A C compiler for the Win32 peers on a Windows host (gcc or cl on `PATH`).
    WindowsCCompiler,
    /// What an earlier step makes when it passes.
    Made(Product),
}

/// What a step makes for later ones, when it passes. Each is made by exactly one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Product {
    /// The rustup targets, and on Linux Wine and MinGW.
    Toolchain,
    /// The Wine prefix with its shim ([`Context::wine`]).
    WinePrefix,
    /// The C peers built with MinGW, which the Windows tests under Wine start.
    WineCPeers,
    /// The C peers built on a Windows host, which its native tests start.
    NativeCPeers,
    /// The packaged library and the outside crates on it ([`Context::outside`]).
    Package,
    /// The aarch64 rustup target, cross compiler and qemu-user.
    Aarch64Emulation,
}

impl Product {
    /// The reason to give a step that needs this when it was not made.
    pub(crate) fn missing(self) -> &'static str {
        match self {
            Self::Toolchain => "toolchain step failed",
            Self::WinePrefix | Self::WineCPeers => "wine setup failed",
            Self::NativeCPeers => "the native C peers step failed",
            Self::Package => "the package step failed",
            Self::Aarch64Emulation => "the aarch64 emulation step failed",
        }
    }
}

impl Need {
    /// A short description for `--list`.
    fn label(self) -> String {
        match self {
            Self::Native => "native (no --skip-native)".to_owned(),
            Self::Windows => "windows (no --skip-windows)".to_owned(),
            Self::Nightly(_) => "nightly toolchain".to_owned(),
            Self::NotOn(host, _) => format!("not on {host:?}"),
            Self::NotOnArch(arch, _) => format!("not on {arch}"),
            Self::WindowsCCompiler => "gcc or cl".to_owned(),
            Self::Made(product) => format!("{product:?}"),
        }
    }
}

/// What a step does: runs against the context, and may leave a product in it.
pub(crate) type Action = Box<dyn Fn(&mut Context<'_>) -> Result>;

/// One step of `cargo xtask test`.
pub(crate) struct Step {
    /// The name in the report, and what `--step` matches.
    pub(crate) name: String,
    /// What it needs, in the order they are checked: the first missing one is the reason it
    /// is skipped.
    pub(crate) needs: Vec<Need>,
    /// What it makes for later steps when it passes.
    pub(crate) makes: Option<Product>,
    /// What it does.
    pub(crate) action: Action,
}

impl Step {
    /// A step named `name` that needs `needs` and does `action`.
    pub(crate) fn new(
        name: impl Into<String>,
        needs: &[Need],
        action: impl Fn(&mut Context<'_>) -> Result + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            needs: needs.to_vec(),
            makes: None,
            action: Box::new(action),
        }
    }

    /// A step that runs one command, built from the context when the step runs.
    pub(crate) fn command(
        name: impl Into<String>,
        needs: &[Need],
        command: impl Fn(&Context<'_>) -> Command + 'static,
    ) -> Self {
        Self::new(name, needs, move |cx| crate::process::run(&mut command(cx)))
    }

    /// The same step, recorded as having made `product` when it passes.
    pub(crate) fn makes(self, product: Product) -> Self {
        Self {
            makes: Some(product),
            ..self
        }
    }
}

/// What the steps run against: the workspace, what was asked for, and what earlier steps made.
pub(crate) struct Context<'a> {
    /// Where everything lives.
    pub(crate) ws: &'a Workspace,
    /// The OS this runs on.
    pub(crate) host: Host,
    /// Whether the native steps were asked for (no `--skip-native`).
    pub(crate) native: bool,
    /// Whether the Windows steps were asked for (no `--skip-windows`).
    pub(crate) windows: bool,
    /// Everything after `--`, appended to the `cargo test` commands of the test suites.
    pub(crate) extra: &'a [OsString],
    /// The products of the steps that passed so far.
    made: Vec<Product>,
    /// The Wine prefix, once [`Product::WinePrefix`] is made.
    pub(crate) wine: Option<WineEnv>,
    /// The outside crates, once [`Product::Package`] is made.
    pub(crate) outside: Option<OutsideCrates>,
}

impl<'a> Context<'a> {
    /// A context in which nothing is made yet.
    pub(crate) fn new(
        ws: &'a Workspace,
        host: Host,
        native: bool,
        windows: bool,
        extra: &'a [OsString],
    ) -> Self {
        Self {
            ws,
            host,
            native,
            windows,
            extra,
            made: Vec::new(),
            wine: None,
            outside: None,
        }
    }

    /// Whether an earlier step made `product`.
    pub(crate) fn has(&self, product: Product) -> bool {
        self.made.contains(&product)
    }

    /// The reason `step` will be skipped, as far as it is known before running: everything
    /// but what earlier steps make, which counts as there.
    pub(crate) fn planned_skip(&self, step: &Step) -> Option<&'static str> {
        step.needs
            .iter()
            .find_map(|&need| self.missing(need, false))
    }

    /// The reason `need` is missing, if it is. `Need::Made` is only known while running:
    /// with `running` false (for `--list`) it counts as there.
    fn missing(&self, need: Need, running: bool) -> Option<&'static str> {
        let there = match need {
            Need::Native => self.native,
            Need::Windows => self.windows || self.host == Host::Windows,
            Need::Nightly(_) => has_nightly(),
            Need::NotOn(host, _) => self.host != host,
            Need::NotOnArch(arch, _) => std::env::consts::ARCH != arch,
            Need::WindowsCCompiler => CCompiler::on_windows_host().is_some(),
            Need::Made(product) => !running || self.has(product),
        };
        (!there).then_some(match need {
            Need::Native => "--skip-native",
            Need::Windows => "--skip-windows",
            Need::Nightly(why) | Need::NotOn(_, why) | Need::NotOnArch(_, why) => why,
            Need::WindowsCCompiler => {
                "no C compiler (gcc or cl) on PATH: the Win32 interop tests are ignored"
            }
            Need::Made(product) => product.missing(),
        })
    }
}

/// Run `steps` in order against `cx`, recording each in `report`: skipped with the reason of
/// its first missing need, or run, its product recorded when it passes.
pub(crate) fn run_steps(steps: &[Step], cx: &mut Context<'_>, report: &mut Report) {
    for step in steps {
        match step.needs.iter().find_map(|&need| cx.missing(need, true)) {
            Some(why) => report.skip(&step.name, why),
            None => {
                let passed = report.step(&step.name, || (step.action)(cx)).is_some();
                if let (true, Some(product)) = (passed, step.makes) {
                    cx.made.push(product);
                }
            }
        }
    }
}

/// The steps whose names contain one of `patterns` (ignoring case), with the steps that make
/// what they need, in their order; all of them when there are no patterns. A pattern that
/// matches no step is an error, so that a typo does not silently run nothing.
pub(crate) fn select(steps: Vec<Step>, patterns: &[String]) -> Result<Vec<Step>> {
    if patterns.is_empty() {
        return Ok(steps);
    }
    let names: Vec<String> = steps.iter().map(|s| s.name.to_lowercase()).collect();
    let mut chosen: Vec<bool> = vec![false; steps.len()];
    for pattern in patterns {
        let pattern = pattern.to_lowercase();
        let mut matched = false;
        for (chosen, name) in chosen.iter_mut().zip(&names) {
            if name.contains(&pattern) {
                *chosen = true;
                matched = true;
            }
        }
        if !matched {
            bail!(
                "no step of `cargo xtask test` has {pattern:?} in its name \
                 (`cargo xtask test --list` lists them)"
            );
        }
    }
    // Makers come before the steps that need their products, so one pass from the end pulls
    // in makers of makers too.
    for i in (0..steps.len()).rev() {
        if !chosen[i] {
            continue;
        }
        for need in &steps[i].needs {
            if let Need::Made(product) = need
                && let Some(maker) = steps[..i].iter().position(|s| s.makes == Some(*product))
            {
                chosen[maker] = true;
            }
        }
    }
    Ok(steps
        .into_iter()
        .zip(chosen)
        .filter_map(|(step, chosen)| chosen.then_some(step))
        .collect())
}

/// The plan for `--list`: each step in order with what it needs, and the reason it would be
/// skipped when that is known before running (flags, host, toolchains, compilers).
pub(crate) fn describe(steps: &[Step], cx: &Context<'_>) -> String {
    let mut plan = String::new();
    for (number, step) in steps.iter().enumerate() {
        let _ = write!(plan, "{:>3}. {}", number + 1, step.name);
        if !step.needs.is_empty() {
            let needs: Vec<String> = step.needs.iter().map(|need| need.label()).collect();
            let _ = write!(plan, "\n       needs: {}", needs.join(", "));
        }
        if let Some(why) = cx.planned_skip(step) {
            let _ = write!(plan, "\n       skipped here: {why}");
        }
        plan.push('\n');
    }
    plan
}
