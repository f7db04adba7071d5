use win_shared_memory::Access;

struct WriteOnly;

impl Access for WriteOnly {
    const WRITABLE: bool = true;
    const NAME: &'static str = "WriteOnly";
}

fn main() {}
