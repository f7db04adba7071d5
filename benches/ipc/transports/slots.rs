//! What the mutex and event transports share: a region of two slots, the ping and the pong,
//! each a round number and a payload, and the answering side's echo from one to the other.

use win_shared_memory::zerocopy::IntoBytes;
use win_shared_memory::{ReadWrite, SharedMemory};

/// Where the slots of a payload of `words` words are.
pub struct Slots {
    pub words: usize,
}

impl Slots {
    pub fn len(&self) -> usize {
        2 * 8 * (1 + self.words)
    }

    pub fn ping(&self) -> usize {
        0
    }

    pub fn pong(&self) -> usize {
        8 * (1 + self.words)
    }
}

/// Copies a new ping's payload and round into the pong.
pub struct Echo {
    slots: Slots,
    last: u64,
    payload: Vec<u64>,
}

impl Echo {
    pub fn new(words: usize) -> Self {
        Self {
            slots: Slots { words },
            last: 0,
            payload: vec![0; words],
        }
    }

    /// Answers the ping if it is new; whether it was.
    pub fn answer(&mut self, region: &mut SharedMemory<ReadWrite>) -> bool {
        let slots = &self.slots;
        let round = region.read_at::<u64>(slots.ping()).expect("read");
        if round == self.last {
            return false;
        }
        for (index, word) in self.payload.iter_mut().enumerate() {
            *word = region.read_at(slots.ping() + 8 + 8 * index).expect("read");
        }
        region
            .write_at(slots.pong() + 8, self.payload.as_slice().as_bytes())
            .expect("write");
        region.write_at(slots.pong(), &round).expect("write");
        self.last = round;
        true
    }
}
