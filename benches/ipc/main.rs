//! Publishing a value in one process and seeing it in another: one-way latency as half a round
//! trip between two processes ping-ponging (pinned to different cores where the OS allows),
//! for 64 B and 4 KiB payloads; and the bandwidth of consistent 1 MiB snapshots against a
//! single-process memcpy. All in one run, so that the ratios hold on a noisy machine; the
//! contenders of each target are measured interleaved, batch by batch (on Linux the idle
//! contenders' processes are stopped meanwhile, so that they do not take the other core).
//!
//! `cargo bench --bench ipc` prints Markdown tables and, for `cargo xtask bench`, one
//! `target <name> <ratio> <at-most|at-least> <bound>` line per target. The benchmark runs
//! itself again as the other process (`WSM_BENCH_ROLE`).

use std::hint::black_box;
use std::io::{Read, Write};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use win_shared_memory::sync::{EventReset, NamedEvent, NamedMutex, SeqLock};
use win_shared_memory::zerocopy::IntoBytes;
use win_shared_memory::{ReadWrite, SharedMemory, SharedMemoryLink};

use processes::{pause, pin_to_core, resume, start_role};

/// Round trips in a batch, and batches; the median batch is reported.
const ROUNDS: u64 = 5_000;
const BATCHES: usize = 5;

/// The payloads, in 8-byte words: 64 B and 4 KiB.
const PAYLOADS: [usize; 2] = [8, 512];

/// The transports, each answered by a child in the role of the same name; the first three are
/// measured interleaved, as the SeqLock targets compare them.
const TRANSPORTS: [&str; 7] = [
    "atomic", "minimal", "seqlock", "mutex", "event", "pipe", "socket",
];
const INTERLEAVED: usize = 3;

/// The interleaved contenders run more, shorter batches: a batch that a busy neighbour hits
/// then moves the median less.
const INTERLEAVED_BATCHES: usize = 21;
const INTERLEAVED_ROUNDS: u64 = 2_000;

/// The SeqLock latency targets: at most this many times the minimal seqlock, per payload.
const SEQLOCK_TARGETS: [f64; 2] = [1.15, 1.10];

/// The bandwidth of 1 MiB snapshots.
mod bandwidth;
/// `NamedMutex` against a bare futex and a robust pthread mutex.
#[cfg(target_os = "linux")]
mod locks;
/// Starting, stopping and pinning the other processes.
mod processes;

fn main() {
    if let Ok(role) = std::env::var(processes::ROLE) {
        pin_to_core(1);
        let args: Vec<String> = std::env::args().skip(1).collect();
        match role.as_str() {
            bandwidth::SEQLOCK_PUBLISHER => bandwidth::publish_seqlock(&args[0]),
            bandwidth::DOUBLE_BUFFER_PUBLISHER => bandwidth::publish_double_buffer(&args[0]),
            #[cfg(target_os = "linux")]
            locks::ROLE => locks::hammer(&args[0], &args[1], processes::say_ready),
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
    bandwidth::table();
    #[cfg(target_os = "linux")]
    locks::table(|args| start_role(args[0], &args[1..]));
}

// ---------------------------------------------------------------------------------------------
// One-way latency.

fn latency_table() {
    println!(
        "| one-way latency (half a round trip), median batch (the first three: {INTERLEAVED_BATCHES} x {INTERLEAVED_ROUNDS}, interleaved; the others {BATCHES} x {ROUNDS}) | 64 B | 4 KiB | 64 B vs atomic floor |"
    );
    println!("|---|---|---|---|");
    let interleaved: Vec<Vec<Duration>> = PAYLOADS
        .iter()
        .map(|&words| measure_interleaved(&TRANSPORTS[..INTERLEAVED], words))
        .collect();
    let floor = interleaved[0][0];
    let mut targets = Vec::new();
    for (index, transport) in TRANSPORTS.iter().enumerate() {
        if *transport == "socket" && !cfg!(unix) {
            continue;
        }
        let latencies: Vec<Duration> = if index < INTERLEAVED {
            interleaved.iter().map(|payload| payload[index]).collect()
        } else {
            PAYLOADS
                .iter()
                .map(|&words| measure(transport, words))
                .collect()
        };
        println!(
            "| {} | {:.2?} | {:.2?} | {:.2}x |",
            describe(transport),
            latencies[0],
            latencies[1],
            latencies[0].as_secs_f64() / floor.as_secs_f64()
        );
    }
    if let Some(row) = iceoryx2_row(floor) {
        println!("{row}");
    }
    println!();
    println!(
        "| SeqLock latency target (interleaved in this run) | SeqLock / minimal seqlock | target | minimal / atomic floor |"
    );
    println!("|---|---|---|---|");
    for ((payload, times), limit) in ["64 B", "4 KiB"]
        .iter()
        .zip(&interleaved)
        .zip(SEQLOCK_TARGETS)
    {
        let ratio = times[2].as_secs_f64() / times[1].as_secs_f64();
        println!(
            "| {payload} | {ratio:.2}x | at most {limit:.2}x | {:.2}x |",
            times[1].as_secs_f64() / times[0].as_secs_f64()
        );
        targets.push((
            format!("seqlock-latency-{}", payload.replace(' ', "")),
            ratio,
            limit,
        ));
    }
    for (name, ratio, limit) in targets {
        println!("target {name} {ratio:.4} at-most {limit}");
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
        "minimal" => "minimal seqlock, hand-written (single writer, relaxed word copies)",
        "seqlock" => "SeqLock (this crate)",
        "mutex" => "NamedMutex-protected copy (this crate)",
        "event" => "NamedEvent wake-up + copy (this crate)",
        "pipe" => "pipe",
        _ => "Unix socket",
    }
}

/// Half the median round trip through each of `transports` with a payload of `words` words,
/// batch by batch in turn, so that a noisy moment hurts them all alike.
fn measure_interleaved(transports: &[&str], words: usize) -> Vec<Duration> {
    let mut pingers: Vec<Pinger> = transports
        .iter()
        .map(|transport| {
            let name = format!("Local\\wsm_ipc_{}_{transport}_{words}", std::process::id());
            let pinger = Pinger::new(transport, &name, words);
            pinger.pause();
            pinger
        })
        .collect();
    let mut round = 0;
    let mut batches = vec![Vec::new(); pingers.len()];
    for batch in 0..INTERLEAVED_BATCHES {
        // Each batch starts with the next contender, so that none always follows the same one.
        let mut turns: Vec<_> = pingers.iter_mut().zip(&mut batches).collect();
        turns.rotate_left(batch % transports.len());
        for (pinger, batches) in turns {
            pinger.resume();
            for _ in 0..INTERLEAVED_ROUNDS / 10 {
                round += 1;
                pinger.round_trip(round);
            }
            let start = Instant::now();
            for _ in 0..INTERLEAVED_ROUNDS {
                round += 1;
                pinger.round_trip(round);
            }
            batches.push(start.elapsed() / (2 * INTERLEAVED_ROUNDS as u32));
            pinger.pause();
        }
    }
    pingers.into_iter().for_each(|pinger| {
        pinger.resume();
        pinger.finish();
    });
    batches
        .into_iter()
        .map(|mut batches| {
            batches.sort();
            batches[INTERLEAVED_BATCHES / 2]
        })
        .collect()
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
    /// The 64 B and the 4 KiB payloads, each as a pair of SeqLocks of its size, and the
    /// private buffers a round copies from and into.
    SeqLockSmall(Pair<SeqLock<[u64; 8]>>, Buffers<8>),
    SeqLockLarge(Pair<SeqLock<[u64; 512]>>, Buffers<512>),
    /// The same with the minimal seqlock.
    MinimalSmall(Pair<Minimal<8>>, Buffers<8>),
    MinimalLarge(Pair<Minimal<512>>, Buffers<512>),
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
            "seqlock" if words == 8 => (Transport::SeqLockSmall(pair(name), Buffers::new()), None),
            "seqlock" => (Transport::SeqLockLarge(pair(name), Buffers::new()), None),
            "minimal" if words == 8 => (Transport::MinimalSmall(pair(name), Buffers::new()), None),
            "minimal" => (Transport::MinimalLarge(pair(name), Buffers::new()), None),
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
            Transport::SeqLockSmall(link, buffers) => lock_round_trip(link, buffers, round),
            Transport::SeqLockLarge(link, buffers) => lock_round_trip(link, buffers, round),
            Transport::MinimalSmall(link, buffers) => lock_round_trip(link, buffers, round),
            Transport::MinimalLarge(link, buffers) => lock_round_trip(link, buffers, round),
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

    /// Stops the answering process while other contenders are measured, so that its spinning
    /// does not take the core theirs need.
    fn pause(&self) {
        pause(&self.child);
    }

    fn resume(&self) {
        resume(&self.child);
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
        Transport::SeqLockSmall(..) | Transport::SeqLockLarge(..) => "seqlock",
        Transport::MinimalSmall(..) | Transport::MinimalLarge(..) => "minimal",
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

/// A ping and a pong slot of the seqlock transports.
type Pair<L> = SharedMemoryLink<[L; 2], ReadWrite>;

fn pair<L>(name: &str) -> Pair<L> {
    SharedMemoryLink::create(name).expect("create")
}

/// The private buffers of a round: the value sent and the answer copied back.
struct Buffers<const N: usize> {
    out: Box<[u64; N]>,
    back: Box<[u64; N]>,
}

impl<const N: usize> Buffers<N> {
    fn new() -> Self {
        Self {
            out: Box::new([0; N]),
            back: Box::new([0; N]),
        }
    }
}

/// What the round trip needs of a seqlock: this crate's, or the minimal one.
trait Lock<const N: usize> {
    fn version(&self) -> u64;
    fn publish(&self, value: &[u64; N]);
    fn copy_into(&self, target: &mut [u64; N]);
}

impl<const N: usize> Lock<N> for SeqLock<[u64; N]> {
    fn version(&self) -> u64 {
        SeqLock::version(self)
    }

    fn publish(&self, value: &[u64; N]) {
        self.write(value).expect("write");
    }

    fn copy_into(&self, target: &mut [u64; N]) {
        self.read_into(target, Duration::from_secs(1))
            .expect("read");
    }
}

/// The least a seqlock between processes does, by hand: one writer (no compare-exchange), no
/// patience (no clock), relaxed word-sized atomics for the data. Its layout is `SeqLock`'s.
#[repr(C)]
struct Minimal<const N: usize> {
    sequence: AtomicU64,
    data: [AtomicU64; N],
}

impl<const N: usize> Lock<N> for Minimal<N> {
    fn version(&self) -> u64 {
        self.sequence.load(Ordering::Relaxed) / 2
    }

    fn publish(&self, value: &[u64; N]) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(sequence + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (word, value) in self.data.iter().zip(value) {
            word.store(*value, Ordering::Relaxed);
        }
        self.sequence.store(sequence + 2, Ordering::Release);
    }

    fn copy_into(&self, target: &mut [u64; N]) {
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            if before % 2 == 0 {
                for (target, word) in target.iter_mut().zip(&self.data) {
                    *target = word.load(Ordering::Relaxed);
                }
                fence(Ordering::Acquire);
                if self.sequence.load(Ordering::Relaxed) == before {
                    return;
                }
            }
            std::hint::spin_loop();
        }
    }
}

fn lock_pair<L>(link: &Pair<L>) -> [&L; 2] {
    // SAFETY: both kinds of lock are valid for any bytes and only ever accessed atomically (or
    // through the crate's copy).
    let pair = unsafe { link.get() };
    [&pair[0], &pair[1]]
}

/// Publishes round `round` and spins until the answer is published back.
fn lock_round_trip<const N: usize, L: Lock<N>>(
    link: &Pair<L>,
    buffers: &mut Buffers<N>,
    round: u64,
) {
    let [ping, pong] = lock_pair(link);
    let seen = pong.version();
    buffers.out[0] = round;
    ping.publish(&buffers.out);
    // Poll the version (one cache line), and copy once it moved.
    while pong.version() == seen {
        std::hint::spin_loop();
    }
    pong.copy_into(&mut buffers.back);
    assert_eq!(buffers.back[0], round, "the answer to this round");
}

/// Answers each new value of the ping with the same value on the pong.
fn lock_answer<const N: usize, L: Lock<N>>(name: &str, ready: impl FnOnce()) -> ! {
    let link = Pair::<L>::open_existing(name).expect("open");
    let [ping, pong] = lock_pair(&link);
    let mut value = Box::new([0; N]);
    ready();
    let mut seen = ping.version();
    loop {
        let version = ping.version();
        if version != seen {
            seen = version;
            ping.copy_into(&mut value);
            pong.publish(&value);
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
        "seqlock" if words == 8 => lock_answer::<8, SeqLock<[u64; 8]>>(name, || ready(&mut stdout)),
        "seqlock" => lock_answer::<512, SeqLock<[u64; 512]>>(name, || ready(&mut stdout)),
        "minimal" if words == 8 => lock_answer::<8, Minimal<8>>(name, || ready(&mut stdout)),
        "minimal" => lock_answer::<512, Minimal<512>>(name, || ready(&mut stdout)),
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
