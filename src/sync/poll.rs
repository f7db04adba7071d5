//! Without a futex that processes share (macOS, Windows, the portable backend): waiters poll
//! the word, every [`POLL`].

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::sync::{Failure, Woke};

/// How long a waiter sleeps between two looks at the word: the added latency of a wake-up,
/// and about 0.3% of a core per idle waiter (`cargo xtask bench`).
pub(super) const POLL: Duration = Duration::from_millis(1);

/// Any count: waiters poll, so there is no one to wake.
pub(super) const EVERYONE: u32 = u32::MAX;

/// Sleeps a poll's time (or less if `limit` is nearer); `TimedOut` if the word still holds
/// `expected` after it.
pub(super) fn wait(
    word: &AtomicU32,
    expected: u32,
    limit: Option<Duration>,
) -> Result<Woke, Failure> {
    std::thread::sleep(limit.map_or(POLL, |limit| limit.min(POLL)));
    Ok(if word.load(Ordering::Relaxed) == expected {
        Woke::TimedOut
    } else {
        Woke::Early
    })
}

/// Waiters poll, so there is no one to wake.
pub(super) fn wake(_word: &AtomicU32, _count: u32) -> Result<(), Failure> {
    Ok(())
}
