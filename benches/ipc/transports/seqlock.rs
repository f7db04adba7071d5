//! This crate's `SeqLock`, a ping and a pong of the payload's size, written with `write` (a
//! compare-exchange keeps writers apart).

use std::time::Duration;

use win_shared_memory::sync::SeqLock;
use win_shared_memory::{ReadWrite, SharedMemoryLink};

use super::Transport;
use super::lock_pair::{self, Lock};

pub const TRANSPORT: Transport = Transport {
    role: "seqlock",
    label: "SeqLock (this crate)",
    publish: |name, words, start_answerer| match words {
        8 => lock_pair::publish::<8, SeqLock<[u64; 8]>>(name, start_answerer),
        _ => lock_pair::publish::<512, SeqLock<[u64; 512]>>(name, start_answerer),
    },
    answer: |name, words| match words {
        8 => lock_pair::answer::<8, SeqLock<[u64; 8]>>(name),
        _ => lock_pair::answer::<512, SeqLock<[u64; 512]>>(name),
    },
};

impl<const N: usize> Lock<N> for SeqLock<[u64; N]> {
    type Writer = ();

    fn writer(_link: &SharedMemoryLink<Self, ReadWrite>) {}

    fn version(&self) -> u64 {
        SeqLock::version(self)
    }

    fn publish(&self, (): &(), value: &[u64; N]) {
        self.write(value).expect("write");
    }

    fn copy_into(&self, target: &mut [u64; N]) {
        self.read_into(target, Duration::from_secs(1))
            .expect("read");
    }
}
