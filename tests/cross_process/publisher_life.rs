//! A publisher's life as its readers see it: a reader that starts first waits for the name to
//! be created (`Options::wait_for_creation`) instead of looping on not-found itself, for
//! regions, typed links and events alike, and gives up with the not-found error at its timeout.

use std::time::{Duration, Instant};

use win_shared_memory::sync::{EventReset, NamedEvent, SeqLock};
use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryLink};

use crate::harness::{Outcome, RoleResult, expect_eq, spawn_child, unique_name};

tests! {
    a_reader_started_first_opens_the_region_once_it_is_created,
    a_reader_started_first_opens_the_event_once_it_is_created,
    a_wait_for_creation_ends_at_its_timeout_with_not_found,
}

roles! {
    "open-when-created" => open_when_created,
}

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
