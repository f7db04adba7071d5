use win_shared_memory::{ReadWrite, SharedMemoryLink};

// Padding bytes are uninitialised: copying them into shared memory would publish garbage, so a
// type with padding has no safe `write`.
#[repr(C)]
#[derive(zerocopy::FromBytes)]
struct Padded {
    small: u8,
    large: u32,
}

fn main() {
    let mut link: SharedMemoryLink<Padded, ReadWrite> = SharedMemoryLink::create("Local\\ui").unwrap();
    link.write(&Padded { small: 1, large: 2 });
}
