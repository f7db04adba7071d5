//! The least a seqlock between processes does, by hand: the yardstick of `SeqLock`'s latency.

use std::sync::atomic::{AtomicU64, Ordering, fence};

use win_shared_memory::{ReadWrite, SharedMemoryLink};

use super::Transport;
use super::lock_pair::{self, Lock};

pub const TRANSPORT: Transport = Transport {
    role: "minimal",
    label: "minimal seqlock, hand-written (single writer, relaxed word copies)",
    publish: |name, words, start_answerer| match words {
        8 => lock_pair::publish::<8, Minimal<8>>(name, start_answerer),
        _ => lock_pair::publish::<512, Minimal<512>>(name, start_answerer),
    },
    answer: |name, words| match words {
        8 => lock_pair::answer::<8, Minimal<8>>(name),
        _ => lock_pair::answer::<512, Minimal<512>>(name),
    },
};

/// One writer (no compare-exchange), no patience (no clock), relaxed word-sized atomics for
/// the data. Its layout is `SeqLock`'s.
#[repr(C)]
struct Minimal<const N: usize> {
    sequence: AtomicU64,
    data: [AtomicU64; N],
}

impl<const N: usize> Lock<N> for Minimal<N> {
    type Writer = ();

    fn writer(_link: &SharedMemoryLink<Self, ReadWrite>) {}

    fn version(&self) -> u64 {
        self.sequence.load(Ordering::Relaxed) / 2
    }

    fn publish(&self, (): &(), value: &[u64; N]) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(sequence + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (word, value) in self.data.iter().zip(value) {
            word.store(*value, Ordering::Relaxed);
        }
        self.sequence.store(sequence + 2, Ordering::Release);
    }

    fn copy_into(&self, target: &mut [u64; N]) {
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            if before % 2 == 0 {
                for (target, word) in target.iter_mut().zip(&self.data) {
                    *target = word.load(Ordering::Relaxed);
                }
                fence(Ordering::Acquire);
                if self.sequence.load(Ordering::Relaxed) == before {
                    return;
                }
            }
            std::hint::spin_loop();
        }
    }
}
