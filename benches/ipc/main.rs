//! Publishing a value in one process and seeing it in another: one-way latency as half a round
//! trip between two processes ping-ponging (pinned to different cores where the OS allows),
//! for 64 B and 4 KiB payloads; and the bandwidth of consistent 1 MiB snapshots against a
//! single-process memcpy. All in one run, so that the ratios hold on a noisy machine; the
//! contenders of each target are measured interleaved, batch by batch (on Linux the idle
//! contenders' processes are stopped meanwhile, so that they do not take the other core).
//!
//! `cargo bench --bench ipc` prints Markdown tables and, for `cargo xtask bench`, one
//! `target <name> <ratio> <at-most|at-least> <bound>` line per target. The benchmark runs
//! itself again as the other process (`WSM_BENCH_ROLE`).
//!
//! The files: `latency.rs` measures and prints the latency table, each transport in
//! `transports/` (one file each, listed in `transports.rs`); `bandwidth.rs` the snapshots;
//! `locks.rs` `NamedMutex` against other locks (Linux); `processes.rs` starts, stops and pins
//! the other processes.

mod bandwidth;
mod latency;
/// `NamedMutex` against a bare futex and a robust pthread mutex.
#[cfg(target_os = "linux")]
mod locks;
mod processes;
mod transports;

use processes::pin_to_core;

fn main() {
    if let Ok(role) = std::env::var(processes::ROLE) {
        pin_to_core(1);
        let args: Vec<String> = std::env::args().skip(1).collect();
        match role.as_str() {
            bandwidth::SEQLOCK_PUBLISHER => bandwidth::publish_seqlock(&args[0]),
            bandwidth::DOUBLE_BUFFER_PUBLISHER => bandwidth::publish_double_buffer(&args[0]),
            #[cfg(target_os = "linux")]
            locks::ROLE => locks::hammer(&args[0], &args[1], processes::say_ready),
            transport => {
                transports::answer(transport, &args[0], args[1].parse().expect("payload words"));
            }
        }
        return;
    }
    pin_to_core(0);
    // `cargo bench --bench ipc -- locks`: the lock table alone.
    #[cfg(target_os = "linux")]
    if std::env::args().any(|arg| arg == "locks") {
        locks::table(|args| processes::start_role(args[0], &args[1..]));
        return;
    }
    latency::table(transports::ALL);
    bandwidth::table();
    #[cfg(target_os = "linux")]
    locks::table(|args| processes::start_role(args[0], &args[1..]));
}
