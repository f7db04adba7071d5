use std::num::NonZeroU32;

use win_shared_memory::{ReadOnly, SharedMemoryLink};

// Another process can write any bytes, and a fresh region is all zeros: neither is always a
// valid NonZeroU32 or reference, so there is no safe `read` for them.
fn main() {
    let number: SharedMemoryLink<NonZeroU32, ReadOnly> = SharedMemoryLink::open("Local\\ui").unwrap();
    let _ = number.read();
    let reference: SharedMemoryLink<&'static u8, ReadOnly> = SharedMemoryLink::open("Local\\ui").unwrap();
    let _ = reference.read();
}
