//! The synchronisation objects across processes: seqlock snapshots, named mutexes (and their
//! dead owners), events, and versioned copies of a publisher's data.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use libtest_mimic::Failed;
use win_shared_memory::sync::{EventReset, LockError, NamedEvent, NamedMutex, SeqLock, Versioning};
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryError, SharedMemoryLink};

use crate::harness::{
    LOCK_PATIENCE, Outcome, Peer, RoleResult, expect_eq, spawn_child, unique_name,
};

tests! {
    seqlock_snapshots_are_never_torn_across_processes,
    a_named_mutex_excludes_across_processes,
    a_killed_mutex_holder_is_reported_to_the_next_locker,
    an_auto_reset_event_releases_one_waiting_process,
    a_manual_reset_event_releases_every_waiting_process,
    versioned_copies_of_a_publishing_process_are_consistent,
}

roles! {
    "seqlock-read" => seqlock_read,
    "hold-mutex" => hold_mutex,
    "wait-event" => wait_event,
    "versioned-publish" => versioned_publish,
}

/// A 4 KiB snapshot whose words must all agree: any torn copy shows.
type Snapshot = [u64; 512];

/// Copies each reader process takes while the writer publishes.
const SNAPSHOT_READS: usize = 1_000_000;

/// The layout both test publishers use: begin, end and sequence counters, then the data.
const VERSIONED_DATA: usize = 16;

/// Updates a test publisher makes, while the test copies.
pub(crate) const PUBLISHER_UPDATES: &str = "200000";

/// Copies the test takes with each versioning scheme.
const VERSIONED_READS: usize = 20_000;

// ---------------------------------------------------------------------------------------------
// The tests.

/// One writer publishes as fast as it can while two reader processes take a million copies
/// each: every copy is whole, the values only move forward, and the readers see them move.
fn seqlock_snapshots_are_never_torn_across_processes() -> Outcome {
    let name = unique_name("seqlock");
    let link = SharedMemoryLink::<SeqLock<Snapshot>, ReadWrite>::create(&name)?;
    let reads = SNAPSHOT_READS.to_string();
    let mut readers = (0..2)
        .map(|_| spawn_child("seqlock-read", &[&name, &reads]))
        .collect::<Result<Vec<_>, _>>()?;
    for reader in &mut readers {
        reader.expect_line("ready")?;
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    let (answers, writes) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut round = 0_u64;
            while !done.load(Ordering::Relaxed) {
                round += 1;
                link.seqlock()
                    .write(&[round; 512])
                    .expect("the only writer never waits");
                // A publisher runs at some rate, not flat out (which starves readers, as a
                // seqlock favours its writer): tens of thousands of updates a second.
                std::thread::sleep(std::time::Duration::from_micros(20));
            }
            round
        });
        let answers: Result<Vec<String>, Failed> =
            readers.iter_mut().map(Peer::read_line).collect();
        done.store(true, Ordering::Relaxed);
        (answers, writer.join().expect("the writer thread"))
    });
    for answer in answers? {
        let fields: Vec<&str> = answer.split(' ').collect();
        match fields.as_slice() {
            [torn, distinct] if *torn == "torn=0" => {
                let distinct: u64 = distinct.trim_start_matches("distinct=").parse()?;
                if distinct < 2 {
                    return Err(
                        format!("a reader saw no progress in {writes} writes: {answer}").into(),
                    );
                }
            }
            _ => return Err(format!("a reader saw torn or backward copies: {answer}").into()),
        }
    }
    for reader in readers {
        reader.finish()?;
    }
    Ok(())
}

fn a_named_mutex_excludes_across_processes() -> Outcome {
    let name = unique_name("mutex");
    let mutex = NamedMutex::new(&name)?;
    let mut holder = spawn_child("hold-mutex", &[&name])?;
    holder.expect_line("locked")?;
    match mutex.lock_timeout(std::time::Duration::from_millis(100)) {
        Ok(None) => {}
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }
    holder.send("release")?;
    holder.expect_line("released")?;
    match mutex.lock_timeout(LOCK_PATIENCE) {
        Ok(Some(_guard)) => {}
        other => return Err(format!("expected the lock, got {other:?}").into()),
    }
    holder.finish()
}

/// Every time a holder is killed, the next locker gets the lock and is told its owner died;
/// the one after that gets a plain lock.
fn a_killed_mutex_holder_is_reported_to_the_next_locker() -> Outcome {
    let name = unique_name("mutex_killed");
    let mutex = NamedMutex::new(&name)?;
    for round in 0..10 {
        let mut holder = spawn_child("hold-mutex", &[&name])?;
        holder.expect_line("locked")?;
        holder.kill()?;
        match mutex.lock_timeout(LOCK_PATIENCE) {
            Err(LockError::OwnerDied(guard)) => drop(guard),
            other => return Err(format!("round {round}: expected OwnerDied, got {other:?}").into()),
        }
        match mutex.try_lock() {
            Ok(Some(_guard)) => {}
            other => {
                return Err(format!("round {round}: expected a plain lock, got {other:?}").into());
            }
        }
    }
    Ok(())
}

/// Two processes wait (a second at most) on an auto-reset event: one `set` releases exactly
/// one of them, and the event is unset afterwards.
fn an_auto_reset_event_releases_one_waiting_process() -> Outcome {
    let name = unique_name("event_auto");
    let event = NamedEvent::new(&name, EventReset::Auto)?;
    let answers = wait_in_two_processes(&name, "auto", 1_000, || event.set())?;
    let woken: Vec<&str> = answers
        .iter()
        .map(|answer| answer.split(' ').next().unwrap_or(""))
        .collect();
    expect_eq(woken, ["timed-out", "woken"])?;
    expect_eq(event.wait_timeout(std::time::Duration::ZERO)?, false)
}

/// Two processes wait (up to a minute) on a manual-reset event: one `set` releases both at
/// once, not at their timeouts, and it stays set until reset.
fn a_manual_reset_event_releases_every_waiting_process() -> Outcome {
    let name = unique_name("event_manual");
    let event = NamedEvent::new(&name, EventReset::Manual)?;
    // Let both fall asleep before the set, so that the set must wake them.
    let answers = wait_in_two_processes(&name, "manual", 60_000, || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        event.set()
    })?;
    for answer in &answers {
        match answer.split_once(' ') {
            Some(("woken", millis)) if millis.parse::<u64>()? < 30_000 => {}
            _ => return Err(format!("a waiter was not released by the set: {answers:?}").into()),
        }
    }
    expect_eq(event.wait_timeout(std::time::Duration::ZERO)?, true)?;
    event.reset()?;
    expect_eq(event.wait_timeout(std::time::Duration::ZERO)?, false)
}

/// Starts two processes waiting at most `timeout_ms` on the event, runs `signal`, and returns
/// what each said ("woken MILLIS" or "timed-out"), sorted.
fn wait_in_two_processes(
    name: &str,
    mode: &str,
    timeout_ms: u64,
    signal: impl FnOnce() -> Result<(), SharedMemoryError>,
) -> Result<[String; 2], Failed> {
    let timeout = timeout_ms.to_string();
    let mut waiters = [
        spawn_child("wait-event", &[name, mode, &timeout])?,
        spawn_child("wait-event", &[name, mode, &timeout])?,
    ];
    for waiter in &mut waiters {
        waiter.expect_line("waiting")?;
    }
    signal()?;
    let mut answers = [waiters[0].read_line()?, waiters[1].read_line()?];
    answers.sort();
    for waiter in waiters {
        waiter.finish()?;
    }
    Ok(answers)
}

fn versioned_copies_of_a_publishing_process_are_consistent() -> Outcome {
    let name = unique_name("versioned");
    check_versioned_copies(
        &name,
        spawn_child("versioned-publish", &[&name, PUBLISHER_UPDATES])?,
    )
}

/// Copies a publisher's data with both versioning schemes while it updates: every copy is
/// whole and none goes backwards.
pub(crate) fn check_versioned_copies(name: &str, mut publisher: Peer) -> Outcome {
    publisher.expect_line("ready")?;
    let region = SharedMemory::<ReadOnly>::open(name)?;
    let patience = std::time::Duration::from_secs(5);
    for versioning in [
        Versioning::BeginEnd { begin: 0, end: 4 },
        Versioning::OddEven { sequence: 8 },
    ] {
        let mut last = 0;
        for _ in 0..VERSIONED_READS {
            let copy: Snapshot = region.read_versioned(VERSIONED_DATA, versioning, patience)?;
            if copy.iter().any(|&word| word != copy[0]) || copy[0] < last {
                return Err(format!("{versioning:?}: torn or backward copy after {last}").into());
            }
            last = copy[0];
        }
    }
    publisher.finish()
}

// ---------------------------------------------------------------------------------------------
// The child roles.

fn seqlock_read(name: &str, args: &[String]) -> RoleResult {
    let reads: usize = args[1].parse()?;
    let link = SharedMemoryLink::<SeqLock<Snapshot>, ReadOnly>::open(name)?;
    println!("ready");
    std::io::stdout().flush()?;
    let (mut torn, mut backward, mut distinct, mut last) = (0, 0, 0_u64, 0);
    for _ in 0..reads {
        let snapshot = link.seqlock().read()?;
        if snapshot.iter().any(|&word| word != snapshot[0]) {
            torn += 1;
        }
        if snapshot[0] < last {
            backward += 1;
        }
        if snapshot[0] != last {
            distinct += 1;
        }
        last = snapshot[0];
    }
    let verdict = if backward == 0 { "" } else { " backward" };
    println!("torn={torn}{verdict} distinct={distinct}");
    std::io::stdout().flush()?;
    std::io::stdin().read_line(&mut String::new())?;
    Ok(())
}

fn hold_mutex(name: &str, _: &[String]) -> RoleResult {
    let mutex = NamedMutex::new(name)?;
    let guard = mutex.lock().map_err(|error| error.to_string())?;
    println!("locked");
    std::io::stdout().flush()?;
    std::io::stdin().read_line(&mut String::new())?;
    drop(guard);
    println!("released");
    std::io::stdout().flush()?;
    std::io::stdin().read_line(&mut String::new())?;
    Ok(())
}

fn wait_event(name: &str, args: &[String]) -> RoleResult {
    let reset = if args[1] == "manual" {
        EventReset::Manual
    } else {
        EventReset::Auto
    };
    let timeout = std::time::Duration::from_millis(args[2].parse()?);
    let event = NamedEvent::new(name, reset)?;
    println!("waiting");
    std::io::stdout().flush()?;
    let started = std::time::Instant::now();
    if event.wait_timeout(timeout)? {
        println!("woken {}", started.elapsed().as_millis());
    } else {
        println!("timed-out");
    }
    Ok(())
}

fn versioned_publish(name: &str, args: &[String]) -> RoleResult {
    let updates: u64 = args[1].parse()?;
    let mut region =
        SharedMemory::<ReadWrite>::create(name, VERSIONED_DATA + size_of::<Snapshot>())?;
    println!("ready");
    std::io::stdout().flush()?;
    let bump = |region: &SharedMemory<ReadWrite>, at| -> Result<(), SharedMemoryError> {
        // SAFETY: an atomic, valid for any bytes, used only atomically by everyone.
        unsafe { region.get_at::<AtomicU32>(at)? }.fetch_add(1, Ordering::SeqCst);
        Ok(())
    };
    for update in 1..=updates {
        bump(&region, 0)?;
        bump(&region, 8)?;
        region.write_at(VERSIONED_DATA, &[update; 512])?;
        bump(&region, 8)?;
        bump(&region, 4)?;
        std::thread::yield_now();
    }
    std::io::stdin().read_line(&mut String::new())?;
    Ok(())
}
