//! What the seqlock transports share: a ping and a pong lock in one region, each holding a
//! payload of `N` words, with the round trip and the answer through them, for any seqlock.

use std::process::Child;

use win_shared_memory::{ReadWrite, SharedMemoryLink};

use super::{Publisher, RoundTrip};
use crate::processes::say_ready;

/// What the round trip needs of a seqlock: this crate's, or the minimal one.
pub trait Lock<const N: usize> {
    fn version(&self) -> u64;
    fn publish(&self, value: &[u64; N]);
    fn copy_into(&self, target: &mut [u64; N]);
}

/// A ping and a pong slot.
type Pair<L> = SharedMemoryLink<[L; 2], ReadWrite>;

/// The pair, and the private buffers a round copies from and into: the value sent and the
/// answer copied back.
struct LockRounds<const N: usize, L> {
    link: Pair<L>,
    out: Box<[u64; N]>,
    back: Box<[u64; N]>,
}

/// The measuring side of a seqlock transport with a payload of `N` words.
pub fn publish<const N: usize, L: Lock<N> + 'static>(
    name: &str,
    start_answerer: &dyn Fn() -> Child,
) -> Publisher {
    let link = Pair::<L>::create(name).expect("create");
    Publisher {
        answerer: start_answerer(),
        rounds: Box::new(LockRounds {
            link,
            out: Box::new([0; N]),
            back: Box::new([0; N]),
        }),
    }
}

impl<const N: usize, L: Lock<N>> RoundTrip for LockRounds<N, L> {
    /// Publishes round `round` and spins until the answer is published back.
    fn round_trip(&mut self, round: u64) {
        let [ping, pong] = lock_pair(&self.link);
        let seen = pong.version();
        self.out[0] = round;
        ping.publish(&self.out);
        // Poll the version (one cache line), and copy once it moved.
        while pong.version() == seen {
            std::hint::spin_loop();
        }
        pong.copy_into(&mut self.back);
        assert_eq!(self.back[0], round, "the answer to this round");
    }
}

/// Answers each new value of the ping with the same value on the pong.
pub fn answer<const N: usize, L: Lock<N>>(name: &str) {
    let link = Pair::<L>::open_existing(name).expect("open");
    let [ping, pong] = lock_pair(&link);
    let mut value = Box::new([0; N]);
    say_ready();
    let mut seen = ping.version();
    loop {
        let version = ping.version();
        if version != seen {
            seen = version;
            ping.copy_into(&mut value);
            pong.publish(&value);
        }
        std::hint::spin_loop();
    }
}

fn lock_pair<L>(link: &Pair<L>) -> [&L; 2] {
    // SAFETY: both kinds of lock are valid for any bytes and only ever accessed atomically (or
    // through the crate's copy).
    let pair = unsafe { link.get() };
    [&pair[0], &pair[1]]
}
