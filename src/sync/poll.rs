//! Looking at a word in shared memory again and again, asleep in between: how waiters follow
//! writers that cannot wake them. Everywhere, [`Backoff`] paces such looks; where processes
//! share no futex (Windows, macOS, the portable backend), [`wait`] and [`wake`] are the word
//! sleep that the events and the change waits use.

use std::time::Duration;

/// The first pause between two looks: the most a change waits to be seen while changes come.
pub(super) const POLL: Duration = Duration::from_millis(1);

/// Looks at the first pause before the pause doubles, and the most doublings: a waiter that
/// found nothing for about a second looks every 16 ms, so that an idle one costs about 0.2% of
/// a core in this project's VM and under its Wine (`cargo xtask bench`), where a look costs 12
/// and 90 microseconds.
const LOOKS_PER_STEP: u32 = 64;
const MOST_DOUBLINGS: u32 = 4;

/// The pauses of one wait that keeps finding nothing: [`POLL`] at first, then longer.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    looks: u32,
}

impl Backoff {
    /// The pause before the next look.
    pub(super) fn pause(&mut self) -> Duration {
        let doublings = (self.looks / LOOKS_PER_STEP).min(MOST_DOUBLINGS);
        self.looks = self.looks.saturating_add(1);
        POLL * (1 << doublings)
    }
}

#[cfg(not(wsm_holder_locks))]
pub(super) use word::*;

#[cfg(not(wsm_holder_locks))]
mod word {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::POLL;
    use crate::sync::{Failure, Woke};

    /// Waiters look again after a pause of their own choosing ([`super::Backoff`]).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_start_at_a_millisecond_and_end_at_sixteen() {
        let mut backoff = Backoff::default();
        let pauses: Vec<Duration> = (0..1000).map(|_| backoff.pause()).collect();
        assert_eq!(pauses[0], POLL);
        assert_eq!(pauses[63], POLL);
        assert_eq!(pauses[64], 2 * POLL);
        assert_eq!(pauses[999], 16 * POLL);
        let first_half_second: Duration = pauses[..250].iter().sum();
        assert!(
            first_half_second > Duration::from_millis(500),
            "{first_half_second:?}"
        );
    }
}
