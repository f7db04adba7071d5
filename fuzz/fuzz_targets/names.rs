//! Names and sizes from the fuzzer, through validation to a real region and back: every input
//! is refused with a clear error or gives a region that opens, reads within its bounds, and is
//! gone once dropped. Nothing panics, nothing leaks.

#![no_main]

use libfuzzer_sys::fuzz_target;
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryError};

/// The fuzzer's names go under this, after any namespace prefix, so that they never touch a
/// region of anything else on the machine.
const FUZZ: &str = "wsm_fuzz_";

fuzz_target!(|input: (&str, u16)| {
    let (raw, len) = input;
    let name = match ["Local\\", "Global\\"]
        .iter()
        .find(|prefix| raw.starts_with(**prefix))
    {
        Some(prefix) => format!("{prefix}{FUZZ}{}", &raw[prefix.len()..]),
        None => format!("{FUZZ}{raw}"),
    };
    let len = usize::from(len);
    let created = match SharedMemory::<ReadWrite>::create(&name, len) {
        Ok(created) => created,
        Err(SharedMemoryError::InvalidName { .. }) => return,
        Err(SharedMemoryError::EmptyRegion { .. }) if len == 0 => return,
        Err(other) => panic!("create({name:?}, {len}): {other}"),
    };
    assert_eq!(created.len(), len);
    let opened = SharedMemory::<ReadOnly>::open(&name).expect("a created region opens");
    assert!(opened.len() >= len);
    assert_eq!(
        opened
            .read_at::<u8>(len - 1)
            .expect("the last byte is in bounds"),
        0
    );
    assert!(
        opened.read_at::<u8>(opened.len()).is_err(),
        "past the end is refused"
    );
    drop((created, opened));
    match SharedMemory::<ReadOnly>::open(&name) {
        Err(SharedMemoryError::Open { .. }) => {}
        other => panic!(
            "{name:?} outlived its last handle: {:?}",
            other.map(|region| region.len())
        ),
    }
});
