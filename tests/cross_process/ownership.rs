//! What the Linux sweep may remove, and that nothing stops it: a child forked in the middle of
//! its parent's first use never hangs; a region is reclaimed whatever its mode, the owner's
//! included; and only a mark that no other user and no plain Windows program can set makes an
//! object the crate's to remove.

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory};

use crate::harness::{
    NOBODY, Outcome, Peer, RoleResult, child_command, expect_eq, expect_no_shm_object, kind,
    unique_name,
};
use crate::lifetime_hostile::{as_user, object_path, run_as, run_with_timeout};

tests! {
    a_child_forked_during_the_first_use_never_hangs,
    a_region_its_owner_may_not_write_is_reclaimed_after_its_last_reader,
    a_killed_holders_region_its_owner_may_not_write_is_reclaimed,
    a_wine_mark_another_user_sets_never_gets_an_object_removed,
    a_region_is_never_a_set_group_id_program,
    a_region_its_owner_may_not_write_is_never_opened_for_writing,
    a_squatted_index_makes_no_process_examine_all_of_dev_shm,
}

roles! {
    "ownership-fork-during-first-use" => fork_during_first_use,
    "ownership-hold-read-only" => hold_read_only,
    "ownership-forge-mark" => forge_mark,
    "ownership-next-use" => next_use,
    "ownership-churn" => churn,
}

/// Users of their own, so that no other test's sweep takes these tests' stale regions away.
const READ_ONLY_OWNER: u32 = 4250;
const KILLED_OWNER: u32 = 4251;
const VICTIM: u32 = 4252;
const CHURNING_OWNER: u32 = 4253;
const SQUATTER: u32 = 4254;
const SQUATTED: u32 = 4255;

/// The modes that deny their owner writing.
const OWNER_READ_ONLY_MODES: [&str; 3] = ["444", "440", "400"];

/// Foreign entries in /dev/shm while the fork test runs: enough to make a sweep that examines
/// each of them last tens of milliseconds, the window a fork used to hang in.
const CROWD: usize = 6000;

/// Forks made during the parent's first use, each child using the crate at once.
const FORKS: usize = 40;

// ---------------------------------------------------------------------------------------------
// The tests.

/// Issue 22's first defect: a thread makes the process's first create (and so its sweep)
/// while the main thread forks children that use the crate at once; with the sweep behind a
/// `std::sync::Once`, a child forked while it ran hung for ever at its first use.
fn a_child_forked_during_the_first_use_never_hangs() -> Outcome {
    let crowd = Crowd::new(CROWD)?;
    let printed = run_with_timeout(
        child_command(
            "ownership-fork-during-first-use",
            &[&unique_name("fork_sweep")],
        ),
        Duration::from_secs(60),
    );
    drop(crowd);
    expect_eq(printed?, format!("children={FORKS} hung=0"))
}

/// A region whose mode denies its owner writing: its creator drops it first, a reader of the
/// same user holds it read-only and drops it last, and the name goes with the reader, as
/// with any other mode (the reader's descriptor cannot take the remover's write lock; the
/// owner gives itself write access for one open).
fn a_region_its_owner_may_not_write_is_reclaimed_after_its_last_reader() -> Outcome {
    for mode in OWNER_READ_ONLY_MODES {
        let name = unique_name(&format!("ro_{mode}_reader_last"));
        let as_owner =
            |role: &str, args: &[&str]| as_user(child_command(role, args), READ_ONLY_OWNER);
        let mut creator = Peer::spawn(as_owner("stale-hold-pattern", &[&name, mode]))?;
        creator.expect_line("held")?;
        let mut reader = Peer::spawn(as_owner("ownership-hold-read-only", &[&name]))?;
        reader.expect_line("held")?;
        creator.finish()?;
        if !std::path::Path::new(&object_path(&name)).exists() {
            return Err(format!("mode {mode}: the name went while a reader held it").into());
        }
        reader.finish()?;
        expect_no_shm_object(&name).map_err(|error| format!("mode {mode}: {error:?}"))?;
    }
    Ok(())
}

/// The holder of a region whose mode denies its owner writing is killed: its owner's next
/// process sweeps it, a `create` of the name makes a fresh region, and an `open` finds none.
fn a_killed_holders_region_its_owner_may_not_write_is_reclaimed() -> Outcome {
    for mode in OWNER_READ_ONLY_MODES {
        let swept = unique_name(&format!("ro_{mode}_swept"));
        let used = unique_name(&format!("ro_{mode}_used"));
        for name in [&swept, &used] {
            let command = child_command("stale-hold-pattern", &[name, mode]);
            let mut holder = Peer::spawn(as_user(command, KILLED_OWNER))?;
            holder.expect_line("held")?;
            holder.kill()?;
            if !std::path::Path::new(&object_path(name)).exists() {
                return Err(format!("mode {mode}: {name} went before any sweep").into());
            }
        }
        // The first process of the user after the kills sweeps `swept`, and uses `used`'s name.
        let printed = run_as(KILLED_OWNER, "ownership-next-use", &[&used])?;
        expect_eq(printed, "open=OpenMapping not-found create=ok".to_owned())
            .map_err(|error| format!("mode {mode}: {error:?}"))?;
        expect_no_shm_object(&swept).map_err(|error| format!("mode {mode}: {error:?}"))?;
        expect_no_shm_object(&used).map_err(|error| format!("mode {mode}: {error:?}"))?;
    }
    Ok(())
}

/// Issue 22's third defect: another user who may write a victim's object (made 0666 by a
/// program that is not this crate) sets Wine's `user.DOSATTRIB = 0x6` on it, and cannot set
/// the mark's access time; the victim's next sweep, `reclaim_stale()` and use of the
/// name leave the object where it is.
fn a_wine_mark_another_user_sets_never_gets_an_object_removed() -> Outcome {
    let name = unique_name("forged_mark");
    let path = object_path(&name);
    std::fs::write(&path, [7_u8; 64])?;
    std::os::unix::fs::chown(&path, Some(VICTIM), Some(VICTIM))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
    let forged = run_as(NOBODY, "ownership-forge-mark", &[&name]);
    let used = run_as(VICTIM, "ownership-next-use", &[&name]);
    let reclaimed = run_as(VICTIM, "stale-reclaim", &[]);
    let kept = std::fs::read(&path);
    let _ = std::fs::remove_file(&path);
    expect_eq(
        forged?,
        "attributes=set time=Operation not permitted".to_owned(),
    )?;
    // The victim's object is joined as it is (another program's), never removed.
    expect_eq(used?, "open=ok create=AlreadyExists".to_owned())?;
    expect_eq(reclaimed?, "removed=0".to_owned())?;
    expect_eq(kept.ok(), Some(vec![7_u8; 64]))
}

/// The native mark is the sticky bit alone: 0.2's set-group-ID bit made a real set-group-ID
/// program of a region with group execute permission, which any writer of the region could
/// fill with code and run as the owner's group while the region was stale.
fn a_region_is_never_a_set_group_id_program() -> Outcome {
    let name = unique_name("no_setgid");
    let region = SharedMemory::<ReadWrite>::create_with(&name, 64, &Options::new().mode(0o775))?;
    let mode = std::fs::metadata(object_path(&name))?.permissions().mode();
    drop(region);
    expect_eq(format!("{:o}", mode & 0o7777), "1775".to_owned())
}

/// A region whose mode denies its owner writing, held by its creator, while two readers of
/// the same user join and leave it as fast as they can: a `ReadWrite` open by that user is
/// refused every time (the owner's write bit is only ever added to objects nobody holds).
fn a_region_its_owner_may_not_write_is_never_opened_for_writing() -> Outcome {
    let name = unique_name("ro_churn");
    let as_owner = |role: &str, args: &[&str]| as_user(child_command(role, args), CHURNING_OWNER);
    let mut creator = Peer::spawn(as_owner("stale-hold-pattern", &[&name, "444"]))?;
    creator.expect_line("held")?;
    let churners = [
        Peer::spawn(as_owner("ownership-churn", &[&name, "read"]))?,
        Peer::spawn(as_owner("ownership-churn", &[&name, "read"]))?,
    ];
    let writer = run_with_timeout(
        as_owner("ownership-churn", &[&name, "write"]),
        Duration::from_secs(30),
    );
    for churner in churners {
        churner.finish()?;
    }
    creator.finish()?;
    let written = writer?;
    if !written.starts_with("writable=0 ") {
        return Err(format!("the owner opened a 0o444 region for writing: {written}").into());
    }
    expect_no_shm_object(&name)
}

/// Another user made the name of a user's index first: that user's processes do not fall
/// back to examining every entry of /dev/shm at their first use (what the squatter wants),
/// and `reclaim_stale()` still removes the user's stale regions.
fn a_squatted_index_makes_no_process_examine_all_of_dev_shm() -> Outcome {
    let index = format!("/dev/shm/.win-shared-memory-{SQUATTED}");
    std::fs::create_dir(&index)?;
    std::os::unix::fs::chown(&index, Some(SQUATTER), Some(SQUATTER))?;
    // A stale region of the user's, as a killed 0.2 holder leaves it: marked, unlisted.
    let stale = object_path(&unique_name("squatted_stale"));
    std::fs::write(&stale, [0_u8; 64])?;
    std::os::unix::fs::chown(&stale, Some(SQUATTED), Some(SQUATTED))?;
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o1600))?;
    let first_use = run_as(SQUATTED, "stale-use-crate", &[]);
    let left = std::path::Path::new(&stale).exists();
    let reclaimed = run_as(SQUATTED, "stale-reclaim", &[]);
    let gone = !std::path::Path::new(&stale).exists();
    let _ = std::fs::remove_file(&stale);
    let _ = std::fs::remove_dir(&index);
    first_use?;
    expect_eq(
        (left, reclaimed?, gone),
        (true, "removed=1".to_owned(), true),
    )
}

// ---------------------------------------------------------------------------------------------
// The child roles.

/// A fresh process: one thread makes the process's first create while this one forks
/// [`FORKS`] children, each of which opens a name at once and exits; prints how many children
/// there were and how many did not end within 5 s (killed then).
fn fork_during_first_use(name: &str, _: &[String]) -> RoleResult {
    let name = name.to_owned();
    let first_use = std::thread::spawn(move || SharedMemory::<ReadWrite>::create(&name, 64));
    let missing = unique_name("never_made");
    let mut children = Vec::new();
    for _ in 0..FORKS {
        // SAFETY: the child opens a region and exits with `_exit`. glibc makes malloc usable
        // in the child of a multithreaded process, and the crate promises that nothing it
        // holds is a lock a fork can leave held: what the test checks.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let _ = SharedMemory::<ReadOnly>::open(&missing);
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(0) };
        }
        children.push(child);
        std::thread::sleep(Duration::from_micros(500));
    }
    let mut hung = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    for child in &children {
        if !reaped_by(*child, deadline) {
            hung += 1;
            // SAFETY: ends the child that this process made and has not reaped.
            unsafe { libc::kill(*child, libc::SIGKILL) };
            reaped_by(*child, Instant::now() + Duration::from_secs(5));
        }
    }
    first_use
        .join()
        .map_err(|_| "the first create panicked")??;
    println!("children={} hung={hung}", children.len());
    Ok(())
}

/// Whether the child `pid` ended (and is reaped) before `deadline`.
fn reaped_by(pid: libc::pid_t, deadline: Instant) -> bool {
    loop {
        let mut status = 0;
        // SAFETY: polls this process's own child, into a local.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Holds the region read-only until stdin closes.
fn hold_read_only(name: &str, _: &[String]) -> RoleResult {
    let region = SharedMemory::<ReadOnly>::open(name)?;
    println!("held");
    std::io::stdin().lock().lines().for_each(drop);
    drop(region);
    Ok(())
}

/// As another user: sets Wine's DOS attributes `HIDDEN | SYSTEM` on the object, then tries to
/// set the mark's access time; prints what each gave.
fn forge_mark(name: &str, _: &[String]) -> RoleResult {
    let path = object_path(name);
    let attributes = match rustix::fs::setxattr(
        path.as_str(),
        "user.DOSATTRIB",
        b"0x6",
        rustix::fs::XattrFlags::empty(),
    ) {
        Ok(()) => "set".to_owned(),
        Err(errno) => std::io::Error::from(errno).to_string(),
    };
    // 2100-01-01 00:00:00.0314159 UTC, the crate's mark (src/boundary.rs), as the access time.
    let mark = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 4_102_444_800,
            tv_nsec: 31_415_900,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
    };
    let time = match rustix::fs::utimensat(
        rustix::fs::CWD,
        path.as_str(),
        &mark,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    ) {
        Ok(()) => "set".to_owned(),
        Err(errno) => {
            let text = std::io::Error::from(errno).to_string();
            text.split(" (os error")
                .next()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let attributes = attributes
        .split(" (os error")
        .next()
        .unwrap_or_default()
        .to_owned();
    println!("attributes={attributes} time={time}");
    Ok(())
}

/// A user's next process: an `open` of the name, then a `create` of it; prints what each gave.
fn next_use(name: &str, _: &[String]) -> RoleResult {
    let opened = SharedMemory::<ReadOnly>::open(name).map(drop);
    let created = SharedMemory::<ReadWrite>::create_with(name, 64, &Options::new()).map(drop);
    println!("open={} create={}", outcome(opened), outcome(created));
    Ok(())
}

/// For one second: opens the region read-only and drops it (`args[1]` = `read`), or tries
/// to open it for writing (`write`), as often as it can; prints how many write opens were
/// granted, and how many tries there were.
fn churn(name: &str, args: &[String]) -> RoleResult {
    let write = args.get(1).is_some_and(|what| what == "write");
    let (mut granted, mut tries) = (0, 0);
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        tries += 1;
        if write {
            granted += usize::from(SharedMemory::<ReadWrite>::open_existing(name).is_ok());
        } else {
            drop(SharedMemory::<ReadOnly>::open(name)?);
        }
    }
    if write {
        println!("writable={granted} of {tries}");
    } else {
        std::io::stdin().lock().lines().for_each(drop);
    }
    Ok(())
}

/// `ok`, or the error's kind.
fn outcome(result: Result<(), win_shared_memory::SharedMemoryError>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(error) => kind(Err::<(), _>(error)),
    }
}

/// Foreign entries in /dev/shm (plain empty files), removed on drop.
struct Crowd(Vec<String>);

impl Crowd {
    fn new(count: usize) -> Result<Self, std::io::Error> {
        let mut crowd = Self(Vec::with_capacity(count));
        let stem = unique_name("crowd");
        for index in 0..count {
            let path = object_path(&format!("{stem}_{index}"));
            std::fs::write(&path, [])?;
            crowd.0.push(path);
        }
        Ok(crowd)
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}
