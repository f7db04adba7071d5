//! How long a region lives: it goes with its last holder (also a killed one), outlives its
//! creator while others hold it, leaves a foreign program's object alone, and leaks nothing.

use std::io::Write;

#[cfg(any(windows, target_os = "linux"))]
use win_shared_memory::SharedMemory;
#[cfg(any(windows, target_os = "linux"))]
use win_shared_memory::sync::{EventReset, NamedEvent, NamedMutex};
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};

#[cfg(any(windows, target_os = "linux"))]
use crate::harness::resource_counts;
use crate::harness::{GameState, Outcome, RoleResult, expect_eq, kind, run_child, unique_name};
#[cfg(any(windows, wsm_holder_locks))]
use crate::harness::{expect_no_shm_object, spawn_child};

tests! {
    a_region_is_destroyed_when_its_last_link_drops,
    // The portable Unix backend (macOS, Linux with --cfg wsm_portable) unlinks a name when its
    // creator drops, and keeps it when its creator dies.
    #[cfg(any(windows, wsm_holder_locks))]
    a_region_outlives_its_creator_while_others_hold_it,
    #[cfg(any(windows, wsm_holder_locks))]
    a_killed_holders_region_stays_with_the_other_holders,
    #[cfg(any(windows, wsm_holder_locks))]
    a_killed_sole_holders_name_is_free_again,
    #[cfg(any(windows, target_os = "linux"))]
    create_drop_cycles_leak_nothing,
    #[cfg(target_os = "linux")]
    another_programs_region_is_used_and_left_alone,
}

roles! {
    "create-and-exit" => create_and_exit,
    "hold" => hold,
    #[cfg(any(windows, target_os = "linux"))]
    "cycles" => cycles,
}

// ---------------------------------------------------------------------------------------------
// The tests.

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

#[cfg(any(windows, wsm_holder_locks))]
fn a_region_outlives_its_creator_while_others_hold_it() -> Outcome {
    let name = unique_name("outlives");
    let mut creator = spawn_child("hold", &[&name])?;
    creator.expect_line("ready")?;
    let reader = SharedMemoryLink::<GameState, ReadOnly>::open(&name)?;
    creator.send("exit")?;
    creator.finish()?;
    // SAFETY: the creator has exited; nobody writes.
    let state = unsafe { *reader.get() };
    expect_eq(
        state,
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

#[cfg(any(windows, wsm_holder_locks))]
fn a_killed_holders_region_stays_with_the_other_holders() -> Outcome {
    let name = unique_name("killed_holder");
    let mut holder = spawn_child("hold", &[&name])?;
    holder.expect_line("ready")?;
    let reader = SharedMemoryLink::<GameState, ReadOnly>::open(&name)?;
    holder.kill()?;
    // SAFETY: the writer is dead.
    let state = unsafe { *reader.get() };
    expect_eq(
        state,
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

#[cfg(any(windows, wsm_holder_locks))]
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

// ---------------------------------------------------------------------------------------------
// The child roles.

fn create_and_exit(name: &str, _: &[String]) -> RoleResult {
    let mut link = SharedMemoryLink::<GameState, ReadWrite>::create(name)?;
    // SAFETY: nobody else knows the region yet.
    unsafe { link.get_mut().score = 5 };
    println!("created");
    Ok(())
}

/// Creates a region, writes a known state and holds it until told to go, the pipe closes, or
/// the parent kills it.
fn hold(name: &str, _: &[String]) -> RoleResult {
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
    Ok(())
}

#[cfg(any(windows, target_os = "linux"))]
fn cycles(name: &str, _: &[String]) -> RoleResult {
    let cycles: usize = name.parse()?;
    // Every kind of object the crate makes, created, opened, used and dropped.
    let cycle = |i: usize| -> RoleResult {
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
    Ok(())
}
