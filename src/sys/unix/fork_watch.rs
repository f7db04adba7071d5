//! This process's id and fork count, kept by `pthread_atfork` handlers: the one fork watch of
//! the crate, which the regions' lifetime and the mutex's handles both read.
//!
//! Nothing here waits: a `fork` can happen at any moment, in any thread, and a lock or a
//! `std::sync::Once` that another thread was inside stays held forever in the child. The
//! handlers are registered by the first caller that flips [`REGISTERING`]; a caller that comes
//! meanwhile (or a child forked meanwhile) finds no process id yet and falls back to asking the
//! kernel, and to assuming a fork, which is always correct and only slower.
//!
//! A child made without the handlers (glibc's `_Fork`, a raw `clone`) is not seen: its copy of
//! a `NamedMutex` handle would take itself for its parent's, and the parent's next drop of a
//! region whose description it shares would take the child's hold. `fork` and the usual
//! `posix_spawn` run the handlers or exec at once; those two do not, and are not supported.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// This process's id, set at registration and in the child of every fork; 0 until then (or
/// for good when the handlers could not be registered).
static PROCESS_ID: AtomicU32 = AtomicU32::new(0);
/// The forks this process has made since registration (counted in the parent).
static FORKS: AtomicU32 = AtomicU32::new(0);
/// Set by the one caller that registers the handlers.
static REGISTERING: AtomicBool = AtomicBool::new(false);

extern "C" fn in_parent() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

extern "C" fn in_child() {
    // getpid is async-signal-safe, as a handler in a forked child needs.
    PROCESS_ID.store(std::process::id(), Ordering::Relaxed);
}

/// The process id the handlers keep, registering them at the first call; 0 while unknown.
#[inline]
fn watched_id() -> u32 {
    let id = PROCESS_ID.load(Ordering::Relaxed);
    if id != 0 || REGISTERING.swap(true, Ordering::Relaxed) {
        return id;
    }
    // SAFETY: registers handlers that only update atomics (and call getpid), which is
    // async-signal-safe as a fork child handler must be.
    if unsafe { libc::pthread_atfork(None, Some(in_parent), Some(in_child)) } == 0 {
        // A child forked since registration set its own id in its copy; this is the parent's.
        let _ = PROCESS_ID.compare_exchange(
            0,
            std::process::id(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    PROCESS_ID.load(Ordering::Relaxed)
}

/// This process's id, from memory rather than a system call once the handlers run (the
/// mutex asks at every lock and unlock).
#[inline]
pub(crate) fn process_id() -> u32 {
    match watched_id() {
        0 => std::process::id(),
        id => id,
    }
}

/// How many times this process has forked since the handlers were registered: a descriptor
/// opened at a count that is still the count shares its open file description with no child.
/// `u32::MAX` while the handlers are not known to run, which never matches, so the caller then
/// assumes a fork.
#[cfg_attr(
    not(wsm_holder_locks),
    allow(
        dead_code,
        reason = "only the holder locks care who shares a description"
    )
)]
pub(crate) fn forks() -> u32 {
    if watched_id() == 0 {
        return u32::MAX;
    }
    FORKS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child forked while the parent was anywhere sees its own id, and a parent's count
    /// moves: what the regions and the mutex rely on after a fork.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot fork")]
    fn a_fork_gives_the_child_its_id_and_counts_in_the_parent() {
        let (parent, before) = (process_id(), forks());
        assert_eq!(parent, std::process::id());
        // SAFETY: the child only reads atomics, compares and calls `_exit`, which are
        // async-signal-safe, as a child of a multithreaded process must.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let own = process_id() == std::process::id() && process_id() != parent;
            // SAFETY: ends the child without running the parent's destructors or tests.
            unsafe { libc::_exit(if own { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked, into a local.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_ne!(forks(), before);
    }
}
