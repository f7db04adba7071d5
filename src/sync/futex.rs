//! Linux futexes shared between processes (not `FUTEX_PRIVATE`), for the mutex and the event.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;

use super::{Failure, Woke};

/// Sleeps while `word` holds `expected`, at most `limit` (`None`: until woken). Whatever the
/// value, the kernel puts the thread to sleep when the word holds it: no value makes it spin.
pub(super) fn wait(
    word: &AtomicU32,
    expected: u32,
    limit: Option<Duration>,
) -> Result<Woke, Failure> {
    let limit = limit.map(|limit| futex::Timespec {
        tv_sec: i64::try_from(limit.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(limit.subsec_nanos()),
    });
    match futex::wait(word, futex::Flags::empty(), expected, limit.as_ref()) {
        Ok(()) | Err(Errno::AGAIN | Errno::INTR) => Ok(Woke::Early),
        Err(Errno::TIMEDOUT) => Ok(Woke::TimedOut),
        Err(error) => Err(Failure::Os("futex(FUTEX_WAIT)", error.into())),
    }
}

/// Wakes up to `count` waiters on `word`, in any process.
pub(super) fn wake(word: &AtomicU32, count: u32) -> Result<(), Failure> {
    futex::wake(word, futex::Flags::empty(), count)
        .map(drop)
        .map_err(|error| Failure::Os("futex(FUTEX_WAKE)", error.into()))
}

/// Waiters sleep until woken: no pause of their own.
pub(super) const POLLS: bool = false;

/// The count that wakes every waiter: the kernel reads it as a signed int.
pub(super) const EVERYONE: u32 = i32::MAX as u32;
