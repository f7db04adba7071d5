//! The bench's other processes: this binary run again in a role, told apart by an environment
//! variable, stopped while other contenders are measured, and pinned to a core of its own.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

/// The environment variable that makes this binary the answering process, and in which role.
pub const ROLE: &str = "WSM_BENCH_ROLE";

/// Starts this binary as the other process in `role` and waits until it says it is ready.
pub fn start_role(role: &str, args: &[&str]) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("the bench's path"))
        .env(ROLE, role)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the other process");
    let mut ready = [0_u8; 1];
    child
        .stdout
        .as_mut()
        .expect("piped")
        .read_exact(&mut ready)
        .expect("the other process is ready");
    child
}

/// Tells the measuring process (waiting in [`start_role`]) that this one is ready.
pub fn say_ready() {
    let mut stdout = std::io::stdout();
    stdout
        .write_all(b"r")
        .and_then(|()| stdout.flush())
        .expect("ready");
}

/// Stops a process of this bench while other contenders are measured (Linux), so that it takes
/// neither the other core nor memory bandwidth.
pub fn pause(child: &Child) {
    #[cfg(target_os = "linux")]
    // SAFETY: a signal to our own child, which is alive until killed and waited for.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGSTOP);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = child;
}

/// Lets a paused process of this bench run again.
pub fn resume(child: &Child) {
    #[cfg(target_os = "linux")]
    // SAFETY: as in `pause`.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGCONT);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = child;
}

/// Pins this process to `core`, where the OS allows (Linux); elsewhere the scheduler decides.
#[cfg(target_os = "linux")]
pub fn pin_to_core(core: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; the call reads it and affects this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn pin_to_core(_core: usize) {}
