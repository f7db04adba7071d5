//! What a create and an open cost through this crate, against the OS calls doing the minimum
//! (the floor) and against the `shared_memory` crate (0.12), all measured in one run so that
//! the ratios hold on a noisy machine. Natively on Linux, and under Wine for Windows, where the
//! floor is the Win32 trio (absolute times there are Wine's, the ratios still tell).
//!
//! `cargo bench --bench lifecycle` prints a Markdown table; `cargo xtask bench` collects it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use shared_memory::ShmemConf;
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};

const SIZE: usize = 4096;
const BATCHES: usize = 15;
/// Fewer under Wine, where a call is a round trip to wineserver and a batch takes seconds.
const PER_BATCH: usize = if cfg!(windows) { 100 } else { 1000 };

/// One way of doing the two operations.
struct Contender {
    name: &'static str,
    /// Create a region under the i-th name, map it, write a byte, drop it.
    create: fn(usize),
    /// Open the held region, map it, read a byte, drop it.
    open: fn(),
}

fn main() {
    let contenders = [
        Contender {
            name: "this crate",
            create: ours::create,
            open: ours::open,
        },
        Contender {
            name: raw::NAME,
            create: raw::create,
            open: raw::open,
        },
        Contender {
            name: "shared_memory 0.12",
            create: peer::create,
            open: peer::open,
        },
    ];
    let _held = (ours::hold(), raw::hold(), peer::hold());
    let score = SharedMemoryLink::<[u32; 2], ReadOnly>::open(name("Local\\", "ours_held"));
    black_box(wsm_bench_get_score(black_box(&score.expect("open"))));

    // Interleave the contenders, batch by batch, so that a slow phase of the machine hurts all.
    let mut creates = vec![Vec::new(); contenders.len()];
    let mut opens = vec![Vec::new(); contenders.len()];
    for batch in 0..BATCHES {
        for (index, contender) in contenders.iter().enumerate() {
            creates[index].push(time(|i| (contender.create)(batch * PER_BATCH + i)));
            opens[index].push(time(|_| (contender.open)()));
        }
    }

    let names: Vec<&str> = contenders.iter().map(|contender| contender.name).collect();
    println!(
        "| {SIZE} B region, median of {BATCHES} batches of {PER_BATCH} | {} | vs floor | vs shared_memory |",
        names.join(" | ")
    );
    println!("|---|---|---|---|---|---|");
    for (operation, samples) in [
        ("create + map + write + drop", &mut creates),
        ("open + map + read + drop", &mut opens),
    ] {
        let medians: Vec<Duration> = samples.iter_mut().map(|batches| median(batches)).collect();
        let ratio = |other: Duration| medians[0].as_secs_f64() / other.as_secs_f64();
        println!(
            "| {operation} | {:.2?} | {:.2?} | {:.2?} | {:.2}x | {:.2}x |",
            medians[0],
            medians[1],
            medians[2],
            ratio(medians[1]),
            ratio(medians[2])
        );
        let (kind, floor_bound) = if operation.starts_with("create") {
            ("create", 1.35)
        } else {
            ("open", 1.3)
        };
        println!(
            "target {kind}-vs-raw {:.4} at-most {floor_bound}",
            ratio(medians[1])
        );
        println!(
            "target {kind}-vs-shared_memory {:.4} at-most 1.3",
            ratio(medians[2])
        );
    }
    #[cfg(wsm_holder_locks)]
    reclaim_cost();
}

/// What `reclaim_stale()` costs, the sweep every process makes once, at its first create or
/// open: with 1000 objects of one kind in /dev/shm, each sweep timed once, median of 5.
#[cfg(wsm_holder_locks)]
fn reclaim_cost() {
    use std::os::unix::fs::PermissionsExt;
    use win_shared_memory::SharedMemory;

    const OBJECTS: usize = 1000;
    const SWEEPS: usize = 5;
    let path = |tag: &str, i: usize| format!("/dev/shm{}", name("/", &format!("{tag}_{i}")));
    // Files with the mode a region gets; `mark` adds the crate's mark (nobody holds them).
    let plant = |tag: &str, mode: u32| {
        for i in 0..OBJECTS {
            std::fs::write(path(tag, i), [0_u8; 64]).expect("planting an object");
            std::fs::set_permissions(path(tag, i), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
        }
    };
    let remove = |tag: &str| (0..OBJECTS).for_each(|i| drop(std::fs::remove_file(path(tag, i))));
    let sweep = || {
        let start = Instant::now();
        let removed = win_shared_memory::reclaim_stale().expect("reclaim_stale");
        (start.elapsed(), removed)
    };
    let others = std::fs::read_dir("/dev/shm").map_or(0, Iterator::count);
    println!();
    println!(
        "| `reclaim_stale()` with {OBJECTS} objects of one kind in /dev/shm (and {others} others), median of {SWEEPS} | sweep | per object |"
    );
    println!("|---|---|---|");
    let row = |what: &str, samples: &mut Vec<Duration>| {
        let median = median(samples);
        println!(
            "| {what} | {median:.2?} | {:.2?} |",
            median / OBJECTS as u32
        );
    };

    let mut times = Vec::new();
    for _ in 0..SWEEPS {
        plant("stale", 0o3600);
        let (elapsed, removed) = sweep();
        assert!(removed >= OBJECTS, "only {removed} stale regions removed");
        times.push(elapsed);
    }
    row("this user's stale regions (each removed)", &mut times);

    let held: Vec<_> = (0..OBJECTS)
        .map(|i| SharedMemory::<ReadWrite>::create(name("Local\\", &format!("live_{i}")), 64))
        .collect::<Result<_, _>>()
        .expect("live regions");
    let mut times: Vec<Duration> = (0..SWEEPS).map(|_| sweep().0).collect();
    row("this user's live regions (each left)", &mut times);
    drop(held);

    plant("unmarked", 0o600);
    let mut times: Vec<Duration> = (0..SWEEPS).map(|_| sweep().0).collect();
    row(
        "other programs' objects (unmarked, never touched)",
        &mut times,
    );
    remove("unmarked");
}

/// What `get()` compiles to: `cargo xtask bench` disassembles this function to show that a
/// read through a link is one load from the mapped view.
#[inline(never)]
#[unsafe(no_mangle)]
pub fn wsm_bench_get_score(link: &SharedMemoryLink<[u32; 2], ReadOnly>) -> u32 {
    // SAFETY: the benchmark's region is not written while it is read.
    unsafe { link.get()[1] }
}

/// The time of one call of `operation`, averaged over a batch.
fn time(mut operation: impl FnMut(usize)) -> Duration {
    let start = Instant::now();
    for i in 0..PER_BATCH {
        operation(i);
    }
    start.elapsed() / PER_BATCH as u32
}

fn median(batches: &mut [Duration]) -> Duration {
    batches.sort();
    batches[batches.len() / 2]
}

/// A name unique to this run and to the contender.
fn name(prefix: &str, tag: &str) -> String {
    format!("{prefix}wsm_bench_{}_{tag}", std::process::id())
}

mod ours {
    use super::*;

    pub(super) fn create(i: usize) {
        let name = name("Local\\", &format!("ours_{i}"));
        let mut link = SharedMemoryLink::<[u8; SIZE], ReadWrite>::create(name).expect("create");
        // SAFETY: nobody else knows the region.
        unsafe { link.get_mut()[0] = 1 };
    }

    pub(super) fn hold() -> SharedMemoryLink<[u8; SIZE], ReadWrite> {
        SharedMemoryLink::create(name("Local\\", "ours_held")).expect("create")
    }

    pub(super) fn open() {
        let name = name("Local\\", "ours_held");
        let link = SharedMemoryLink::<[u8; SIZE], ReadOnly>::open(name).expect("open");
        // SAFETY: nobody writes the region.
        black_box(unsafe { link.get() }[0]);
    }
}

mod peer {
    use super::*;

    /// shared_memory takes the OS's own name: `/name` for POSIX.
    fn os_id(tag: &str) -> String {
        name(if cfg!(unix) { "/" } else { "" }, tag)
    }

    pub(super) fn create(i: usize) {
        let shmem = ShmemConf::new()
            .size(SIZE)
            .os_id(os_id(&format!("peer_{i}")))
            .create();
        let shmem = shmem.expect("shared_memory create");
        // SAFETY: the mapping has SIZE writable bytes and nobody else knows it.
        unsafe { shmem.as_ptr().write(1) };
    }

    pub(super) fn hold() -> shared_memory::Shmem {
        ShmemConf::new()
            .size(SIZE)
            .os_id(os_id("peer_held"))
            .create()
            .expect("shared_memory create")
    }

    pub(super) fn open() {
        let shmem = ShmemConf::new()
            .os_id(os_id("peer_held"))
            .open()
            .expect("shared_memory open");
        // SAFETY: the mapping has SIZE readable bytes.
        black_box(unsafe { shmem.as_ptr().read() });
    }
}

#[cfg(unix)]
mod raw {
    //! The floor: shm_open, ftruncate, mmap, munmap, close, shm_unlink, nothing else.

    use std::os::fd::OwnedFd;

    use rustix::fs::Mode;
    use rustix::mm::{MapFlags, ProtFlags};
    use rustix::shm;

    use super::*;

    pub(super) const NAME: &str = "POSIX calls";

    fn map(fd: &OwnedFd, prot: ProtFlags) -> *mut u8 {
        // SAFETY: a fresh shared mapping of a descriptor of at least SIZE bytes.
        unsafe { rustix::mm::mmap(std::ptr::null_mut(), SIZE, prot, MapFlags::SHARED, fd, 0) }
            .expect("mmap")
            .cast()
    }

    pub(super) fn create(i: usize) {
        let name = name("/", &format!("raw_{i}"));
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        let fd = shm::open(name.as_str(), flags, Mode::from_raw_mode(0o600)).expect("shm_open");
        rustix::fs::ftruncate(&fd, SIZE as u64).expect("ftruncate");
        let ptr = map(&fd, ProtFlags::READ | ProtFlags::WRITE);
        // SAFETY: the mapping is SIZE bytes, writable, and unmapped right after.
        unsafe {
            ptr.write(1);
            rustix::mm::munmap(ptr.cast(), SIZE).expect("munmap");
        }
        drop(fd);
        shm::unlink(name.as_str()).expect("shm_unlink");
    }

    /// The held region, unlinked on drop.
    pub(super) struct Held(String);

    impl Drop for Held {
        fn drop(&mut self) {
            let _ = shm::unlink(self.0.as_str());
        }
    }

    pub(super) fn hold() -> Held {
        let name = name("/", "raw_held");
        let flags = shm::OFlags::CREATE | shm::OFlags::RDWR;
        let fd = shm::open(name.as_str(), flags, Mode::from_raw_mode(0o600)).expect("shm_open");
        rustix::fs::ftruncate(&fd, SIZE as u64).expect("ftruncate");
        Held(name)
    }

    pub(super) fn open() {
        let name = name("/", "raw_held");
        let fd = shm::open(name.as_str(), shm::OFlags::RDONLY, Mode::empty()).expect("shm_open");
        black_box(rustix::fs::fstat(&fd).expect("fstat").st_size);
        let ptr = map(&fd, ProtFlags::READ);
        // SAFETY: the mapping is SIZE bytes and unmapped right after.
        unsafe {
            black_box(ptr.read());
            rustix::mm::munmap(ptr.cast(), SIZE).expect("munmap");
        }
    }
}

#[cfg(windows)]
mod raw {
    //! The floor: CreateFileMappingW / OpenFileMappingW, MapViewOfFile, UnmapViewOfFile,
    //! CloseHandle, nothing else.

    use windows::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
    use windows::Win32::System::Memory::{
        CreateFileMappingW, FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_MAPPED_VIEW_ADDRESS,
        MapViewOfFile, OpenFileMappingW, PAGE_READWRITE, UnmapViewOfFile,
    };
    use windows::core::PCWSTR;

    use super::*;

    pub(super) const NAME: &str = "Win32 calls";

    fn wide(name: &str) -> Vec<u16> {
        name.encode_utf16().chain([0]).collect()
    }

    fn create_mapping(name: &str) -> HANDLE {
        let name = wide(name);
        // SAFETY: a NUL-terminated name; a paging-file section of SIZE bytes.
        unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                None,
                PAGE_READWRITE,
                0,
                SIZE as u32,
                PCWSTR(name.as_ptr()),
            )
        }
        .expect("CreateFileMappingW")
    }

    /// Maps, touches and unmaps the section, then closes its handle.
    fn use_and_close(handle: HANDLE, write: bool) {
        let access = if write {
            FILE_MAP_READ | FILE_MAP_WRITE
        } else {
            FILE_MAP_READ
        };
        // SAFETY: an open section of SIZE bytes; the view is unmapped right after.
        unsafe {
            let view = MapViewOfFile(handle, access, 0, 0, SIZE);
            let ptr = view.Value.cast::<u8>();
            assert!(!ptr.is_null(), "MapViewOfFile");
            if write {
                ptr.write(1);
            } else {
                black_box(ptr.read());
            }
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS { Value: ptr.cast() })
                .expect("UnmapViewOfFile");
            CloseHandle(handle).expect("CloseHandle");
        }
    }

    pub(super) fn create(i: usize) {
        use_and_close(create_mapping(&name("Local\\", &format!("raw_{i}"))), true);
    }

    /// The held section, closed on drop.
    pub(super) struct Held(HANDLE);

    impl Drop for Held {
        fn drop(&mut self) {
            // SAFETY: the handle is open and closed only here.
            let _ = unsafe { CloseHandle(self.0) };
        }
    }

    pub(super) fn hold() -> Held {
        Held(create_mapping(&name("Local\\", "raw_held")))
    }

    pub(super) fn open() {
        let name = wide(&name("Local\\", "raw_held"));
        // SAFETY: a NUL-terminated name.
        let handle = unsafe { OpenFileMappingW(FILE_MAP_READ.0, false, PCWSTR(name.as_ptr())) }
            .expect("OpenFileMappingW");
        use_and_close(handle, false);
    }
}
