//! Waiting for news in another process: how soon a waiter wakes, what an idle waiter costs,
//! and what waiting readers cost a writer.
//!
//! - Wake-up latency: from a signal to the waiting process running, the waiter asleep, through
//!   `NamedEvent`, `SeqLock::wait_for_change` (read-write and read-only handles), a `Follower`
//!   of a publisher holding its writer role, and the raw primitive beneath (a futex on Linux, a
//!   Win32 event on Windows).
//! - Idle CPU: five processes wait 10 s for news that never comes (an event, the change waits
//!   of both handles, a versioned region's, a follower of a live but quiet publisher) and
//!   report the CPU time they used.
//! - Writer cost: nanoseconds per 64-byte `SeqLock::write` with no reader waiting and with four
//!   reader processes waiting for each write, and two hand-written seqlocks for scale (0.2's
//!   compare-exchange protocol, and the minimal one with a plain store).
//!
//! `cargo bench --bench waits` prints Markdown tables and `target` lines for `cargo xtask
//! bench`; it runs itself again as the other processes (`WSM_BENCH_ROLE`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use win_shared_memory::follow::{Followed, Follower};
use win_shared_memory::sync::{EventReset, NamedEvent, SeqLock, Versioning, WriterRole};
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryLink};

const ROLE: &str = "WSM_BENCH_ROLE";

/// Signals timed for the wake-up latency, and the pause before each (the waiter falls asleep).
const WAKE_ROUNDS: u64 = 300;
const PAUSE: Duration = Duration::from_millis(2);
/// Batches of writes timed for the writer's cost; the median batch is reported.
const BATCHES: usize = 5;
/// How long the idle waiters wait.
const IDLE: Duration = Duration::from_secs(10);
/// Writes timed for the writer's cost, and the readers that wait for them.
const WRITES: u64 = 200_000;
const WAITING_READERS: usize = 4;
/// Writes timed one by one at 1 kHz.
const PACED_WRITES: u64 = 500;

/// The ways to wait for another process, by role name and table label.
const WAKERS: &[(&str, &str)] = &[
    #[cfg(target_os = "linux")]
    ("futex", "raw futex wait and wake (the floor)"),
    #[cfg(windows)]
    ("win32-event", "raw Win32 auto-reset event (the floor)"),
    ("event", "`NamedEvent` (auto reset)"),
    ("change", "`SeqLock::wait_for_change`, read-write handle"),
    (
        "change-read-only",
        "`SeqLock::wait_for_change`, read-only handle",
    ),
    (
        "follower",
        "`Follower::next` of a `SeqLock` (role checked every 16 ms)",
    ),
];

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match role.as_str() {
            "idle" => idle(&args[0], &args[1]),
            "follow" => follow(&args[0]),
            waker => answer(waker, &args[0]),
        }
        return;
    }
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    wake_up_latency();
    idle_cpu();
    writer_cost();
}

fn name(tag: &str) -> String {
    format!("Local\\wsm_bench_waits_{}_{tag}", std::process::id())
}

/// Starts this binary in `role` and waits for its first line, "ready".
fn start(role: &str, args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().expect("the bench's path"))
        .env(ROLE, role)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the other process");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "ready", "{role} did not start");
    (child, stdout)
}

fn say(line: &str) {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .expect("say");
}

fn median(mut figures: Vec<f64>) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures[figures.len() / 2]
}

/// One side of a ping-pong: `signal` tells the other process round `round` is there, `wait`
/// returns once the other process signalled round `round`.
trait Waker {
    fn signal(&mut self, round: u64);
    fn wait(&mut self, round: u64);
}

/// The ping side (`ping` true: the measuring process) or the pong side of `role`'s waker,
/// over objects named after `name`.
fn waker(role: &str, name: &str, ping: bool) -> Box<dyn Waker> {
    match role {
        "event" => {
            let event = |which: &str| {
                NamedEvent::new(format!("{name}_{which}"), EventReset::Auto).expect("event")
            };
            let (ping_event, pong_event) = (event("ping"), event("pong"));
            Box::new(if ping {
                EventWaker(ping_event, pong_event)
            } else {
                EventWaker(pong_event, ping_event)
            })
        }
        "change" | "change-read-only" => {
            Box::new(ChangeWaker::new(name, ping, role == "change-read-only"))
        }
        "follower" => Box::new(FollowWaker::new(name, ping)),
        #[cfg(target_os = "linux")]
        "futex" => Box::new(futex::FutexWaker::new(name, ping)),
        #[cfg(windows)]
        "win32-event" => Box::new(win32::EventWaker::new(name, ping)),
        _ => panic!("unknown waker {role}"),
    }
}

/// Sets its own event, waits for the other's.
struct EventWaker(NamedEvent, NamedEvent);

impl Waker for EventWaker {
    fn signal(&mut self, _round: u64) {
        self.0.set().expect("set");
    }

    fn wait(&mut self, _round: u64) {
        // Two sets before the waiter ran count once, as on Windows: a bounded wait, so that
        // the run goes on (that round's figure is its timeout).
        self.1
            .wait_timeout(Duration::from_millis(100))
            .expect("wait");
    }
}

/// Two `SeqLock<u64>`s in one region, one written by each side; each waits for the other's
/// to change, through a read-write or a read-only view.
struct ChangeWaker {
    writable: SharedMemory<ReadWrite>,
    readable: Option<SharedMemory<ReadOnly>>,
    mine: usize,
    theirs: usize,
}

impl ChangeWaker {
    const SIZE: usize = 2 * size_of::<SeqLock<u64>>();

    fn new(name: &str, ping: bool, read_only: bool) -> Self {
        let writable = if ping {
            SharedMemory::create(name, Self::SIZE).expect("create")
        } else {
            SharedMemory::open_existing(name).expect("open")
        };
        let readable = read_only.then(|| SharedMemory::open(name).expect("open read-only"));
        let (mine, theirs) = if ping { (0, 16) } else { (16, 0) };
        Self {
            writable,
            readable,
            mine,
            theirs,
        }
    }
}

impl Waker for ChangeWaker {
    fn signal(&mut self, round: u64) {
        let lock = self.writable.seqlock_at::<u64>(self.mine).expect("lock");
        lock.write(&round).expect("write");
    }

    fn wait(&mut self, round: u64) {
        let patience = Duration::from_secs(10);
        match &self.readable {
            Some(readable) => {
                let lock = readable.seqlock_at::<u64>(self.theirs).expect("lock");
                while lock.version() < round {
                    lock.wait_for_change(lock.version(), patience)
                        .expect("wait");
                }
            }
            None => {
                let lock = self.writable.seqlock_at::<u64>(self.theirs).expect("lock");
                while lock.version() < round {
                    lock.wait_for_change(lock.version(), patience)
                        .expect("wait");
                }
            }
        }
    }
}

/// One way only, as a publisher and its follower: the signalling side holds the writer role
/// of a `SeqLock<u64>` and writes the round with it; the woken side follows the region.
enum FollowWaker {
    Publisher(SharedMemoryLink<SeqLock<u64>, ReadWrite>, WriterRole),
    Follower(Follower<u64>),
}

impl FollowWaker {
    fn new(name: &str, ping: bool) -> Self {
        let name = format!("{name}_followed");
        if ping {
            let link = SharedMemoryLink::create(&name).expect("create");
            let role = link.take_writer_role().expect("role");
            Self::Publisher(link, role)
        } else {
            Self::Follower(Follower::seqlock(&name).expect("follower"))
        }
    }
}

impl Waker for FollowWaker {
    fn signal(&mut self, round: u64) {
        if let Self::Publisher(link, role) = self {
            link.seqlock().write_as(role, &round).expect("write");
        }
    }

    fn wait(&mut self, round: u64) {
        let Self::Follower(follower) = self else {
            return;
        };
        loop {
            match follower.next(Duration::from_millis(100)).expect("follow") {
                Some(Followed::Update(&value)) if value >= round => return,
                // A round that never came counts its timeout.
                None => return,
                Some(_) => {}
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod futex {
    //! The floor on Linux: a shared futex word per side, stored and woken on every signal.

    use std::sync::atomic::{AtomicU32, Ordering};

    use win_shared_memory::{ReadWrite, SharedMemory};

    pub struct FutexWaker {
        region: SharedMemory<ReadWrite>,
        mine: usize,
        theirs: usize,
    }

    impl FutexWaker {
        pub fn new(name: &str, ping: bool) -> Self {
            let region = if ping {
                SharedMemory::create(name, 128).expect("create")
            } else {
                SharedMemory::open_existing(name).expect("open")
            };
            let (mine, theirs) = if ping { (0, 64) } else { (64, 0) };
            Self {
                region,
                mine,
                theirs,
            }
        }

        fn word(&self, at: usize) -> &AtomicU32 {
            // SAFETY: an aligned atomic in the mapped region, used only atomically.
            unsafe { self.region.get_at::<AtomicU32>(at) }.expect("word")
        }
    }

    impl super::Waker for FutexWaker {
        fn signal(&mut self, round: u64) {
            let word = self.word(self.mine);
            word.store(round as u32, Ordering::Release);
            // SAFETY: FUTEX_WAKE on an aligned word of a live shared mapping.
            unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
        }

        fn wait(&mut self, round: u64) {
            let word = self.word(self.theirs);
            loop {
                let seen = word.load(Ordering::Acquire);
                // Caught up, or past it: a waiter the OS kept from running may find a later
                // round already signalled.
                if seen.wrapping_sub(round as u32) < u32::MAX / 2 {
                    return;
                }
                // SAFETY: FUTEX_WAIT on an aligned word of a live shared mapping, no timeout.
                unsafe {
                    libc::syscall(
                        libc::SYS_futex,
                        word.as_ptr(),
                        libc::FUTEX_WAIT,
                        seen,
                        std::ptr::null::<libc::timespec>(),
                    )
                };
            }
        }
    }
}

#[cfg(windows)]
mod win32 {
    //! The floor on Windows: a named auto-reset event per side, by the raw calls.

    use windows::Win32::Foundation::HANDLE;
    use windows::Win32::System::Threading::{CreateEventW, SetEvent, WaitForSingleObject};
    use windows::core::HSTRING;

    pub struct EventWaker {
        mine: HANDLE,
        theirs: HANDLE,
    }

    fn event(name: &str) -> HANDLE {
        // SAFETY: a named auto-reset event, created or opened; the handle lives as long as
        // the process (the bench's processes end with it).
        unsafe { CreateEventW(None, false, false, &HSTRING::from(name)) }.expect("CreateEventW")
    }

    impl EventWaker {
        pub fn new(name: &str, ping: bool) -> Self {
            let (ping_event, pong_event) = (
                event(&format!("{name}_ping")),
                event(&format!("{name}_pong")),
            );
            let (mine, theirs) = if ping {
                (ping_event, pong_event)
            } else {
                (pong_event, ping_event)
            };
            Self { mine, theirs }
        }
    }

    impl super::Waker for EventWaker {
        fn signal(&mut self, _round: u64) {
            // SAFETY: a live event handle of this process.
            unsafe { SetEvent(self.mine) }.expect("SetEvent");
        }

        fn wait(&mut self, _round: u64) {
            // SAFETY: a live event handle of this process. Bounded, as the crate's event
            // waker's wait: two sets before the wait count once.
            unsafe { WaitForSingleObject(self.theirs, 100) };
        }
    }
}

/// When the setter signalled, in nanoseconds since the Unix epoch (a clock every process
/// shares), in a region of its own beside the waker's objects.
fn sent_clock(name: &str, create: bool) -> SharedMemory<ReadWrite> {
    let name = format!("{name}_sent");
    if create {
        SharedMemory::create(name, 8).expect("create the clock")
    } else {
        SharedMemory::open_existing(name).expect("open the clock")
    }
}

fn sent(clock: &SharedMemory<ReadWrite>) -> &AtomicU64 {
    // SAFETY: an aligned atomic at the start of the mapped region, used only atomically.
    unsafe { clock.get_at::<AtomicU64>(0) }.expect("the clock")
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

/// The woken side: waits for each of `WAKE_ROUNDS` signals and answers the median and the
/// 99th percentile of the times from the signal to its waking, in nanoseconds.
fn answer(role: &str, name: &str) {
    let mut woken = waker(role, name, false);
    let clock = sent_clock(name, false);
    say("ready");
    let mut latencies = Vec::with_capacity(WAKE_ROUNDS as usize);
    for round in 1..=WAKE_ROUNDS {
        woken.wait(round);
        latencies.push(now_nanos().saturating_sub(sent(&clock).load(Ordering::Acquire)));
    }
    latencies.sort_unstable();
    let at = |share: f64| latencies[((latencies.len() - 1) as f64 * share) as usize];
    say(&format!("{} {}", at(0.5), at(0.99)));
}

/// Prints the wake-up latency table and its target line: a setter signals a process asleep in
/// its wait (`PAUSE` after the last signal) and the woken process times it.
fn wake_up_latency() {
    println!(
        "| wake-up latency: a signal to a process asleep in its wait, until it runs ({WAKE_ROUNDS} signals, {} ms apart) | median | 99th percentile | median vs the floor |",
        PAUSE.as_millis()
    );
    println!("|---|---|---|---|");
    let mut floor = None;
    for &(role, label) in WAKERS {
        let name = name(role);
        let mut setter = waker(role, &name, true);
        let clock = sent_clock(&name, true);
        let (mut child, mut stdout) = start(role, &[&name]);
        for round in 1..=WAKE_ROUNDS {
            std::thread::sleep(PAUSE);
            sent(&clock).store(now_nanos(), Ordering::Release);
            setter.signal(round);
        }
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        let _ = child.wait();
        let figures: Vec<f64> = line
            .split_whitespace()
            .map(|nanos| nanos.parse::<f64>().expect("nanoseconds") / 1e3)
            .collect();
        let (median, p99) = (figures[0], figures[1]);
        let floor = *floor.get_or_insert(median);
        println!(
            "| {label} | {median:.1} us | {p99:.1} us | {:.2}x |",
            median / floor
        );
        if role == "change" {
            // Woken by the writer as the raw primitive wakes, plus the checks around it.
            println!(
                "target change-wake-vs-floor {:.3} at-most 2.0",
                median / floor
            );
        }
    }
    println!();
}

/// Waits for `IDLE` for news that never comes, then prints "cpu SECONDS", the CPU time (user
/// and system) the wait used.
fn idle(kind: &str, name: &str) {
    say("ready");
    let started = Instant::now();
    // The process's start (heavy under Wine) is not the wait's.
    let before = cpu_seconds();
    match kind {
        "event" => {
            let event = NamedEvent::new(name, EventReset::Auto).expect("event");
            assert!(!event.wait_timeout(IDLE).expect("wait"));
        }
        "change" => {
            let region = SharedMemory::<ReadWrite>::open_existing(name).expect("open");
            let lock = region.seqlock_at::<u64>(0).expect("lock");
            assert_eq!(lock.wait_for_change(1, IDLE).expect("wait"), None);
        }
        "change-read-only" => {
            let region = SharedMemory::<ReadOnly>::open(name).expect("open");
            let lock = region.seqlock_at::<u64>(0).expect("lock");
            assert_eq!(lock.wait_for_change(1, IDLE).expect("wait"), None);
        }
        "follower" => {
            let mut follower = Follower::<u64>::seqlock(name).expect("follower");
            let mut events = Vec::new();
            while let Some(left) = IDLE.checked_sub(started.elapsed()) {
                match follower.next(left).expect("follow") {
                    Some(Followed::Live { .. }) => events.push("live"),
                    Some(Followed::Update(_)) => events.push("update"),
                    Some(other) => panic!("the publisher is live: {other:?}"),
                    None => {}
                }
            }
            assert_eq!(events, ["live", "update"]);
        }
        _ => {
            let region = SharedMemory::<ReadOnly>::open(name).expect("open");
            let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
            let waited = region.wait_for_versioned_change(versioning, 0, IDLE);
            assert_eq!(waited.expect("wait"), None);
        }
    }
    assert!(started.elapsed() >= IDLE);
    say(&format!("cpu {}", cpu_seconds() - before));
}

/// This process's CPU time so far, user and system, in seconds.
#[cfg(target_os = "linux")]
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    // SAFETY: filled by getrusage (or zeroed).
    let usage = unsafe { usage.assume_init() };
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 * 1e-6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Elsewhere (macOS) the bench does not measure it: NaN.
#[cfg(not(any(target_os = "linux", windows)))]
fn cpu_seconds() -> f64 {
    f64::NAN
}

#[cfg(windows)]
fn cpu_seconds() -> f64 {
    use windows::Win32::Foundation::FILETIME;
    use windows::Win32::System::Threading::{GetCurrentProcess, GetProcessTimes};
    let mut times = [FILETIME::default(); 4];
    let [created, exited, kernel, user] = &mut times;
    // SAFETY: the current process's pseudo-handle, and four FILETIMEs to fill.
    unsafe { GetProcessTimes(GetCurrentProcess(), created, exited, kernel, user) }
        .expect("GetProcessTimes");
    let seconds = |time: &FILETIME| {
        ((u64::from(time.dwHighDateTime) << 32) | u64::from(time.dwLowDateTime)) as f64 * 1e-7
    };
    seconds(kernel) + seconds(user)
}

/// Prints the idle waiters' CPU, measured at once (five processes, `IDLE` each).
fn idle_cpu() {
    let event = name("idle_event");
    let _event = NamedEvent::new(&event, EventReset::Auto).expect("event");
    let lock = name("idle_lock");
    let lock_region =
        SharedMemory::<ReadWrite>::create(&lock, size_of::<SeqLock<u64>>()).expect("lock");
    // Written once, as a publisher does before readers wait: its mark lets them register.
    lock_region
        .seqlock_at::<u64>(0)
        .expect("lock")
        .write(&0)
        .expect("write");
    // The publisher that the follower sees live, and quiet.
    let _role = lock_region.take_writer_role().expect("role");
    let versioned = name("idle_versioned");
    let _versioned = SharedMemory::<ReadWrite>::create(&versioned, 8).expect("versioned");
    let waiters: Vec<(&str, Child, BufReader<ChildStdout>)> = [
        ("event", &event, "`NamedEvent::wait_timeout`"),
        (
            "change",
            &lock,
            "`SeqLock::wait_for_change`, read-write handle",
        ),
        (
            "change-read-only",
            &lock,
            "`SeqLock::wait_for_change`, read-only handle",
        ),
        (
            "versioned",
            &versioned,
            "`wait_for_versioned_change` (a game's counters)",
        ),
        (
            "follower",
            &lock,
            "`Follower::next` of a live, quiet publisher (role checked every 16 ms)",
        ),
    ]
    .into_iter()
    .map(|(kind, name, label)| {
        let (child, stdout) = start("idle", &[kind, name]);
        (label, child, stdout)
    })
    .collect();
    println!(
        "| an idle waiter's CPU over {} s (getrusage / GetProcessTimes) | CPU time | share of a core |",
        IDLE.as_secs()
    );
    println!("|---|---|---|");
    let mut worst: f64 = 0.0;
    let mut measured = true;
    for (label, mut child, mut stdout) in waiters {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        let _ = child.wait();
        let cpu: f64 = line
            .trim()
            .strip_prefix("cpu ")
            .and_then(|cpu| cpu.parse().ok())
            .expect("the waiter's CPU");
        let share = 100.0 * cpu / IDLE.as_secs_f64();
        worst = worst.max(share);
        measured &= !share.is_nan();
        println!("| {label} | {:.1} ms | {share:.2}% |", cpu * 1e3);
    }
    if measured {
        println!("target idle-waiter-cpu_pct {worst:.3} at-most 1");
    }
    println!();
}

/// Waits for every change of the lock at the start of `name`, until killed.
fn follow(name: &str) {
    let region = SharedMemory::<ReadWrite>::open_existing(name).expect("open");
    let lock = region.seqlock_at::<[u64; 8]>(0).expect("lock");
    say("ready");
    let mut seen = lock.version();
    loop {
        if let Some(now) = lock
            .wait_for_change(seen, Duration::from_secs(1))
            .expect("wait")
        {
            seen = now;
        }
    }
}

/// A seqlock of 0.2's protocol by hand: compare-exchange to odd, data, release store to even,
/// and no waiting word: what `SeqLock::write` costs without waits.
#[repr(C)]
struct ExchangeSeqLock {
    sequence: AtomicU64,
    data: [AtomicU64; 8],
}

impl ExchangeSeqLock {
    fn write(&self, value: &[u64; 8], exchange: bool) {
        let start = self.sequence.load(Ordering::Relaxed);
        if exchange {
            let _ = self.sequence.compare_exchange(
                start,
                start + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            );
        } else {
            self.sequence.store(start + 1, Ordering::Relaxed);
        }
        fence(Ordering::Release);
        for (word, value) in self.data.iter().zip(value) {
            word.store(*value, Ordering::Relaxed);
        }
        self.sequence.store(start + 2, Ordering::Release);
    }
}

/// Nanoseconds per write of `write`, the median of `BATCHES` batches of `WRITES`.
fn time_writes(mut write: impl FnMut(u64)) -> f64 {
    let mut batches = Vec::new();
    let mut next = 0;
    for _ in 0..BATCHES {
        let started = Instant::now();
        for round in next..next + WRITES {
            write(round);
        }
        next += WRITES;
        batches.push(started.elapsed().as_secs_f64() * 1e9 / WRITES as f64);
    }
    median(batches)
}

/// The median time of one write of `lock`, `PACED_WRITES` writes 1 ms apart (waiting readers,
/// if any, are asleep again before each), in nanoseconds.
fn time_paced_writes(lock: &SeqLock<[u64; 8]>) -> f64 {
    let times = (0..PACED_WRITES)
        .map(|round| {
            std::thread::sleep(Duration::from_millis(1));
            let started = Instant::now();
            lock.write(&[round; 8]).expect("write");
            started.elapsed().as_secs_f64() * 1e9
        })
        .collect();
    median(times)
}

/// Prints what a 64-byte write costs with no reader waiting and with four waiting.
fn writer_cost() {
    let by_hand = ExchangeSeqLock {
        sequence: AtomicU64::new(0),
        data: Default::default(),
    };
    let name = name("writer");
    let region =
        SharedMemory::<ReadWrite>::create(&name, size_of::<SeqLock<[u64; 8]>>()).expect("create");
    let lock = region.seqlock_at::<[u64; 8]>(0).expect("lock");
    let minimal = time_writes(|round| by_hand.write(&[round; 8], false));
    let exchange = time_writes(|round| by_hand.write(&[round; 8], true));
    let alone = time_writes(|round| lock.write(&[round; 8]).expect("write"));
    let paced_alone = time_paced_writes(lock);
    let readers: Vec<_> = (0..WAITING_READERS)
        .map(|_| start("follow", &[&name]))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let watched = time_writes(|round| lock.write(&[round; 8]).expect("write"));
    let paced_watched = time_paced_writes(lock);
    for (mut child, _) in readers {
        let _ = child.kill();
        let _ = child.wait();
    }
    println!(
        "| a 64-byte write, in a loop (median of {BATCHES} x {WRITES}) | per write | vs no reader waiting |"
    );
    println!("|---|---|---|");
    for (label, nanos) in [
        (
            "minimal seqlock by hand (plain store to odd, word stores)",
            minimal,
        ),
        (
            "0.2's protocol by hand (compare-exchange to odd, word stores)",
            exchange,
        ),
        ("`SeqLock::write`, no reader waiting", alone),
        (
            "`SeqLock::write`, four reader processes waiting for each write",
            watched,
        ),
    ] {
        println!("| {label} | {nanos:.1} ns | {:.2}x |", nanos / alone);
    }
    println!();
    println!(
        "| a 64-byte `SeqLock::write` at 1 kHz (each write timed, median of {PACED_WRITES}) | per write |"
    );
    println!("|---|---|");
    println!("| no reader waiting | {paced_alone:.0} ns |");
    println!(
        "| four reader processes waiting for each write (each write wakes them) | {paced_watched:.0} ns |"
    );
    println!();
}
