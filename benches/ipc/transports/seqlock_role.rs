//! This crate's `SeqLock` written by the holder of its region's writer role (`write_as`): no
//! compare-exchange, the path to a seqlock's latency.

use std::time::Duration;

use win_shared_memory::sync::{SeqLock, WriterRole};
use win_shared_memory::{ReadWrite, SharedMemoryLink};

use super::Transport;
use super::lock_pair::{self, Lock};

pub const TRANSPORT: Transport = Transport {
    role: "seqlock-role",
    label: "SeqLock `write_as`, the writer role held (this crate)",
    publish: |name, words, start_answerer| match words {
        8 => lock_pair::publish::<8, Owned<8>>(name, start_answerer),
        _ => lock_pair::publish::<512, Owned<512>>(name, start_answerer),
    },
    answer: |name, words| match words {
        8 => lock_pair::answer::<8, Owned<8>>(name),
        _ => lock_pair::answer::<512, Owned<512>>(name),
    },
};

/// The same `SeqLock`, written by the holder of its region's writer role.
#[repr(transparent)]
pub struct Owned<const N: usize>(SeqLock<[u64; N]>);

impl<const N: usize> Lock<N> for Owned<N> {
    type Writer = WriterRole;

    fn writer(link: &SharedMemoryLink<Self, ReadWrite>) -> WriterRole {
        link.take_writer_role().expect("the writer role")
    }

    fn version(&self) -> u64 {
        self.0.version()
    }

    fn publish(&self, role: &WriterRole, value: &[u64; N]) {
        self.0.write_as(role, value).expect("write");
    }

    fn copy_into(&self, target: &mut [u64; N]) {
        self.0
            .read_into(target, Duration::from_secs(1))
            .expect("read");
    }
}
