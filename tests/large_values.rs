//! Values of 4 MiB in a thread whose stack is 1 MiB, in the test's own debug build: written
//! from and read into heap allocations made through the crate's zerocopy re-export, they never
//! pass through the stack. `read()` of the same values would need 4 MiB of it and abort the
//! process with a stack overflow, which is why the docs of these types show `read_into`.

use win_shared_memory::sync::{DEFAULT_PATIENCE, DoubleBuffer, SeqLock};
use win_shared_memory::zerocopy::FromZeros;
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};

/// 4 MiB.
type Large = [u64; 512 * 1024];

/// A 4 MiB value with a different word at each end, so a copy that stopped short shows.
fn pattern(seed: u64) -> Box<Large> {
    let mut value = Large::new_box_zeroed().expect("4 MiB of heap");
    for (index, word) in value.iter_mut().enumerate() {
        *word = seed ^ index as u64;
    }
    value
}

/// Runs `test` on a thread with a stack a quarter of the values' size.
fn on_small_stack(test: impl FnOnce() + Send) {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn_scoped(scope, test)
            .expect("a thread")
            .join()
            .expect("the test thread");
    });
}

fn unique(tag: &str) -> String {
    format!("Local\\wsm_large_{}_{tag}", std::process::id())
}

#[test]
fn a_4_mib_double_buffer_value_is_written_and_read_without_the_stack() {
    on_small_stack(|| {
        let name = unique("double_buffer");
        let writer = SharedMemoryLink::<DoubleBuffer<Large>, ReadWrite>::create(&name).unwrap();
        let reader = SharedMemoryLink::<DoubleBuffer<Large>, ReadOnly>::open(&name).unwrap();
        let mut copy = Large::new_box_zeroed().unwrap();
        for seed in 1..=3 {
            let value = pattern(seed);
            writer.double_buffer().write(&value).unwrap();
            reader
                .double_buffer()
                .read_into(&mut copy, DEFAULT_PATIENCE)
                .unwrap();
            assert!(copy == value, "write {seed} came back different");
        }
    });
}

#[test]
fn a_4_mib_seqlock_value_is_written_and_read_without_the_stack() {
    on_small_stack(|| {
        let name = unique("seqlock");
        let writer = SharedMemoryLink::<SeqLock<Large>, ReadWrite>::create(&name).unwrap();
        let reader = SharedMemoryLink::<SeqLock<Large>, ReadOnly>::open(&name).unwrap();
        let value = pattern(7);
        writer.seqlock().write(&value).unwrap();
        let mut copy = Large::new_box_zeroed().unwrap();
        reader
            .seqlock()
            .read_into(&mut copy, DEFAULT_PATIENCE)
            .unwrap();
        assert!(copy == value);
    });
}

#[test]
fn a_4_mib_link_value_is_written_and_read_without_the_stack() {
    on_small_stack(|| {
        let name = unique("link");
        let mut writer = SharedMemoryLink::<Large, ReadWrite>::create(&name).unwrap();
        let value = pattern(9);
        writer.write(&value);
        let reader = SharedMemoryLink::<Large, ReadOnly>::open(&name).unwrap();
        let mut copy = Large::new_box_zeroed().unwrap();
        reader.read_into(&mut copy);
        assert!(copy == value);
    });
}
