//! The crate's promises, shown across real processes: the test binary runs itself again as a
//! child in a named role, and on Windows it also talks to C programs that use plain Win32 calls
//! (`tests/c`, built by `cargo xtask test`).
//!
//! Each area of the crate has one module that holds both its tests and the child roles those
//! tests spawn, so that a test and the other side of it are read in one place. A module lists
//! them with two macros, and this file collects every module's lists: no test or role is
//! registered by hand anywhere else.
//!
//! ```ignore
//! // tests/cross_process/hostile.rs
//! use crate::harness::{Outcome, RoleResult, run_child, unique_name};
//!
//! tests! {
//!     a_squatted_name_is_refused,
//!     #[cfg(target_os = "linux")]
//!     a_planted_fifo_is_refused,
//!     a_slow_stress_run ignored_if true,
//! }
//!
//! roles! {
//!     "squat" => squat,
//! }
//!
//! fn a_squatted_name_is_refused() -> Outcome { /* ...run_child("squat", &[&name])?... */ }
//! fn squat(name: &str, args: &[String]) -> RoleResult { /* print the answer */ }
//! ```
//!
//! Then add `mod hostile;` and `hostile,` to the `areas!` list below (two lines). Each test is
//! a trial named after its function; `#[cfg(...)]` before a test or role keeps it to the
//! platforms it names; `ignored_if EXPR` marks the trial ignored when EXPR holds. Shared
//! pieces (peers, spawning, patterns, names, `kind`, resource counts) live in `harness`.

use libtest_mimic::{Arguments, Trial};

/// Declares an area's tests, in the order they are listed: each function becomes a trial of
/// the same name, optionally behind `#[cfg(...)]` and marked `ignored_if EXPR`.
macro_rules! tests {
    ($( $(#[$attr:meta])* $test:ident $(ignored_if $ignored:expr)? ),* $(,)?) => {
        /// This area's tests.
        pub(crate) fn trials() -> Vec<libtest_mimic::Trial> {
            vec![$(
                $(#[$attr])*
                libtest_mimic::Trial::test(stringify!($test), $test)
                    $(.with_ignored_flag($ignored))?,
            )*]
        }
    };
}

/// Declares an area's child roles: the name a test spawns a child with, and the function that
/// child runs, optionally behind `#[cfg(...)]`.
macro_rules! roles {
    ($( $(#[$attr:meta])* $role:literal => $function:ident ),* $(,)?) => {
        /// This area's child roles, by name.
        pub(crate) const ROLES: &[(&str, crate::harness::Role)] =
            &[$( $(#[$attr])* ($role, $function), )*];
    };
}

/// Collects the trials and roles of the area modules it lists (each declared with `mod`
/// above it, so that rustfmt and the compiler see them as plain modules).
macro_rules! areas {
    ($( $(#[$attr:meta])* $area:ident ),* $(,)?) => {
        /// Every area's tests.
        fn trials() -> Vec<Trial> {
            let areas: Vec<fn() -> Vec<Trial>> = vec![$( $(#[$attr])* $area::trials, )*];
            areas.into_iter().flat_map(|trials| trials()).collect()
        }

        /// Every area's child roles.
        const ROLES: &[&[(&str, harness::Role)]] = &[$( $(#[$attr])* $area::ROLES, )*];
    };
}

mod harness;

mod change_waits;
mod event_semantics;
mod hostile_sync;
mod lifetime;
#[cfg(target_os = "linux")]
mod lifetime_hostile;
#[cfg(wsm_holder_locks)]
mod ownership;
mod publisher_life;
mod regions;
mod security;
mod snapshots;
#[cfg(wsm_holder_locks)]
mod stale_regions;
mod stress;
mod sync;
#[cfg(windows)]
mod win32;
#[cfg(any(windows, target_os = "linux"))]
mod wine;

areas! {
    regions,
    sync,
    event_semantics,
    change_waits,
    publisher_life,
    hostile_sync,
    lifetime,
    #[cfg(target_os = "linux")]
    lifetime_hostile,
    #[cfg(wsm_holder_locks)]
    ownership,
    security,
    snapshots,
    #[cfg(wsm_holder_locks)]
    stale_regions,
    stress,
    #[cfg(windows)]
    win32,
    #[cfg(any(windows, target_os = "linux"))]
    wine,
}

fn main() {
    if let Ok(role) = std::env::var(harness::ROLE_VAR) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Err(message) = child(&role, &args) {
            eprintln!("child {role} failed: {message}");
            std::process::exit(1);
        }
        return;
    }
    libtest_mimic::run(&Arguments::from_args(), trials()).exit();
}

/// Runs this process as a child in `role`; what it prints on stdout is its answer.
fn child(role: &str, args: &[String]) -> harness::RoleResult {
    let name = args.first().map(String::as_str).unwrap_or_default();
    let (_, run) = ROLES
        .iter()
        .flat_map(|roles| roles.iter())
        .find(|(known, _)| *known == role)
        .ok_or_else(|| format!("unknown role {role}"))?;
    run(name, args)
}
