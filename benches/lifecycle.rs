//! What a create and an open cost through this crate, against the raw POSIX calls doing the
//! minimum, measured in one run so that the ratio holds on a noisy machine.
//!
//! `cargo bench --bench lifecycle` prints the medians of several batches and their ratios.
//! (Unix only for now; the Windows side is measured by the benchmark suite to come.)

#[cfg(unix)]
fn main() {
    unix::run();
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the lifecycle benchmark measures the Unix backend; run it on Linux or macOS");
}

#[cfg(unix)]
mod unix {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use rustix::fs::Mode;
    use rustix::mm::{MapFlags, ProtFlags};
    use rustix::shm;
    use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};

    const SIZE: usize = 4096;
    const BATCHES: usize = 15;
    const PER_BATCH: usize = 2000;

    /// The median time of one call of `operation`, over `BATCHES` batches.
    fn median(mut operation: impl FnMut(usize)) -> Duration {
        let mut batches: Vec<Duration> = (0..BATCHES)
            .map(|batch| {
                let start = Instant::now();
                for i in 0..PER_BATCH {
                    operation(batch * PER_BATCH + i);
                }
                start.elapsed() / PER_BATCH as u32
            })
            .collect();
        batches.sort();
        batches[BATCHES / 2]
    }

    fn crate_create(name: &str) {
        let mut link = SharedMemoryLink::<[u8; SIZE], ReadWrite>::create(name).expect("create");
        // SAFETY: nobody else knows the region.
        unsafe { link.get_mut()[0] = 1 };
    }

    fn crate_open(name: &str) {
        let link = SharedMemoryLink::<[u8; SIZE], ReadOnly>::open(name).expect("open");
        // SAFETY: nobody writes the region.
        black_box(unsafe { link.get() }[0]);
    }

    fn raw_map(fd: &std::os::fd::OwnedFd, prot: ProtFlags) -> *mut u8 {
        // SAFETY: a fresh shared mapping of a descriptor of at least SIZE bytes.
        unsafe { rustix::mm::mmap(std::ptr::null_mut(), SIZE, prot, MapFlags::SHARED, fd, 0) }
            .expect("mmap")
            .cast()
    }

    fn raw_create(name: &str) {
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        let fd = shm::open(name, flags, Mode::from_raw_mode(0o600)).expect("shm_open");
        rustix::fs::ftruncate(&fd, SIZE as u64).expect("ftruncate");
        let ptr = raw_map(&fd, ProtFlags::READ | ProtFlags::WRITE);
        // SAFETY: the mapping is SIZE bytes, writable, and unmapped right after.
        unsafe {
            ptr.write(1);
            rustix::mm::munmap(ptr.cast(), SIZE).expect("munmap");
        }
        drop(fd);
        shm::unlink(name).expect("shm_unlink");
    }

    fn raw_open(name: &str) {
        let fd = shm::open(name, shm::OFlags::RDONLY, Mode::empty()).expect("shm_open");
        black_box(rustix::fs::fstat(&fd).expect("fstat").st_size);
        let ptr = raw_map(&fd, ProtFlags::READ);
        // SAFETY: the mapping is SIZE bytes and unmapped right after.
        unsafe {
            black_box(ptr.read());
            rustix::mm::munmap(ptr.cast(), SIZE).expect("munmap");
        }
    }

    pub(super) fn run() {
        let pid = std::process::id();
        let names: Vec<String> = (0..BATCHES * PER_BATCH)
            .map(|i| format!("Local\\wsm_bench_{pid}_{i}"))
            .collect();
        let raw_names: Vec<String> = (0..BATCHES * PER_BATCH)
            .map(|i| format!("/wsm_bench_raw_{pid}_{i}"))
            .collect();

        let held = format!("Local\\wsm_bench_{pid}_held");
        let _holder = SharedMemoryLink::<[u8; SIZE], ReadWrite>::create(&held).expect("create");
        let raw_held = format!("/wsm_bench_{pid}_held");

        // Interleave the contenders, so that a slow phase of the machine hurts both.
        let mut rows = Vec::new();
        for _ in 0..2 {
            rows = vec![
                (
                    "create + map + write + drop",
                    median(|i| crate_create(&names[i])),
                    median(|i| raw_create(&raw_names[i])),
                ),
                (
                    "open + map + read + drop",
                    median(|_| crate_open(&held)),
                    median(|_| raw_open(&raw_held)),
                ),
            ];
        }

        println!(
            "| {SIZE} B region, median of {BATCHES} batches | this crate | raw syscalls | ratio |"
        );
        println!("|---|---|---|---|");
        for (what, ours, raw) in rows {
            let ratio = ours.as_secs_f64() / raw.as_secs_f64();
            println!("| {what} | {ours:.2?} | {raw:.2?} | {ratio:.2}x |");
        }
    }
}
