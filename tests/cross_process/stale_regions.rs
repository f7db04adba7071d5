//! Stale regions on Linux: regions whose holders all ended without dropping them (exit,
//! SIGINT, SIGKILL) are reclaimed by the next process of their user, are never adopted by a
//! create or handed out by an open, never make a create or open wait for ever, and are
//! reported with the call that kept them; another user's and other programs' objects are
//! never touched. The portable backend (`--cfg wsm_portable`) makes no such promise.

use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use libtest_mimic::Failed;
use win_shared_memory::sync::{EventReset, NamedEvent, NamedMutex};
use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory};

use crate::harness::{
    MIB, NOBODY, Outcome, Peer, RoleResult, child_command, expect_eq, expect_no_shm_object,
    unique_name,
};
use crate::lifetime_hostile::{as_user, chain, error_kind, object_path, run_as, run_with_timeout};

tests! {
    a_stale_region_is_never_adopted,
    a_held_write_lock_makes_create_fail_in_bounded_time,
    an_open_while_the_name_is_replaced_never_reports_it_absent,
    a_foreign_undeletable_stale_region_reports_the_call_and_errno,
    regions_of_exited_processes_are_reclaimed_by_the_next_user,
    reclaim_stale_leaves_other_programs_and_users_alone,
}

roles! {
    "stale-hold-pattern" => hold_pattern,
    "stale-flock" => flock_exclusive,
    "stale-write-lock" => write_lock,
    "stale-goc" => get_or_create,
    "stale-open-loop" => open_loop,
    "stale-exit-holding" => exit_holding,
    "stale-use-crate" => use_crate,
    "stale-reclaim" => reclaim,
}

/// Users with no other process on the machine, so that no other test's sweep (which removes
/// its own user's stale regions) takes a stale region away mid-test; one per test that leaves
/// a stale region, as tests run in parallel.
const OWNER: u32 = 4242;
const THIRD: u32 = 4243;
const LOCKING_OWNER: u32 = 4244;
const UNDELETABLE_OWNER: u32 = 4245;
const SWEEPER: u32 = 4246;
const EXITER: u32 = 4247;

// ---------------------------------------------------------------------------------------------
// The tests.

/// The sequence of issue 11 item 3: the holder of a `mode(0o644)` region is killed, another
/// user's read-only open fails, that user holds `flock(LOCK_EX)` on the object, and the
/// owner's `get_or_create` still makes a fresh region, promptly.
fn a_stale_region_is_never_adopted() -> Outcome {
    let name = unique_name("stale_adopt");
    let mut holder = Peer::spawn(as_user(
        child_command("stale-hold-pattern", &[&name]),
        OWNER,
    ))?;
    holder.expect_line("held")?;
    holder.kill()?;
    if !std::path::Path::new(&object_path(&name)).exists() {
        return Err("the killed holder's region is already gone: nothing to test".into());
    }
    let opened = run_as(NOBODY, "hostile-open", &[&name])?;
    if !opened.starts_with("error") {
        return Err(format!("another user opened a dead region: {opened}").into());
    }
    let mut locker = Peer::spawn(as_user(child_command("stale-flock", &[&name]), NOBODY))?;
    locker.expect_line("locked")?;
    let command = as_user(child_command("stale-goc", &[&name]), OWNER);
    let printed = run_with_timeout(command, Duration::from_secs(10));
    drop(locker);
    let _ = std::fs::remove_file(object_path(&name));
    expect_eq(printed?, "created=true zeroed=true")
}

/// A process that keeps the object's write lock (and its flock) cannot make a
/// `get_or_create` wait for ever: it fails after its patience, naming the region.
fn a_held_write_lock_makes_create_fail_in_bounded_time() -> Outcome {
    let name = unique_name("write_locked");
    let mut holder = Peer::spawn(as_user(
        child_command("stale-hold-pattern", &[&name]),
        LOCKING_OWNER,
    ))?;
    holder.expect_line("held")?;
    holder.kill()?;
    let mut locker = Peer::spawn(as_user(
        child_command("stale-write-lock", &[&name]),
        LOCKING_OWNER,
    ))?;
    locker.expect_line("locked")?;
    let started = Instant::now();
    let command = as_user(child_command("stale-goc", &[&name]), LOCKING_OWNER);
    let printed = run_with_timeout(command, Duration::from_secs(20));
    let waited = started.elapsed();
    drop(locker);
    let _ = std::fs::remove_file(object_path(&name));
    let printed = printed?;
    let file = object_path(&name);
    if !printed.starts_with("error TimedOut") || !printed.contains(&file) {
        return Err(format!("expected a TimedOut naming {file}, got {printed:?}").into());
    }
    if waited > Duration::from_secs(10) {
        return Err(format!("the error took {waited:?}").into());
    }
    Ok(())
}

/// While the name always names an object (atomically replaced, back and forth, between a
/// live region and a stale one that the opener may not remove), an open never says that
/// no region has the name: it joins the live one, or reports the stale one with its cause.
fn an_open_while_the_name_is_replaced_never_reports_it_absent() -> Outcome {
    let name = unique_name("replaced");
    let named = object_path(&name);
    let live_name = format!("{name}_live");
    let _live =
        SharedMemory::<ReadWrite>::create_with(&live_name, 64, &Options::new().mode(0o644))?;
    let stale = format!("{named}_stale");
    std::fs::write(&stale, [0_u8; 64])?;
    std::os::unix::fs::chown(&stale, Some(THIRD), Some(THIRD))?;
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o3644))?;
    let flips = std::sync::atomic::AtomicBool::new(true);
    let temporary = format!("{named}_next");
    let result = std::thread::scope(|scope| {
        let flipper = scope.spawn(|| {
            let mut which = false;
            while flips.load(std::sync::atomic::Ordering::Relaxed) {
                let source = if which {
                    object_path(&live_name)
                } else {
                    stale.clone()
                };
                which = !which;
                if std::fs::hard_link(&source, &temporary).is_ok() {
                    let _ = std::fs::rename(&temporary, &named);
                }
            }
        });
        std::thread::sleep(Duration::from_millis(5));
        let printed = run_as(NOBODY, "stale-open-loop", &[&name, "3000"]);
        flips.store(false, std::sync::atomic::Ordering::Relaxed);
        let _ = flipper.join();
        printed
    });
    for path in [&named, &stale, &temporary] {
        let _ = std::fs::remove_file(path);
    }
    let printed = result?;
    let counts: Vec<usize> = printed
        .split_whitespace()
        .filter_map(|field| field.split('=').nth(1)?.parse().ok())
        .collect();
    let [joined, stale_reported, absent, other] = counts[..] else {
        return Err(format!("unexpected output {printed:?}").into());
    };
    if absent != 0 || other != 0 || joined == 0 || stale_reported == 0 {
        return Err(format!("expected joins and stale reports only, got {printed}").into());
    }
    Ok(())
}

/// A stale region that this user may open but not remove (another user's, mode 0666):
/// the error names the call that failed and its errno, instead of hiding it.
fn a_foreign_undeletable_stale_region_reports_the_call_and_errno() -> Outcome {
    let name = unique_name("undeletable");
    let mut holder = Peer::spawn(as_user(
        child_command("stale-hold-pattern", &[&name, "666"]),
        UNDELETABLE_OWNER,
    ))?;
    holder.expect_line("held")?;
    holder.kill()?;
    let printed = run_as(NOBODY, "stale-goc", &[&name]);
    let _ = std::fs::remove_file(object_path(&name));
    let printed = printed?;
    let file = object_path(&name);
    if !printed.contains("unlink") || !printed.contains("os error 1") || !printed.contains(&file) {
        return Err(format!("expected unlink's EPERM on {file}, got {printed:?}").into());
    }
    Ok(())
}

/// Processes that end without dropping (`process::exit`, SIGINT's default action,
/// SIGKILL) holding a 1 MiB and an 8-byte region, and a mutex and an event (whose companion
/// regions are regions too), leave nothing in /dev/shm once another process has used the crate.
fn regions_of_exited_processes_are_reclaimed_by_the_next_user() -> Outcome {
    for how in ["exit", "sigint", "sigkill"] {
        let big = unique_name(&format!("exit_{how}_big"));
        let small = unique_name(&format!("exit_{how}_small"));
        let command = child_command("stale-exit-holding", &[&big, &small, how]);
        let mut holder = Peer::spawn(as_user(command, EXITER))?;
        holder.expect_line("held")?;
        if how == "sigkill" {
            holder.kill()?;
        } else {
            // Its stdin closed, the holder ends as `how` says, and is reaped.
            let ended = holder.finish();
            if how == "exit" {
                ended?;
            }
        }
        let companions = [format!("{small}#mutex"), format!("{small}#event")];
        let held = [&big, &small, &companions[0], &companions[1]];
        for name in held {
            if !std::path::Path::new(&object_path(name)).exists() {
                return Err(format!("after {how}, {name} is gone before any sweep").into());
            }
        }
        run_with_timeout(
            as_user(child_command("stale-use-crate", &[]), EXITER),
            Duration::from_secs(60),
        )?;
        for name in held {
            expect_no_shm_object(name)
                .map_err(|error| format!("after {how}: {}", error_text(error)))?;
        }
    }
    Ok(())
}

/// `reclaim_stale` removes this user's stale regions and nothing else: not another
/// program's (unmarked) object, not another user's stale region, not a live one.
fn reclaim_stale_leaves_other_programs_and_users_alone() -> Outcome {
    let as_sweeper = |role: &str, args: &[&str]| as_user(child_command(role, args), SWEEPER);
    // The live holder first: its own sweep, at its create, must not find the stale region.
    let live = unique_name("reclaim_live");
    let mut live_holder = Peer::spawn(as_sweeper("stale-hold-pattern", &[&live]))?;
    live_holder.expect_line("held")?;
    let stale = unique_name("reclaim_stale");
    let mut holder = Peer::spawn(as_sweeper("stale-hold-pattern", &[&stale]))?;
    holder.expect_line("held")?;
    holder.kill()?;
    let unmarked = object_path(&unique_name("reclaim_unmarked"));
    let foreign = object_path(&unique_name("reclaim_foreign"));
    for (path, owner, mode) in [(&unmarked, SWEEPER, 0o600), (&foreign, THIRD, 0o3600)] {
        std::fs::write(path, [0_u8; 8])?;
        std::os::unix::fs::chown(path, Some(owner), Some(owner))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let printed = run_with_timeout(as_sweeper("stale-reclaim", &[]), Duration::from_secs(60));
    let kept = [&unmarked, &foreign, &object_path(&live)]
        .iter()
        .all(|path| std::path::Path::new(path).exists());
    let finished = live_holder.finish();
    let _ = std::fs::remove_file(&unmarked);
    let _ = std::fs::remove_file(&foreign);
    finished?;
    if !kept {
        return Err(
            "reclaim_stale removed an object that is not a stale region of its user".into(),
        );
    }
    expect_eq(printed?, "removed=1")?;
    expect_no_shm_object(&stale)
}

// ---------------------------------------------------------------------------------------------
// The child roles.

/// Creates a 64-byte region of the mode in `args[1]` (0644 by default), full of 0xAB, and
/// holds it until stdin closes.
fn hold_pattern(name: &str, args: &[String]) -> RoleResult {
    let mode = args
        .get(1)
        .map_or(Ok(0o644), |mode| u32::from_str_radix(mode, 8))?;
    let mut link = SharedMemory::<ReadWrite>::create_with(name, 64, &Options::new().mode(mode))?;
    link.write_at(0, &[0xAB_u8; 64])?;
    println!("held");
    std::io::stdin().lock().lines().for_each(drop);
    Ok(())
}

/// Holds `flock(LOCK_EX)` on the object (opened read-only) until stdin closes.
fn flock_exclusive(name: &str, _: &[String]) -> RoleResult {
    let file = std::fs::File::open(object_path(name))?;
    // SAFETY: flock on a descriptor open for the call.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    println!("locked");
    std::io::stdin().lock().lines().for_each(drop);
    Ok(())
}

/// Holds both `flock(LOCK_EX)` and an OFD write lock on the object until stdin closes.
fn write_lock(name: &str, _: &[String]) -> RoleResult {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(object_path(name))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: flock on a descriptor open for the call.
    let flocked = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) };
    // SAFETY: all zeroes is a valid `flock` (a whole-file request once the type is set).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as _;
    // SAFETY: an OFD lock request on a descriptor open for the call, with a valid `flock`.
    let locked = unsafe { libc::fcntl(fd, libc::F_OFD_SETLK, &mut lock) };
    if flocked != 0 || locked != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    println!("locked");
    std::io::stdin().lock().lines().for_each(drop);
    Ok(())
}

/// `get_or_create` of 64 bytes: prints whether it created the region and found it zeroed,
/// or the error with its kind.
fn get_or_create(name: &str, _: &[String]) -> RoleResult {
    match SharedMemory::<ReadWrite>::get_or_create(name, 64) {
        Ok(link) => {
            let zeroed = link.read_at::<[u8; 64]>(0)? == [0; 64];
            println!("created={} zeroed={zeroed}", link.created());
        }
        Err(error) => println!("error {}: {}", error_kind(&error), chain(&error)),
    }
    Ok(())
}

/// Opens the region `args[1]` times; prints how many opens joined it, reported it stale,
/// reported it absent, or failed otherwise.
fn open_loop(name: &str, args: &[String]) -> RoleResult {
    let rounds: usize = args[1].parse()?;
    let (mut joined, mut stale, mut absent, mut other) = (0, 0, 0, 0);
    for _ in 0..rounds {
        match SharedMemory::<ReadOnly>::open(name) {
            Ok(_) => joined += 1,
            Err(error) if chain(&error).contains("stale") => stale += 1,
            Err(error) if error_kind(&error) == "NotFound" => absent += 1,
            Err(error) => {
                other += 1;
                eprintln!("open_loop: {}", chain(&error));
            }
        }
    }
    println!("joined={joined} stale={stale} absent={absent} other={other}");
    Ok(())
}

/// Creates a 1 MiB region (the name) and an 8-byte one (`args[1]`) with a mutex and an event
/// of that name, then, once stdin
/// closes, ends as `args[2]` says without dropping them: `exit` (std::process::exit),
/// `sigint` (the signal's default action), or anything else: waits to be killed.
fn exit_holding(name: &str, args: &[String]) -> RoleResult {
    let big = SharedMemory::<ReadWrite>::create(name, MIB)?;
    let small = SharedMemory::<ReadWrite>::create(&args[1], 8)?;
    // Their companion regions, `<small>#mutex` and `<small>#event`, are held too.
    let mutex = NamedMutex::new(&args[1])?;
    let event = NamedEvent::new(&args[1], EventReset::Manual)?;
    println!("held");
    std::io::stdout().flush()?;
    std::io::stdin().lock().lines().for_each(drop);
    match args[2].as_str() {
        "exit" => std::process::exit(0),
        // SAFETY: the default action is restored (a shell's background job starts with
        // SIGINT ignored, and the child inherits that), then raise sends the signal, whose
        // default action ends the process.
        "sigint" => unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::raise(libc::SIGINT);
        },
        _ => std::thread::sleep(Duration::from_secs(60)),
    }
    drop((big, small, mutex, event));
    Ok(())
}

/// Uses the crate once: an open of a name that nobody created.
fn use_crate(_: &str, _: &[String]) -> RoleResult {
    let _ = SharedMemory::<ReadOnly>::open(unique_name("never_created"));
    Ok(())
}

fn error_text(failed: Failed) -> String {
    failed.message().unwrap_or_default().to_owned()
}

/// Calls `reclaim_stale()` (this process has not used the crate otherwise, so nothing else
/// swept): prints how many regions it removed.
fn reclaim(_: &str, _: &[String]) -> RoleResult {
    println!("removed={}", win_shared_memory::reclaim_stale()?);
    Ok(())
}
