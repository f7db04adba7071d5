//! The floor: one atomic each way in a shared region; the payload is not copied.

use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};

use win_shared_memory::{ReadWrite, SharedMemory};

use super::{Publisher, RoundTrip, Transport};
use crate::processes::say_ready;

pub const TRANSPORT: Transport = Transport {
    role: "atomic",
    label: "floor: one atomic in shared memory (payload not copied)",
    publish,
    answer,
};

/// The region of the ping and the pong atomics.
struct Atomics {
    region: SharedMemory<ReadWrite>,
}

fn publish(name: &str, _words: usize, start_answerer: &dyn Fn() -> Child) -> Publisher {
    let region = SharedMemory::<ReadWrite>::create(name, 16).expect("create");
    Publisher {
        answerer: start_answerer(),
        rounds: Box::new(Atomics { region }),
    }
}

impl RoundTrip for Atomics {
    fn round_trip(&mut self, round: u64) {
        let (ping, pong) = atomics(&self.region);
        ping.store(round, Ordering::Release);
        while pong.load(Ordering::Acquire) != round {
            std::hint::spin_loop();
        }
    }
}

/// Stores each new ping on the pong.
fn answer(name: &str, _words: usize) {
    let region = SharedMemory::<ReadWrite>::open_existing(name).expect("open");
    let (ping, pong) = atomics(&region);
    say_ready();
    let mut last = 0;
    loop {
        let round = ping.load(Ordering::Acquire);
        if round != last {
            pong.store(round, Ordering::Release);
            last = round;
        }
        std::hint::spin_loop();
    }
}

/// The ping and pong atomics at the start of a region.
fn atomics(region: &SharedMemory<ReadWrite>) -> (&AtomicU64, &AtomicU64) {
    // SAFETY: two atomics, valid for any bytes, only ever accessed atomically.
    unsafe {
        (
            region.get_at::<AtomicU64>(0).expect("ping"),
            region.get_at::<AtomicU64>(8).expect("pong"),
        )
    }
}
