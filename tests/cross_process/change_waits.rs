//! Waits for new data behave the same on every backend (native Linux, the portable backend,
//! Windows under Wine): `wait_for_change` on a `SeqLock` or a `DoubleBuffer` (read-write and
//! read-only handles) and `wait_for_versioned_change` on a region that versions itself as games
//! do return once a write completed since the version the reader passes, never sleep through
//! one, end at their timeout when nothing changes, report a writer that died mid-write, and
//! still see writers that wake nobody.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libtest_mimic::Failed;
use win_shared_memory::sync::{DoubleBuffer, SeqLock, SeqLockError};
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryLink};

use crate::harness::{
    Outcome, Peer, RFACTOR2, RoleResult, answers, expect_eq, spawn_child, unique_name,
};

tests! {
    every_reader_follows_a_1khz_writer_and_counts_what_it_skipped,
    a_change_made_before_the_wait_returns_at_once,
    sleeping_readers_wake_for_one_write,
    a_wait_without_a_change_ends_at_its_timeout,
    a_writer_that_wakes_nobody_is_still_seen,
    waiting_readers_never_disturb_a_0_2_writer,
    a_writer_dead_mid_write_is_reported_stalled,
    a_reader_killed_mid_wait_costs_writers_one_wake_at_most,
    #[cfg(wsm_holder_locks)]
    a_read_only_reader_registers_through_a_writable_view,
    #[cfg(wsm_holder_locks)]
    a_reader_that_may_not_write_the_region_polls,
}

roles! {
    "follow-changes" => follow_changes,
    "wait-change" => wait_change,
}

/// What the tests publish: the write's number in the first seven words (a torn copy shows as
/// words that differ), and when it was written, in microseconds since the Unix epoch.
type Value = [u64; 8];

/// Every way to wait for a change, by the name the children get.
const KINDS: [&str; 5] = [
    "seqlock",
    "seqlock-read-only",
    "double-buffer",
    "double-buffer-read-only",
    "versioned",
];

/// The versioned layout: rFactor 2's begin and end counters, then the value.
const VERSIONED_DATA: usize = 8;

/// Writes the 1 kHz writer makes.
const WRITES: u64 = 1000;
/// Readers of each kind that follow it.
const FOLLOWERS: usize = 3;
/// How long a reader waits at most for a change that must come.
const PATIENCE: Duration = Duration::from_secs(20);
/// How long a test lets its waiters fall asleep before it writes.
const FALL_ASLEEP: Duration = Duration::from_millis(400);

/// The publishing side of each kind, in the test process.
enum Publisher {
    SeqLock(SharedMemoryLink<SeqLock<Value>, ReadWrite>),
    DoubleBuffer(SharedMemoryLink<DoubleBuffer<Value>, ReadWrite>),
    Versioned(SharedMemory<ReadWrite>),
}

impl Publisher {
    fn create(name: &str, kind: &str) -> Result<Self, Failed> {
        Ok(match kind {
            "seqlock" | "seqlock-read-only" => Self::SeqLock(SharedMemoryLink::create(name)?),
            "double-buffer" | "double-buffer-read-only" => {
                Self::DoubleBuffer(SharedMemoryLink::create(name)?)
            }
            _ => Self::Versioned(SharedMemory::create(
                name,
                VERSIONED_DATA + size_of::<Value>(),
            )?),
        })
    }

    /// Publishes write number `number`, stamped with the time.
    fn write(&mut self, number: u64) -> Outcome {
        let mut value = [number; 8];
        value[7] = now_micros();
        match self {
            Self::SeqLock(link) => link.seqlock().write(&value)?,
            Self::DoubleBuffer(link) => link.double_buffer().write(&value)?,
            Self::Versioned(_) => {
                self.words()[0].fetch_add(1, Ordering::SeqCst);
                if let Self::Versioned(region) = self {
                    region.write_at(VERSIONED_DATA, &value)?;
                }
                self.words()[1].fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    /// The whole 8-byte sequence slot, as 0.2 wrote it (one 64-bit sequence).
    fn slot(&self) -> &AtomicU64 {
        let [counter, _] = self.words();
        // SAFETY: the slot is 8-byte aligned (it starts the region) and 8 bytes long, atomics
        // valid for any bytes and used only atomically.
        unsafe { &*std::ptr::from_ref(counter).cast::<AtomicU64>() }
    }

    /// The sequence counter and the waiting word, as another program that writes them sees
    /// them (the versioned layout's begin and end counters).
    fn words(&self) -> [&AtomicU32; 2] {
        let base = match self {
            Self::SeqLock(link) => link.as_ptr().cast::<AtomicU32>(),
            Self::DoubleBuffer(link) => link.as_ptr().cast::<AtomicU32>(),
            Self::Versioned(region) => region.as_ptr().cast::<AtomicU32>(),
        };
        // SAFETY: every layout starts with two aligned 32-bit counters, atomics valid for any
        // bytes and used only atomically, in a view the publisher keeps mapped while borrowed.
        unsafe { [&*base, &*base.add(1)] }
    }
}

/// The reading side of each kind, in a child.
enum Follower {
    SeqLock(SharedMemoryLink<SeqLock<Value>, ReadWrite>),
    SeqLockReadOnly(SharedMemoryLink<SeqLock<Value>, ReadOnly>),
    DoubleBuffer(SharedMemoryLink<DoubleBuffer<Value>, ReadWrite>),
    DoubleBufferReadOnly(SharedMemoryLink<DoubleBuffer<Value>, ReadOnly>),
    Versioned(SharedMemory<ReadOnly>),
}

impl Follower {
    fn open(name: &str, kind: &str) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(match kind {
            "seqlock" => Self::SeqLock(SharedMemoryLink::open_existing(name)?),
            "seqlock-read-only" => Self::SeqLockReadOnly(SharedMemoryLink::open(name)?),
            "double-buffer" => Self::DoubleBuffer(SharedMemoryLink::open_existing(name)?),
            "double-buffer-read-only" => Self::DoubleBufferReadOnly(SharedMemoryLink::open(name)?),
            "versioned" => Self::Versioned(SharedMemory::open(name)?),
            _ => return Err(format!("unknown kind {kind}").into()),
        })
    }

    fn version(&self) -> Result<u64, Box<dyn std::error::Error>> {
        Ok(match self {
            Self::SeqLock(link) => link.seqlock().version(),
            Self::SeqLockReadOnly(link) => link.seqlock().version(),
            Self::DoubleBuffer(link) => link.double_buffer().version(),
            Self::DoubleBufferReadOnly(link) => link.double_buffer().version(),
            Self::Versioned(region) => region.versioned_updates(RFACTOR2)?,
        })
    }

    fn wait(&self, seen: u64, timeout: Duration) -> Result<Option<u64>, Waited> {
        Ok(match self {
            Self::SeqLock(link) => link.seqlock().wait_for_change(seen, timeout)?,
            Self::SeqLockReadOnly(link) => link.seqlock().wait_for_change(seen, timeout)?,
            Self::DoubleBuffer(link) => link.double_buffer().wait_for_change(seen, timeout)?,
            Self::DoubleBufferReadOnly(link) => {
                link.double_buffer().wait_for_change(seen, timeout)?
            }
            Self::Versioned(region) => region
                .wait_for_versioned_change(RFACTOR2, seen, timeout)
                .map_err(|error| Waited::Other(error.into()))?,
        })
    }

    fn read(&self) -> Result<Value, Box<dyn std::error::Error>> {
        Ok(match self {
            Self::SeqLock(link) => link.seqlock().read()?,
            Self::SeqLockReadOnly(link) => link.seqlock().read()?,
            Self::DoubleBuffer(link) => link.double_buffer().read()?,
            Self::DoubleBufferReadOnly(link) => link.double_buffer().read()?,
            Self::Versioned(region) => {
                region.read_versioned(VERSIONED_DATA, RFACTOR2, Duration::from_secs(1))?
            }
        })
    }
}

/// How a wait failed: a stalled writer is an answer the tests expect.
enum Waited {
    Stalled,
    Other(Box<dyn std::error::Error>),
}

impl From<SeqLockError> for Waited {
    fn from(error: SeqLockError) -> Self {
        match error {
            SeqLockError::Stalled { .. } => Self::Stalled,
            other => Self::Other(other.into()),
        }
    }
}

/// A writer at 1 kHz, three readers of each kind: every reader reaches the last write, never
/// copies a torn value or one older than the version its wait returned, and is woken for
/// most writes (the versions between two of its waits it counts as skipped).
fn every_reader_follows_a_1khz_writer_and_counts_what_it_skipped() -> Outcome {
    let mut report = Vec::new();
    for kind in KINDS {
        let name = unique_name(&format!("follow_{kind}"));
        let mut publisher = Publisher::create(&name, kind)?;
        let mut readers = Vec::new();
        for _ in 0..FOLLOWERS {
            readers.push(spawn_child(
                "follow-changes",
                &[&name, kind, &WRITES.to_string()],
            )?);
        }
        for reader in &mut readers {
            reader.expect_line("ready")?;
        }
        let started = Instant::now();
        for number in 1..=WRITES {
            publisher.write(number)?;
            let next = started + Duration::from_millis(number);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        for mut reader in readers {
            let answer = reader.read_line()?;
            reader.finish()?;
            let fields = parse_fields(&answer);
            let field = |key: &str| -> Result<u64, Failed> {
                fields
                    .iter()
                    .find(|(known, _)| *known == key)
                    .map(|&(_, value)| value)
                    .ok_or_else(|| format!("{kind}: no {key} in {answer:?}").into())
            };
            expect_eq(
                (kind, field("torn")?, field("behind")?, field("last")?),
                (kind, 0, 0, WRITES),
            )?;
            // Woken for most writes where the writer wakes it (Linux, but for the versioned
            // layout, whose writers wake nobody), for a share where it polls: one that slept
            // through writes, or polled too seldom, would skip nearly all.
            let woken = cfg!(all(target_os = "linux", not(wsm_portable))) && kind != "versioned";
            // Polling at 1 ms while writes come 1 ms apart sees a half to a fifth of them on a
            // busy machine (Wine's sleeps are coarser); one stuck at its 16 ms pause, a sixteenth.
            let least = if woken { WRITES / 2 } else { WRITES / 10 };
            if field("seen")? < least {
                return Err(format!("{kind}: a reader saw too few writes: {answer}").into());
            }
            report.push(format!("{kind}: {answer}"));
        }
    }
    eprintln!("{}", report.join("\n"));
    Ok(())
}

/// A write made before the wait: the wait returns it at once, whatever the kind.
fn a_change_made_before_the_wait_returns_at_once() -> Outcome {
    for kind in KINDS {
        let name = unique_name(&format!("before_{kind}"));
        let mut publisher = Publisher::create(&name, kind)?;
        publisher.write(1)?;
        let answer = answers(vec![spawn_child(
            "wait-change",
            &[&name, kind, "0", "20000"],
        )?])?;
        expect_eq((kind, changed_to(&answer)), (kind, vec![Some(1)]))?;
    }
    Ok(())
}

/// Three processes of each kind asleep in their waits; one write wakes all of them, with the
/// version it made. On Linux, where the writer wakes them (the versioned layout's writers do
/// not), the first is running within 15 ms of the write: a lost wake-up would leave them
/// asleep until their 20 ms backstop.
fn sleeping_readers_wake_for_one_write() -> Outcome {
    for kind in KINDS {
        let name = unique_name(&format!("sleeping_{kind}"));
        let mut publisher = Publisher::create(&name, kind)?;
        // The crate's first write marks the lock, so that its readers register.
        publisher.write(1)?;
        let waiters = start_waiters(&name, kind, "1", 3)?;
        publisher.write(2)?;
        let answers = answers(waiters)?;
        expect_eq((kind, changed_to(&answers)), (kind, vec![Some(2); 3]))?;
        let woken = cfg!(all(target_os = "linux", not(wsm_portable))) && kind != "versioned";
        let first = answers
            .iter()
            .filter_map(|answer| answer.split_once(" after ")?.1.parse::<u64>().ok())
            .min()
            .unwrap_or(u64::MAX);
        if woken && first > 15_000 {
            return Err(format!("{kind}: the first reader ran {first} us after the write").into());
        }
    }
    Ok(())
}

/// Nothing written: the wait ends at its timeout, not before, and says no change came.
fn a_wait_without_a_change_ends_at_its_timeout() -> Outcome {
    for kind in KINDS {
        let name = unique_name(&format!("timeout_{kind}"));
        let _publisher = Publisher::create(&name, kind)?;
        let started = Instant::now();
        let answer = answers(vec![spawn_child(
            "wait-change",
            &[&name, kind, "0", "150"],
        )?])?;
        expect_eq((kind, answer), (kind, vec!["timed-out".to_owned()]))?;
        if started.elapsed() < Duration::from_millis(150) {
            return Err(format!("{kind}: the wait ended before its timeout").into());
        }
    }
    Ok(())
}

/// A writer that only moves the counter, as one that does not know about waiting readers
/// (a Windows program under Wine, an older version): sleeping readers still see each of its
/// changes. On Linux the first such change marks the sequence so that readers look every
/// millisecond, and the crate's next write clears the mark.
fn a_writer_that_wakes_nobody_is_still_seen() -> Outcome {
    for kind in ["seqlock", "double-buffer"] {
        let name = unique_name(&format!("silent_{kind}"));
        let mut publisher = Publisher::create(&name, kind)?;
        // A write of this crate marks the word, so that readers register.
        publisher.write(1)?;
        for change in 2..=4_u64 {
            let waiters = start_waiters(&name, kind, &(change - 1).to_string(), 2)?;
            publisher.words()[0].fetch_add(2, Ordering::SeqCst);
            let answers = answers(waiters)?;
            expect_eq((kind, changed_to(&answers)), (kind, vec![Some(change); 2]))?;
        }
        if cfg!(all(target_os = "linux", not(wsm_portable))) {
            // Flagged silent (the last readers' registrations may remain beside it); the
            // crate's next write clears the flags and keeps its mark.
            expect_eq(
                (kind, publisher.words()[1].load(Ordering::SeqCst) & 2),
                (kind, 2),
            )?;
            publisher.write(5)?;
            expect_eq(
                (kind, publisher.words()[1].load(Ordering::SeqCst)),
                (kind, 0x5753_4D00),
            )?;
        }
    }
    Ok(())
}

/// A writer of 0.2, whose sequence is the whole 8-byte slot and whose end of a write is a
/// compare-exchange of all of it, at 1 kHz while readers of each kind wait for its changes:
/// no reader writes the slot under it (they see no mark of a writer that wakes them, and poll),
/// so none of its writes is superseded, and every reader follows it to its last write.
fn waiting_readers_never_disturb_a_0_2_writer() -> Outcome {
    const OLD_WRITES: u64 = 500;
    for kind in ["seqlock", "seqlock-read-only"] {
        let name = unique_name(&format!("old_writer_{kind}"));
        let publisher = Publisher::create(&name, kind)?;
        let mut readers = Vec::new();
        for _ in 0..2 {
            readers.push(spawn_child(
                "follow-changes",
                &[&name, kind, &OLD_WRITES.to_string()],
            )?);
        }
        for reader in &mut readers {
            reader.expect_line("ready")?;
        }
        let slot = publisher.slot();
        let (mut superseded, started) = (0, Instant::now());
        for number in 1..=OLD_WRITES {
            // 0.2's begin: from the even value it loaded to odd, retried if the slot moved.
            let start = loop {
                let seen = slot.load(Ordering::Relaxed);
                if slot
                    .compare_exchange(seen, seen + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    break seen;
                }
            };
            let Publisher::SeqLock(link) = &publisher else {
                unreachable!("a seqlock kind")
            };
            // SAFETY: the value behind the slot, written with relaxed atomics as the crate's
            // copy does (the test's writer is the only one).
            let data = unsafe { &*link.as_ptr().add(8).cast::<[AtomicU64; 8]>() };
            for word in data.iter().take(7) {
                word.store(number, Ordering::Relaxed);
            }
            data[7].store(now_micros(), Ordering::Relaxed);
            // 0.2's end: a compare-exchange of the whole slot, which fails if anything wrote it.
            if slot
                .compare_exchange(start + 1, start + 2, Ordering::Release, Ordering::Relaxed)
                .is_err()
            {
                superseded += 1;
                slot.store(start + 2, Ordering::Release);
            }
            let next = started + Duration::from_millis(number);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        for mut reader in readers {
            let answer = reader.read_line()?;
            reader.finish()?;
            if !answer.contains(&format!("last={OLD_WRITES} torn=0 behind=0")) {
                return Err(format!("{kind}: a reader did not follow: {answer}").into());
            }
        }
        expect_eq(
            (
                kind,
                superseded,
                publisher.words()[1].load(Ordering::SeqCst),
            ),
            (kind, 0, 0),
        )?;
    }
    Ok(())
}

/// A writer that died mid-write (the sequence left odd): a reader waiting for its write
/// reports it stalled after the default patience, rather than waiting forever.
fn a_writer_dead_mid_write_is_reported_stalled() -> Outcome {
    for kind in ["seqlock", "seqlock-read-only", "double-buffer"] {
        let name = unique_name(&format!("stalled_{kind}"));
        let publisher = Publisher::create(&name, kind)?;
        let [counter, _] = publisher.words();
        counter.fetch_add(1, Ordering::SeqCst);
        let answer = answers(vec![spawn_child(
            "wait-change",
            &[&name, kind, "0", "20000"],
        )?])?;
        expect_eq((kind, answer), (kind, vec!["stalled".to_owned()]))?;
    }
    Ok(())
}

/// A reader killed while it waits leaves its registration behind: the next write wakes for
/// it once and clears it, and the writes after that wake nobody (on Linux, the one platform
/// where writers wake readers).
fn a_reader_killed_mid_wait_costs_writers_one_wake_at_most() -> Outcome {
    let kind = "seqlock";
    let name = unique_name("killed_reader");
    let mut publisher = Publisher::create(&name, kind)?;
    publisher.write(1)?;
    let mut waiters = start_waiters(&name, kind, "1", 2)?;
    waiters[0].kill()?;
    publisher.write(2)?;
    let survivor = answers(waiters.split_off(1))?;
    expect_eq(changed_to(&survivor), vec![Some(2)])?;
    // The flags cleared, the mark of a writer that wakes readers kept (Linux only).
    let unflagged = if cfg!(all(target_os = "linux", not(wsm_portable))) {
        0x5753_4D00
    } else {
        0
    };
    expect_eq(publisher.words()[1].load(Ordering::SeqCst), unflagged)?;
    publisher.write(3)?;
    expect_eq(publisher.words()[1].load(Ordering::SeqCst), unflagged)
}

/// On Linux a read-only handle registers its wait, through a second view of the region that it
/// may write: the writer sees the registration and wakes it.
#[cfg(wsm_holder_locks)]
fn a_read_only_reader_registers_through_a_writable_view() -> Outcome {
    for kind in ["seqlock-read-only", "double-buffer-read-only"] {
        let name = unique_name(&format!("registers_{kind}"));
        let mut publisher = Publisher::create(&name, kind)?;
        // The crate's first write marks the word; then a reader registers.
        publisher.write(1)?;
        let waiters = start_waiters(&name, kind, "1", 1)?;
        expect_eq(
            (kind, publisher.words()[1].load(Ordering::SeqCst)),
            (kind, 0x5753_4D01),
        )?;
        publisher.write(2)?;
        expect_eq(
            (kind, changed_to(&answers(waiters)?)),
            (kind, vec![Some(2)]),
        )?;
    }
    Ok(())
}

/// A reader whose permissions do not let it write the region (`nobody`, on a region that only
/// its owner may write) cannot register, although a writer that wakes readers marked it: it
/// polls, and still sees the change.
#[cfg(wsm_holder_locks)]
fn a_reader_that_may_not_write_the_region_polls() -> Outcome {
    use win_shared_memory::Options;
    let name = unique_name("may_not_write");
    let link = SharedMemoryLink::<SeqLock<Value>, ReadWrite>::create_with(
        &name,
        &Options::new().mode(0o644),
    )?;
    let mut publisher = Publisher::SeqLock(link);
    // Marked by a write of this crate: only the permissions keep the reader from registering.
    publisher.write(1)?;
    let publisher = &mut publisher;
    let answer = std::thread::scope(|scope| -> Result<String, Failed> {
        let reader = scope.spawn(|| {
            crate::harness::run_child_as_nobody(
                "wait-change",
                &[&name, "seqlock-read-only", "1", "20000"],
            )
        });
        std::thread::sleep(FALL_ASLEEP);
        let registered = publisher.words()[1].load(Ordering::SeqCst) & 1;
        publisher.write(2)?;
        let answer = reader.join().map_err(|_| "the reader thread panicked")??;
        let answer = answer
            .split(" after ")
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(format!(
            "registered={registered} {}",
            answer.replace('\n', " ")
        ))
    })?;
    expect_eq(answer, "registered=0 waiting changed 2")
}

/// Starts `count` processes waiting for a change since `seen`, and lets them fall asleep.
fn start_waiters(name: &str, kind: &str, seen: &str, count: usize) -> Result<Vec<Peer>, Failed> {
    let mut waiters = Vec::with_capacity(count);
    for _ in 0..count {
        waiters.push(spawn_child("wait-change", &[name, kind, seen, "20000"])?);
    }
    for waiter in &mut waiters {
        waiter.expect_line("waiting")?;
    }
    std::thread::sleep(FALL_ASLEEP);
    Ok(waiters)
}

/// The versions that waiters' answers ("changed VERSION") report; `None` for other answers.
fn changed_to(answers: &[String]) -> Vec<Option<u64>> {
    answers
        .iter()
        .map(|answer| {
            answer
                .strip_prefix("changed ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// `key=value` pairs of a reader's answer.
fn parse_fields(answer: &str) -> Vec<(&str, u64)> {
    answer
        .split_whitespace()
        .filter_map(|field| {
            let (key, value) = field.split_once('=')?;
            Some((key, value.parse().ok()?))
        })
        .collect()
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

/// Follows the writer until its write `args[2]`: each wait passes the version the last one
/// returned. Answers `seen=` (waits that returned), `skipped=` (versions between them), `last=`,
/// `torn=` (copies whose words differ), `behind=` (copies older than their wait's version) and
/// the wake-up latency's median and largest, in microseconds.
fn follow_changes(name: &str, args: &[String]) -> RoleResult {
    let kind = &args[1];
    let last: u64 = args[2].parse()?;
    let follower = Follower::open(name, kind)?;
    let mut seen = follower.version()?;
    let (mut waits, mut skipped, mut torn, mut behind) = (0, 0, 0, 0);
    let mut latencies = Vec::new();
    println!("ready");
    while seen < last {
        let now = match follower.wait(seen, PATIENCE) {
            Ok(Some(now)) => now,
            Ok(None) => return Err(format!("no change after {seen} within {PATIENCE:?}").into()),
            Err(Waited::Stalled) => return Err("the writer stalled".into()),
            Err(Waited::Other(error)) => return Err(error),
        };
        let value = follower.read()?;
        latencies.push(now_micros().saturating_sub(value[7]));
        if value[..7].iter().any(|&word| word != value[0]) {
            torn += 1;
        }
        if value[0] < now {
            behind += 1;
        }
        waits += 1;
        skipped += now - seen - 1;
        seen = now;
    }
    latencies.sort_unstable();
    println!(
        "seen={waits} skipped={skipped} last={seen} torn={torn} behind={behind} \
         median_us={} max_us={}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );
    Ok(())
}

/// Waits once for a change since version `args[2]`, at most `args[3]` milliseconds; answers
/// "changed VERSION after MICROS" (since the value read then was written), "timed-out" or
/// "stalled".
fn wait_change(name: &str, args: &[String]) -> RoleResult {
    let kind = &args[1];
    let seen: u64 = args[2].parse()?;
    let timeout = Duration::from_millis(args[3].parse()?);
    let follower = Follower::open(name, kind)?;
    println!("waiting");
    match follower.wait(seen, timeout) {
        Ok(Some(now)) => {
            let written = follower.read()?[7];
            println!(
                "changed {now} after {}",
                now_micros().saturating_sub(written)
            );
        }
        Ok(None) => println!("timed-out"),
        Err(Waited::Stalled) => println!("stalled"),
        Err(Waited::Other(error)) => return Err(error),
    }
    Ok(())
}
