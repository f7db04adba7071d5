//! When the publisher looks at a region again. A writer of live data (a game's plugin, a
//! sensor) mostly writes at a steady rate, and a region without a way to wake its readers
//! can only be looked at: so the publisher looks at every region on one coarse schedule
//! (`--poll-us`), learns each region's period from the changes it sees, and looks at it often
//! (every [`FINE`]) around the time its next change is due. A change is then seen within about
//! [`FINE`] of its write, for a few more wake-ups per update; a region written at no steady
//! rate is seen at the next coarse look.

use std::time::{Duration, Instant};

/// The look period while a change is due.
pub const FINE: Duration = Duration::from_micros(100);

/// The widest the window of fine looks reaches either side of a due change: a writer that
/// jitters more is caught by the coarse looks, rather than by many fine ones.
const WIDEST_MARGIN: Duration = Duration::from_micros(500);

/// Writers faster than this are left to the coarse looks, which see nearly every change of
/// theirs anyway: fine looks at them would cost a wake-up every [`FINE`] (and a frame each
/// time), whatever their pace.
const SHORTEST_PACED_PERIOD: Duration = Duration::from_millis(2);

/// Intervals longer than this between two changes are a pause of the writer (a game in its
/// menus), not its period.
const LONGEST_PERIOD: Duration = Duration::from_secs(1);

/// What a look at a region saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Nothing new.
    Nothing,
    /// A change, taken and sent.
    Change,
    /// A change still being written (the copy was refused): it is looked at again soon.
    Writing,
}

/// One region's pace.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    last_change: Option<Instant>,
    /// The writer's period as seen, smoothed, and the mean deviation of its intervals from it.
    period: Option<Duration>,
    deviation: Duration,
}

impl Pace {
    /// When to look again, before the next coarse look, after a look at `now` that saw
    /// `seen`; `None`: at the next coarse look.
    pub fn next_look(&mut self, now: Instant, seen: Seen) -> Option<Instant> {
        match seen {
            Seen::Writing => return Some(now + FINE),
            Seen::Change => self.changed(now),
            Seen::Nothing => {}
        }
        let (Some(last), Some(period)) = (self.last_change, self.period) else {
            return None;
        };
        if period < SHORTEST_PACED_PERIOD {
            return None;
        }
        // Around the due time, as wide as the writer's jitter (its deviation, twice) each side,
        // from a fine period to the widest margin or a quarter of the period.
        let due = last + period;
        let margin = (self.deviation * 2).clamp(FINE, (period / 4).clamp(FINE, WIDEST_MARGIN));
        let opens = due.checked_sub(margin).unwrap_or(due);
        let closes = due + margin;
        if now + FINE >= opens && now < closes {
            Some(now + FINE)
        } else if now < opens {
            Some(opens)
        } else {
            None
        }
    }

    /// Learns from a change seen at `now`.
    fn changed(&mut self, now: Instant) {
        if let Some(last) = self.last_change.replace(now) {
            let interval = now.saturating_duration_since(last);
            if interval > LONGEST_PERIOD {
                return;
            }
            // Smoothed as TCP smooths its round-trip times: an eighth and a quarter.
            let (period, deviation) = match self.period {
                // The first interval: no jitter seen yet.
                None => (interval, Duration::ZERO),
                Some(period) => (
                    (period * 7 + interval) / 8,
                    (self.deviation * 3 + interval.abs_diff(period)) / 4,
                ),
            };
            self.period = Some(period);
            self.deviation = deviation;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The looks a pace and a coarse schedule make at a writer that writes at `writes`
    /// (offsets from the start) over `span`: how many, and the delay from each write to the
    /// look that saw it.
    fn looks(coarse: Duration, writes: &[Duration], span: Duration) -> (usize, Vec<Duration>) {
        let start = Instant::now();
        let mut pace = Pace::default();
        let mut tick = start + coarse;
        let mut at = start;
        let (mut count, mut delays, mut next_write) = (0, Vec::new(), 0);
        while at < start + span {
            count += 1;
            let seen = if writes.get(next_write).is_some_and(|&w| start + w <= at) {
                delays.push(at - (start + writes[next_write]));
                next_write += 1;
                Seen::Change
            } else {
                Seen::Nothing
            };
            let fine = pace.next_look(at, seen);
            if at >= tick {
                tick += coarse;
            }
            at = fine.map_or(tick, |fine| fine.min(tick));
        }
        (count, delays)
    }

    fn ms(n: f64) -> Duration {
        Duration::from_secs_f64(n / 1000.0)
    }

    #[test]
    fn a_steady_writer_is_seen_soon_for_few_looks() {
        // 100 Hz with a little jitter, for a second.
        let writes: Vec<Duration> = (1..100)
            .map(|k| ms(10.0 * k as f64 + 0.05 * (k % 3) as f64))
            .collect();
        let (count, delays) = looks(ms(1.0), &writes, ms(1000.0));
        assert_eq!(delays.len(), writes.len());
        // After the first few changes, each is seen within two fine periods.
        assert!(
            delays[5..].iter().all(|&delay| delay <= FINE * 2),
            "{delays:?}"
        );
        // Fewer looks than a fine period throughout (10 000), not many more than the coarse.
        assert!(count < 2_000, "{count} looks");
    }

    #[test]
    fn slow_and_jittery_writers_cost_few_fine_looks() {
        // 5 Hz, each write up to 3 ms early or late: the fine looks stay within their widest
        // margin, so about a coarse look per millisecond and ten fine ones per write.
        let writes: Vec<Duration> = (1..50)
            .map(|k| ms(200.0 * k as f64 + [0.0, 3.0, -3.0][k % 3]))
            .collect();
        let (count, delays) = looks(ms(1.0), &writes, ms(10_000.0));
        assert_eq!(delays.len(), writes.len());
        assert!(count < 10_000 + 50 * 12, "{count} looks");
    }

    #[test]
    fn an_irregular_or_silent_writer_is_looked_at_every_coarse_period() {
        let (count, delays) = looks(ms(1.0), &[], ms(1000.0));
        assert!(delays.is_empty());
        assert!((999..=1001).contains(&count), "{count} looks");
        // Writes 1 s and more apart teach no period: the looks stay coarse.
        let writes = [ms(100.0), ms(1200.0), ms(2400.0)];
        let (count, delays) = looks(ms(1.0), &writes, ms(3000.0));
        assert_eq!(delays.len(), 3);
        assert!(count <= 3_001, "{count} looks");
    }

    #[test]
    fn a_fast_writer_is_left_to_the_coarse_looks() {
        // 2 kHz: every coarse look sees a change, and no fine look is made.
        let writes: Vec<Duration> = (1..2000).map(|k| ms(0.5 * k as f64)).collect();
        let (count, _) = looks(ms(1.0), &writes, ms(1000.0));
        assert!(count <= 1_001, "{count} looks");
    }

    #[test]
    fn a_change_being_written_is_looked_at_again_soon() {
        let now = Instant::now();
        let mut pace = Pace::default();
        assert_eq!(pace.next_look(now, Seen::Writing), Some(now + FINE));
        assert_eq!(pace.next_look(now, Seen::Nothing), None);
    }
}
