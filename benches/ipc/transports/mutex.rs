//! This crate's `NamedMutex` guarding the slots: the ping written under the lock, the pong
//! polled under it.

use std::process::Child;

use win_shared_memory::sync::NamedMutex;
use win_shared_memory::zerocopy::IntoBytes;
use win_shared_memory::{ReadWrite, SharedMemory};

use super::slots::{Echo, Slots};
use super::{Publisher, RoundTrip, Transport};
use crate::processes::say_ready;

pub const TRANSPORT: Transport = Transport {
    role: "mutex",
    label: "NamedMutex-protected copy (this crate)",
    publish,
    answer,
};

struct MutexRounds {
    region: SharedMemory<ReadWrite>,
    mutex: NamedMutex,
    slots: Slots,
    payload: Vec<u64>,
}

fn publish(name: &str, words: usize, start_answerer: &dyn Fn() -> Child) -> Publisher {
    let slots = Slots { words };
    let mutex = NamedMutex::new(format!("{name}_mutex")).expect("mutex");
    let region = SharedMemory::<ReadWrite>::create(name, slots.len()).expect("create");
    Publisher {
        answerer: start_answerer(),
        rounds: Box::new(MutexRounds {
            region,
            mutex,
            slots,
            payload: vec![0; words],
        }),
    }
}

impl RoundTrip for MutexRounds {
    fn round_trip(&mut self, round: u64) {
        let Self {
            region,
            mutex,
            slots,
            payload,
        } = self;
        payload[0] = round;
        {
            let _guard = mutex.lock().expect("lock");
            region.write_at(slots.ping(), &round).expect("write");
            region
                .write_at(slots.ping() + 8, payload.as_slice().as_bytes())
                .expect("write");
        }
        loop {
            let _guard = mutex.lock().expect("lock");
            if region.read_at::<u64>(slots.pong()).expect("read") == round {
                break;
            }
        }
    }
}

/// Takes the lock over and over, answering a new ping when it holds it.
fn answer(name: &str, words: usize) {
    let mut region = SharedMemory::<ReadWrite>::open_existing(name).expect("open");
    let mutex = NamedMutex::new(format!("{name}_mutex")).expect("mutex");
    say_ready();
    let mut echo = Echo::new(words);
    loop {
        let _guard = mutex.lock().expect("lock");
        echo.answer(&mut region);
    }
}
