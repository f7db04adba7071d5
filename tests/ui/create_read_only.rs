use win_shared_memory::{ReadOnly, SharedMemoryLink};

fn main() {
    let _link = SharedMemoryLink::<u32, ReadOnly>::create("Local\\ui");
}
