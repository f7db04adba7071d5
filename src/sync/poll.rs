//! Looking at a word in shared memory again and again, asleep in between: how waiters follow
//! writers that cannot wake them. Everywhere, [`Backoff`] (the crate's one pacing of repeated
//! looks) paces them; where processes share no futex (Windows, macOS, the portable backend),
//! `wait` and `wake` are the word sleep that the events and the change waits use.

pub(super) use crate::backoff::{Backoff, POLL};

#[cfg(not(wsm_holder_locks))]
pub(super) use word::*;

#[cfg(not(wsm_holder_locks))]
mod word {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use crate::backoff::POLL;
    use crate::sync::{Failure, Woke};

    /// Waiters look again after a pause of their own choosing ([`crate::backoff::Backoff`]).
    #[cfg(unix)]
    pub(in crate::sync) const POLLS: bool = true;

    /// Any count: waiters poll, so there is no one to wake.
    pub(in crate::sync) const EVERYONE: u32 = u32::MAX;

    /// Sleeps `limit` ([`POLL`] when `None`); `TimedOut` if the word still holds `expected`.
    pub(in crate::sync) fn wait(
        word: &AtomicU32,
        expected: u32,
        limit: Option<Duration>,
    ) -> Result<Woke, Failure> {
        std::thread::sleep(limit.unwrap_or(POLL));
        Ok(if word.load(Ordering::Relaxed) == expected {
            Woke::TimedOut
        } else {
            Woke::Early
        })
    }

    /// Waiters poll, so there is no one to wake.
    pub(in crate::sync) fn wake(_word: &AtomicU32, _count: u32) -> Result<(), Failure> {
        Ok(())
    }
}
