//! The pacing of every wait that must look again and again (a value that no one wakes it for,
//! a name that does not exist yet): often at first, so that what comes soon is seen soon, then
//! less often, so that a long wait costs little.

use std::time::Duration;

/// The first pause between two looks: the most a change waits to be seen while changes come.
pub(crate) const POLL: Duration = Duration::from_millis(1);

/// Looks at the first pause before the pause doubles, and the most doublings: a waiter that
/// found nothing for about a second looks every 16 ms, so that an idle one costs about 0.2% of
/// a core in this project's VM and 0.8% under its Wine (`cargo xtask bench`), where a look
/// costs 12 and 90 microseconds.
const LOOKS_PER_STEP: u32 = 64;
const MOST_DOUBLINGS: u32 = 4;

/// The pauses of one wait that keeps finding nothing: [`POLL`] at first, then longer.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    looks: u32,
}

impl Backoff {
    /// The pause before the next look.
    pub(crate) fn pause(&mut self) -> Duration {
        let doublings = (self.looks / LOOKS_PER_STEP).min(MOST_DOUBLINGS);
        self.looks = self.looks.saturating_add(1);
        POLL * (1 << doublings)
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
