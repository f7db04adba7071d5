//! Every error a user can reach from one process, printed with its chain (run with
//! `--nocapture` to read them), and checked: the first line names the region, mutex or event
//! as the user gave it, once quoted and with single backslashes, never a companion's name
//! (`<name>#mutex`), and the cause is the `source()`, not repeated. Natively, on the portable
//! backend and under Wine (the Windows build), by `cargo xtask test`.
//!
//! Not reached here: `ForeignOwner` and "access denied" need a second user (the cross-process
//! suite's security tests reach them), and `Map` needs an OS that refuses a mapping.

use std::error::Error;
use std::time::Duration;

use win_shared_memory::sync::{EventReset, NamedEvent, NamedMutex, Versioning};
use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryError};
use win_shared_memory::{SharedMemoryLink, sync::LockError};

fn unique(tag: &str) -> String {
    format!("Local\\wsm_errors_{}_{tag}", std::process::id())
}

/// The error and its causes, one a line, as an error reporter prints them.
fn chain(error: &dyn Error) -> String {
    let mut lines = vec![error.to_string()];
    let mut cause = error.source();
    while let Some(inner) = cause {
        lines.push(format!("  caused by: {inner}"));
        cause = inner.source();
    }
    lines.join("\n")
}

/// Prints the error and checks its first line against the name the user gave.
fn check(case: &str, name: &str, error: &dyn Error) {
    let report = chain(error);
    println!("{case}:\n  {report}");
    let first = error.to_string();
    let quoted = format!(
        "`{}`",
        name.escape_default().to_string().replace("\\\\", "\\")
    );
    assert!(
        first.contains(&quoted),
        "{case}: {quoted} is not in {first:?}"
    );
    assert_eq!(first.matches(&quoted).count(), 1, "{case}: {first}");
    for companion in [format!("{name}#"), "/tmp/wsm-mutex".to_owned()] {
        assert!(
            !first.contains(&companion),
            "{case}: a companion's name in {first}"
        );
    }
    assert!(
        !first.contains("\\\\"),
        "{case}: doubled backslashes in {first}"
    );
    if let Some(cause) = error.source() {
        assert!(!first.contains(&cause.to_string()), "{case}: {first}");
    }
}

/// `#[repr(align(8192))]`: more than a view is guaranteed.
#[repr(C, align(8192))]
struct OverAligned([u8; 8192]);

#[test]
fn every_reachable_error_names_the_region_in_its_first_line() {
    let mut reached = 0;
    let mut expect = |case: &str, name: &str, error: SharedMemoryError| {
        check(case, name, &error);
        reached += 1;
    };

    let missing = unique("missing");
    let error = SharedMemory::<ReadOnly>::open(&missing).unwrap_err();
    assert!(error.is_not_found() && matches!(error, SharedMemoryError::Open { .. }));
    expect("open of a missing name", &missing, error);

    let taken = unique("taken");
    let _first = SharedMemory::<ReadWrite>::create(&taken, 64).unwrap();
    let error = SharedMemory::<ReadWrite>::create(&taken, 64).unwrap_err();
    assert!(matches!(error, SharedMemoryError::NameTaken { .. }));
    expect("create of a taken name", &taken, error);

    // Larger by more than a page: Wine reports sizes rounded up to one.
    let error = SharedMemoryLink::<[u8; 8192], ReadOnly>::open(&taken).unwrap_err();
    assert!(matches!(error, SharedMemoryError::SizeMismatch { .. }));
    expect("open as a type larger than the region", &taken, error);

    for invalid in ["Local\\a\\b", "Local\\", "Global\\a\0b"] {
        let error = SharedMemory::<ReadWrite>::create(invalid, 8).unwrap_err();
        assert!(matches!(error, SharedMemoryError::InvalidName { .. }));
        expect("an invalid name", invalid, error);
    }

    let empty = unique("empty");
    let error = SharedMemory::<ReadWrite>::create(&empty, 0).unwrap_err();
    assert!(matches!(error, SharedMemoryError::EmptyRegion { .. }));
    expect("a region of no bytes", &empty, error);

    let huge = unique("huge");
    let error = SharedMemory::<ReadWrite>::create(&huge, usize::MAX).unwrap_err();
    assert!(matches!(error, SharedMemoryError::TooLarge { .. }));
    expect("a region larger than the address space", &huge, error);

    let aligned = unique("aligned");
    let error = SharedMemoryLink::<OverAligned, ReadWrite>::create(&aligned).unwrap_err();
    assert!(matches!(error, SharedMemoryError::Alignment { .. }));
    expect("a type aligned above a page", &aligned, error);

    let region = SharedMemory::<ReadWrite>::open_existing(&taken).unwrap();
    // Past the end of what was mapped (under Wine a whole page).
    let error = region.read_at::<[u8; 8]>(region.len() - 4).unwrap_err();
    assert!(matches!(error, SharedMemoryError::OutOfBounds { .. }));
    expect("a read past the end", &taken, error);
    // SAFETY: refused before any reference is made.
    let error = unsafe { region.get_at::<u32>(1) }.unwrap_err();
    assert!(matches!(error, SharedMemoryError::Misaligned { .. }));
    expect("a misaligned view", &taken, error);

    let versioned = unique("versioned");
    let mut buffer = SharedMemory::<ReadWrite>::create(&versioned, 16).unwrap();
    buffer.write_at(0, &1_u32).unwrap(); // begin 1, end 0: a write that never ends
    let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
    let error = buffer
        .read_versioned::<u64>(8, versioning, Duration::from_millis(10))
        .unwrap_err();
    assert!(matches!(error, SharedMemoryError::Inconsistent { .. }));
    expect("a versioned read of a stalled publisher", &versioned, error);

    let error = buffer
        .write_versioned(2, versioning, &[0_u8; 8])
        .unwrap_err();
    assert!(matches!(
        error,
        SharedMemoryError::SynchronizationRefused { .. }
    ));
    expect("a versioned write across a counter", &versioned, error);

    let role = unique("role");
    let writer = SharedMemory::<ReadWrite>::create(&role, 64).unwrap();
    let _held = writer.take_writer_role().unwrap();
    let error = writer.take_writer_role().unwrap_err();
    assert!(matches!(
        error,
        SharedMemoryError::SynchronizationRefused { .. }
    ));
    expect("a second writer role", &role, error);

    let late = unique("late");
    let waited = Options::new().wait_for_creation(Duration::from_millis(20));
    let error = SharedMemory::<ReadOnly>::open_with(&late, &waited).unwrap_err();
    assert!(error.is_not_found());
    expect("a wait for a name nobody creates", &late, error);

    let options = unique("options");
    let error = SharedMemory::<ReadWrite>::create_with(&options, 8, &Options::new().mode(0o1777))
        .unwrap_err();
    assert!(matches!(error, SharedMemoryError::InvalidOptions { .. }));
    expect("options this OS cannot honour", &options, error);

    if cfg!(windows) {
        let sddl = unique("sddl");
        let bad = Options::new().security_descriptor("not SDDL");
        let error = SharedMemory::<ReadWrite>::create_with(&sddl, 8, &bad).unwrap_err();
        assert!(matches!(
            error,
            SharedMemoryError::SecurityDescriptor { .. }
        ));
        expect("a security descriptor that does not parse", &sddl, error);

        // One name space for mutexes and sections on Windows.
        let error = NamedMutex::new(&taken).unwrap_err();
        assert!(matches!(error, SharedMemoryError::Synchronization { .. }));
        expect("a mutex on a region's name", &taken, error);
    }

    let no_event = unique("no_event");
    let error = NamedEvent::open(&no_event).unwrap_err();
    assert!(error.is_not_found(), "{error:?}");
    expect("open of a missing event", &no_event, error);

    if cfg!(unix) {
        // Valid for a region, too long for the companion of a mutex or event.
        let longest = if cfg!(target_vendor = "apple") {
            30
        } else {
            254
        };
        let prefix = unique("long_");
        let long = format!(
            "{prefix}{}",
            "x".repeat(longest - prefix.len() + "Local\\".len())
        );
        SharedMemory::<ReadWrite>::create(&long, 8).expect("a region may have the name");
        let error = NamedEvent::new(&long, EventReset::Auto).unwrap_err();
        assert!(matches!(error, SharedMemoryError::InvalidName { .. }));
        expect("an event name too long for its companion", &long, error);
        let error = NamedMutex::new(&long).unwrap_err();
        expect("a mutex name too long for its companion", &long, error);
    }

    let mutex_name = unique("mutex");
    let mutex = NamedMutex::new(&mutex_name).unwrap();
    let guard = mutex.lock().expect("nobody died holding it");
    let error = mutex.try_lock().unwrap_err();
    check("a lock through a handle that holds it", &mutex_name, &error);
    expect(
        "the same, owned",
        &mutex_name,
        SharedMemoryError::from(error),
    );
    drop(guard);

    // A holder that dies holding the lock: a thread that forgets its guard and ends.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let holder = NamedMutex::new(&mutex_name).unwrap();
            std::mem::forget(holder.lock().expect("free"));
        });
    });
    match mutex.lock() {
        Err(error @ LockError::OwnerDied(_)) => {
            check("a lock granted after its holder died", &mutex_name, &error);
            expect(
                "the same, owned",
                &mutex_name,
                SharedMemoryError::from(error),
            );
        }
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    println!("{reached} errors reached");
    assert!(reached >= 17, "{reached}");
}

/// The lock of `name` as a function that returns `Box<dyn Error>` takes it: with `?`.
fn lock_with_question_mark(name: &str) -> Result<(), Box<dyn Error>> {
    let mutex = NamedMutex::new(name)?;
    let _guard = mutex.lock()?;
    Ok(())
}

/// Whether another thread, with its own handle, finds the mutex free.
fn free_for_another_thread(name: &str) -> bool {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let other = NamedMutex::new(name).unwrap();
                other.try_lock().expect("no error").is_some()
            })
            .join()
            .unwrap()
    })
}

#[test]
fn a_lock_granted_after_its_holder_died_is_an_error_that_question_mark_carries_out() {
    let name = unique("question_mark");
    let keeper = NamedMutex::new(&name).unwrap(); // keeps the mutex alive between handles
    lock_with_question_mark(&name).expect("nobody died holding it");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let holder = NamedMutex::new(&name).unwrap();
            std::mem::forget(holder.lock().expect("free"));
        });
    });
    let error = lock_with_question_mark(&name).unwrap_err();
    check(
        "`?` on a lock granted after its holder died",
        &name,
        &*error,
    );
    assert!(matches!(
        error.downcast_ref::<LockError>(),
        Some(LockError::OwnerDied(_))
    ));
    // The error outlived the handle it came from, and holds the lock until it is dropped.
    assert!(!free_for_another_thread(&name));
    drop(error);
    assert!(free_for_another_thread(&name));
    drop(keeper);
}
