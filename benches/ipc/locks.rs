//! `NamedMutex` against the locks it is measured by (Linux): a bare integer futex lock (the
//! word holds only 0, 1 or 2, untimed waits) and a robust, process-shared pthread mutex, each
//! in a shared mapping. Two figures, each a ratio from one interleaved run: an uncontended
//! lock and unlock in one thread, and two processes hammering one lock (the time of a turn).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use win_shared_memory::sync::NamedMutex;
use win_shared_memory::{ReadWrite, SharedMemory};

/// The role of the hammering child process.
pub const ROLE: &str = "lock-hammer";

/// Lock and unlock pairs per uncontended batch, and turns per process when hammering.
const UNCONTENDED: u32 = 1_000_000;
const TURNS: u32 = 20_000;
/// Interleaved runs; the median is reported, with the spread.
const RUNS: usize = 5;

/// The shared mapping: the bare futex, the pthread mutex, what the locks protect, and a
/// start line.
#[repr(C)]
struct Arena {
    futex: AtomicU32,
    start: AtomicU32,
    protected: AtomicU32,
    pthread: UnsafeCell<libc::pthread_mutex_t>,
}

/// The three locks, as the bench uses them.
#[derive(Clone, Copy, PartialEq)]
enum Contender {
    Futex,
    Pthread,
    Named,
}

const CONTENDERS: [(Contender, &str); 3] = [
    (Contender::Futex, "bare integer futex"),
    (Contender::Pthread, "robust pthread mutex"),
    (Contender::Named, "NamedMutex"),
];

struct Locks<'a> {
    arena: &'a Arena,
    named: NamedMutex,
}

impl Locks<'_> {
    /// Runs `critical` holding the contender's lock.
    fn with_lock(&self, contender: Contender, critical: impl FnOnce()) {
        match contender {
            Contender::Futex => {
                futex_lock(&self.arena.futex);
                critical();
                futex_unlock(&self.arena.futex);
            }
            Contender::Pthread => {
                // SAFETY: the mutex was initialised by the parent and lives in the mapping;
                // this thread unlocks what it locked.
                unsafe {
                    let code = libc::pthread_mutex_lock(self.arena.pthread.get());
                    assert!(code == 0, "pthread_mutex_lock: {code}");
                    critical();
                    libc::pthread_mutex_unlock(self.arena.pthread.get());
                }
            }
            Contender::Named => {
                let guard = self.named.lock().expect("nobody dies here");
                critical();
                drop(guard);
            }
        }
    }
}

/// Prints both tables.
pub fn table(bench: impl Fn(&[&str]) -> std::process::Child) {
    let name = format!("wsm_bench_locks_{}", std::process::id());
    let region = SharedMemory::<ReadWrite>::create(&name, size_of::<Arena>()).expect("arena");
    let arena = arena(&region);
    initialise_pthread(arena);
    let locks = Locks {
        arena,
        named: NamedMutex::new(format!("{name}_named")).expect("mutex"),
    };
    println!("\nLocks, median of {RUNS} interleaved runs (min-max):\n");
    println!(
        "| lock | uncontended lock+unlock | vs bare futex | two processes, a turn | vs robust pthread |"
    );
    println!("|---|---|---|---|---|");
    let mut uncontended = [const { Vec::new() }; 3];
    let mut contended = [const { Vec::new() }; 3];
    for _ in 0..RUNS {
        for (index, &(contender, _)) in CONTENDERS.iter().enumerate() {
            uncontended[index].push(measure_uncontended(&locks, contender));
            contended[index].push(measure_contended(&locks, contender, &name, &bench));
        }
    }
    let median = |runs: &mut Vec<f64>| {
        runs.sort_by(f64::total_cmp);
        runs[runs.len() / 2]
    };
    let spread = |runs: &[f64]| format!("{:.1}-{:.1}", runs[0], runs[runs.len() - 1]);
    let floors = (median(&mut uncontended[0]), median(&mut contended[1]));
    for (index, &(_, label)) in CONTENDERS.iter().enumerate() {
        let (alone, shared) = (
            median(&mut uncontended[index]),
            median(&mut contended[index]),
        );
        println!(
            "| {label} | {alone:.1} ns ({}) | {:.2}x | {shared:.0} ns ({}) | {:.2}x |",
            spread(&uncontended[index]),
            alone / floors.0,
            spread(&contended[index]),
            shared / floors.1,
        );
    }
    // The named mutex is the last contender; its medians were taken (sorted) above.
    let named = CONTENDERS.len() - 1;
    let (alone, shared) = (uncontended[named][RUNS / 2], contended[named][RUNS / 2]);
    println!(
        "target mutex-uncontended {:.4} at-most 1.3",
        alone / floors.0
    );
    println!("target mutex-handoff {:.4} at-most 1.2", shared / floors.1);
}

/// On this thread's CPU clock, so that time other processes take on a loaded machine does not
/// count.
fn measure_uncontended(locks: &Locks<'_>, contender: Contender) -> f64 {
    let thread_time = || {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    };
    let started = thread_time();
    for _ in 0..UNCONTENDED {
        locks.with_lock(contender, || {});
    }
    (thread_time() - started).as_secs_f64() * 1e9 / f64::from(UNCONTENDED)
}

/// Both processes take `TURNS` turns each, in alternation: the time of one handoff.
fn measure_contended(
    locks: &Locks<'_>,
    contender: Contender,
    name: &str,
    bench: &impl Fn(&[&str]) -> std::process::Child,
) -> f64 {
    locks.arena.start.store(0, Ordering::SeqCst);
    locks.arena.protected.store(0, Ordering::SeqCst);
    let which = (contender as u8).to_string();
    let mut child = bench(&[ROLE, name, &which]);
    let started = Instant::now();
    locks.arena.start.store(1, Ordering::SeqCst);
    hammer_turns(locks, contender, 0);
    child.wait().expect("the hammering child");
    started.elapsed().as_secs_f64() * 1e9 / f64::from(2 * TURNS)
}

/// Takes `TURNS` turns, each a lock taken when the counter says it is this process's turn
/// (`parity`): every turn is a handoff from the other process.
fn hammer_turns(locks: &Locks<'_>, contender: Contender, parity: u32) {
    let protected = &locks.arena.protected;
    let mut taken = 0;
    while taken < TURNS {
        locks.with_lock(contender, || {
            let turn = protected.load(Ordering::Relaxed);
            if turn % 2 == parity {
                protected.store(turn + 1, Ordering::Relaxed);
                taken += 1;
            }
        });
    }
}

/// The child's side of [`measure_contended`]: says it is ready, waits for the start, hammers.
pub fn hammer(name: &str, which: &str, ready: impl FnOnce()) {
    let region = SharedMemory::<ReadWrite>::open_existing(name).expect("arena");
    let locks = Locks {
        arena: arena(&region),
        named: NamedMutex::new(format!("{name}_named")).expect("mutex"),
    };
    let contender = CONTENDERS[which.parse::<usize>().expect("contender")].0;
    ready();
    while locks.arena.start.load(Ordering::SeqCst) == 0 {
        std::hint::spin_loop();
    }
    hammer_turns(&locks, contender, 1);
}

fn arena(region: &SharedMemory<ReadWrite>) -> &Arena {
    // SAFETY: the mapping is page-aligned and at least an Arena long; its atomics and the
    // pthread mutex are shared only through atomic operations and pthread calls.
    unsafe { &*region.as_ptr().cast::<Arena>() }
}

fn initialise_pthread(arena: &Arena) {
    // SAFETY: the attributes are local, initialised before use; the mutex memory is this
    // process's alone until the child starts.
    unsafe {
        let mut attributes = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        libc::pthread_mutexattr_init(attributes.as_mut_ptr());
        libc::pthread_mutexattr_setpshared(attributes.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED);
        libc::pthread_mutexattr_setrobust(attributes.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST);
        libc::pthread_mutex_init(arena.pthread.get(), attributes.as_ptr());
        libc::pthread_mutexattr_destroy(attributes.as_mut_ptr());
    }
}

/// Drepper's mutex: 0 free, 1 locked, 2 locked with waiters; untimed waits.
fn futex_lock(word: &AtomicU32) {
    if word
        .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return;
    }
    loop {
        if word.swap(2, Ordering::Acquire) == 0 {
            return;
        }
        let _ = rustix::thread::futex::wait(word, rustix::thread::futex::Flags::empty(), 2, None);
    }
}

fn futex_unlock(word: &AtomicU32) {
    if word.swap(0, Ordering::Release) == 2 {
        let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), 1);
    }
}
