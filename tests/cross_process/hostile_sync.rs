//! The named mutex and event against hostile peers: processes that write any bytes over the
//! objects they keep (Unix), another user who makes those objects first, an event word no
//! `set` writes, and every error a caller can reach, each in its own process (under Wine too,
//! where an error built with `windows::core::Error::new` aborted the process).

#[cfg(unix)]
use std::io::Write;
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

use win_shared_memory::sync::{EventReset, LockError, NamedEvent, NamedMutex};
use win_shared_memory::{Options, SharedMemoryError};
#[cfg(unix)]
use win_shared_memory::{ReadWrite, SharedMemory};

#[cfg(target_os = "linux")]
use crate::harness::{NOBODY, Peer, child_command, run_child_as_nobody};
use crate::harness::{Outcome, RoleResult, expect_eq, run_child, spawn_child, unique_name};

tests! {
    every_sync_error_is_returned_in_its_own_process,
    an_opened_event_is_its_creators_and_open_never_creates_one,
    #[cfg(unix)]
    writing_over_the_mutex_object_never_reaches_other_memory,
    #[cfg(unix)]
    a_scribbler_never_makes_mutex_or_event_calls_misbehave,
    #[cfg(target_os = "linux")]
    an_event_word_no_set_writes_still_sleeps,
    #[cfg(target_os = "linux")]
    companions_another_user_made_first_are_refused_by_default ignored_if not_root(),
    #[cfg(target_os = "linux")]
    a_widened_event_serves_the_user_its_mode_admits ignored_if not_root(),
}

roles! {
    "sync-error" => sync_error,
    "open-event" => open_event,
    #[cfg(unix)]
    "overwrite-mutex-object" => overwrite_mutex_object,
    #[cfg(unix)]
    "scribble-sync" => scribble_sync,
    #[cfg(unix)]
    "use-sync" => use_sync,
    #[cfg(target_os = "linux")]
    "event-cpu" => event_cpu,
    #[cfg(target_os = "linux")]
    "squat-companions" => squat_companions,
    #[cfg(target_os = "linux")]
    "wait-widened-event" => wait_widened_event,
}

#[cfg(target_os = "linux")]
fn not_root() -> bool {
    !rustix::process::geteuid().is_root()
}

#[cfg(unix)]
/// How long a bounded call may overrun its bound on a loaded machine before it counts as not
/// returning within it.
const OVERRUN: Duration = Duration::from_millis(750);

// ---------------------------------------------------------------------------------------------
// Every error, each in its own process.

/// The errors a caller can reach, by case name, with what each must come back as. A child that
/// aborts (as Wine did on the crate's own errors) fails the test.
fn error_cases() -> Vec<(&'static str, &'static str)> {
    let mut cases = vec![
        ("lock-twice", "SynchronizationRefused"),
        ("try-lock-twice", "SynchronizationRefused"),
        ("lock-timeout-twice", "SynchronizationRefused"),
        ("invalid-name", "InvalidName"),
        ("open-missing-event", "Synchronization"),
        ("owner-died-into-error", "OwnerDied"),
        ("mode-too-wide", "InvalidOptions"),
    ];
    if cfg!(windows) {
        cases.extend([
            ("mutex-on-a-region-name", "Synchronization"),
            ("event-on-a-mutex-name", "Synchronization"),
            ("bad-security-descriptor", "SecurityDescriptor"),
            ("owner-check-on-windows", "InvalidOptions"),
        ]);
    }
    cases
}

fn every_sync_error_is_returned_in_its_own_process() -> Outcome {
    for (case, expected) in error_cases() {
        let name = unique_name(&format!("error_{case}"));
        let answer = run_child("sync-error", &[&name, case])
            .map_err(|error| format!("case {case}: {error:?}"))?;
        expect_eq(format!("{case}: {answer}"), format!("{case}: {expected}"))?;
    }
    Ok(())
}

/// The variant of an error, by name.
fn variant(error: &SharedMemoryError) -> &'static str {
    match error {
        SharedMemoryError::SynchronizationRefused { .. } => "SynchronizationRefused",
        SharedMemoryError::Synchronization { .. } => "Synchronization",
        SharedMemoryError::InvalidName { .. } => "InvalidName",
        SharedMemoryError::InvalidOptions { .. } => "InvalidOptions",
        SharedMemoryError::SecurityDescriptor { .. } => "SecurityDescriptor",
        SharedMemoryError::OwnerDied { .. } => "OwnerDied",
        SharedMemoryError::ForeignOwner { .. } => "ForeignOwner",
        _ => "other",
    }
}

/// Reaches one error case and prints its variant (and, to stderr, its message).
fn sync_error(name: &str, args: &[String]) -> RoleResult {
    let error: SharedMemoryError = match args[1].as_str() {
        case @ ("lock-twice" | "try-lock-twice" | "lock-timeout-twice") => {
            let mutex = NamedMutex::new(name)?;
            let _held = mutex.lock().or_else(LockError::into_inner)?;
            let again = match case {
                "lock-twice" => mutex.lock().map(drop),
                "try-lock-twice" => mutex.try_lock().map(drop),
                _ => mutex.lock_timeout(Duration::from_millis(10)).map(drop),
            };
            again
                .map_err(SharedMemoryError::from)
                .err()
                .ok_or("locked twice")?
        }
        "invalid-name" => NamedMutex::new("").err().ok_or("an empty name")?,
        "open-missing-event" => NamedEvent::open(name).err().ok_or("opened")?,
        "owner-died-into-error" => owner_died_error(name)?,
        "mode-too-wide" => {
            NamedEvent::new_with(name, EventReset::Auto, &Options::new().mode(0o7777))
                .err()
                .ok_or("a mode of 0o7777")?
        }
        "mutex-on-a-region-name" => {
            let _region =
                win_shared_memory::SharedMemory::<win_shared_memory::ReadWrite>::create(name, 64)?;
            NamedMutex::new(name)
                .err()
                .ok_or("a mutex under a region's name")?
        }
        "event-on-a-mutex-name" => {
            let _mutex = NamedMutex::new(name)?;
            NamedEvent::new(name, EventReset::Auto)
                .err()
                .ok_or("an event under a mutex's name")?
        }
        "bad-security-descriptor" => {
            let garbage = Options::new().security_descriptor("not SDDL");
            NamedMutex::new_with(name, &garbage)
                .err()
                .ok_or("garbage SDDL")?
        }
        "owner-check-on-windows" => {
            let check = Options::new().require_owner(true);
            NamedEvent::new_with(name, EventReset::Auto, &check)
                .err()
                .ok_or("an owner check")?
        }
        other => return Err(format!("unknown case {other}").into()),
    };
    eprintln!("{}: {error}", args[1]);
    println!("{}", variant(&error));
    Ok(())
}

/// A holder's death, turned into an owned error: the death is reported by a second handle of
/// this process after the first, holding the lock through a forgotten guard, is dropped (on
/// Windows, by a thread that ends holding it).
fn owner_died_error(name: &str) -> Result<SharedMemoryError, Box<dyn std::error::Error>> {
    // Opened first, so that the mutex outlives the abandoning handle.
    let mutex = NamedMutex::new(name)?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<(), SharedMemoryError> {
                let abandoned = NamedMutex::new(name)?;
                std::mem::forget(abandoned.lock()?);
                Ok(())
            })
            .join()
            .map_err(|_| "the locking thread panicked")
    })??;
    match mutex.lock_timeout(Duration::from_secs(10)) {
        Err(error @ LockError::OwnerDied(_)) => Ok(SharedMemoryError::from(error)),
        other => Err(format!("expected OwnerDied, got {other:?}").into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Opening an event that another program owns.

/// An overlay that starts first finds no event (and makes none, so the owner's mode holds
/// when it comes); then it waits on the owner's event and is woken by its `set`.
fn an_opened_event_is_its_creators_and_open_never_creates_one() -> Outcome {
    let name = unique_name("opened_event");
    expect_eq(run_child("open-event", &[&name, "0"])?, "not found")?;
    let event = NamedEvent::new(&name, EventReset::Manual)?;
    let mut overlay = spawn_child("open-event", &[&name, "20000"])?;
    overlay.expect_line("waiting")?;
    event.set()?;
    overlay.expect_line("woken")?;
    overlay.finish()?;
    // The owner's mode, manual: the overlay's wait left it set.
    expect_eq(event.wait_timeout(Duration::ZERO)?, true)
}

fn open_event(name: &str, args: &[String]) -> RoleResult {
    let event = match NamedEvent::open(name) {
        Ok(event) => event,
        Err(SharedMemoryError::Synchronization { source, .. }) if is_not_found(&source) => {
            println!("not found");
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    println!("waiting");
    std::io::Write::flush(&mut std::io::stdout())?;
    let woken = event.wait_timeout(Duration::from_millis(args[1].parse()?))?;
    println!("{}", if woken { "woken" } else { "timed-out" });
    Ok(())
}

#[cfg(unix)]
fn is_not_found(error: &win_shared_memory::OsError) -> bool {
    error.kind() == std::io::ErrorKind::NotFound
}

#[cfg(windows)]
fn is_not_found(error: &win_shared_memory::OsError) -> bool {
    error.code() == windows::Win32::Foundation::ERROR_FILE_NOT_FOUND.to_hresult()
}

// ---------------------------------------------------------------------------------------------
// Writers over the mutex's and event's objects (Unix: they are files others can write).

/// The objects a mutex and an event of `name` keep, as paths (shared memory under /dev/shm
/// on Linux; the portable mutex's lock file is in /tmp).
#[cfg(unix)]
fn sync_objects(name: &str) -> Vec<String> {
    let bare = name.trim_start_matches("Local\\");
    let mutex = if cfg!(wsm_holder_locks) {
        format!("{name}#mutex")
    } else {
        format!("/tmp/wsm-mutex-{bare}")
    };
    vec![mutex, format!("{name}#event")]
}

/// A sync object opened for writing over: a file by path, or a region by name.
#[cfg(unix)]
enum Object {
    File(std::fs::File),
    Region(Box<SharedMemory<ReadWrite>>),
}

#[cfg(unix)]
impl Object {
    fn open(object: &str) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(if object.starts_with('/') {
            Self::File(std::fs::OpenOptions::new().write(true).open(object)?)
        } else {
            Self::Region(Box::new(SharedMemory::<ReadWrite>::open_existing(object)?))
        })
    }

    /// Writes `bytes` at `offset`; writes past a region's end are skipped, as they do not
    /// reach its object.
    fn write(&mut self, offset: usize, bytes: &[u8]) -> RoleResult {
        match self {
            Self::File(file) => {
                use std::os::unix::fs::FileExt;
                Ok(file.write_all_at(bytes, offset as u64)?)
            }
            Self::Region(region) => match region.write_at(offset, bytes) {
                Ok(()) | Err(SharedMemoryError::OutOfBounds { .. }) => Ok(()),
                Err(error) => Err(error.into()),
            },
        }
    }
}

/// Writes `bytes` at `offset` of the sync object named `object`.
#[cfg(unix)]
fn write_object(object: &str, offset: usize, bytes: &[u8]) -> RoleResult {
    Object::open(object)?.write(offset, bytes)
}

/// Safe code of this very process writes, into the object of a mutex it holds, the address of
/// an immutable value where glibc's robust mutex kept its list pointers, then unlocks: the
/// value must not change (it did with 0.1's pthread mutex), and the mutex keeps answering.
#[cfg(unix)]
fn writing_over_the_mutex_object_never_reaches_other_memory() -> Outcome {
    let name = unique_name("overwritten_mutex");
    expect_eq(
        run_child("overwrite-mutex-object", &[&name])?,
        "canary intact",
    )
}

#[cfg(unix)]
fn overwrite_mutex_object(name: &str, _: &[String]) -> RoleResult {
    let canary = Box::new(0x5AFE_u64);
    let scratch = Box::new([0_u64; 2]);
    let canary_at = std::ptr::from_ref::<u64>(&canary) as u64;
    let scratch_at = std::ptr::from_ref::<[u64; 2]>(&scratch) as u64;
    let mutex = NamedMutex::new(name)?;
    let object = &sync_objects(name)[0];
    // glibc's unlock did `*prev = next` and `*(next - 8) = prev` with the words at 8+24
    // (`__list.__prev`) and 8+32 (`__list.__next`): point them at the canary.
    let guard = mutex.lock().map_err(SharedMemoryError::from)?;
    write_object(object, 8 + 24, &canary_at.to_ne_bytes())?;
    write_object(object, 8 + 32, &(scratch_at + 8).to_ne_bytes())?;
    drop(guard);
    // Then every word the object has.
    let guard = mutex.lock_timeout(Duration::from_secs(1));
    for offset in (0..64).step_by(8) {
        write_object(object, offset, &canary_at.to_ne_bytes())?;
    }
    drop(guard);
    let answer = mutex.lock_timeout(Duration::from_millis(100));
    eprintln!("after the overwrite: {answer:?}");
    drop(answer);
    println!(
        "{}",
        if *canary == 0x5AFE {
            "canary intact"
        } else {
            "canary changed"
        }
    );
    Ok(())
}

/// A scribbler process writes random words and pointer-like values over every object a mutex
/// and an event keep, while another process locks, tries, sets and waits with bounds: every
/// call returns within its bound (plus [`OVERRUN`]), nothing crashes, and an immutable canary
/// in the user stays intact.
#[cfg(unix)]
fn a_scribbler_never_makes_mutex_or_event_calls_misbehave() -> Outcome {
    let name = unique_name("scribbled_sync");
    let mutex = NamedMutex::new(&name)?;
    let event = NamedEvent::new(&name, EventReset::Auto)?;
    // The user opens both before the scribbling starts: opening checks the event's mode word,
    // which a scribbler makes garbage.
    let mut user = spawn_child("use-sync", &[&name])?;
    let opened = user.read_line()?;
    let canary = opened
        .strip_prefix("opened ")
        .ok_or_else(|| format!("unexpected answer {opened}"))?;
    let mut scribbler = spawn_child("scribble-sync", &[&name, canary])?;
    scribbler.expect_line("scribbling")?;
    user.send("go")?;
    let answer = user.read_line()?;
    user.finish()?;
    scribbler.send("stop")?;
    scribbler.finish()?;
    if !answer.starts_with("ok ") {
        return Err(format!("the user of the mutex and event said: {answer}").into());
    }
    eprintln!("scribbled: {answer}");
    drop((mutex, event));
    Ok(())
}

/// Writes for as long as the test runs: bursts of random words, then pauses in which one
/// value stays (so that sleepers sleep on it), over every word of each object.
#[cfg(unix)]
fn scribble_sync(name: &str, args: &[String]) -> RoleResult {
    // The user's canary: pointers at it are what a robust-list walker would write through.
    let canary: u64 = args[1].parse()?;
    let paths = sync_objects(name);
    let mut objects = paths
        .iter()
        .map(|path| Object::open(path))
        .collect::<Result<Vec<_>, _>>()?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| -> RoleResult {
        let writer = scope.spawn(|| -> Result<(), String> {
            let mut random = 0x9E37_79B9_7F4A_7C15_u64 ^ u64::from(std::process::id());
            let mut next = || {
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                random
            };
            // Values a robust-list walker would follow, and plain and extreme integers.
            let mut round = 0_u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                round += 1;
                for object in &mut objects {
                    // Every word the objects have (up to 64 bytes: 0.1's pthread mutex was 48),
                    // sometimes a whole pointer over two; every other round only the words
                    // from 24 on, where 0.1 kept the robust-list pointers.
                    let first = if round % 2 == 0 { 24 } else { 0 };
                    for offset in (first..64).step_by(8) {
                        let pointer = canary + (next() % 2) * 8;
                        let (low, high) = match next() % 7 {
                            0 | 6 => (pointer as u32, (pointer >> 32) as u32),
                            1 => (u32::MAX, u32::MAX),
                            2 => (next() as u32 & 0xFF, 0),
                            3 => (2, 2),
                            4 => (0, next() as u32),
                            _ => (next() as u32, next() as u32),
                        };
                        let value = (u64::from(high) << 32 | u64::from(low)).to_ne_bytes();
                        object
                            .write(offset, &value[..4])
                            .and_then(|()| object.write(offset + 4, &value[4..]))
                            .map_err(|error| error.to_string())?;
                    }
                }
                if round % 64 == 0 {
                    std::thread::sleep(Duration::from_millis(30));
                }
            }
            Ok(())
        });
        println!("scribbling");
        std::io::stdout().flush()?;
        std::io::stdin().read_line(&mut String::new())?;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().map_err(|_| "the scribbler panicked")??;
        Ok(())
    })
}

/// Locks, tries, sets and waits for two seconds with bounded calls, checking each bound and
/// a canary; prints "ok" and the counts, or the first breach.
#[cfg(unix)]
fn use_sync(name: &str, _: &[String]) -> RoleResult {
    let canary = Box::new(0xC0FF_EE00_u64);
    let mutex = NamedMutex::new(name)?;
    let event = NamedEvent::new(name, EventReset::Auto)?;
    println!("opened {}", std::ptr::from_ref::<u64>(&canary) as u64);
    std::io::stdout().flush()?;
    std::io::stdin().read_line(&mut String::new())?;
    let bound = Duration::from_millis(50);
    let (mut calls, mut granted, mut died, mut woken, mut errors) = (0, 0, 0, 0, 0);
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let check = |what: &str, began: Instant, limit: Duration| -> Result<Duration, String> {
            let took = began.elapsed();
            if took > limit + OVERRUN {
                return Err(format!("{what} took {took:?}, bound {limit:?}"));
            }
            Ok(took)
        };
        let began = Instant::now();
        match mutex.lock_timeout(bound) {
            Ok(Some(guard)) => {
                granted += 1;
                drop(guard);
            }
            Err(LockError::OwnerDied(guard)) => {
                died += 1;
                drop(guard);
            }
            Ok(None) => {}
            // An error is an answer too (0.1's pthread mutex said EINVAL to some bytes).
            Err(LockError::Failed(_)) => errors += 1,
        }
        slowest = slowest.max(check("lock_timeout", began, bound)?);
        let began = Instant::now();
        if let Ok(Some(guard)) | Err(LockError::OwnerDied(guard)) = mutex.try_lock() {
            drop(guard);
        }
        slowest = slowest.max(check("try_lock", began, Duration::ZERO)?);
        errors += usize::from(event.set().is_err());
        let began = Instant::now();
        match event.wait_timeout(bound) {
            Ok(set) => woken += usize::from(set),
            Err(_) => errors += 1,
        }
        slowest = slowest.max(check("wait_timeout", began, bound)?);
        errors += usize::from(event.reset().is_err());
        calls += 1;
        if *canary != 0xC0FF_EE00 {
            println!("canary changed");
            return Ok(());
        }
    }
    println!(
        "ok rounds={calls} granted={granted} owner-died={died} woken={woken} errors={errors} slowest={slowest:?}"
    );
    Ok(())
}

/// An event word of 2, which no `set` writes: a one-second `wait_timeout` sleeps (little CPU
/// time, measured with getrusage in the waiting process), and so does `wait`, which a `set`
/// then ends.
#[cfg(target_os = "linux")]
fn an_event_word_no_set_writes_still_sleeps() -> Outcome {
    let name = unique_name("event_word_2");
    let event = NamedEvent::new(&name, EventReset::Auto)?;
    write_object(&sync_objects(&name)[1], 0, &2_u32.to_ne_bytes())?;
    let mut waiter = spawn_child("event-cpu", &[&name])?;
    let timed = waiter.read_line()?;
    let waiting = waiter.read_line()?;
    event.set()?;
    let woken = waiter.read_line()?;
    waiter.finish()?;
    for line in [&timed, &waiting] {
        let cpu_ms: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|millis| millis.parse().ok())
            .ok_or_else(|| format!("unexpected answer {line}"))?;
        if cpu_ms > 150 {
            return Err(format!("the waiter spun: {line}").into());
        }
    }
    expect_eq(woken, "woken")
}

#[cfg(target_os = "linux")]
fn event_cpu(name: &str, _: &[String]) -> RoleResult {
    let event = NamedEvent::new(name, EventReset::Auto)?;
    let before = crate::harness::cpu_time();
    let set = event.wait_timeout(Duration::from_secs(1))?;
    println!(
        "timed set={set} cpu-ms {}",
        (crate::harness::cpu_time() - before).as_millis()
    );
    std::io::stdout().flush()?;
    std::thread::scope(|scope| -> RoleResult {
        let before = crate::harness::cpu_time();
        let waiter = scope.spawn(|| event.wait());
        std::thread::sleep(Duration::from_secs(1));
        println!(
            "waiting cpu-ms {}",
            (crate::harness::cpu_time() - before).as_millis()
        );
        std::io::stdout().flush()?;
        waiter.join().map_err(|_| "the waiter panicked")??;
        println!("woken");
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Another user.

/// `nobody` makes every object a mutex and an event keep, world-writable, before this user
/// does: both constructors (and `NamedEvent::open`) refuse them as `ForeignOwner`, naming the
/// object, unless the options accept another user's object; then they work.
#[cfg(target_os = "linux")]
fn companions_another_user_made_first_are_refused_by_default() -> Outcome {
    use std::os::unix::process::CommandExt;
    let name = unique_name("squatted_sync");
    let mut command = child_command("squat-companions", &[&name]);
    command.uid(NOBODY).gid(NOBODY);
    let mut squatter = Peer::spawn(command)?;
    squatter.expect_line("ready")?;
    let foreign = |result: Result<(), SharedMemoryError>| match result {
        // Named as the user named the mutex or event, not its companion object.
        Err(SharedMemoryError::ForeignOwner {
            owner: NOBODY,
            name: given,
        }) if given == name => Ok(()),
        other => Err(format!(
            "expected ForeignOwner naming {name}, got {other:?}"
        )),
    };
    foreign(NamedMutex::new(&name).map(drop))?;
    foreign(NamedEvent::new(&name, EventReset::Auto).map(drop))?;
    foreign(NamedEvent::open(&name).map(drop))?;
    let anyones = Options::new().require_owner(false);
    let mutex = NamedMutex::new_with(&name, &anyones)?;
    drop(
        mutex
            .lock_timeout(Duration::from_secs(5))
            .map_err(|e| e.to_string())?,
    );
    let event = NamedEvent::new_with(&name, EventReset::Manual, &anyones)?;
    event.set()?;
    expect_eq(event.wait_timeout(Duration::ZERO)?, true)?;
    drop((mutex, event));
    squatter.finish()?;
    let _ = std::fs::remove_file(&sync_objects(&name)[0]);
    Ok(())
}

#[cfg(target_os = "linux")]
fn squat_companions(name: &str, _: &[String]) -> RoleResult {
    let everyone = Options::new().mode(0o666);
    let mut held = Vec::new();
    for object in sync_objects(name) {
        if object.starts_with('/') {
            use std::os::unix::fs::PermissionsExt;
            let file = std::fs::File::create(&object)?;
            file.set_permissions(std::fs::Permissions::from_mode(0o666))?;
        } else {
            // An auto-reset event's mode, as a squatter that knows the layout would write.
            let mut region = SharedMemory::<ReadWrite>::create_with(&object, 4096, &everyone)?;
            region.write_at(4, &1_u32)?;
            held.push(region);
        }
    }
    println!("ready");
    std::io::stdout().flush()?;
    std::io::stdin().read_line(&mut String::new())?;
    Ok(())
}

/// A region made readable by every user (mode 0644) with an event beside it that every user
/// may use (its own options, mode 0666): `nobody` reads the region and is woken by the event,
/// accepting it as another user's; with the default options, it refuses it.
#[cfg(target_os = "linux")]
fn a_widened_event_serves_the_user_its_mode_admits() -> Outcome {
    let name = unique_name("widened_event");
    let region = SharedMemory::<ReadWrite>::create_with(&name, 64, &Options::new().mode(0o644))?;
    let event = NamedEvent::new_with(&name, EventReset::Auto, &Options::new().mode(0o666))?;
    expect_eq(
        run_child_as_nobody("wait-widened-event", &[&name, "default"])?,
        "ForeignOwner",
    )?;
    let waiter = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| run_child_as_nobody("wait-widened-event", &[&name, "any"]));
        std::thread::sleep(Duration::from_millis(300));
        event.set()?;
        waiter.join().map_err(|_| "the waiting thread panicked")?
    })?;
    drop(region);
    expect_eq(waiter, "read woken")
}

#[cfg(target_os = "linux")]
fn wait_widened_event(name: &str, args: &[String]) -> RoleResult {
    let options = match args[1].as_str() {
        "any" => Options::new().require_owner(false),
        _ => Options::new(),
    };
    let event = match NamedEvent::open_with(name, &options) {
        Ok(event) => event,
        Err(error) => {
            println!("{}", variant(&error));
            return Ok(());
        }
    };
    let region = win_shared_memory::SharedMemory::<win_shared_memory::ReadOnly>::open(name)?;
    let _ = region.read_at::<u64>(0)?;
    let woken = event.wait_timeout(Duration::from_secs(20))?;
    println!("read {}", if woken { "woken" } else { "timed-out" });
    Ok(())
}
