//! The crate's promises, shown across real processes: the test binary runs itself again as a
//! child in a named role (see `child`), and on Windows it also talks to a C program that uses
//! plain Win32 calls (`tests/c/win32_peer.c`, built by `cargo xtask test`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use libtest_mimic::{Arguments, Failed, Trial};
use win_shared_memory::sync::{EventReset, LockError, NamedEvent, NamedMutex, SeqLock, Versioning};
use win_shared_memory::{
    Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryError, SharedMemoryLink,
};

/// The environment variable that makes this binary a child in a role instead of a test run.
const ROLE_VAR: &str = "WSM_TEST_ROLE";

/// The README's type.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct GameState {
    score: u32,
    lives: u8,
}

const MIB: usize = 1 << 20;

/// A runtime size that is not a whole number of pages.
const RUNTIME_LEN: usize = 10_000;
type Mib = [u8; MIB];

/// A region above 4 GiB: 0.1.0 refused these, so the high half of the size must reach the OS.
#[cfg(target_pointer_width = "64")]
const ABOVE_4_GIB: usize = (1 << 32) + 4096;

/// Where the big-region test writes and reads, the last ones beyond 4 GiB.
#[cfg(target_pointer_width = "64")]
const HUGE_PROBES: [usize; 4] = [0, 4095, 1 << 32, ABOVE_4_GIB - 1];

/// Bigger than any page, so the size check must refuse it under Wine's page rounding too.
type Large = [u8; 3 * 65536];

type Outcome = Result<(), Failed>;

fn main() {
    if let Ok(role) = std::env::var(ROLE_VAR) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Err(message) = child(&role, &args) {
            eprintln!("child {role} failed: {message}");
            std::process::exit(1);
        }
        return;
    }
    let mut trials = vec![
        Trial::test(
            "read_only_open_sees_the_creators_data",
            read_only_open_sees_the_creators_data,
        ),
        Trial::test(
            "open_existing_writes_are_seen_by_the_creator",
            open_existing_writes_are_seen_by_the_creator,
        ),
        Trial::test(
            "a_runtime_sized_region_crosses_processes",
            a_runtime_sized_region_crosses_processes,
        ),
        Trial::test(
            "views_outside_a_region_are_refused",
            views_outside_a_region_are_refused,
        ),
        Trial::test(
            "plain_data_is_copied_safely_across_processes",
            plain_data_is_copied_safely_across_processes,
        ),
        Trial::test(
            "seqlock_snapshots_are_never_torn_across_processes",
            seqlock_snapshots_are_never_torn_across_processes,
        ),
        Trial::test(
            "a_named_mutex_excludes_across_processes",
            a_named_mutex_excludes_across_processes,
        ),
        Trial::test(
            "a_killed_mutex_holder_is_reported_to_the_next_locker",
            a_killed_mutex_holder_is_reported_to_the_next_locker,
        ),
        Trial::test(
            "an_auto_reset_event_releases_one_waiting_process",
            an_auto_reset_event_releases_one_waiting_process,
        ),
        Trial::test(
            "a_manual_reset_event_releases_every_waiting_process",
            a_manual_reset_event_releases_every_waiting_process,
        ),
        Trial::test(
            "versioned_copies_of_a_publishing_process_are_consistent",
            versioned_copies_of_a_publishing_process_are_consistent,
        ),
        Trial::test(
            "scribbled_regions_never_make_the_safe_api_misbehave",
            scribbled_regions_never_make_the_safe_api_misbehave,
        ),
        Trial::test(
            "racing_creates_make_exactly_one_region",
            racing_creates_make_exactly_one_region,
        ),
        Trial::test(
            "create_on_a_taken_name_is_already_exists",
            create_on_a_taken_name_is_already_exists,
        ),
        Trial::test(
            "get_or_create_opens_the_existing_region_with_its_contents",
            get_or_create_opens_the_existing_region_with_its_contents,
        ),
        Trial::test(
            "opening_a_missing_name_is_open_mapping",
            opening_a_missing_name_is_open_mapping,
        ),
        Trial::test(
            "a_region_is_destroyed_when_its_last_link_drops",
            a_region_is_destroyed_when_its_last_link_drops,
        ),
        Trial::test(
            "a_region_outlives_its_creator_while_others_hold_it",
            a_region_outlives_its_creator_while_others_hold_it,
        ),
        Trial::test(
            "a_1_mib_region_crosses_processes_intact",
            a_1_mib_region_crosses_processes_intact,
        ),
        Trial::test(
            "a_zero_sized_type_gets_a_region",
            a_zero_sized_type_gets_a_region,
        ),
        Trial::test(
            "a_region_smaller_than_the_type_is_refused_with_both_sizes",
            a_region_smaller_than_the_type_is_refused_with_both_sizes,
        ),
        Trial::test(
            "bad_names_and_alignments_are_refused",
            bad_names_and_alignments_are_refused,
        ),
        Trial::test(
            "create_after_already_exists_still_creates",
            create_after_already_exists_still_creates,
        ),
        Trial::test(
            "a_killed_holders_region_stays_with_the_other_holders",
            a_killed_holders_region_stays_with_the_other_holders,
        ),
        Trial::test(
            "a_killed_sole_holders_name_is_free_again",
            a_killed_sole_holders_name_is_free_again,
        ),
    ];
    #[cfg(target_pointer_width = "64")]
    trials.push(Trial::test(
        "a_region_above_4_gib_crosses_processes",
        a_region_above_4_gib_crosses_processes,
    ));
    #[cfg(any(windows, target_os = "linux"))]
    trials.push(Trial::test(
        "create_drop_cycles_leak_nothing",
        create_drop_cycles_leak_nothing,
    ));
    // Dropping to another user needs root, as CI is; elsewhere these say they were ignored.
    #[cfg(target_os = "linux")]
    {
        // SAFETY: geteuid only reads the process's credentials.
        let not_root = unsafe { libc::geteuid() } != 0;
        trials.extend([
            Trial::test(
                "another_user_is_refused_an_owner_only_region",
                another_user_is_refused_an_owner_only_region,
            )
            .with_ignored_flag(not_root),
            Trial::test(
                "a_widened_mode_lets_other_users_in",
                a_widened_mode_lets_other_users_in,
            )
            .with_ignored_flag(not_root),
            Trial::test(
                "the_owner_check_refuses_a_region_another_user_made",
                the_owner_check_refuses_a_region_another_user_made,
            )
            .with_ignored_flag(not_root),
        ]);
    }
    trials.push(Trial::test(
        "options_an_os_cannot_honour_are_refused",
        options_an_os_cannot_honour_are_refused,
    ));
    #[cfg(target_os = "linux")]
    trials.extend([
        Trial::test(
            "regions_are_created_owner_only",
            regions_are_created_owner_only,
        ),
        Trial::test(
            "another_programs_region_is_used_and_left_alone",
            another_programs_region_is_used_and_left_alone,
        ),
    ]);
    trials.push(
        Trial::test(
            "killing_holders_at_random_points_leaks_nothing",
            killing_holders_at_random_points_leaks_nothing,
        )
        .with_ignored_flag(true),
    );
    #[cfg(windows)]
    trials.extend([
        Trial::test(
            "a_region_made_by_plain_win32_is_read_by_the_crate",
            win32::a_region_made_by_plain_win32_is_read_by_the_crate,
        ),
        Trial::test(
            "versioned_copies_of_a_c_publisher_are_consistent",
            win32::versioned_copies_of_a_c_publisher_are_consistent,
        ),
        Trial::test(
            "a_region_made_by_the_crate_is_read_by_plain_win32",
            win32::a_region_made_by_the_crate_is_read_by_plain_win32,
        ),
    ]);
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}

// ---------------------------------------------------------------------------------------------
// The tests.

fn read_only_open_sees_the_creators_data() -> Outcome {
    let (name, _link) = publish("read_only", 42, 3)?;
    expect_eq(run_child("read-game-state", &[&name])?, "score=42 lives=3")
}

fn open_existing_writes_are_seen_by_the_creator() -> Outcome {
    let name = unique_name("open_existing");
    let link = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    run_child("bump-score", &[&name])?;
    run_child("bump-score", &[&name])?;
    // SAFETY: the children have exited.
    expect_eq(unsafe { link.get() }.score, 2)
}

fn create_on_a_taken_name_is_already_exists() -> Outcome {
    let (name, link) = publish("taken", 7, 0)?;
    expect_eq(run_child("create-game-state", &[&name])?, "AlreadyExists")?;
    // The failed create must neither reset the region nor take it away.
    // SAFETY: the child has exited.
    expect_eq(unsafe { *link.get() }, GameState { score: 7, lives: 0 })?;
    expect_eq(run_child("read-game-state", &[&name])?, "score=7 lives=0")
}

/// A region of a size chosen at run time (not a whole number of pages): the opener discovers
/// the size, sees the creator's bytes, and tells a created region from a found one.
fn a_runtime_sized_region_crosses_processes() -> Outcome {
    let name = unique_name("runtime_sized");
    let mut region = SharedMemory::<ReadWrite>::get_or_create(&name, RUNTIME_LEN)?;
    expect_eq(region.created(), true)?;
    region.write_at(0, &0xDEAD_BEEF_u32)?;
    region.write_at(RUNTIME_LEN - 2, &0x0102_u16)?;
    let answer = run_child("read-runtime-sized", &[&name])?;
    let (len, rest) = answer.split_once(' ').ok_or("no length in the answer")?;
    let len: usize = len.parse()?;
    // Exact on Windows and Unix; Wine reports the size rounded up to a page.
    let exact_or_wine_page = [RUNTIME_LEN, RUNTIME_LEN.next_multiple_of(4096)];
    if !exact_or_wine_page.contains(&len) || (cfg!(unix) && len != RUNTIME_LEN) {
        return Err(format!("the opener saw {len} bytes, not {RUNTIME_LEN}").into());
    }
    expect_eq(rest, "created=false first=deadbeef last=102")?;
    expect_eq(region.read_at::<u8>(1)?, 0xEE)
}

/// Views that do not fit are errors that say why, never a read past the end.
fn views_outside_a_region_are_refused() -> Outcome {
    let name = unique_name("views");
    let mut region = SharedMemory::<ReadWrite>::create(&name, 64)?;
    let out_of_bounds = |result: Result<(), SharedMemoryError>| match result {
        Err(SharedMemoryError::OutOfBounds { region_len: 64, .. }) => Ok(()),
        other => Err(format!("expected OutOfBounds, got {other:?}")),
    };
    out_of_bounds(region.read_at::<u64>(57).map(drop))?;
    out_of_bounds(region.write_at(usize::MAX, &1_u8))?;
    // SAFETY: the views are refused before anything is read.
    out_of_bounds(unsafe { region.get_slice::<u32>(0, 17) }.map(drop))?;
    out_of_bounds(unsafe { region.get_slice::<u64>(0, usize::MAX / 4) }.map(drop))?;
    // SAFETY: the view is refused before anything is read.
    match unsafe { region.get_at::<u32>(2) } {
        Err(SharedMemoryError::Misaligned {
            offset: 2,
            align: 4,
            ..
        }) => {}
        other => return Err(format!("expected Misaligned, got {other:?}").into()),
    }
    // The last fitting view is fine.
    // SAFETY: nothing else touches the region.
    expect_eq(unsafe { region.get_slice::<u32>(60, 1) }?, &[0][..])?;

    let empty = SharedMemory::<ReadWrite>::create(unique_name("empty"), 0);
    expect_eq(
        matches!(empty, Err(SharedMemoryError::EmptyRegion { .. })),
        true,
    )?;
    let huge = SharedMemory::<ReadWrite>::create(unique_name("huge_len"), usize::MAX);
    expect_eq(matches!(huge, Err(SharedMemoryError::SizeTooLarge)), true)?;
    // A whole page, so that Wine, which reports sizes rounded up to a page, sees it short too.
    let page = unique_name("page");
    let _page = SharedMemory::<ReadWrite>::create(&page, 4096)?;
    let short = SharedMemory::<ReadWrite>::get_or_create(&page, 4097);
    expect_eq(
        matches!(
            short,
            Err(SharedMemoryError::SizeMismatch {
                required: 4097,
                actual: 4096,
                ..
            })
        ),
        true,
    )
}

/// The safe plain-data copies, between processes, through a typed link and its read-only
/// downgrade.
fn plain_data_is_copied_safely_across_processes() -> Outcome {
    let name = unique_name("plain");
    let mut link = SharedMemoryLink::<[u32; 4], ReadWrite>::create(&name)?;
    link.write(&[1, 2, 3, 4]);
    expect_eq(run_child("read-plain", &[&name])?, "[1, 2, 3, 4]")?;
    let reader = link.downgrade();
    expect_eq(reader.read(), [1, 2, 3, 5])
}

/// A 4 KiB snapshot whose words must all agree: any torn copy shows.
type Snapshot = [u64; 512];

/// Copies each reader process takes while the writer publishes.
const SNAPSHOT_READS: usize = 1_000_000;

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

/// How long a test waits for a lock that must come.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

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

/// The layout both test publishers use: begin, end and sequence counters, then the data.
const VERSIONED_DATA: usize = 16;

/// Updates a test publisher makes, while the test copies.
const PUBLISHER_UPDATES: &str = "200000";

/// Copies the test takes with each versioning scheme.
const VERSIONED_READS: usize = 20_000;

fn versioned_copies_of_a_publishing_process_are_consistent() -> Outcome {
    let name = unique_name("versioned");
    check_versioned_copies(
        &name,
        spawn_child("versioned-publish", &[&name, PUBLISHER_UPDATES])?,
    )
}

/// Copies a publisher's data with both versioning schemes while it updates: every copy is
/// whole and none goes backwards.
fn check_versioned_copies(name: &str, mut publisher: Peer) -> Outcome {
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

/// The region the scribbler writes random bytes all over.
const SCRIBBLED_LEN: usize = 4096;

/// Another process writes random bytes all over a region while this one reads it through every
/// safe API for a second: each call gives a value or one of the errors that say why, never a
/// panic, a hang or a read past the end.
fn scribbled_regions_never_make_the_safe_api_misbehave() -> Outcome {
    let name = unique_name("scribble");
    let _region = SharedMemory::<ReadWrite>::create(&name, SCRIBBLED_LEN)?;
    let mut scribbler = spawn_child("scribble", &[&name])?;
    scribbler.expect_line("scribbling")?;
    let plain = SharedMemoryLink::<[u32; 64], ReadOnly>::open(&name)?;
    let locked = SharedMemoryLink::<SeqLock<[u64; 16]>, ReadOnly>::open(&name)?;
    let region = SharedMemory::<ReadOnly>::open(&name)?;
    let patience = std::time::Duration::from_millis(1);
    let (started, mut calls, mut values) = (std::time::Instant::now(), 0_usize, 0_usize);
    while started.elapsed() < std::time::Duration::from_secs(1) {
        std::hint::black_box(plain.read()[calls % 64]);
        match locked.seqlock().read_within(patience) {
            Ok(_) => values += 1,
            Err(_stalled_or_starved) => {}
        }
        // Offsets run past the end on purpose: those must be refused, not read.
        let offset = calls % (SCRIBBLED_LEN + 64);
        match region.read_at::<[u64; 8]>(offset) {
            Ok(_) => values += 1,
            Err(SharedMemoryError::OutOfBounds { .. }) if offset + 64 > SCRIBBLED_LEN => {}
            Err(other) => return Err(format!("read_at({offset}): {other}").into()),
        }
        let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
        match region.read_versioned::<[u64; 4]>(8, versioning, patience) {
            Ok(_) | Err(SharedMemoryError::Inconsistent { .. }) => {}
            Err(other) => return Err(format!("read_versioned: {other}").into()),
        }
        calls += 1;
    }
    scribbler.finish()?;
    if values == 0 {
        return Err(format!("{calls} rounds of calls and not one value").into());
    }
    Ok(())
}

/// Processes that create one name at the same moment: one makes the region, the others are
/// told it exists, and no one is left with a region that lost its name.
fn racing_creates_make_exactly_one_region() -> Outcome {
    const RACERS: usize = 4;
    for round in 0..10 {
        let name = unique_name(&format!("race_{round}"));
        let mut racers = (0..RACERS)
            .map(|_| spawn_child("race-create", &[&name]))
            .collect::<Result<Vec<_>, _>>()?;
        for racer in &mut racers {
            racer.expect_line("ready")?;
        }
        for racer in &mut racers {
            racer.send("go")?;
        }
        let mut answers = Vec::new();
        for racer in &mut racers {
            answers.push(racer.read_line()?);
        }
        answers.sort();
        let mut expected = vec!["AlreadyExists".to_owned(); RACERS - 1];
        expected.push("created".to_owned());
        expect_eq(&answers, &expected)?;
        // The winner's region is the one the name finds.
        expect_eq(run_child("read-game-state", &[&name])?, "score=1 lives=0")?;
        for racer in racers {
            racer.finish()?;
        }
    }
    Ok(())
}

fn get_or_create_opens_the_existing_region_with_its_contents() -> Outcome {
    let (name, link) = publish("get_or_create", 11, 2)?;
    expect_eq(run_child("get-or-create", &[&name])?, "score=11 lives=2")?;
    // SAFETY: the child has exited.
    expect_eq(unsafe { link.get() }.lives, 9)
}

fn opening_a_missing_name_is_open_mapping() -> Outcome {
    let name = unique_name("missing");
    expect_eq(run_child("open", &[&name])?, "OpenMapping not-found")?;
    expect_eq(
        run_child("open-existing", &[&name])?,
        "OpenMapping not-found",
    )
}

fn a_region_is_destroyed_when_its_last_link_drops() -> Outcome {
    let name = unique_name("destroyed");
    expect_eq(run_child("create-and-exit", &[&name])?, "created")?;
    expect_eq(run_child("open", &[&name])?, "OpenMapping not-found")?;

    let mut link = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    // SAFETY: no other process touches the region.
    unsafe { link.get_mut().score = 1 };
    drop(link);
    expect_eq(
        kind(SharedMemoryLink::<GameState, ReadOnly>::open(&name)),
        "OpenMapping not-found",
    )?;
    let again = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    // SAFETY: as above.
    expect_eq(unsafe { *again.get() }, GameState { score: 0, lives: 0 })
}

fn a_region_outlives_its_creator_while_others_hold_it() -> Outcome {
    let name = unique_name("outlives");
    let mut creator = spawn_child("hold", &[&name])?;
    creator.expect_line("ready")?;
    let reader = SharedMemoryLink::<GameState, ReadOnly>::open(&name)?;
    creator.send("exit")?;
    creator.finish()?;
    // SAFETY: the creator has exited; nobody writes.
    expect_eq(
        unsafe { *reader.get() },
        GameState {
            score: 77,
            lives: 1,
        },
    )?;
    expect_eq(run_child("read-game-state", &[&name])?, "score=77 lives=1")?;
    drop(reader);
    expect_eq(
        kind(SharedMemoryLink::<GameState, ReadOnly>::open(&name)),
        "OpenMapping not-found",
    )?;
    expect_no_shm_object(&name)
}

fn a_1_mib_region_crosses_processes_intact() -> Outcome {
    let name = unique_name("mib");
    let mut link = SharedMemoryLink::<Mib, ReadWrite>::create(&name)?;
    // SAFETY: no other process touches the region yet.
    fill_pattern(unsafe { link.get_mut() }, 5);
    expect_eq(run_child("verify-and-bump", &[&name, "5"])?, "ok")?;
    // SAFETY: the child has exited.
    check_pattern(unsafe { link.get() }, 6)
}

#[cfg(target_pointer_width = "64")]
fn a_region_above_4_gib_crosses_processes() -> Outcome {
    let name = unique_name("huge");
    let mut link = SharedMemoryLink::<[u8; ABOVE_4_GIB], ReadWrite>::create(&name)?;
    for (i, &offset) in HUGE_PROBES.iter().enumerate() {
        // SAFETY: no other process touches the region yet.
        unsafe { link.get_mut()[offset] = i as u8 + 1 };
    }
    expect_eq(run_child("read-huge", &[&name])?, "1 2 3 4")
}

fn a_zero_sized_type_gets_a_region() -> Outcome {
    let name = unique_name("zst");
    let link = SharedMemoryLink::<(), ReadWrite>::create(&name)?;
    expect_eq(format!("{link:?}").contains("size: 1"), true)?;
    expect_eq(run_child("open-zst", &[&name])?, "opened")
}

fn a_region_smaller_than_the_type_is_refused_with_both_sizes() -> Outcome {
    let name = unique_name("small");
    let _link = SharedMemoryLink::<[u8; 4096], ReadWrite>::create(&name)?;
    let expected = format!("SizeMismatch required={} actual=4096", size_of::<Large>());
    expect_eq(run_child("open-large", &[&name])?, expected.as_str())?;
    expect_eq(
        run_child("get-or-create-large", &[&name])?,
        expected.as_str(),
    )?;
    let error = SharedMemoryLink::<Large, ReadOnly>::open(&name)
        .unwrap_err()
        .to_string();
    expect_eq(
        error.contains(&name) && error.contains("196608") && error.contains("4096"),
        true,
    )
}

fn bad_names_and_alignments_are_refused() -> Outcome {
    for name in ["", "Local\\game\0state", "Local\\", "Local\\a\\b"] {
        let result = SharedMemoryLink::<GameState, ReadWrite>::create(name);
        expect_eq(kind(result), "InvalidName")?;
        expect_eq(
            kind(SharedMemoryLink::<GameState, ReadOnly>::open(name)),
            "InvalidName",
        )?;
    }
    // The NUL name must not have created the region its prefix names, as 0.1.0 did.
    expect_eq(
        kind(SharedMemoryLink::<GameState, ReadOnly>::open("Local\\game")),
        "OpenMapping not-found",
    )?;

    #[repr(C, align(8192))]
    struct OverAligned(u8);
    let result = SharedMemoryLink::<OverAligned, ReadWrite>::create(unique_name("aligned"));
    expect_eq(kind(result), "Alignment 8192")
}

fn create_after_already_exists_still_creates() -> Outcome {
    // A failed create leaves ERROR_ALREADY_EXISTS as the thread's last error on Windows; the
    // next create in the same thread must not mistake it for its own. A regression guard:
    // Wine's CreateFileMappingW sets the last error on success too, so only a Windows whose
    // call leaves it alone could show the bug.
    let taken = unique_name("last_error_taken");
    let _link = SharedMemoryLink::<u32, ReadWrite>::create(&taken)?;
    expect_eq(
        kind(SharedMemoryLink::<u32, ReadWrite>::create(&taken)),
        "AlreadyExists",
    )?;
    SharedMemoryLink::<u32, ReadWrite>::create(unique_name("last_error_fresh"))?;
    Ok(())
}

fn a_killed_holders_region_stays_with_the_other_holders() -> Outcome {
    let name = unique_name("killed_holder");
    let mut holder = spawn_child("hold", &[&name])?;
    holder.expect_line("ready")?;
    let reader = SharedMemoryLink::<GameState, ReadOnly>::open(&name)?;
    holder.kill()?;
    // SAFETY: the writer is dead.
    expect_eq(
        unsafe { *reader.get() },
        GameState {
            score: 77,
            lives: 1,
        },
    )?;
    drop(reader);
    expect_no_shm_object(&name)?;
    SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    Ok(())
}

fn a_killed_sole_holders_name_is_free_again() -> Outcome {
    let name = unique_name("killed_sole");
    let mut holder = spawn_child("hold", &[&name])?;
    holder.expect_line("ready")?;
    holder.kill()?;
    expect_eq(
        kind(SharedMemoryLink::<GameState, ReadOnly>::open(&name)),
        "OpenMapping not-found",
    )?;
    expect_no_shm_object(&name)?;

    let mut holder = spawn_child("hold", &[&name])?;
    holder.expect_line("ready")?;
    holder.kill()?;
    let link = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    // SAFETY: nobody else holds the region.
    expect_eq(unsafe { *link.get() }, GameState { score: 0, lives: 0 })
}

#[cfg(target_os = "linux")]
fn regions_are_created_owner_only() -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    let name = unique_name("mode");
    let _link = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    let file = format!("/dev/shm/{}", name.trim_start_matches("Local\\"));
    expect_eq(std::fs::metadata(file)?.permissions().mode() & 0o777, 0o600)
}

/// The user the permission tests drop to.
#[cfg(target_os = "linux")]
const NOBODY: u32 = 65534;

/// Runs this binary in `role` as `nobody` and returns what it printed.
#[cfg(target_os = "linux")]
fn run_child_as_nobody(role: &str, args: &[&str]) -> Result<String, Failed> {
    use std::os::unix::process::CommandExt;
    let output = child_command(role, args).uid(NOBODY).gid(NOBODY).output()?;
    if !output.status.success() {
        return Err(format!(
            "the child as nobody failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A mode chosen in the options is given exactly (not cut by the umask) and lets other users
/// in as it says.
#[cfg(target_os = "linux")]
fn a_widened_mode_lets_other_users_in() -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    let name = unique_name("widened");
    let options = Options::new().mode(0o644);
    let _link = SharedMemoryLink::<GameState, ReadWrite>::create_with(&name, &options)?;
    let file = format!("/dev/shm/{}", name.trim_start_matches("Local\\"));
    expect_eq(std::fs::metadata(file)?.permissions().mode() & 0o777, 0o644)?;
    expect_eq(run_child_as_nobody("open", &[&name])?, "opened")
}

/// A region that another user made first under the name (a squatter) is refused when the
/// options require one's own, and opened otherwise.
#[cfg(target_os = "linux")]
fn the_owner_check_refuses_a_region_another_user_made() -> Outcome {
    use std::os::unix::process::CommandExt;
    let name = unique_name("squatted");
    let mut command = child_command("hold", &[&name]);
    command.uid(NOBODY).gid(NOBODY);
    let mut squatter = Peer::spawn(command)?;
    squatter.expect_line("ready")?;
    let mine_only = Options::new().require_owner(true);
    match SharedMemoryLink::<GameState, ReadOnly>::open_with(&name, &mine_only) {
        Err(SharedMemoryError::ForeignOwner { owner: NOBODY, .. }) => {}
        other => return Err(format!("expected ForeignOwner, got {:?}", other.map(drop)).into()),
    }
    match SharedMemory::<ReadWrite>::get_or_create_with(&name, 8, &mine_only) {
        Err(SharedMemoryError::ForeignOwner { owner: NOBODY, .. }) => {}
        other => return Err(format!("expected ForeignOwner, got {:?}", other.map(drop)).into()),
    }
    expect_eq(
        kind(SharedMemoryLink::<GameState, ReadOnly>::open(&name)),
        "opened",
    )?;
    squatter.send("exit")?;
    squatter.finish()
}

/// Options no OS can honour, or this one cannot, are refused with an error that says why.
fn options_an_os_cannot_honour_are_refused() -> Outcome {
    let name = unique_name("options");
    let bad_mode = SharedMemory::<ReadWrite>::create_with(&name, 8, &Options::new().mode(0o4755));
    expect_eq(
        matches!(bad_mode, Err(SharedMemoryError::InvalidOptions { .. })),
        true,
    )?;
    #[cfg(windows)]
    {
        let owner_check =
            SharedMemory::<ReadOnly>::open_with(&name, &Options::new().require_owner(true));
        expect_eq(
            matches!(owner_check, Err(SharedMemoryError::InvalidOptions { .. })),
            true,
        )?;
        let not_sddl = Options::new().security_descriptor("not SDDL");
        let refused = SharedMemory::<ReadWrite>::create_with(&name, 8, &not_sddl);
        expect_eq(
            matches!(refused, Err(SharedMemoryError::SecurityDescriptor { .. })),
            true,
        )?;
        // A valid descriptor is taken, and the region works across processes.
        let everyone = Options::new().security_descriptor("D:(A;;GA;;;WD)");
        let _link = SharedMemoryLink::<GameState, ReadWrite>::create_with(&name, &everyone)?;
        expect_eq(run_child("read-game-state", &[&name])?, "score=0 lives=0")?;
        // An empty, protected DACL grants no one access, and Wine enforces it too.
        let no_one = Options::new().security_descriptor("D:P");
        let locked = unique_name("options_locked");
        let _locked = SharedMemoryLink::<GameState, ReadWrite>::create_with(&locked, &no_one)?;
        expect_eq(run_child("open", &[&locked])?, "OpenMapping denied")?;
        // A section whose security grants mapping but not querying its size, which 0.1.0
        // could open: opened all the same, its size measured through a view.
        let map_only = Options::new().security_descriptor("D:(A;;0x6;;;WD)");
        let narrow = unique_name("options_map_only");
        let mut link = SharedMemoryLink::<GameState, ReadWrite>::create_with(&narrow, &map_only)?;
        // SAFETY: no other process touches the region yet.
        unsafe { link.get_mut().score = 5 };
        expect_eq(run_child("read-game-state", &[&narrow])?, "score=5 lives=0")?;
    }
    Ok(())
}

/// A process of another user (`nobody`) cannot open a region created owner-only.
#[cfg(target_os = "linux")]
fn another_user_is_refused_an_owner_only_region() -> Outcome {
    let name = unique_name("other_user");
    let _link = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    expect_eq(run_child_as_nobody("open", &[&name])?, "OpenMapping denied")?;
    // The owner still can.
    expect_eq(run_child("open", &[&name])?, "opened")
}

/// A POSIX object made by a program that does not use this crate (no holder locks) is read
/// and written like any region, and never removed: its maker decides when it goes.
#[cfg(target_os = "linux")]
fn another_programs_region_is_used_and_left_alone() -> Outcome {
    let name = unique_name("foreign");
    let file = format!("/dev/shm/{}", name.trim_start_matches("Local\\"));
    std::fs::write(&file, [1, 2, 3, 4, 5, 6, 7, 8])?;
    let reader = SharedMemoryLink::<[u8; 8], ReadOnly>::open(&name)?;
    let mut writer = SharedMemoryLink::<[u8; 8], ReadWrite>::get_or_create(&name)?;
    // SAFETY: nothing else touches the region.
    unsafe { writer.get_mut()[0] = 9 };
    // SAFETY: as above.
    expect_eq(unsafe { *reader.get() }, [9, 2, 3, 4, 5, 6, 7, 8])?;
    drop((reader, writer));
    let left = std::fs::read(&file);
    std::fs::remove_file(&file)?;
    expect_eq(left?, vec![9, 2, 3, 4, 5, 6, 7, 8])
}

/// How many holders the stress run kills; `WSM_STRESS_KILLS` overrides it.
const STRESS_KILLS: usize = 1000;

/// How many children churn at once in the stress run.
const STRESS_CHURNERS: usize = 3;

/// The names the stress run's children fight over.
const STRESS_NAMES: usize = 4;

/// Kills children at random points while they create, open and drop a few shared names, then
/// checks that every name can be created again and that nothing is left once it is dropped.
fn killing_holders_at_random_points_leaks_nothing() -> Outcome {
    let kills = match std::env::var("WSM_STRESS_KILLS") {
        Ok(count) => count
            .parse()
            .map_err(|_| "WSM_STRESS_KILLS is not a number")?,
        Err(_) => STRESS_KILLS,
    };
    let prefix = unique_name("stress");
    let mut random = Xorshift::seeded();
    let churner = || -> Result<Peer, Failed> {
        // Starting a process is the OS's part, not the crate's: under Wine on a loaded machine
        // it can fail once (ERROR_INTERNAL_ERROR), so it gets a second chance.
        let mut churner = spawn_child("churn", &[&prefix])
            .or_else(|_| spawn_child("churn", &[&prefix]))
            .map_err(|error| format!("starting a churner: {error:?}"))?;
        churner.expect_line("churning")?;
        Ok(churner)
    };
    // Several churners at once, so that creates, opens and drops race across processes; each
    // round kills one of them at a random moment and starts another.
    // This process holds the churners' mutex and seqlock throughout, so that they outlive
    // every churner and each kill leaves them as a dead holder does.
    let mutex = NamedMutex::new(format!("{prefix}_mutex"))?;
    let seqlock =
        SharedMemoryLink::<SeqLock<StressValue>, ReadWrite>::create(format!("{prefix}_seqlock"))?;
    let (mut owner_deaths, mut recoveries) = (0, 0);
    let mut churners = (0..STRESS_CHURNERS)
        .map(|_| churner())
        .collect::<Result<Vec<_>, _>>()?;
    for _ in 0..kills {
        std::thread::sleep(std::time::Duration::from_micros(random.below(3000)));
        let victim = random.below(STRESS_CHURNERS as u64) as usize;
        churners[victim]
            .kill()
            .map_err(|error| format!("killing a churner: {error:?}"))?;
        // After every kill the mutex can be had, and with it the seqlock, at once.
        let (guard, died) = match mutex.lock_timeout(LOCK_PATIENCE) {
            Ok(Some(guard)) => (guard, false),
            Err(LockError::OwnerDied(guard)) => (guard, true),
            other => return Err(format!("the mutex after a kill: {other:?}").into()),
        };
        owner_deaths += usize::from(died);
        if recover_seqlock(seqlock.seqlock())? {
            recoveries += 1;
        }
        drop(guard);
        churners[victim] = churner()?;
    }
    for mut survivor in churners {
        survivor.kill()?;
    }
    eprintln!(
        "stress: {kills} kills, {owner_deaths} mutex owner deaths, {recoveries} seqlock recoveries"
    );
    drop((mutex, seqlock));
    expect_no_shm_object(&format!("{prefix}_mutex#mutex"))?;
    expect_no_shm_object(&format!("{prefix}_seqlock"))?;
    for index in 0..STRESS_NAMES {
        let name = format!("{prefix}_{index}");
        let link = SharedMemoryLink::<Mib, ReadWrite>::create(&name)?;
        // SAFETY: nobody else holds the region: every churner is dead.
        if unsafe { link.get() }.iter().any(|&byte| byte != 0) {
            return Err(format!("{name} was created again but is not zero-filled").into());
        }
        drop(link);
        expect_no_shm_object(&name)?;
    }
    Ok(())
}

/// What the churners publish under their seqlock: large enough that kills land mid-write.
type StressValue = [u64; 512];

/// Takes over the seqlock if a killed writer left it mid-write (the caller holds the mutex the
/// writers write under, so none is alive); whether it had to.
fn recover_seqlock(lock: &SeqLock<StressValue>) -> Result<bool, Failed> {
    match lock.read_within(std::time::Duration::from_millis(1)) {
        Ok(_) => Ok(false),
        Err(win_shared_memory::sync::SeqLockError::Stalled { .. }) => {
            lock.recover(&[0; 512])?;
            lock.read()?;
            Ok(true)
        }
        Err(other) => Err(format!("the seqlock after a kill: {other}").into()),
    }
}

/// A small, seedable random number generator: the stress run only needs kill times that vary.
struct Xorshift(u64);

impl Xorshift {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.subsec_nanos());
        Self(u64::from(nanos) | 1)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Create/open/use/drop cycles of links, regions, mutexes and events (10 000, or
/// `WSM_LEAK_CYCLES`), in a child so that no other test's handles blur the counts.
#[cfg(any(windows, target_os = "linux"))]
fn create_drop_cycles_leak_nothing() -> Outcome {
    let cycles = std::env::var("WSM_LEAK_CYCLES").unwrap_or_else(|_| "10000".into());
    let report = run_child("cycles", &[&cycles])?;
    let counts: Vec<&str> = report.split(' ').collect();
    match counts.as_slice() {
        [before, after] if before == after => Ok(()),
        _ => Err(format!("resource counts before and after differ: {report}").into()),
    }
}

#[cfg(windows)]
mod win32 {
    //! Interop with a program that uses plain Win32 calls, as games and their plugins do.

    use super::*;

    const SIZE: usize = 65536;

    fn peer(args: &[&str]) -> Result<Command, Failed> {
        c_program("win32_peer", args)
    }

    /// One of the C programs `cargo xtask test` builds from tests/c.
    fn c_program(program: &str, args: &[&str]) -> Result<Command, Failed> {
        let dir = std::env::var("WSM_C_PEER_DIR")
            .map_err(|_| "WSM_C_PEER_DIR is not set: run the tests with `cargo xtask test`")?;
        let mut command = Command::new(format!("{dir}\\{program}.exe"));
        command.args(args);
        Ok(command)
    }

    pub(super) fn versioned_copies_of_a_c_publisher_are_consistent() -> Outcome {
        let name = unique_name("versioned_c");
        let publisher = c_program("versioned_publisher", &[&name, PUBLISHER_UPDATES])?;
        check_versioned_copies(&name, Peer::spawn(publisher)?)
    }

    pub(super) fn a_region_made_by_plain_win32_is_read_by_the_crate() -> Outcome {
        let name = unique_name("from_c");
        let mut creator = Peer::spawn(peer(&["create", &name, &SIZE.to_string(), "17"])?)?;
        creator.expect_line("ready")?;
        let reader = SharedMemoryLink::<[u8; SIZE], ReadOnly>::open(&name)?;
        // SAFETY: the C program writes nothing until it is told to.
        check_pattern(unsafe { reader.get() }, 17)?;
        let mut writer = SharedMemoryLink::<[u8; SIZE], ReadWrite>::open_existing(&name)?;
        // SAFETY: as above.
        fill_pattern(unsafe { writer.get_mut() }, 18);
        creator.send("verify-bumped")?;
        creator.finish()
    }

    pub(super) fn a_region_made_by_the_crate_is_read_by_plain_win32() -> Outcome {
        let name = unique_name("to_c");
        let mut link = SharedMemoryLink::<[u8; SIZE], ReadWrite>::create(&name)?;
        // SAFETY: no other process touches the region yet.
        fill_pattern(unsafe { link.get_mut() }, 23);
        let status = peer(&["read", &name, &SIZE.to_string(), "23"])?.status()?;
        expect_eq(status.code(), Some(0))?;
        drop(link);
        // Gone with its last handle: the C program's OpenFileMappingW finds nothing (exit 4).
        let status = peer(&["read", &name, &SIZE.to_string(), "23"])?.status()?;
        expect_eq(status.code(), Some(4))
    }
}

// ---------------------------------------------------------------------------------------------
// The child roles.

/// Runs this process as a child in `role`; what it prints on stdout is its answer.
fn child(role: &str, args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let name = args.first().map(String::as_str).unwrap_or_default();
    match role {
        "read-game-state" => {
            let link = SharedMemoryLink::<GameState, ReadOnly>::open(name)?;
            // SAFETY: the parent does not write while the child reads.
            let state = unsafe { *link.get() };
            println!("score={} lives={}", state.score, state.lives);
        }
        "bump-score" => {
            let mut link = SharedMemoryLink::<GameState, ReadWrite>::open_existing(name)?;
            // SAFETY: the parent does not touch the region while the child runs.
            unsafe { link.get_mut().score += 1 };
        }
        "create-game-state" => {
            println!(
                "{}",
                kind(SharedMemoryLink::<GameState, ReadWrite>::create(name))
            );
        }
        "read-runtime-sized" => {
            let mut region = SharedMemory::<ReadWrite>::get_or_create(name, 1)?;
            let first = region.read_at::<u32>(0)?;
            let last = region.read_at::<u16>(RUNTIME_LEN - 2)?;
            region.write_at(1, &0xEE_u8)?;
            println!(
                "{} created={} first={first:x} last={last:x}",
                region.len(),
                region.created()
            );
        }
        "read-plain" => {
            let reader = SharedMemoryLink::<[u32; 4], ReadOnly>::open(name)?;
            println!("{:?}", reader.read());
            let mut writer = SharedMemoryLink::<[u32; 4], ReadWrite>::open_existing(name)?;
            writer.write(&[1, 2, 3, 5]);
        }
        "seqlock-read" => {
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
        }
        "hold-mutex" => {
            let mutex = NamedMutex::new(name)?;
            let guard = mutex.lock().map_err(|error| error.to_string())?;
            println!("locked");
            std::io::stdout().flush()?;
            std::io::stdin().read_line(&mut String::new())?;
            drop(guard);
            println!("released");
            std::io::stdout().flush()?;
            std::io::stdin().read_line(&mut String::new())?;
        }
        "wait-event" => {
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
        }
        "versioned-publish" => {
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
        }
        "scribble" => {
            let mut region = SharedMemory::<ReadWrite>::open_existing(name)?;
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stopper = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let _ = std::io::stdin().read_line(&mut String::new());
                stopper.store(true, Ordering::Relaxed);
            });
            println!("scribbling");
            std::io::stdout().flush()?;
            let mut random = Xorshift::seeded();
            while !stop.load(Ordering::Relaxed) {
                let offset = random.below((SCRIBBLED_LEN - 8) as u64) as usize;
                region.write_at(offset, &random.below(u64::MAX))?;
            }
        }
        "race-create" => {
            println!("ready");
            std::io::stdout().flush()?;
            std::io::stdin().read_line(&mut String::new())?;
            let created = SharedMemoryLink::<GameState, ReadWrite>::create(name);
            let _held = match created {
                Ok(mut link) => {
                    // SAFETY: only the winner writes, before anyone reads.
                    unsafe { link.get_mut().score = 1 };
                    println!("created");
                    Some(link)
                }
                Err(error) => {
                    println!("{}", kind::<()>(Err(error)));
                    None
                }
            };
            std::io::stdout().flush()?;
            // Hold the region until the pipe closes.
            std::io::stdin().read_line(&mut String::new())?;
        }
        "get-or-create" => {
            let mut link = SharedMemoryLink::<GameState, ReadWrite>::get_or_create(name)?;
            // SAFETY: the parent does not touch the region while the child runs.
            let state = unsafe { link.get_mut() };
            println!("score={} lives={}", state.score, state.lives);
            state.lives = 9;
        }
        "open" => println!(
            "{}",
            kind(SharedMemoryLink::<GameState, ReadOnly>::open(name))
        ),
        "open-existing" => {
            println!(
                "{}",
                kind(SharedMemoryLink::<GameState, ReadWrite>::open_existing(
                    name
                ))
            );
        }
        "open-zst" => println!("{}", kind(SharedMemoryLink::<(), ReadOnly>::open(name))),
        "open-large" => println!("{}", kind(SharedMemoryLink::<Large, ReadOnly>::open(name))),
        "get-or-create-large" => {
            println!(
                "{}",
                kind(SharedMemoryLink::<Large, ReadWrite>::get_or_create(name))
            );
        }
        "create-and-exit" => {
            let mut link = SharedMemoryLink::<GameState, ReadWrite>::create(name)?;
            // SAFETY: nobody else knows the region yet.
            unsafe { link.get_mut().score = 5 };
            println!("created");
        }
        "hold" => {
            let mut link = SharedMemoryLink::<GameState, ReadWrite>::create(name)?;
            // SAFETY: nobody else knows the region yet.
            unsafe {
                *link.get_mut() = GameState {
                    score: 77,
                    lives: 1,
                }
            };
            println!("ready");
            std::io::stdout().flush()?;
            // Hold the region until told to go, the pipe closes, or the parent kills us.
            std::io::stdin().read_line(&mut String::new())?;
        }
        "verify-and-bump" => {
            let seed: u8 = args[1].parse()?;
            let mut link = SharedMemoryLink::<Mib, ReadWrite>::open_existing(name)?;
            // SAFETY: the parent does not touch the region while the child runs.
            let bytes = unsafe { link.get_mut() };
            check_pattern(bytes, seed).map_err(|failed| format!("{failed:?}"))?;
            fill_pattern(bytes, seed.wrapping_add(1));
            println!("ok");
        }
        "churn" => {
            println!("churning");
            std::io::stdout().flush()?;
            let mutex = NamedMutex::new(format!("{name}_mutex"))?;
            let seqlock = SharedMemoryLink::<SeqLock<StressValue>, ReadWrite>::open_existing(
                format!("{name}_seqlock"),
            )?;
            for round in 0.. {
                // Publish under the mutex, as writers that may die must: a locker told that
                // the owner died knows the seqlock's writer is gone and may recover it.
                let guard = match mutex.lock_timeout(LOCK_PATIENCE) {
                    Ok(Some(guard)) | Err(LockError::OwnerDied(guard)) => guard,
                    other => return Err(format!("the mutex: {other:?}").into()),
                };
                if recover_seqlock(seqlock.seqlock()).is_err() {
                    return Err("the seqlock could not be recovered".into());
                }
                // Long enough under the lock that many kills land there, some mid-write.
                for _ in 0..64 {
                    seqlock.seqlock().write(&[round as u64; 512])?;
                }
                drop(guard);
                let name = format!("{name}_{}", round % STRESS_NAMES);
                let link = SharedMemoryLink::<[AtomicU8; MIB], ReadWrite>::get_or_create(&name)?;
                // SAFETY: the churners share the bytes only through atomics, and any bit
                // pattern is a valid AtomicU8.
                unsafe { link.get()[round % MIB].store(1, Ordering::Relaxed) };
                let _reader = SharedMemoryLink::<Mib, ReadOnly>::open(&name)?;
            }
        }
        #[cfg(target_pointer_width = "64")]
        "read-huge" => {
            let link = SharedMemoryLink::<[u8; ABOVE_4_GIB], ReadOnly>::open(name)?;
            // SAFETY: the parent does not write while the child reads.
            let bytes = unsafe { link.get() };
            let probes: Vec<String> = HUGE_PROBES
                .iter()
                .map(|&at| bytes[at].to_string())
                .collect();
            println!("{}", probes.join(" "));
        }
        #[cfg(any(windows, target_os = "linux"))]
        "cycles" => {
            let cycles: usize = name.parse()?;
            // Every kind of object the crate makes, created, opened, used and dropped.
            let cycle = |i: usize| -> Result<(), Box<dyn std::error::Error>> {
                let name = format!("Local\\wsm_cycle_{}_{i}", std::process::id());
                let mut link = SharedMemoryLink::<[u8; 4096], ReadWrite>::create(&name)?;
                // SAFETY: nobody else knows the region.
                unsafe { link.get_mut()[i % 4096] = 1 };
                let reader = SharedMemoryLink::<[u8; 4096], ReadOnly>::open(&name)?;
                // SAFETY: as above.
                assert_eq!(unsafe { reader.get() }[i % 4096], 1);
                let mut region = SharedMemory::<ReadWrite>::create(format!("{name}_region"), 100)?;
                region.write_at(i % 96, &7_u32)?;
                SharedMemory::<ReadOnly>::open(format!("{name}_region"))?;
                let mutex = NamedMutex::new(format!("{name}_mutex"))?;
                drop(mutex.lock().map_err(|error| error.to_string())?);
                let event = NamedEvent::new(format!("{name}_event"), EventReset::Auto)?;
                event.set()?;
                assert!(event.wait_timeout(std::time::Duration::ZERO)?);
                Ok(())
            };
            // Warm up first, so that lazily made process state (heaps, caches) is not counted.
            (0..100).try_for_each(cycle)?;
            let before = resource_counts();
            (100..100 + cycles).try_for_each(cycle)?;
            println!("{before} {}", resource_counts());
        }
        _ => return Err(format!("unknown role {role}").into()),
    }
    Ok(())
}

/// Handles (Windows), or descriptors and mappings (Linux), that this process has open.
///
/// Wine's GetProcessHandleCount always answers 0, so the handles are also counted by asking
/// GetHandleInformation about every handle value a small process uses; on Windows both count.
#[cfg(windows)]
fn resource_counts() -> String {
    use windows::Win32::Foundation::{GetHandleInformation, HANDLE};
    use windows::Win32::System::Threading::{GetCurrentProcess, GetProcessHandleCount};
    let mut reported = 0;
    // SAFETY: the pseudo-handle of the current process needs no closing; `reported` is a u32.
    unsafe { GetProcessHandleCount(GetCurrentProcess(), &mut reported) }
        .expect("GetProcessHandleCount");
    let probed = (4..0x10000_usize)
        .step_by(4)
        .filter(|&value| {
            let mut flags = 0;
            // SAFETY: GetHandleInformation only looks the value up in the handle table; an
            // invalid value is an error, not undefined behaviour.
            unsafe { GetHandleInformation(HANDLE(value as *mut _), &mut flags) }.is_ok()
        })
        .count();
    format!(
        "handles={reported},probed={probed},views={}",
        mapped_views()
    )
}

/// The mapped views in this process's address space, found by walking it with VirtualQuery.
#[cfg(windows)]
fn mapped_views() -> usize {
    use windows::Win32::System::Memory::{MEM_MAPPED, MEMORY_BASIC_INFORMATION, VirtualQuery};
    let mut views = 0;
    let mut address = 0_usize;
    loop {
        let mut info = MEMORY_BASIC_INFORMATION::default();
        // SAFETY: VirtualQuery only describes the address space; `info` is the buffer it fills,
        // of the size passed.
        let written = unsafe {
            VirtualQuery(
                Some(address as *const _),
                &mut info,
                size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        if written == 0 {
            return views;
        }
        if info.Type == MEM_MAPPED && info.AllocationBase == info.BaseAddress {
            views += 1;
        }
        address = info.BaseAddress as usize + info.RegionSize;
    }
}

/// Handles (Windows), or descriptors and mappings (Linux), that this process has open.
#[cfg(target_os = "linux")]
fn resource_counts() -> String {
    let fds = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count();
    let maps = std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .count();
    format!("fds={fds},maps={maps}")
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Creates a fresh region under a unique name and writes a `GameState` into it.
fn publish(
    tag: &str,
    score: u32,
    lives: u8,
) -> Result<(String, SharedMemoryLink<GameState, ReadWrite>), Failed> {
    let name = unique_name(tag);
    let mut link = SharedMemoryLink::<GameState, ReadWrite>::create(&name)?;
    // SAFETY: nobody else knows the region yet.
    unsafe { *link.get_mut() = GameState { score, lives } };
    Ok((name, link))
}

/// A name no other test, nor another run of this suite, uses.
fn unique_name(tag: &str) -> String {
    format!("Local\\wsm_test_{}_{tag}", std::process::id())
}

/// What a result was, in the words the tests compare.
fn kind<T>(result: Result<T, SharedMemoryError>) -> String {
    match result {
        Ok(_) => "opened".into(),
        Err(SharedMemoryError::OpenMapping(cause)) if is_not_found(&cause) => {
            "OpenMapping not-found".into()
        }
        Err(SharedMemoryError::OpenMapping(cause)) if is_access_denied(&cause) => {
            "OpenMapping denied".into()
        }
        Err(SharedMemoryError::AlreadyExists) => "AlreadyExists".into(),
        Err(SharedMemoryError::InvalidName { .. }) => "InvalidName".into(),
        Err(SharedMemoryError::Alignment { align, .. }) => format!("Alignment {align}"),
        Err(SharedMemoryError::SizeMismatch {
            required, actual, ..
        }) => {
            format!("SizeMismatch required={required} actual={actual}")
        }
        Err(other) => format!("unexpected: {other}"),
    }
}

#[cfg(windows)]
fn is_not_found(error: &win_shared_memory::OsError) -> bool {
    error.code() == windows::Win32::Foundation::ERROR_FILE_NOT_FOUND.to_hresult()
}

#[cfg(windows)]
fn is_access_denied(error: &win_shared_memory::OsError) -> bool {
    error.code() == windows::Win32::Foundation::ERROR_ACCESS_DENIED.to_hresult()
}

#[cfg(unix)]
fn is_access_denied(error: &win_shared_memory::OsError) -> bool {
    error.kind() == std::io::ErrorKind::PermissionDenied
}

#[cfg(unix)]
fn is_not_found(error: &win_shared_memory::OsError) -> bool {
    error.kind() == std::io::ErrorKind::NotFound
}

/// On Linux, checks that no POSIX object is left under the name: nothing leaked in /dev/shm.
#[cfg(target_os = "linux")]
fn expect_no_shm_object(name: &str) -> Outcome {
    let file = format!("/dev/shm/{}", name.trim_start_matches("Local\\"));
    match std::path::Path::new(&file).exists() {
        true => Err(format!("{file} is left behind").into()),
        false => Ok(()),
    }
}

/// Elsewhere the OS itself removes what nobody holds; the tests' opens check that.
#[cfg(not(target_os = "linux"))]
fn expect_no_shm_object(_name: &str) -> Outcome {
    Ok(())
}

fn pattern_byte(index: usize, seed: u8) -> u8 {
    (index.wrapping_mul(31).wrapping_add(seed as usize) & 0xFF) as u8
}

fn fill_pattern(bytes: &mut [u8], seed: u8) {
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = pattern_byte(index, seed);
    }
}

fn check_pattern(bytes: &[u8], seed: u8) -> Outcome {
    match bytes
        .iter()
        .enumerate()
        .position(|(index, &byte)| byte != pattern_byte(index, seed))
    {
        Some(index) => Err(format!(
            "byte {index} is {}, not {}",
            bytes[index],
            pattern_byte(index, seed)
        )
        .into()),
        None => Ok(()),
    }
}

fn expect_eq<T: PartialEq<U> + std::fmt::Debug, U: std::fmt::Debug>(
    actual: T,
    expected: U,
) -> Outcome {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("expected {expected:?}, got {actual:?}").into())
    }
}

/// Runs this binary in `role` to the end and returns what it printed, trimmed.
fn run_child(role: &str, args: &[&str]) -> Result<String, Failed> {
    let output = child_command(role, args)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("child {role} exited with {}", output.status).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn spawn_child(role: &str, args: &[&str]) -> Result<Peer, Failed> {
    Peer::spawn(child_command(role, args))
}

fn child_command(role: &str, args: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.env(ROLE_VAR, role).args(args);
    command
}

/// A child process that the test talks to line by line; killed if the test fails first.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(mut command: Command) -> Result<Self, Failed> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    fn read_line(&mut self) -> Result<String, Failed> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(line.trim().to_owned())
    }

    fn expect_line(&mut self, expected: &str) -> Outcome {
        expect_eq(self.read_line()?, expected)
    }

    fn send(&mut self, line: &str) -> Outcome {
        let stdin = self.stdin.as_mut().expect("stdin is open until finish");
        writeln!(stdin, "{line}")?;
        Ok(stdin.flush()?)
    }

    /// Closes the child's stdin, which tells a child still waiting for a line to finish, and
    /// checks that it succeeded.
    fn finish(mut self) -> Outcome {
        self.stdin = None;
        let status = self.child.wait()?;
        expect_eq(status.code(), Some(0))
    }

    /// Kills the child (SIGKILL, or TerminateProcess on Windows) and reaps it.
    fn kill(&mut self) -> Outcome {
        if let Err(error) = self.child.kill() {
            // Wine under load can fail TerminateProcess (ERROR_INTERNAL_ERROR) on a process that
            // is already ending; only a child that is still alive is a failure.
            if self.child.try_wait()?.is_none() {
                return Err(format!("killing the child: {error}").into());
            }
        }
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
