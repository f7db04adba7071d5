//! A publisher's life as its readers see it: a reader that starts first waits for the name to
//! be created (`Options::wait_for_creation`) instead of looping on not-found itself, for
//! regions, typed links and events alike, and gives up with the not-found error at its timeout;
//! a publisher of the versioned layout games use writes it with their protocol, so that typed
//! and untyped readers agree.

use std::time::{Duration, Instant};

use win_shared_memory::sync::{DoubleBuffer, EventReset, NamedEvent, SeqLock, Versioning};
use win_shared_memory::zerocopy::{FromBytes, Immutable, IntoBytes};
use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryLink};

use crate::harness::{Outcome, RoleResult, expect_eq, spawn_child, unique_name};

tests! {
    a_reader_started_first_opens_the_region_once_it_is_created,
    a_reader_started_first_opens_the_event_once_it_is_created,
    a_wait_for_creation_ends_at_its_timeout_with_not_found,
    the_versioned_writer_keeps_rfactor2s_order_for_typed_and_untyped_readers,
    a_writers_role_is_alive_until_its_writer_is_killed,
    a_new_writer_takes_over_a_dead_writers_half_done_write_at_once,
}

roles! {
    "open-when-created" => open_when_created,
    "watch-versioned" => watch_versioned,
    "hold-role" => hold_role,
}

/// rFactor 2's layout: the version block (begin, end), then the data.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, Clone, Copy)]
#[zerocopy(crate = "win_shared_memory::zerocopy")]
struct Versioned {
    begin: u32,
    end: u32,
    data: [u64; 64],
}

const RFACTOR2: Versioning = Versioning::BeginEnd { begin: 0, end: 4 };

/// Different updates a reader copies whole while the versioned writer publishes, and the
/// longest it tries.
const WATCHED_UPDATES: u64 = 5_000;
const WATCHING: Duration = Duration::from_secs(20);

/// How long the publisher starts after its reader.
const LATE: Duration = Duration::from_millis(300);

/// A reader of a `SeqLock` link started before its publisher: it opens the region as soon as
/// the publisher creates it, and reads what the publisher writes.
fn a_reader_started_first_opens_the_region_once_it_is_created() -> Outcome {
    for kind in ["link", "region"] {
        let name = unique_name(&format!("late_publisher_{kind}"));
        let mut reader = spawn_child("open-when-created", &[&name, kind, "20000"])?;
        reader.expect_line("waiting")?;
        std::thread::sleep(LATE);
        let publisher = SharedMemoryLink::<SeqLock<u64>, ReadWrite>::create(&name)?;
        publisher.seqlock().write(&42)?;
        expect_eq((kind, reader.read_line()?), (kind, "read 42".to_owned()))?;
        reader.finish()?;
    }
    Ok(())
}

/// An event opened (never created) by a waiter started before its owner: the open waits for
/// the owner's create, and the owner's `set` releases the waiter.
fn a_reader_started_first_opens_the_event_once_it_is_created() -> Outcome {
    let name = unique_name("late_event_owner");
    let mut reader = spawn_child("open-when-created", &[&name, "event", "20000"])?;
    reader.expect_line("waiting")?;
    std::thread::sleep(LATE);
    let event = NamedEvent::new(&name, EventReset::Auto)?;
    reader.expect_line("opened")?;
    event.set()?;
    expect_eq(reader.read_line()?, "set")?;
    reader.finish()
}

/// Nobody creates the name: the wait gives up at its timeout, not before, with the not-found
/// error that an open without a wait gives at once.
fn a_wait_for_creation_ends_at_its_timeout_with_not_found() -> Outcome {
    for kind in ["link", "region", "event"] {
        let name = unique_name(&format!("never_created_{kind}"));
        let started = Instant::now();
        let mut reader = spawn_child("open-when-created", &[&name, kind, "300"])?;
        reader.expect_line("waiting")?;
        expect_eq((kind, reader.read_line()?), (kind, "not-found".to_owned()))?;
        reader.finish()?;
        if started.elapsed() < Duration::from_millis(300) {
            return Err(format!("{kind}: the wait ended before its timeout").into());
        }
    }
    Ok(())
}

/// A typed writer publishes update `k` as data `k` flat out: a reader, typed or untyped, never
/// sees the end counter ahead of the begin one or more than one update open, and every copy it
/// takes whole holds the data of the update its counters name (data written before the begin
/// increment, or after the end one, would show as one update's counters with another's data).
fn the_versioned_writer_keeps_rfactor2s_order_for_typed_and_untyped_readers() -> Outcome {
    let name = unique_name("versioned_writer");
    let mut game = SharedMemoryLink::<Versioned, ReadWrite>::create(&name)?;
    let mut reader = spawn_child("watch-versioned", &[&name])?;
    reader.expect_line("ready")?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let answer = std::thread::scope(|scope| {
        let writer = scope.spawn(|| -> Outcome {
            let mut update = 0_u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                update = update.wrapping_add(1);
                let data = [u64::from(update); 64];
                game.write_versioned(
                    RFACTOR2,
                    &Versioned {
                        begin: 0,
                        end: 0,
                        data,
                    },
                )?;
            }
            Ok(())
        });
        let answer = reader.read_line();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().map_err(|_| "the writer panicked")??;
        answer
    })?;
    reader.finish()?;
    let field = |key: &str| -> u64 {
        answer
            .split_whitespace()
            .find_map(|field| field.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let seen = (field("apart"), field("mismatched"));
    if seen != (0, 0) || field("updates") < WATCHED_UPDATES {
        return Err(
            format!("the reader saw the protocol broken, or too few updates: {answer}").into(),
        );
    }
    Ok(())
}

/// Takes whole copies of the versioned region until they saw `WATCHED_UPDATES` updates, through the typed link and the
/// untyped region in turn, while the writer publishes: answers how often the raw counters were
/// further apart than one open update (`apart=`), how many whole copies held other data than
/// their counters name (`mismatched=`), and how many different updates the copies saw.
fn watch_versioned(name: &str, _args: &[String]) -> RoleResult {
    let link = SharedMemoryLink::<Versioned, ReadOnly>::open(name)?;
    let region = SharedMemory::<ReadOnly>::open(name)?;
    println!("ready");
    let patience = Duration::from_secs(5);
    let (mut apart, mut mismatched, mut updates, mut last) = (0, 0, 0, 0);
    let started = Instant::now();
    let mut copy = 0_u64;
    while updates < WATCHED_UPDATES && started.elapsed() < WATCHING {
        copy += 1;
        let [begin, end] = region.read_at::<[u32; 2]>(0)?;
        if begin.wrapping_sub(end) > 1 {
            apart += 1;
        }
        let whole = if copy % 2 == 0 {
            link.read_versioned(RFACTOR2, patience)?
        } else {
            region.read_versioned::<Versioned>(0, RFACTOR2, patience)?
        };
        if whole.begin != whole.end || whole.data.iter().any(|&word| word != u64::from(whole.end)) {
            mismatched += 1;
        }
        if whole.end != last {
            updates += 1;
            last = whole.end;
        }
    }
    println!("apart={apart} mismatched={mismatched} updates={updates}");
    Ok(())
}

/// How long a killed writer's role may take to be seen free: Windows abandons the mutex when
/// the process is gone, which Wine's server learns a little later.
const ROLE_FREED: Duration = Duration::from_secs(5);

/// A process holds the writer role: readers see it alive and a second writer is refused; once
/// it is killed (no drop runs) readers see it gone, and the next writer takes the role.
fn a_writers_role_is_alive_until_its_writer_is_killed() -> Outcome {
    let name = unique_name("role_killed");
    let _publisher = SharedMemoryLink::<SeqLock<u64>, ReadWrite>::create(&name)?;
    let reader = SharedMemoryLink::<SeqLock<u64>, ReadOnly>::open(&name)?;
    expect_eq(reader.writer_alive()?, false)?;
    let mut writer = spawn_child("hold-role", &[&name, "seqlock", "whole"])?;
    writer.expect_line("holding")?;
    let second = SharedMemoryLink::<SeqLock<u64>, ReadWrite>::open_existing(&name)?;
    expect_eq(
        (reader.writer_alive()?, second.take_writer_role().is_err()),
        (true, true),
    )?;
    writer.kill()?;
    let started = Instant::now();
    while reader.writer_alive()? && started.elapsed() < ROLE_FREED {
        std::thread::sleep(Duration::from_millis(10));
    }
    expect_eq(reader.writer_alive()?, false)?;
    let role = second.take_writer_role()?;
    expect_eq(reader.writer_alive()?, true)?;
    drop(role);
    expect_eq(reader.writer_alive()?, false)
}

/// A writer killed in the middle of a write (its sequence left odd): the next writer takes the
/// role and its first write completes at once, where a plain `write` would wait its patience
/// for the dead writer and fail; readers then copy the new value.
fn a_new_writer_takes_over_a_dead_writers_half_done_write_at_once() -> Outcome {
    for kind in ["seqlock", "double-buffer"] {
        let name = unique_name(&format!("role_half_done_{kind}"));
        // Kept by this process, so that the region outlives its killed writer.
        let _region = SharedMemory::<ReadWrite>::create(&name, layout_len(kind))?;
        let mut writer = spawn_child("hold-role", &[&name, kind, "half"])?;
        writer.expect_line("holding")?;
        writer.kill()?;
        let started = Instant::now();
        let role = loop {
            match SharedMemory::<ReadWrite>::open_existing(&name)?.take_writer_role() {
                Ok(role) => break role,
                Err(_) if started.elapsed() < ROLE_FREED => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(error) => return Err(error.into()),
            }
        };
        let wrote = Instant::now();
        let read = if kind == "seqlock" {
            let link = SharedMemoryLink::<SeqLock<u64>, ReadWrite>::open_existing(&name)?;
            link.seqlock().write_as(&role, &7)?;
            link.seqlock().read()?
        } else {
            let link = SharedMemoryLink::<DoubleBuffer<u64>, ReadWrite>::open_existing(&name)?;
            link.double_buffer().write_as(&role, &7)?;
            link.double_buffer().read()?
        };
        expect_eq((kind, read), (kind, 7))?;
        if wrote.elapsed() > Duration::from_millis(100) {
            return Err(format!("{kind}: the write took {:?}", wrote.elapsed()).into());
        }
    }
    Ok(())
}

/// Opens `name`, a `args[1]` (`seqlock` or `double-buffer`) of `u64`, takes its writer role
/// and, with `args[2]` = `half`, leaves a write half done (the sequence odd, the data
/// scribbled); says "holding" and waits to be killed.
fn hold_role(name: &str, args: &[String]) -> RoleResult {
    let mut region = SharedMemory::<ReadWrite>::open_existing(name)?;
    let _role = region.take_writer_role()?;
    if args[2] == "half" {
        // SAFETY: the sequence is an atomic at the start of either layout, valid for any bytes
        // and used only atomically.
        let sequence = unsafe { region.get_at::<std::sync::atomic::AtomicU32>(0)? };
        sequence.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // The data of the write in progress: a `SeqLock`'s one slot, or the `DoubleBuffer`'s
        // slot of its first write (slot 1).
        let slot = if args[1] == "seqlock" { 8 } else { 16 };
        region.write_at(slot, &u64::MAX)?;
    }
    println!("holding");
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

/// The size of a `SeqLock<u64>` or a `DoubleBuffer<u64>`.
fn layout_len(kind: &str) -> usize {
    if kind == "seqlock" {
        size_of::<SeqLock<u64>>()
    } else {
        size_of::<DoubleBuffer<u64>>()
    }
}

/// Opens `name` (a `SeqLock<u64>` link or region, or an event, as `args[1]` says), waiting up
/// to `args[2]` milliseconds for it to be created; answers "read VALUE" (the first value
/// written), "opened" then "set" (an event), or "not-found".
fn open_when_created(name: &str, args: &[String]) -> RoleResult {
    let timeout = Duration::from_millis(args[2].parse()?);
    let options = Options::new().wait_for_creation(timeout);
    println!("waiting");
    // The region may be opened before the publisher's first write: wait for that write.
    let first_write = Duration::from_secs(20);
    let outcome = match args[1].as_str() {
        "link" => SharedMemoryLink::<SeqLock<u64>, ReadOnly>::open_with(name, &options).map(
            |link| -> RoleResult {
                let lock = link.seqlock();
                lock.wait_for_change(0, first_write)?;
                println!("read {}", lock.read()?);
                Ok(())
            },
        ),
        "region" => SharedMemory::<ReadOnly>::open_with(name, &options).map(|region| {
            let lock = region.seqlock_at::<u64>(0)?;
            lock.wait_for_change(0, first_write)?;
            println!("read {}", lock.read()?);
            Ok(())
        }),
        _ => NamedEvent::open_with(name, &options).map(|event| -> RoleResult {
            println!("opened");
            if event.wait_timeout(first_write)? {
                println!("set");
            }
            Ok(())
        }),
    };
    match outcome {
        Ok(result) => result,
        Err(error) if error.is_not_found() => {
            println!("not-found");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}
