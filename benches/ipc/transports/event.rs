//! This crate's `NamedEvent`s, one each way, waking the other process to copy the slots.

use std::process::Child;

use win_shared_memory::sync::{EventReset, NamedEvent};
use win_shared_memory::zerocopy::IntoBytes;
use win_shared_memory::{ReadWrite, SharedMemory};

use super::slots::{Echo, Slots};
use super::{Publisher, RoundTrip, Transport};
use crate::processes::say_ready;

pub const TRANSPORT: Transport = Transport {
    role: "event",
    label: "NamedEvent wake-up + copy (this crate)",
    publish,
    answer,
};

struct EventRounds {
    region: SharedMemory<ReadWrite>,
    ping: NamedEvent,
    pong: NamedEvent,
    slots: Slots,
    payload: Vec<u64>,
}

/// The ping and the pong events of the transport named `name`.
fn events(name: &str) -> (NamedEvent, NamedEvent) {
    let event =
        |which: &str| NamedEvent::new(format!("{name}_{which}"), EventReset::Auto).expect("event");
    (event("ping"), event("pong"))
}

fn publish(name: &str, words: usize, start_answerer: &dyn Fn() -> Child) -> Publisher {
    let slots = Slots { words };
    let (ping, pong) = events(name);
    let region = SharedMemory::<ReadWrite>::create(name, slots.len()).expect("create");
    Publisher {
        answerer: start_answerer(),
        rounds: Box::new(EventRounds {
            region,
            ping,
            pong,
            slots,
            payload: vec![0; words],
        }),
    }
}

impl RoundTrip for EventRounds {
    fn round_trip(&mut self, round: u64) {
        let Self {
            region,
            ping,
            pong,
            slots,
            payload,
        } = self;
        payload[0] = round;
        region
            .write_at(slots.ping() + 8, payload.as_slice().as_bytes())
            .expect("write");
        region.write_at(slots.ping(), &round).expect("write");
        ping.set().expect("set");
        while region.read_at::<u64>(slots.pong()).expect("read") != round {
            pong.wait().expect("wait");
        }
    }
}

/// Waits for the ping event, and answers a new ping with the pong event.
fn answer(name: &str, words: usize) {
    let mut region = SharedMemory::<ReadWrite>::open_existing(name).expect("open");
    let (ping, pong) = events(name);
    say_ready();
    let mut echo = Echo::new(words);
    loop {
        ping.wait().expect("wait");
        if echo.answer(&mut region) {
            pong.set().expect("set");
        }
    }
}
