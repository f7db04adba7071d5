use win_shared_memory::{ReadOnly, SharedMemoryLink};

fn main() {
    let mut link: SharedMemoryLink<u32, ReadOnly> = SharedMemoryLink::open("Local\\ui").unwrap();
    unsafe { *link.get_mut() = 1 };
}
