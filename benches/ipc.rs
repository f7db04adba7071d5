//! Publishing a value in one process and seeing it in another: one-way latency as half a round
//! trip between two processes ping-ponging (pinned to different cores where the OS allows),
//! for 64 B and 4 KiB payloads; and the bandwidth of consistent 1 MiB snapshots against a
//! single-process memcpy. All in one run, so that the ratios hold on a noisy machine.
//!
//! `cargo bench --bench ipc` prints Markdown tables; `cargo xtask bench` collects them. The
//! benchmark runs itself again as the other process (`WSM_BENCH_ROLE`).

use std::hint::black_box;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use win_shared_memory::sync::{EventReset, NamedEvent, NamedMutex, SeqLock};
use win_shared_memory::zerocopy::IntoBytes;
use win_shared_memory::{ReadWrite, SharedMemory, SharedMemoryLink};

/// Round trips in a batch, and batches; the median batch is reported.
const ROUNDS: u64 = 5_000;
const BATCHES: usize = 5;

/// The payloads, in 8-byte words: 64 B and 4 KiB.
const PAYLOADS: [usize; 2] = [8, 512];

/// The environment variable that makes this binary the answering process.
const ROLE: &str = "WSM_BENCH_ROLE";

/// The transports, each answered by a child in the role of the same name.
const TRANSPORTS: [&str; 6] = ["atomic", "seqlock", "mutex", "event", "pipe", "socket"];

/// `NamedMutex` against a bare futex and a robust pthread mutex.
#[cfg(target_os = "linux")]
#[path = "ipc/locks.rs"]
mod locks;

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        pin_to_core(1);
        let args: Vec<String> = std::env::args().skip(1).collect();
        match role.as_str() {
            "publish-mib" => publish_mib(&args[0]),
            #[cfg(target_os = "linux")]
            locks::ROLE => locks::hammer(&args[0], &args[1], || {
                let mut stdout = std::io::stdout();
                stdout
                    .write_all(b"r")
                    .and_then(|()| stdout.flush())
                    .expect("ready");
            }),
            role => answer(role, &args[0], args[1].parse().expect("payload words")),
        }
        return;
    }
    pin_to_core(0);
    // `cargo bench --bench ipc -- locks`: the lock table alone.
    #[cfg(target_os = "linux")]
    if std::env::args().any(|arg| arg == "locks") {
        locks::table(|args| start_role(args[0], &args[1..]));
        return;
    }
    latency_table();
    bandwidth_table();
    #[cfg(target_os = "linux")]
    locks::table(|args| start_role(args[0], &args[1..]));
}

// ---------------------------------------------------------------------------------------------
// One-way latency.

fn latency_table() {
    println!(
        "| one-way latency (half a round trip), median of {BATCHES} x {ROUNDS} | 64 B | 4 KiB | 64 B vs atomic floor |"
    );
    println!("|---|---|---|---|");
    let mut floor = None;
    for transport in TRANSPORTS {
        if transport == "socket" && !cfg!(unix) {
            continue;
        }
        let latencies: Vec<Duration> = PAYLOADS
            .iter()
            .map(|&words| measure(transport, words))
            .collect();
        let floor = *floor.get_or_insert(latencies[0]);
        println!(
            "| {} | {:.2?} | {:.2?} | {:.2}x |",
            describe(transport),
            latencies[0],
            latencies[1],
            latencies[0].as_secs_f64() / floor.as_secs_f64()
        );
    }
    if let Some(row) = iceoryx2_row(floor.unwrap_or(Duration::from_nanos(1))) {
        println!("{row}");
    }
}

/// The iceoryx2 contender's row: `cargo xtask bench` builds it apart (benches/peers/iceoryx2,
/// so that the crate's own builds do not compile iceoryx2) and names it in `WSM_BENCH_ICEORYX2`.
fn iceoryx2_row(floor: Duration) -> Option<String> {
    let program = std::env::var_os("WSM_BENCH_ICEORYX2")?;
    let output = Command::new(program)
        .output()
        .expect("run the iceoryx2 contender");
    assert!(
        output.status.success(),
        "the iceoryx2 contender failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let nanos: Vec<u64> = text
        .split_whitespace()
        .map(|number| number.parse().expect("nanoseconds"))
        .collect();
    let [small, large] = nanos[..] else {
        panic!("the iceoryx2 contender printed {text:?}")
    };
    let (small, large) = (Duration::from_nanos(small), Duration::from_nanos(large));
    Some(format!(
        "| iceoryx2 0.10 publish-subscribe | {small:.2?} | {large:.2?} | {:.2}x |",
        small.as_secs_f64() / floor.as_secs_f64()
    ))
}

fn describe(transport: &str) -> &'static str {
    match transport {
        "atomic" => "floor: one atomic in shared memory (payload not copied)",
        "seqlock" => "SeqLock (this crate)",
        "mutex" => "NamedMutex-protected copy (this crate)",
        "event" => "NamedEvent wake-up + copy (this crate)",
        "pipe" => "pipe",
        _ => "Unix socket",
    }
}

/// Half the median round trip through `transport` with a payload of `words` words.
fn measure(transport: &str, words: usize) -> Duration {
    let name = format!("Local\\wsm_ipc_{}_{transport}_{words}", std::process::id());
    let mut pinger = Pinger::new(transport, &name, words);
    let mut round = 0;
    let mut batches: Vec<Duration> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ROUNDS {
                round += 1;
                pinger.round_trip(round);
            }
            start.elapsed() / (2 * ROUNDS as u32)
        })
        .collect();
    pinger.finish();
    batches.sort();
    batches[BATCHES / 2]
}

/// The shared layout of the region transports: the ping and the pong, each a round number
/// and a payload.
struct Slots {
    words: usize,
}

impl Slots {
    fn len(&self) -> usize {
        2 * 8 * (1 + self.words)
    }

    fn ping(&self) -> usize {
        0
    }

    fn pong(&self) -> usize {
        8 * (1 + self.words)
    }
}

/// The measuring side of one transport.
struct Pinger {
    transport: Transport,
    child: Child,
    payload: Vec<u64>,
}

#[allow(clippy::large_enum_variant, reason = "one transport per measurement")]
enum Transport {
    Atomic(SharedMemory<ReadWrite>),
    /// The 64 B and the 4 KiB payloads, each as a pair of SeqLocks of its size.
    SeqLockSmall(Pair<8>),
    SeqLockLarge(Pair<512>),
    Mutex(SharedMemory<ReadWrite>, NamedMutex, Slots),
    Event(SharedMemory<ReadWrite>, NamedEvent, NamedEvent, Slots),
    Pipe,
    #[cfg(unix)]
    Socket(std::os::unix::net::UnixStream),
}

impl Pinger {
    fn new(transport: &str, name: &str, words: usize) -> Self {
        let slots = Slots { words };
        let region = |len| SharedMemory::<ReadWrite>::create(name, len).expect("create");
        let (transport, listener): (Transport, Option<Listener>) = match transport {
            "atomic" => (Transport::Atomic(region(16)), None),
            "seqlock" => (
                if words == 8 {
                    Transport::SeqLockSmall(SharedMemoryLink::create(name).expect("create"))
                } else {
                    Transport::SeqLockLarge(SharedMemoryLink::create(name).expect("create"))
                },
                None,
            ),
            "mutex" => {
                let mutex = NamedMutex::new(format!("{name}_mutex")).expect("mutex");
                (Transport::Mutex(region(slots.len()), mutex, slots), None)
            }
            "event" => {
                let ping =
                    NamedEvent::new(format!("{name}_ping"), EventReset::Auto).expect("event");
                let pong =
                    NamedEvent::new(format!("{name}_pong"), EventReset::Auto).expect("event");
                (
                    Transport::Event(region(slots.len()), ping, pong, slots),
                    None,
                )
            }
            #[cfg(unix)]
            "socket" => (Transport::Pipe, Some(socket_listener(name))),
            _ => (Transport::Pipe, None),
        };
        let role = if listener.is_some() {
            "socket"
        } else {
            transport_role(&transport)
        };
        let child = start_role(role, &[name, &words.to_string()]);
        #[cfg(unix)]
        let transport = match listener {
            Some(listener) => Transport::Socket(listener.accept().expect("accept").0),
            None => transport,
        };
        Self {
            transport,
            child,
            payload: vec![0; words],
        }
    }

    /// Sends round `round` and waits for its answer.
    fn round_trip(&mut self, round: u64) {
        self.payload[0] = round;
        match &mut self.transport {
            Transport::Atomic(region) => {
                let (ping, pong) = atomics(region);
                ping.store(round, Ordering::Release);
                while pong.load(Ordering::Acquire) != round {
                    std::hint::spin_loop();
                }
            }
            Transport::SeqLockSmall(link) => seqlock_round_trip(link, round),
            Transport::SeqLockLarge(link) => seqlock_round_trip(link, round),
            Transport::Mutex(region, mutex, slots) => {
                {
                    let _guard = mutex.lock().expect("lock");
                    region.write_at(slots.ping(), &round).expect("write");
                    region
                        .write_at(slots.ping() + 8, self.payload.as_slice().as_bytes())
                        .expect("write");
                }
                loop {
                    let _guard = mutex.lock().expect("lock");
                    if region.read_at::<u64>(slots.pong()).expect("read") == round {
                        break;
                    }
                }
            }
            Transport::Event(region, ping, pong, slots) => {
                region
                    .write_at(slots.ping() + 8, self.payload.as_slice().as_bytes())
                    .expect("write");
                region.write_at(slots.ping(), &round).expect("write");
                ping.set().expect("set");
                while region.read_at::<u64>(slots.pong()).expect("read") != round {
                    pong.wait().expect("wait");
                }
            }
            Transport::Pipe => {
                let bytes = self.payload.as_slice().as_bytes();
                let child = &mut self.child;
                child
                    .stdin
                    .as_mut()
                    .expect("piped")
                    .write_all(bytes)
                    .expect("write");
                let mut back = vec![0_u8; bytes.len()];
                child
                    .stdout
                    .as_mut()
                    .expect("piped")
                    .read_exact(&mut back)
                    .expect("read");
                black_box(&back);
            }
            #[cfg(unix)]
            Transport::Socket(stream) => {
                let bytes = self.payload.as_slice().as_bytes();
                stream.write_all(bytes).expect("write");
                let mut back = vec![0_u8; bytes.len()];
                stream.read_exact(&mut back).expect("read");
                black_box(&back);
            }
        }
    }

    fn finish(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn transport_role(transport: &Transport) -> &'static str {
    match transport {
        Transport::Atomic(_) => "atomic",
        Transport::SeqLockSmall(_) | Transport::SeqLockLarge(_) => "seqlock",
        Transport::Mutex(..) => "mutex",
        Transport::Event(..) => "event",
        Transport::Pipe => "pipe",
        #[cfg(unix)]
        Transport::Socket(_) => "socket",
    }
}

#[cfg(unix)]
fn socket_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(name.replace('\\', "_"))
}

#[cfg(unix)]
fn socket_listener(name: &str) -> std::os::unix::net::UnixListener {
    let path = socket_path(name);
    let _ = std::fs::remove_file(&path);
    std::os::unix::net::UnixListener::bind(path).expect("bind")
}

/// What the socket transport listens on; nothing where there are no Unix sockets.
#[cfg(unix)]
type Listener = std::os::unix::net::UnixListener;
#[cfg(not(unix))]
type Listener = std::convert::Infallible;

/// The ping and pong atomics at the start of a region.
fn atomics(region: &SharedMemory<ReadWrite>) -> (&AtomicU64, &AtomicU64) {
    // SAFETY: two atomics, valid for any bytes, only ever accessed atomically.
    unsafe {
        (
            region.get_at::<AtomicU64>(0).expect("ping"),
            region.get_at::<AtomicU64>(8).expect("pong"),
        )
    }
}

/// The ping and the pong of the seqlock transport, for a payload of `N` words.
type Pair<const N: usize> = SharedMemoryLink<[SeqLock<[u64; N]>; 2], ReadWrite>;

fn seqlock_pair<const N: usize>(link: &Pair<N>) -> [&SeqLock<[u64; N]>; 2] {
    // SAFETY: SeqLocks are valid for any bytes and only ever accessed atomically.
    let pair = unsafe { link.get() };
    [&pair[0], &pair[1]]
}

/// Publishes round `round` and spins until the answer is published back.
fn seqlock_round_trip<const N: usize>(link: &Pair<N>, round: u64) {
    let [ping, pong] = seqlock_pair(link);
    let seen = pong.version();
    ping.write(&[round; N]).expect("write");
    // Poll the version (one cache line), and copy once it moved.
    while pong.version() == seen {
        std::hint::spin_loop();
    }
    assert_eq!(
        pong.read().expect("read")[0],
        round,
        "the answer to this round"
    );
}

/// Answers each new value of the ping with the same value on the pong.
fn seqlock_answer<const N: usize>(name: &str, ready: impl FnOnce()) -> ! {
    let link = Pair::<N>::open_existing(name).expect("open");
    let [ping, pong] = seqlock_pair(&link);
    ready();
    let mut seen = ping.version();
    loop {
        if ping.version() != seen {
            seen = ping.version();
            pong.write(&ping.read().expect("read")).expect("write");
        }
        std::hint::spin_loop();
    }
}

// ---------------------------------------------------------------------------------------------
// The answering process.

/// Copies a new ping's payload and round into the pong, in a region's slots.
struct Echo {
    last: u64,
    payload: Vec<u64>,
}

impl Echo {
    fn new(words: usize) -> Self {
        Self {
            last: 0,
            payload: vec![0; words],
        }
    }

    /// Answers the ping if it is new; whether it was.
    fn answer(&mut self, region: &mut SharedMemory<ReadWrite>, slots: &Slots) -> bool {
        let round = region.read_at::<u64>(slots.ping()).expect("read");
        if round == self.last {
            return false;
        }
        for (index, word) in self.payload.iter_mut().enumerate() {
            *word = region.read_at(slots.ping() + 8 + 8 * index).expect("read");
        }
        region
            .write_at(slots.pong() + 8, self.payload.as_slice().as_bytes())
            .expect("write");
        region.write_at(slots.pong(), &round).expect("write");
        self.last = round;
        true
    }
}

/// Answers round trips in `role` until the measuring process goes away.
fn answer(role: &str, name: &str, words: usize) {
    let slots = Slots { words };
    let mut stdout = std::io::stdout();
    let ready = |stdout: &mut std::io::Stdout| {
        stdout
            .write_all(b"r")
            .and_then(|()| stdout.flush())
            .expect("ready");
    };
    match role {
        "atomic" => {
            let region = SharedMemory::<ReadWrite>::open_existing(name).expect("open");
            let (ping, pong) = atomics(&region);
            ready(&mut stdout);
            let mut last = 0;
            loop {
                let round = ping.load(Ordering::Acquire);
                if round != last {
                    pong.store(round, Ordering::Release);
                    last = round;
                }
                std::hint::spin_loop();
            }
        }
        "seqlock" if words == 8 => seqlock_answer::<8>(name, || ready(&mut stdout)),
        "seqlock" => seqlock_answer::<512>(name, || ready(&mut stdout)),
        "mutex" => {
            let mut region = SharedMemory::<ReadWrite>::open_existing(name).expect("open");
            let mutex = NamedMutex::new(format!("{name}_mutex")).expect("mutex");
            ready(&mut stdout);
            let mut echo = Echo::new(words);
            loop {
                let _guard = mutex.lock().expect("lock");
                echo.answer(&mut region, &slots);
            }
        }
        "event" => {
            let mut region = SharedMemory::<ReadWrite>::open_existing(name).expect("open");
            let ping = NamedEvent::new(format!("{name}_ping"), EventReset::Auto).expect("event");
            let pong = NamedEvent::new(format!("{name}_pong"), EventReset::Auto).expect("event");
            ready(&mut stdout);
            let mut echo = Echo::new(words);
            loop {
                ping.wait().expect("wait");
                if echo.answer(&mut region, &slots) {
                    pong.set().expect("set");
                }
            }
        }
        "pipe" => {
            ready(&mut stdout);
            let mut stdin = std::io::stdin().lock();
            let mut buffer = vec![0_u8; 8 * words];
            while stdin.read_exact(&mut buffer).is_ok() {
                stdout
                    .write_all(&buffer)
                    .and_then(|()| stdout.flush())
                    .expect("write");
            }
        }
        #[cfg(unix)]
        "socket" => {
            let mut stream =
                std::os::unix::net::UnixStream::connect(socket_path(name)).expect("connect");
            ready(&mut stdout);
            let mut buffer = vec![0_u8; 8 * words];
            while stream.read_exact(&mut buffer).is_ok() {
                stream.write_all(&buffer).expect("write");
            }
        }
        _ => panic!("unknown role {role}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Bandwidth.

const MIB_WORDS: usize = (1 << 20) / 8;
const SNAPSHOTS: u32 = 2_000;

/// Consistent 1 MiB snapshots copied out across processes while another process publishes,
/// against a single-process memcpy of the same size.
fn bandwidth_table() {
    let name = format!("Local\\wsm_ipc_{}_bandwidth", std::process::id());
    let link =
        SharedMemoryLink::<SeqLock<[u64; MIB_WORDS]>, ReadWrite>::create(&name).expect("create");
    // The copy alone first, with no writer: a publisher killed later may die mid-write.
    let mut snapshot = Box::new([0_u64; MIB_WORDS]);
    let mut copies = || {
        let started = Instant::now();
        for _ in 0..SNAPSHOTS {
            link.seqlock()
                .read_into(&mut snapshot, Duration::from_secs(10))
                .expect("a snapshot");
            black_box(&snapshot);
        }
        started.elapsed() / SNAPSHOTS
    };
    let quiet = copies();

    let mut publisher = start_role("publish-mib", &[name.as_str(), "0"]);
    let seqlock = copies();
    let _ = publisher.kill();
    let _ = publisher.wait();

    let source = vec![1_u64; MIB_WORDS];
    let mut target = vec![0_u64; MIB_WORDS];
    let started = Instant::now();
    for _ in 0..SNAPSHOTS {
        target.copy_from_slice(black_box(&source));
        black_box(&target);
    }
    let memcpy = started.elapsed() / SNAPSHOTS;
    let rate = |time: Duration| (1 << 20) as f64 / time.as_secs_f64() / f64::from(1 << 30);
    println!();
    println!("| 1 MiB, mean of {SNAPSHOTS} copies | time | GiB/s | vs memcpy |");
    println!("|---|---|---|---|");
    println!(
        "| SeqLock snapshot across processes, writer publishing every ms | {seqlock:.2?} | {:.2} | {:.2}x |",
        rate(seqlock),
        rate(seqlock) / rate(memcpy)
    );
    println!(
        "| SeqLock snapshot, no writer | {quiet:.2?} | {:.2} | {:.2}x |",
        rate(quiet),
        rate(quiet) / rate(memcpy)
    );
    println!(
        "| memcpy in one process | {memcpy:.2?} | {:.2} | 1.00x |",
        rate(memcpy)
    );
}

/// The bandwidth run's publisher: a new 1 MiB value every millisecond.
fn publish_mib(name: &str) {
    let link = SharedMemoryLink::<SeqLock<[u64; MIB_WORDS]>, ReadWrite>::open_existing(name)
        .expect("open");
    let mut value = Box::new([0_u64; MIB_WORDS]);
    let mut stdout = std::io::stdout();
    stdout
        .write_all(b"r")
        .and_then(|()| stdout.flush())
        .expect("ready");
    for round in 1.. {
        value.fill(round);
        link.seqlock().write(&value).expect("write");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts this binary as the other process in `role` and waits until it says it is ready.
fn start_role(role: &str, args: &[&str]) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("the bench's path"))
        .env(ROLE, role)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the other process");
    let mut ready = [0_u8; 1];
    child
        .stdout
        .as_mut()
        .expect("piped")
        .read_exact(&mut ready)
        .expect("the other process is ready");
    child
}

/// Pins this process to `core`, where the OS allows (Linux); elsewhere the scheduler decides.
#[cfg(target_os = "linux")]
fn pin_to_core(core: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; the call reads it and affects this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to_core(_core: usize) {}
