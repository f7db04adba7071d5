//! What the seqlock transports share: a ping and a pong lock, each the whole of a region of its
//! own and each with a payload of `N` words, with the round trip and the answer through them,
//! for any seqlock. Each process writes one of the two, as the writer of its region (which the
//! crate's writer role makes explicit).

use std::process::Child;

use win_shared_memory::{ReadWrite, SharedMemoryLink};

use super::{Publisher, RoundTrip};
use crate::processes::say_ready;

/// What the round trip needs of a seqlock: this crate's, or the minimal one.
pub trait Lock<const N: usize>: Sized {
    /// What its writer holds while it writes (the crate's writer role, or nothing).
    type Writer;
    fn writer(link: &SharedMemoryLink<Self, ReadWrite>) -> Self::Writer;
    fn version(&self) -> u64;
    fn publish(&self, writer: &Self::Writer, value: &[u64; N]);
    fn copy_into(&self, target: &mut [u64; N]);
}

/// The ping's and the pong's regions.
fn names(name: &str) -> [String; 2] {
    [format!("{name}_ping"), format!("{name}_pong")]
}

/// The ping and pong locks, the private buffers a round copies from and into (the value sent
/// and the answer copied back), and what the measuring side holds to write the ping.
struct LockRounds<const N: usize, L: Lock<N>> {
    ping: SharedMemoryLink<L, ReadWrite>,
    pong: SharedMemoryLink<L, ReadWrite>,
    writer: L::Writer,
    out: Box<[u64; N]>,
    back: Box<[u64; N]>,
}

/// The measuring side of a seqlock transport with a payload of `N` words.
pub fn publish<const N: usize, L: Lock<N> + 'static>(
    name: &str,
    start_answerer: &dyn Fn() -> Child,
) -> Publisher {
    let [ping, pong] = names(name).map(|name| SharedMemoryLink::create(name).expect("create"));
    let writer = L::writer(&ping);
    Publisher {
        answerer: start_answerer(),
        rounds: Box::new(LockRounds {
            ping,
            pong,
            writer,
            out: Box::new([0; N]),
            back: Box::new([0; N]),
        }),
    }
}

impl<const N: usize, L: Lock<N>> RoundTrip for LockRounds<N, L> {
    /// Publishes round `round` and spins until the answer is published back.
    fn round_trip(&mut self, round: u64) {
        let (ping, pong) = (lock(&self.ping), lock(&self.pong));
        let seen = pong.version();
        self.out[0] = round;
        ping.publish(&self.writer, &self.out);
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
    let [ping, pong] = names(name)
        .map(|name| SharedMemoryLink::<L, ReadWrite>::open_existing(name).expect("open"));
    let writer = L::writer(&pong);
    let (ping, pong) = (lock(&ping), lock(&pong));
    let mut value = Box::new([0; N]);
    say_ready();
    let mut seen = ping.version();
    loop {
        let version = ping.version();
        if version != seen {
            seen = version;
            ping.copy_into(&mut value);
            pong.publish(&writer, &value);
        }
        std::hint::spin_loop();
    }
}

fn lock<L>(link: &SharedMemoryLink<L, ReadWrite>) -> &L {
    // SAFETY: every kind of lock is valid for any bytes and only ever accessed atomically (or
    // through the crate's copy).
    unsafe { link.get() }
}
