//! A publisher's life as its readers see it: a reader that starts first waits for the name to
//! be created (`Options::wait_for_creation`) instead of looping on not-found itself, for
//! regions, typed links and events alike, and gives up with the not-found error at its timeout;
//! a publisher of the versioned layout games use writes it with their protocol, so that typed
//! and untyped readers agree.

use std::time::{Duration, Instant};

use win_shared_memory::follow::{Followed, Follower};
use win_shared_memory::sync::{DoubleBuffer, EventReset, NamedEvent, SeqLock};
use win_shared_memory::zerocopy::{FromBytes, Immutable, IntoBytes};
use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryLink};

use crate::harness::{
    Outcome, RFACTOR2, RoleResult, expect_eq, remove_name_of_killed_creator, spawn_child,
    unique_name,
};

tests! {
    a_reader_started_first_opens_the_region_once_it_is_created,
    a_reader_started_first_opens_the_event_once_it_is_created,
    a_wait_for_creation_ends_at_its_timeout_with_not_found,
    the_versioned_writer_keeps_rfactor2s_order_for_typed_and_untyped_readers,
    a_writers_role_is_alive_until_its_writer_is_killed,
    a_new_writer_takes_over_a_dead_writers_half_done_write_at_once,
    a_reader_asking_for_the_writer_role_never_refuses_a_writer,
    a_role_kept_in_a_thread_local_ends_with_its_thread,
    a_follower_reports_each_life_of_a_publisher_killed_and_restarted,
    a_follower_of_a_game_reports_it_stale_once_its_counters_stop,
    #[cfg(target_os = "linux")]
    a_follower_sleeps_through_a_write_that_never_ends,
}

roles! {
    "open-when-created" => open_when_created,
    "watch-versioned" => watch_versioned,
    "hold-role" => hold_role,
    "probe-role" => probe_role,
    "follow-lives" => follow_lives,
    "publish-life" => publish_life,
    "versioned-game" => versioned_game,
    #[cfg(target_os = "linux")]
    "follow-cpu" => follow_cpu,
}

/// rFactor 2's layout: the version block (begin, end), then the data.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, Clone, Copy, Debug, PartialEq)]
#[zerocopy(crate = "win_shared_memory::zerocopy")]
struct Versioned {
    begin: u32,
    end: u32,
    data: [u64; 64],
}

/// Publishes update `update` rFactor 2's way: every data word says it.
fn publish_update(
    game: &mut SharedMemoryLink<Versioned, ReadWrite>,
    update: u32,
) -> Result<(), win_shared_memory::SharedMemoryError> {
    let data = [u64::from(update); 64];
    let value = Versioned {
        begin: 0,
        end: 0,
        data,
    };
    game.write_versioned(RFACTOR2, &value)
}

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
                publish_update(&mut game, update)?;
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

/// How many times a writer takes and drops the role while a reader asks whether it is held.
const ROLE_TAKES: u32 = 2_000;

/// A reader asks `writer_alive` again and again (as a follower does) while a writer takes and
/// drops the role: no take is refused, as no other writer holds the role (a probe that held
/// the role's lock or mutex for a moment would make a restarting publisher's take fail).
fn a_reader_asking_for_the_writer_role_never_refuses_a_writer() -> Outcome {
    let name = unique_name("role_probed");
    let writer = SharedMemoryLink::<SeqLock<u64>, ReadWrite>::create(&name)?;
    let mut prober = spawn_child("probe-role", &[&name])?;
    prober.expect_line("probing")?;
    let mut refused = 0;
    for _ in 0..ROLE_TAKES {
        match writer.take_writer_role() {
            Ok(role) => drop(role),
            Err(_) => refused += 1,
        }
    }
    prober.send("stop")?;
    let probes = prober.read_line()?;
    prober.finish()?;
    expect_eq((refused, probes.starts_with("probes=")), (0, true))
}

/// A writer keeps its role (which stays on its thread) in a thread-local: when the thread ends,
/// the role ends with it, whichever of the thread's locals the runtime drops first, and the
/// next writer takes it.
fn a_role_kept_in_a_thread_local_ends_with_its_thread() -> Outcome {
    use std::cell::RefCell;
    use win_shared_memory::sync::WriterRole;

    thread_local! {
        static KEPT: RefCell<Option<WriterRole>> = const { RefCell::new(None) };
    }
    let name = unique_name("role_thread_local");
    let region = SharedMemory::<ReadWrite>::create(&name, 8)?;
    // The local made first, or the role first: the runtime drops locals in the order they
    // were made, or the other way round.
    for kept_first in [true, false] {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    if kept_first {
                        KEPT.with(|kept| kept.borrow_mut().take());
                    }
                    let role = region.take_writer_role()?;
                    KEPT.with(|kept| kept.borrow_mut().replace(role));
                    Ok::<(), win_shared_memory::SharedMemoryError>(())
                })
                .join()
                .map_err(|_| "the writer's thread panicked")
        })??;
        expect_eq((kept_first, region.writer_alive()?), (kept_first, false))?;
    }
    drop(region.take_writer_role()?);
    Ok(())
}

/// Asks whether `name`'s writer role is held until "stop" comes; answers how often it asked.
fn probe_role(name: &str, _args: &[String]) -> RoleResult {
    let reader = SharedMemoryLink::<SeqLock<u64>, ReadOnly>::open(name)?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| -> RoleResult {
        let probes = scope.spawn(|| -> Result<u64, win_shared_memory::SharedMemoryError> {
            let mut probes = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                reader.writer_alive()?;
                probes += 1;
            }
            Ok(probes)
        });
        println!("probing");
        std::io::stdin().lines().next();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let probes = probes.join().map_err(|_| "the prober panicked")??;
        println!("probes={probes}");
        Ok(())
    })
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

/// What the publisher of a life publishes: its life, its update count, when it published (in
/// microseconds of the system clock, which every process shares), and words that must all say
/// `life * UPDATES_PER_LIFE + update` (a torn copy mixes two).
type Frame = [u64; 64];
const UPDATES_PER_LIFE: u64 = 1 << 32;

/// The longest a follower may take to report a death, or to deliver an update.
const MOST_STALL: Duration = Duration::from_millis(100);

/// A follower started before its publisher reports waiting, then each life: live, updates,
/// gone once the publisher is killed (no drop runs). The first restart makes a new region (the
/// follower closed the dead one's, and nobody else held it), where regions live as long as
/// their holders (on macOS a killed creator leaves its name behind, and the restart finds the
/// old region); the second finds the old region, kept by this process, with a new writer. The
/// follower never copies a torn frame, its updates go forward, it sees each update at most
/// `MOST_STALL` after it was published, and it reports each death within `MOST_STALL`.
fn a_follower_reports_each_life_of_a_publisher_killed_and_restarted() -> Outcome {
    let name = unique_name("follower_lives");
    let mut follower = spawn_child("follow-lives", &[&name, "3"])?;
    follower.expect_line("waiting")?;
    let mut kept = None;
    let regions_end_with_their_holders = cfg!(any(windows, wsm_holder_locks));
    for (life, expect_created) in [(1, true), (2, regions_end_with_their_holders), (3, false)] {
        let mut publisher = spawn_child("publish-life", &[&name, &life.to_string()])?;
        expect_eq(
            (life, publisher.read_line()?),
            (life, format!("created {expect_created}")),
        )?;
        expect_eq(
            (life, follower.read_line()?),
            (life, format!("live {life}")),
        )?;
        if life == 2 {
            // Keeps the region of life 2 for life 3.
            kept = Some(SharedMemory::<ReadOnly>::open(&name)?);
        }
        std::thread::sleep(Duration::from_millis(300));
        publisher.kill()?;
        let killed = Instant::now();
        let updates = follower.read_line()?;
        expect_eq((life, follower.read_line()?), (life, "gone".to_owned()))?;
        let noticed = killed.elapsed();
        eprintln!("life {life}: {updates}, the death reported {noticed:?} after the kill");
        let field = |key: &str| -> u64 {
            updates
                .split_whitespace()
                .find_map(|field| field.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
                .unwrap_or(u64::MAX)
        };
        let latest = Duration::from_micros(field("latest_us"));
        if field("updates") < 10
            || field("torn") != 0
            || field("backwards") != 0
            || latest > MOST_STALL
            || noticed > MOST_STALL
        {
            return Err(format!(
                "life {life}: {updates}, the death reported {noticed:?} after the kill"
            )
            .into());
        }
    }
    drop(kept);
    follower.finish()?;
    remove_name_of_killed_creator(&name)
}

/// Microseconds of the system clock.
fn clock_us() -> Result<u64, Box<dyn std::error::Error>> {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    Ok(u64::try_from(since_epoch.as_micros())?)
}

/// Follows `name` (a `SeqLock<Frame>`) for `args[1]` lives: says "waiting", then for each life
/// "live N", and once it is gone a line of what its updates were (how many of the life's own,
/// how many torn, how many went backwards, the latest it saw one, in microseconds after it was
/// published) and "gone". The first update of a life may be the last of the life before,
/// found in the same region.
fn follow_lives(name: &str, args: &[String]) -> RoleResult {
    let lives: u64 = args[1].parse()?;
    let mut follower = Follower::<Frame>::seqlock(name)?;
    let (mut updates, mut torn, mut backwards, mut latest_us, mut last_key) = (0, 0, 0, 0, 0);
    let mut gone = 0;
    while gone < lives {
        match follower.next(Duration::from_secs(30))? {
            Some(Followed::Waiting) => println!("waiting"),
            Some(Followed::Live { generation }) => {
                println!("live {generation}");
                (updates, torn, backwards, latest_us) = (0, 0, 0, 0);
            }
            Some(Followed::Update(frame)) => {
                let key = frame[0] * UPDATES_PER_LIFE + frame[1];
                torn += u64::from(frame[3..].iter().any(|&word| word != key));
                backwards += u64::from(key < last_key);
                last_key = key;
                if frame[0] == gone + 1 {
                    updates += 1;
                    latest_us = latest_us.max(clock_us()?.saturating_sub(frame[2]));
                }
            }
            Some(Followed::Gone) => {
                println!(
                    "updates={updates} torn={torn} backwards={backwards} latest_us={latest_us}"
                );
                println!("gone");
                gone += 1;
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    Ok(())
}

/// Publishes life `args[1]` of `name`: opens or creates the `SeqLock<Frame>`, says whether it
/// created it, takes the writer role and publishes a frame every millisecond until killed.
fn publish_life(name: &str, args: &[String]) -> RoleResult {
    let life: u64 = args[1].parse()?;
    let link = SharedMemoryLink::<SeqLock<Frame>, ReadWrite>::get_or_create(name)?;
    println!("created {}", link.created());
    let role = link.take_writer_role()?;
    for update in 1.. {
        let key = life * UPDATES_PER_LIFE + update;
        let mut frame = [key; 64];
        (frame[0], frame[1], frame[2]) = (life, update, clock_us()?);
        link.seqlock().write_as(&role, &frame)?;
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// How long without an update makes the stand-in game stale, and the most its follower may
/// take beyond that to say so.
const GAME_STALE_AFTER: Duration = Duration::from_millis(200);

/// A game that versions its region itself and takes no role (rFactor 2's protocol, 100 updates
/// a second): its follower reports it live while its counters move, stale once they stop
/// (paused, then killed), live again when they move, and reads only whole updates. The follower
/// of a killed game does not keep its region: the restarted game makes a new one, where regions
/// live as long as their holders, and is followed as a new life.
fn a_follower_of_a_game_reports_it_stale_once_its_counters_stop() -> Outcome {
    let name = unique_name("follower_game");
    let mut follower =
        Follower::<Versioned>::versioned(&name, RFACTOR2)?.stale_after(GAME_STALE_AFTER);
    let wait = Duration::from_secs(20);
    expect_eq(follower.next(wait)?, Some(Followed::Waiting))?;
    let mut game = spawn_child("versioned-game", &[&name])?;
    expect_eq(game.read_line()?, "publishing created=true".to_owned())?;
    let expect_life = |follower: &mut Follower<Versioned>, generation: u64| -> Outcome {
        expect_eq(follower.next(wait)?, Some(Followed::Live { generation }))?;
        for _ in 0..10 {
            match follower.next(wait)? {
                Some(Followed::Update(copy))
                    if copy.begin == copy.end
                        && copy.data.iter().all(|&word| word == u64::from(copy.end)) => {}
                other => return Err(format!("life {generation}: {other:?}").into()),
            }
        }
        Ok(())
    };
    expect_life(&mut follower, 1)?;
    let stale = |follower: &mut Follower<Versioned>, what: &str| -> Outcome {
        let stopped = Instant::now();
        loop {
            match follower.next(wait)? {
                Some(Followed::Update(_)) => continue,
                Some(Followed::Stale) => break,
                other => return Err(format!("{what}: {other:?}").into()),
            }
        }
        let took = stopped.elapsed();
        if took < GAME_STALE_AFTER - Duration::from_millis(20)
            || took > GAME_STALE_AFTER + MOST_STALL
        {
            return Err(format!("{what}: stale after {took:?}").into());
        }
        Ok(())
    };
    game.send("pause")?;
    game.expect_line("paused")?;
    stale(&mut follower, "paused")?;
    game.send("resume")?;
    expect_life(&mut follower, 2)?;
    game.kill()?;
    stale(&mut follower, "killed")?;
    let mut restarted = spawn_child("versioned-game", &[&name])?;
    let regions_end_with_their_holders = cfg!(any(windows, wsm_holder_locks));
    expect_eq(
        restarted.read_line()?,
        format!("publishing created={regions_end_with_their_holders}"),
    )?;
    expect_life(&mut follower, 3)?;
    restarted.kill()?;
    drop(follower);
    remove_name_of_killed_creator(&name)
}

/// A stand-in game: opens or creates `name` (as a game's `CreateFileMapping` does) and
/// publishes rFactor 2's way 100 times a second, without a writer role; says "publishing
/// created=" whether it created the region; stops on "pause" (saying "paused") until "resume".
fn versioned_game(name: &str, _args: &[String]) -> RoleResult {
    let mut game = SharedMemoryLink::<Versioned, ReadWrite>::get_or_create(name)?;
    let (commands, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if commands.send(line).is_err() {
                break;
            }
        }
    });
    println!("publishing created={}", game.created());
    // Counts on from the region's updates, which a region found again already has.
    let mut update = game.read().end;
    loop {
        match received.try_recv() {
            Ok(command) if command == "pause" => {
                println!("paused");
                if received.recv()? != "resume" {
                    return Err("expected resume".into());
                }
            }
            Ok(command) => return Err(format!("unknown command {command}").into()),
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return Ok(()),
        }
        update = update.wrapping_add(1);
        publish_update(&mut game, update)?;
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How long the follower of a write that never ends is watched, and the most CPU time it may
/// spend meanwhile (a look every millisecond costs about a tenth of that).
#[cfg(target_os = "linux")]
const STALLED_WATCH: Duration = Duration::from_secs(2);
#[cfg(target_os = "linux")]
const STALLED_MOST_CPU: Duration = Duration::from_millis(60);

/// A live writer's sequence is left odd at a new count (a writer stopped in the middle of its
/// take-over of a dead one's write, or a peer scribbling the word once): its follower, which
/// cannot copy that update, sleeps until the next one (little CPU time, measured with
/// getrusage in the following process) instead of retrying the copy, and delivers the next.
#[cfg(target_os = "linux")]
fn a_follower_sleeps_through_a_write_that_never_ends() -> Outcome {
    let name = unique_name("follower_stalled");
    let region = SharedMemory::<ReadWrite>::create(&name, size_of::<SeqLock<u64>>())?;
    let link = SharedMemoryLink::<SeqLock<u64>, ReadWrite>::open_existing(&name)?;
    let role = link.take_writer_role()?;
    link.seqlock().write_as(&role, &1)?;
    // SAFETY: the sequence is an atomic at the start of the layout, valid for any bytes and
    // used only atomically.
    let sequence = unsafe { region.get_at::<std::sync::atomic::AtomicU32>(0)? };
    // From 2 (one write) to 5: a write in progress that counts one more.
    sequence.fetch_add(3, std::sync::atomic::Ordering::SeqCst);
    let mut follower = spawn_child("follow-cpu", &[&name])?;
    let watched = follower.read_line()?;
    link.seqlock().write_as(&role, &7)?;
    expect_eq(follower.read_line()?, "update 7".to_owned())?;
    follower.finish()?;
    let cpu_ms: u64 = watched
        .rsplit(' ')
        .next()
        .and_then(|millis| millis.parse().ok())
        .ok_or_else(|| format!("unexpected answer {watched}"))?;
    expect_eq(watched.split(" cpu-ms").next(), Some("live 1"))?;
    if cpu_ms > STALLED_MOST_CPU.as_millis() as u64 {
        return Err(format!("the follower spun: {watched}").into());
    }
    Ok(())
}

/// Follows `name` (a `SeqLock<u64>`) for `STALLED_WATCH`: answers what it reported and the
/// CPU time it spent ("live 1 cpu-ms N"), then "update V" at the next update.
#[cfg(target_os = "linux")]
fn follow_cpu(name: &str, _args: &[String]) -> RoleResult {
    let mut follower = Follower::<u64>::seqlock(name)?;
    let mut reported = Vec::new();
    let before = crate::harness::cpu_time();
    let started = Instant::now();
    while let Some(left) = STALLED_WATCH.checked_sub(started.elapsed()) {
        match follower.next(left)? {
            Some(Followed::Live { generation }) => reported.push(format!("live {generation}")),
            Some(other) => reported.push(format!("{other:?}")),
            None => {}
        }
    }
    let spent = crate::harness::cpu_time() - before;
    println!("{} cpu-ms {}", reported.join(" "), spent.as_millis());
    match follower.next(Duration::from_secs(20))? {
        Some(Followed::Update(value)) => println!("update {value}"),
        other => println!("{other:?}"),
    }
    Ok(())
}
