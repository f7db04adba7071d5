//! One region shared across the Wine boundary: Windows programs in a Wine prefix and native
//! Linux programs, through the host's `/dev/shm` ([`Options::linux_host`] and `wsm-bridge`).
//!
//! The tests run natively and start the Windows side under Wine: `wsm-bridge.exe`, the C
//! program `tests/c/wine_game.c` (a game that knows nothing of this crate), and this test
//! binary built for Windows, in the roles below. `cargo xtask test` builds them and names them
//! in `WSM_WINE_BRIDGE` and `WSM_WINE_TEST_EXE` (the prefix in `WINEPREFIX`, the C programs in
//! `WSM_C_PEER_DIR`); without them the tests are ignored.

#[cfg(target_os = "linux")]
use std::process::Command;
#[cfg(target_os = "linux")]
use std::sync::Arc;
use std::sync::atomic::Ordering;
#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
#[cfg(target_os = "linux")]
use std::time::{Duration, Instant};

use win_shared_memory::sync::SeqLock;
use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemoryLink};
#[cfg(target_os = "linux")]
use win_shared_memory::{
    SharedMemory, SharedMemoryError,
    sync::{EventReset, NamedEvent, SeqLockError},
};

use crate::harness::RoleResult;
#[cfg(target_os = "linux")]
use crate::harness::{Outcome, Peer, expect_eq, expect_no_shm_object, kind, unique_name};

tests! {
    #[cfg(target_os = "linux")]
    wine_bridged_game_is_read_whole_natively ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_exposed_native_region_is_read_whole_by_a_windows_program ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_linux_host_region_made_on_windows_is_read_natively ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_linux_host_region_made_natively_is_read_on_windows ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_killed_windows_holder_leaves_the_region_to_native_holders ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_killed_native_holder_leaves_the_region_to_windows_holders ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_region_of_killed_holders_on_both_sides_is_reclaimed ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_plain_programs_hidden_system_file_is_never_removed ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_bridge_refuses_names_already_taken ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_linux_host_refuses_a_prefix_section_without_the_file ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_a_symbolic_link_under_the_name_is_refused_on_windows ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_every_preset_serves_its_titles_stand_in_game ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_lockless_reader_started_first_is_adopted_and_kept_across_game_restarts ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_bridge_adopts_only_a_readers_file ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_lockless_reader_started_after_the_bridge_keeps_its_file_across_sessions ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_launch_starts_the_bridge_before_a_proton_game_and_ends_it_with_the_game ignored_if no_wine() || std::env::var_os("WSM_NATIVE_BRIDGE").is_none(),
    #[cfg(target_os = "linux")]
    wine_events_cross_the_boundary_both_ways ignored_if no_wine() || std::env::var_os("WSM_NATIVE_BRIDGE").is_none(),
    #[cfg(target_os = "linux")]
    wine_pulses_of_a_manual_reset_event_reach_native_waiters ignored_if no_wine() || std::env::var_os("WSM_NATIVE_BRIDGE").is_none(),
    #[cfg(target_os = "linux")]
    wine_game_started_first_is_bridged_from_its_next_start ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_native_follower_follows_a_bridged_games_lives ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_game_started_first_is_copied_whole_to_native_readers_across_its_restart ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_copies_of_rf2_sections_follow_the_game_at_its_rates ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_windows_writer_is_seen_natively_until_killed ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_native_writer_is_seen_on_windows_until_killed ignored_if no_wine(),
    #[cfg(target_os = "linux")]
    wine_windows_role_that_outlives_its_region_keeps_the_file_until_dropped ignored_if no_wine(),
}

roles! {
    #[cfg(windows)]
    "wine-publish" => windows_publish,
    #[cfg(windows)]
    "wine-read" => windows_read,
        "wine-hold" => hold,
        "wine-writer-role" => writer_role,
    #[cfg(windows)]
    "wine-open" => windows_open,
    #[cfg(windows)]
    "wine-plain-file" => windows_plain_file,
}

/// The data of the tests' regions: update `i` sets every word to `i`, so a torn copy has two
/// different words.
type Words = [u64; WORDS];

const WORDS: usize = 512;

/// The layout rFactor 2's buffers have, and `wine_game.c`: begin and end counters, then words.
#[cfg(target_os = "linux")]
const GAME_BYTES: usize = 8 + WORDS * 8;

/// Times the values a reader sees must have moved on, at least: a reader faster than the
/// publisher sees each value many times.
const ADVANCES: usize = 100;

/// Consistent copies a reader must take, at least.
#[cfg(target_os = "linux")]
const SNAPSHOTS: usize = 20_000;

#[cfg(target_os = "linux")]
fn no_wine() -> bool {
    std::env::var_os("WSM_WINE_BRIDGE").is_none() || std::env::var_os("WSM_WINE_TEST_EXE").is_none()
}

/// `wine PROGRAM ARGS…` in the prefix the environment names.
#[cfg(target_os = "linux")]
fn wine(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut command = Command::new("wine");
    command.arg(program).args(args);
    command
}

#[cfg(target_os = "linux")]
fn bridge(args: &[&str]) -> Command {
    wine(
        std::env::var_os("WSM_WINE_BRIDGE").unwrap_or_default(),
        args,
    )
}

#[cfg(target_os = "linux")]
fn game(args: &[&str]) -> Command {
    let dir = std::env::var("WSM_C_PEER_DIR").unwrap_or_default();
    wine(format!("{dir}\\wine_game.exe"), args)
}

/// `tests/c/preset_game.c`: maps each `NAME=BYTES` whole, as a title's game or plugin does.
#[cfg(target_os = "linux")]
fn preset_game(regions: &[String]) -> Command {
    let dir = std::env::var("WSM_C_PEER_DIR").unwrap_or_default();
    let mut command = wine(format!("{dir}\\preset_game.exe"), &[]);
    command.args(regions);
    command
}

/// This test binary, built for Windows, in `role` under Wine.
#[cfg(target_os = "linux")]
fn windows_role(role: &str, args: &[&str]) -> Command {
    let mut command = wine(
        std::env::var_os("WSM_WINE_TEST_EXE").unwrap_or_default(),
        args,
    );
    command.env(crate::harness::ROLE_VAR, role);
    command
}

/// What a snapshot reader saw.
#[derive(Debug)]
struct Tally {
    started: std::time::Instant,
    snapshots: usize,
    torn: usize,
    advanced: usize,
    first: u64,
    last: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            started: std::time::Instant::now(),
            snapshots: 0,
            torn: 0,
            advanced: 0,
            first: 0,
            last: 0,
        }
    }

    /// Whether to take another copy: until there are enough copies and advances, for at
    /// most a minute.
    fn wants_more(&self, snapshots: usize) -> Result<bool, String> {
        self.wants_more_advances(snapshots, ADVANCES)
    }

    /// [`wants_more`](Self::wants_more) with `advances` wanted.
    fn wants_more_advances(&self, snapshots: usize, advances: usize) -> Result<bool, String> {
        if self.snapshots >= snapshots && self.advanced >= advances {
            return Ok(false);
        }
        if self.started.elapsed() > std::time::Duration::from_secs(60) {
            return Err(format!("a minute of reading: {}", self.line()));
        }
        Ok(true)
    }

    /// Counts a copy: torn when its words differ or it goes back in time.
    fn count(&mut self, words: &Words) {
        let value = words[0];
        if words.iter().any(|&word| word != value) || value < self.last {
            self.torn += 1;
        }
        if self.snapshots == 0 {
            self.first = value;
        } else if value > self.last {
            self.advanced += 1;
        }
        self.last = value;
        self.snapshots += 1;
    }

    fn line(&self) -> String {
        format!(
            "snapshots {} torn {} advanced {} first {} last {}",
            self.snapshots, self.torn, self.advanced, self.first, self.last
        )
    }

    /// The figures, or why they fail: no torn copy, enough copies, values that moved.
    #[cfg(target_os = "linux")]
    fn check(&self, what: &str) -> Outcome {
        self.check_advances(what, ADVANCES)
    }

    /// [`check`](Self::check) with `advances` wanted.
    #[cfg(target_os = "linux")]
    fn check_advances(&self, what: &str, advances: usize) -> Outcome {
        eprintln!("{what}: {}", self.line());
        if self.torn > 0 || self.snapshots < SNAPSHOTS || self.advanced < advances {
            return Err(format!("{what}: {}", self.line()).into());
        }
        Ok(())
    }
}

/// Polls `condition` for up to 10 s: wineserver notices a killed process and drops its locks
/// a moment after the kill.
#[cfg(target_os = "linux")]
fn eventually(what: &str, mut condition: impl FnMut() -> bool) -> Outcome {
    let started = Instant::now();
    while !condition() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("not after 10 s: {what}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn shm_path(name: &str) -> String {
    format!("/dev/shm/{}", name.trim_start_matches("Local\\"))
}

/// Waits for the host file of `name` to go: `remover` removes it as it ends, a moment after
/// its process.
#[cfg(target_os = "linux")]
fn eventually_removed(name: &str, remover: &str) -> Outcome {
    eventually(&format!("{remover} removes the file"), || {
        !std::path::Path::new(&shm_path(name)).exists()
    })
}

/// Publishes updates as a native program into a region with `wine_game.c`'s layout until
/// `stop`; the counters and words are atomics, the way a Rust publisher shares them.
#[cfg(target_os = "linux")]
fn publish_natively(mut region: SharedMemory<ReadWrite>, stop: Arc<AtomicBool>) -> u64 {
    let base = region.as_mut_ptr();
    // SAFETY: the region has GAME_BYTES bytes (created so), page-aligned: the counters at 0
    // and 4 and the words from 8 are in bounds and aligned, and every process touches them
    // only through atomic operations while `region` keeps the view mapped.
    let (begin, end, words) = unsafe {
        (
            AtomicU32::from_ptr(base.cast()),
            AtomicU32::from_ptr(base.add(4).cast()),
            std::slice::from_raw_parts(base.add(8).cast::<AtomicU64>(), WORDS),
        )
    };
    let mut update = 0;
    while !stop.load(Ordering::Relaxed) {
        update += 1;
        begin.fetch_add(1, Ordering::AcqRel);
        for word in words {
            word.store(update, Ordering::Relaxed);
        }
        end.fetch_add(1, Ordering::Release);
    }
    drop(region);
    update
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// The scenario: wsm-bridge makes the section, a game that knows nothing of the crate
/// publishes into it rFactor 2-style, and a native program takes consistent copies through
/// `read_versioned`. Then the bridge and the game leave while the native reader holds the
/// region, and it goes with the native reader.
#[cfg(target_os = "linux")]
fn wine_bridged_game_is_read_whole_natively() -> Outcome {
    let name = unique_name("wine_game");
    let bytes = GAME_BYTES.to_string();
    let mut bridge = Peer::spawn(bridge(&[&format!("{name}={bytes}")]))?;
    bridge.expect_line("ready")?;
    let mut game = Peer::spawn(game(&["publish", &name, &bytes]))?;
    game.expect_line("ready existed=1")?;

    let reader = SharedMemory::<ReadOnly>::open(&name)?;
    expect_eq(reader.len(), GAME_BYTES)?;
    let versioning = crate::harness::RFACTOR2;
    let mut tally = Tally::new();
    while tally.wants_more(SNAPSHOTS)? {
        // The game writes as fast as it can: a 4 KiB copy fits between two of its writes only
        // when it is descheduled, which a quiet machine may not do for seconds. A starved
        // reader looks again (within the tally's minute); a stalled game is still a failure.
        match reader.read_versioned::<Words>(8, versioning, Duration::from_secs(2)) {
            Ok(words) => tally.count(&words),
            Err(SharedMemoryError::Inconsistent {
                source: SeqLockError::Starved { .. },
                ..
            }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    tally.check("native read_versioned of the bridged game")?;

    // The bridge leaves first: the game still maps the section, the native reader holds it.
    bridge.finish()?;
    std::thread::sleep(Duration::from_millis(200));
    expect_eq(std::path::Path::new(&shm_path(&name)).exists(), true)?;
    expect_eq(kind(SharedMemory::<ReadOnly>::open(&name)), "opened")?;
    game.send("stop")?;
    eprintln!("game: {}", game.read_line()?);
    game.finish()?;
    drop(reader);
    expect_no_shm_object(&name)
}

/// The reverse: a native publisher using the crate, `wsm-bridge --expose` in the prefix, and
/// a Windows reader that knows nothing of the crate (`OpenFileMappingW`).
#[cfg(target_os = "linux")]
fn wine_exposed_native_region_is_read_whole_by_a_windows_program() -> Outcome {
    let name = unique_name("wine_expose");
    let region = SharedMemory::<ReadWrite>::create(&name, GAME_BYTES)?;
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || publish_natively(region, stop)
    });
    let mut bridge = Peer::spawn(bridge(&["--expose", &name]))?;
    bridge.expect_line("ready")?;
    let read = game(&["read", &name, &SNAPSHOTS.to_string()]).output()?;
    stop.store(true, Ordering::Relaxed);
    let updates = publisher.join().map_err(|_| "the publisher panicked")?;
    let answer = String::from_utf8_lossy(&read.stdout).trim().to_owned();
    eprintln!("windows reader of the exposed native region: {answer} (native updates {updates})");
    expect_eq(read.status.code(), Some(0))?;
    // The native publisher has gone: the bridge is the last holder.
    expect_eq(std::path::Path::new(&shm_path(&name)).exists(), true)?;
    bridge.finish()?;
    eventually_removed(&name, "the bridge, last holder")
}

/// The library option, Windows to Linux: a Windows program creates a `SeqLock` region with
/// `linux_host` and publishes; a native one opens it by the same name and reads it whole.
#[cfg(target_os = "linux")]
fn wine_linux_host_region_made_on_windows_is_read_natively() -> Outcome {
    let name = unique_name("wine_host_w2l");
    let mut publisher = Peer::spawn(windows_role("wine-publish", &[&name]))?;
    publisher.expect_line("ready")?;
    let options = Options::new().linux_host(true);
    let link = SharedMemoryLink::<SeqLock<Words>, ReadOnly>::open_with(&name, &options)?;
    let mut tally = Tally::new();
    while tally.wants_more(SNAPSHOTS)? {
        tally.count(&link.seqlock().read()?);
    }
    tally.check("native SeqLock reader of a Windows linux_host region")?;
    publisher.send("stop")?;
    eprintln!("windows publisher: {}", publisher.read_line()?);
    publisher.finish()?;
    drop(link);
    expect_no_shm_object(&name)
}

/// The library option, Linux to Windows: a native program creates and publishes, a Windows
/// program opens the region with `linux_host` and reads it whole.
#[cfg(target_os = "linux")]
fn wine_linux_host_region_made_natively_is_read_on_windows() -> Outcome {
    let name = unique_name("wine_host_l2w");
    let options = Options::new().linux_host(true);
    let link = SharedMemoryLink::<SeqLock<Words>, ReadWrite>::create_with(&name, &options)?;
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || -> Result<u64, win_shared_memory::sync::SeqLockError> {
            let mut update = 0;
            while !stop.load(Ordering::Relaxed) {
                update += 1;
                link.seqlock().write(&[update; WORDS])?;
            }
            Ok(update)
        }
    });
    let read = windows_role("wine-read", &[&name, &SNAPSHOTS.to_string()]).output()?;
    stop.store(true, Ordering::Relaxed);
    let updates = publisher.join().map_err(|_| "the publisher panicked")??;
    let answer = String::from_utf8_lossy(&read.stdout).trim().to_owned();
    eprintln!(
        "windows SeqLock reader of a native linux_host region: {answer} (native updates {updates})"
    );
    expect_eq(read.status.code(), Some(0))?;
    expect_no_shm_object(&name)
}

/// A Windows holder killed while a native one holds: the region stays, is not taken for stale
/// by native openers, and goes with the native holder.
#[cfg(target_os = "linux")]
fn wine_killed_windows_holder_leaves_the_region_to_native_holders() -> Outcome {
    let name = unique_name("wine_kill_w");
    let mut windows = Peer::spawn(windows_role("wine-hold", &[&name]))?;
    windows.expect_line("ready created")?;
    let options = Options::new().linux_host(true);
    let native = SharedMemory::<ReadWrite>::open_existing_with(&name, &options)?;
    windows.kill()?;
    // Killed, its lock goes: then only the native holder keeps the region.
    std::thread::sleep(Duration::from_millis(500));
    expect_eq(kind(SharedMemory::<ReadOnly>::open(&name)), "opened")?;
    expect_eq(std::path::Path::new(&shm_path(&name)).exists(), true)?;
    drop(native);
    expect_no_shm_object(&name)
}

/// A native holder killed while a Windows one holds: the region stays for native openers and
/// goes with the Windows holder.
#[cfg(target_os = "linux")]
fn wine_killed_native_holder_leaves_the_region_to_windows_holders() -> Outcome {
    let name = unique_name("wine_kill_l");
    let mut native = crate::harness::spawn_child("wine-hold", &[&name])?;
    native.expect_line("ready created")?;
    let mut windows = Peer::spawn(windows_role("wine-hold", &[&name]))?;
    windows.expect_line("ready existing")?;
    native.kill()?;
    expect_eq(kind(SharedMemory::<ReadOnly>::open(&name)), "opened")?;
    expect_eq(std::path::Path::new(&shm_path(&name)).exists(), true)?;
    windows.finish()?;
    eventually_removed(&name, "the Windows holder, last")
}

/// Every holder on both sides killed: the file is left unheld, and the next native use of the
/// name reclaims it (the native side's stale-region reclaiming).
#[cfg(target_os = "linux")]
fn wine_region_of_killed_holders_on_both_sides_is_reclaimed() -> Outcome {
    let name = unique_name("wine_kill_both");
    let mut windows = Peer::spawn(windows_role("wine-hold", &[&name]))?;
    windows.expect_line("ready created")?;
    let mut native = crate::harness::spawn_child("wine-hold", &[&name])?;
    native.expect_line("ready existing")?;
    native.kill()?;
    windows.kill()?;
    // The next open finds nobody holding the marked file: stale, removed, not found.
    eventually("the stale file is reclaimed by a native open", || {
        kind(SharedMemory::<ReadOnly>::open(&name)) == "OpenMapping not-found"
    })?;
    expect_no_shm_object(&name)
}

/// Bytes of the file that a plain Windows program makes in `/dev/shm`.
const PLAIN_FILE_BYTES: [u8; 100] = {
    let mut bytes = [0; 100];
    let mut i = 0;
    while i < bytes.len() {
        bytes[i] = (i * 7 + 3) as u8;
        i += 1;
    }
    bytes
};

/// A plain Windows program under Wine, not this crate, makes `Z:\dev\shm\<name>` and gives
/// it the DOS attributes HIDDEN | SYSTEM, which Wine keeps as `user.DOSATTRIB = 0x6`: what
/// 0.2.0 took for its whole mark, so that a native open (or sweep) removed the unheld file.
/// Nobody holds it and it is no region of the crate's, so a native open joins it as it is,
/// and neither that open's end nor `reclaim_stale` removes it; nor does a Windows open.
#[cfg(target_os = "linux")]
fn wine_plain_programs_hidden_system_file_is_never_removed() -> Outcome {
    let name = unique_name("wine_plain");
    let path = shm_path(&name);
    let checked = plain_file_is_left_alone(&name, &path);
    let _ = std::fs::remove_file(&path);
    checked?;
    expect_no_shm_object(&name)
}

#[cfg(target_os = "linux")]
fn plain_file_is_left_alone(name: &str, path: &str) -> Outcome {
    let made = windows_role("wine-plain-file", &[name])
        .stdin(std::process::Stdio::null())
        .output()?;
    expect_eq(String::from_utf8_lossy(&made.stdout).trim(), "made")?;
    expect_eq(made.status.code(), Some(0))?;
    // The scenario is real only if Wine kept the attributes where the native side reads them.
    let mut value = [0_u8; 16];
    let len = rustix::fs::getxattr(path, "user.DOSATTRIB", &mut value)
        .map_err(|errno| format!("{path}: no user.DOSATTRIB from Wine: {errno}"))?;
    let text = String::from_utf8_lossy(&value[..len]);
    let attributes = text
        .trim_end_matches('\0')
        .strip_prefix("0x")
        .and_then(|hex| u32::from_str_radix(hex, 16).ok());
    if attributes.is_none_or(|bits| bits & 0x6 != 0x6) {
        return Err(format!("{path}: user.DOSATTRIB is {text:?}, not HIDDEN | SYSTEM").into());
    }
    let accessed = std::fs::metadata(path)?.accessed()?;
    eprintln!("{path}: user.DOSATTRIB {text:?}, accessed {accessed:?}");

    // Another program's object, joined as it is.
    let region = SharedMemory::<ReadOnly>::open(name)?;
    expect_eq(region.len(), PLAIN_FILE_BYTES.len())?;
    let mut seen = [0_u8; PLAIN_FILE_BYTES.len()];
    region.read_bytes_at(0, &mut seen)?;
    expect_eq(seen, PLAIN_FILE_BYTES)?;
    drop(region);
    win_shared_memory::reclaim_stale()?;
    expect_eq(std::fs::read(path).ok(), Some(PLAIN_FILE_BYTES.to_vec()))?;

    // A Windows program of the crate, which reads the mark through Wine, joins it too.
    let opened = windows_role("wine-open", &[name]).output()?;
    expect_eq(
        String::from_utf8_lossy(&opened.stdout).trim(),
        format!("opened {}", PLAIN_FILE_BYTES.len()),
    )?;
    expect_eq(std::fs::read(path).ok(), Some(PLAIN_FILE_BYTES.to_vec()))
}

/// Clear refusals: a name a native region has already (with the game's section in the
/// prefix, which the bridge would copy into it, or without), and a name given twice.
#[cfg(target_os = "linux")]
fn wine_bridge_refuses_names_already_taken() -> Outcome {
    let name = unique_name("wine_taken");
    let bytes = GAME_BYTES.to_string();
    let region = format!("{name}={bytes}");
    let held = SharedMemory::<ReadWrite>::create(&name, GAME_BYTES)?;
    let refused_with = |case: &str| -> Outcome {
        let refused = bridge(&[&region])
            .stdin(std::process::Stdio::null())
            .output()?;
        let message = String::from_utf8_lossy(&refused.stderr);
        expect_eq(refused.status.code(), Some(1))?;
        if !message.contains("already bridged") {
            return Err(format!("{case}: {message}").into());
        }
        Ok(())
    };
    let mut first = Peer::spawn(game(&["publish", &name, &bytes]))?;
    first.expect_line("ready existed=0")?;
    refused_with("the game's section and a native region's name")?;
    first.send("stop")?;
    first.read_line()?;
    first.finish()?;
    refused_with("a native region's name")?;
    drop(held);

    let usage = bridge(&[&region, &region])
        .stdin(std::process::Stdio::null())
        .output()?;
    expect_eq(usage.status.code(), Some(2))?;
    expect_no_shm_object(&name)
}

/// A section that a program of the prefix made from the paging file has the name while a
/// native region has the file: a Windows open with `linux_host` refuses it rather than map a
/// section native programs cannot see.
#[cfg(target_os = "linux")]
fn wine_linux_host_refuses_a_prefix_section_without_the_file() -> Outcome {
    let name = unique_name("wine_no_file");
    let native = SharedMemory::<ReadWrite>::create(&name, GAME_BYTES)?;
    let bytes = GAME_BYTES.to_string();
    let mut game = Peer::spawn(game(&["publish", &name, &bytes]))?;
    game.expect_line("ready existed=0")?;
    let answer = windows_role("wine-open", &[&name]).output()?;
    expect_eq(
        String::from_utf8_lossy(&answer.stdout).trim(),
        "ERROR_ALREADY_EXISTS",
    )?;
    game.send("stop")?;
    game.read_line()?;
    game.finish()?;
    expect_eq(std::path::Path::new(&shm_path(&name)).exists(), true)?;
    drop(native);
    expect_no_shm_object(&name)
}

/// A symbolic link planted under a region's name in /dev/shm, to a file elsewhere: Wine
/// follows it (where protected_symlinks does not stop it), and the Windows open of the name
/// refuses the file it leads to instead of mapping it; the file and the link stay as they were.
#[cfg(target_os = "linux")]
fn wine_a_symbolic_link_under_the_name_is_refused_on_windows() -> Outcome {
    let name = unique_name("wine_link");
    let target = format!("/tmp/wsm_link_target_{}", std::process::id());
    std::fs::write(&target, vec![0x5A_u8; 8192])?;
    std::os::unix::fs::symlink(&target, shm_path(&name))?;
    let answer = windows_role("wine-open", &[&name]).output();
    let link = std::fs::symlink_metadata(shm_path(&name)).map(|meta| meta.file_type().is_symlink());
    let untouched = std::fs::read(&target).map(|bytes| bytes == vec![0x5A_u8; 8192]);
    let _ = std::fs::remove_file(shm_path(&name));
    let _ = std::fs::remove_file(&target);
    let answer = String::from_utf8_lossy(&answer?.stdout).trim().to_owned();
    if answer.starts_with("opened") {
        return Err(format!("the Windows open mapped the link's target: {answer}").into());
    }
    expect_eq((link?, untouched?), (true, true))
}

// ---------------------------------------------------------------------------------------------
// The roles.

/// Windows: creates a `SeqLock<Words>` region with `linux_host`, says `ready`, and publishes
/// until a line or the end of standard input; then prints how many updates it made.
#[cfg(windows)]
fn windows_publish(name: &str, _args: &[String]) -> RoleResult {
    let options = Options::new().linux_host(true);
    let link = SharedMemoryLink::<SeqLock<Words>, ReadWrite>::create_with(name, &options)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn({
        let stop = std::sync::Arc::clone(&stop);
        move || {
            let _ = std::io::stdin().read_line(&mut String::new());
            stop.store(true, Ordering::Relaxed);
        }
    });
    println!("ready");
    let mut update = 0;
    while !stop.load(Ordering::Relaxed) {
        update += 1;
        link.seqlock().write(&[update; WORDS])?;
    }
    println!("published {update}");
    Ok(())
}

/// Windows: opens a `SeqLock<Words>` region with `linux_host` and takes `args[1]` copies.
#[cfg(windows)]
fn windows_read(name: &str, args: &[String]) -> RoleResult {
    let snapshots: usize = args.get(1).ok_or("how many snapshots?")?.parse()?;
    let options = Options::new().linux_host(true);
    let link = SharedMemoryLink::<SeqLock<Words>, ReadOnly>::open_with(name, &options)?;
    let mut tally = Tally::new();
    while tally.wants_more(snapshots)? {
        tally.count(&link.seqlock().read()?);
    }
    println!("{}", tally.line());
    if tally.torn > 0 || tally.advanced == 0 {
        return Err(tally.line().into());
    }
    Ok(())
}

/// Windows: opens the region with `linux_host` and says how that went.
#[cfg(windows)]
fn windows_open(name: &str, _args: &[String]) -> RoleResult {
    use windows::Win32::Foundation::ERROR_ALREADY_EXISTS;
    let options = Options::new().linux_host(true);
    match win_shared_memory::SharedMemory::<ReadOnly>::open_with(name, &options) {
        Ok(region) => println!("opened {}", region.len()),
        Err(win_shared_memory::SharedMemoryError::Open { source, .. })
            if source.code() == ERROR_ALREADY_EXISTS.to_hresult() =>
        {
            println!("ERROR_ALREADY_EXISTS")
        }
        Err(other) => println!("{other}"),
    }
    Ok(())
}

/// Windows, as a plain program that knows nothing of the crate: makes the host file
/// `Z:\dev\shm\<name>` with [`PLAIN_FILE_BYTES`], closes it, gives it the DOS attributes
/// HIDDEN | SYSTEM and says `made`.
#[cfg(windows)]
fn windows_plain_file(name: &str, _args: &[String]) -> RoleResult {
    use std::io::Write;
    use windows::Win32::Storage::FileSystem::{
        FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_SYSTEM, SetFileAttributesW,
    };
    let path = format!("Z:\\dev\\shm\\{}", name.trim_start_matches("Local\\"));
    let mut file = std::fs::File::create_new(&path)?;
    file.write_all(&PLAIN_FILE_BYTES)?;
    drop(file);
    // SAFETY: SetFileAttributesW only reads the NUL-terminated path, which outlives the call.
    unsafe {
        SetFileAttributesW(
            &windows::core::HSTRING::from(path.as_str()),
            FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM,
        )
    }?;
    println!("made");
    Ok(())
}

/// Either side: holds the region (`linux_host`), says whether it made it, and waits for
/// standard input to close.
fn hold(name: &str, _args: &[String]) -> RoleResult {
    let options = Options::new().linux_host(true);
    let region =
        win_shared_memory::SharedMemory::<ReadWrite>::get_or_create_with(name, 4096, &options)?;
    println!(
        "ready {}",
        if region.created() {
            "created"
        } else {
            "existing"
        }
    );
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    drop(region);
    Ok(())
}

/// Either side: holds the region (`linux_host`), says `ready`, then answers each line of
/// standard input until it closes: `take` (the writer role: `taken` or `refused`), `drop`
/// (`dropped`), `alive` (`writer_alive`: `true` or `false`) and `close` (lets the region go,
/// keeping the role: `closed`).
fn writer_role(name: &str, _args: &[String]) -> RoleResult {
    let options = Options::new().linux_host(true);
    let mut region = Some(
        win_shared_memory::SharedMemory::<ReadWrite>::get_or_create_with(name, 4096, &options)?,
    );
    println!("ready");
    let mut role = None;
    for line in std::io::stdin().lines() {
        let line = line?;
        let open = || {
            region
                .as_ref()
                .ok_or(format!("{line}: the region is closed"))
        };
        match line.as_str() {
            "take" => match open()?.take_writer_role() {
                Ok(taken) => {
                    role = Some(taken);
                    println!("taken");
                }
                Err(win_shared_memory::SharedMemoryError::SynchronizationRefused { .. }) => {
                    println!("refused");
                }
                Err(error) => return Err(error.into()),
            },
            "drop" => {
                role = None;
                println!("dropped");
            }
            "alive" => println!("{}", open()?.writer_alive()?),
            "close" => {
                region = None;
                println!("closed");
            }
            other => return Err(format!("no such command: {other}").into()),
        }
    }
    drop(role);
    Ok(())
}

/// A Windows `writer_role` peer under Wine, ready.
#[cfg(target_os = "linux")]
fn windows_writer_role(name: &str) -> Result<Peer, libtest_mimic::Failed> {
    let mut peer = Peer::spawn(windows_role("wine-writer-role", &[name]))?;
    peer.expect_line("ready")?;
    Ok(peer)
}

/// Asks a `writer_role` peer `command` and checks its answer.
#[cfg(target_os = "linux")]
fn ask(peer: &mut Peer, command: &str, expected: &str) -> Outcome {
    peer.send(command)?;
    peer.expect_line(expected)
        .map_err(|failed| format!("{command}: {failed:?}").into())
}

/// Whether a `writer_role` peer answers `alive` with `false`; a peer that does not answer
/// (dead, or saying something else) is no such answer.
#[cfg(target_os = "linux")]
fn sees_no_writer(peer: &mut Peer) -> bool {
    peer.send("alive").is_ok() && peer.read_line().is_ok_and(|answer| answer == "false")
}

/// The writer role across the boundary, Windows to Linux: a Windows writer under Wine is seen
/// alive by a native reader and refuses a native writer (and a second Windows one); killed,
/// while the second Windows process keeps wineserver running (whose own POSIX locks would
/// otherwise go with it and prove nothing), it is seen gone natively and a native writer may
/// take the role.
#[cfg(target_os = "linux")]
fn wine_windows_writer_is_seen_natively_until_killed() -> Outcome {
    let name = unique_name("wine_role_w");
    let mut windows = windows_writer_role(&name)?;
    let options = Options::new().linux_host(true);
    let native = SharedMemory::<ReadWrite>::open_existing_with(&name, &options)?;
    let reader = SharedMemory::<ReadOnly>::open_with(&name, &options)?;
    expect_eq(reader.writer_alive()?, false)?;
    ask(&mut windows, "take", "taken")?;
    expect_eq(reader.writer_alive()?, true)?;
    let second = native.take_writer_role();
    if !matches!(
        second,
        Err(SharedMemoryError::SynchronizationRefused { .. })
    ) {
        return Err(format!("a native writer beside the Windows one: {second:?}").into());
    }
    // Dropped, the role is free at once; taken again, it is held until the kill.
    ask(&mut windows, "drop", "dropped")?;
    expect_eq(reader.writer_alive()?, false)?;
    ask(&mut windows, "take", "taken")?;
    let mut other_windows = windows_writer_role(&name)?;
    ask(&mut other_windows, "alive", "true")?;
    ask(&mut other_windows, "take", "refused")?;
    expect_eq(reader.writer_alive()?, true)?;
    windows.kill()?;
    let killed = Instant::now();
    eventually("the killed Windows writer is seen gone natively", || {
        reader.writer_alive().is_ok_and(|alive| !alive)
    })?;
    eprintln!(
        "killed Windows writer seen gone natively after {:?}",
        killed.elapsed()
    );
    // Still running: wineserver, not its exit, let the killed process's lock go.
    ask(&mut other_windows, "alive", "false")?;
    let role = native.take_writer_role()?;
    expect_eq(reader.writer_alive()?, true)?;
    ask(&mut other_windows, "alive", "true")?;
    ask(&mut other_windows, "take", "refused")?;
    drop((role, reader, native));
    other_windows.finish()?;
    eventually_removed(&name, "the Windows holder, last")
}

/// The writer role across the boundary, Linux to Windows: a native writer is seen alive by a
/// Windows reader under Wine and refuses a Windows writer; killed, it is seen gone there, and
/// the Windows writer that then takes the role is seen natively until it drops it.
#[cfg(target_os = "linux")]
fn wine_native_writer_is_seen_on_windows_until_killed() -> Outcome {
    let name = unique_name("wine_role_l");
    let mut native = crate::harness::spawn_child("wine-writer-role", &[&name])?;
    native.expect_line("ready")?;
    let mut windows = windows_writer_role(&name)?;
    ask(&mut windows, "alive", "false")?;
    ask(&mut native, "take", "taken")?;
    ask(&mut windows, "alive", "true")?;
    ask(&mut windows, "take", "refused")?;
    native.kill()?;
    let killed = Instant::now();
    eventually("the killed native writer is seen gone on Windows", || {
        sees_no_writer(&mut windows)
    })?;
    eprintln!(
        "killed native writer seen gone on Windows after {:?}",
        killed.elapsed()
    );
    ask(&mut windows, "take", "taken")?;
    let options = Options::new().linux_host(true);
    let reader = SharedMemory::<ReadOnly>::open_with(&name, &options)?;
    expect_eq(reader.writer_alive()?, true)?;
    ask(&mut windows, "drop", "dropped")?;
    expect_eq(reader.writer_alive()?, false)?;
    drop(reader);
    windows.finish()?;
    eventually_removed(&name, "the Windows holder, last")
}

/// A Windows role that outlives its region holds the region's file as one of its holders:
/// native openers join it at once and see the role alive, and the file goes with the role.
/// (Had the role locked its byte through an open that holds no share of the file, the region's
/// leaving holder would have kept its exclusive lock of the holders' byte while the role lived,
/// and native opens waited.)
#[cfg(target_os = "linux")]
fn wine_windows_role_that_outlives_its_region_keeps_the_file_until_dropped() -> Outcome {
    let name = unique_name("wine_role_outlives");
    let mut windows = windows_writer_role(&name)?;
    ask(&mut windows, "take", "taken")?;
    ask(&mut windows, "close", "closed")?;
    let started = Instant::now();
    let reader = SharedMemory::<ReadOnly>::open_with(&name, &Options::new().linux_host(true))?;
    let took = started.elapsed();
    if took > Duration::from_millis(500) {
        return Err(format!("the native open waited {took:?} for the Windows role").into());
    }
    expect_eq(reader.writer_alive()?, true)?;
    drop(reader);
    ask(&mut windows, "drop", "dropped")?;
    eventually_removed(&name, "the Windows role, last holder")?;
    windows.finish()
}

/// One preset as `wsm-bridge --list-presets` shows it: the title, and each region's name, the
/// section's size and the game's exact size (`None`: no fixed size).
#[cfg(target_os = "linux")]
struct ListedPreset {
    title: String,
    regions: Vec<(String, usize, Option<usize>)>,
}

/// The presets of `--list-presets`: a title line (`title, other titles: about`), then a line
/// per region (`    NAME: section S bytes (struct E bytes)`, perhaps with a note after E, or
/// `(no fixed size)`), then `    event: …` lines and `    source: …`.
#[cfg(target_os = "linux")]
fn listed_presets(text: &str) -> Result<Vec<ListedPreset>, libtest_mimic::Failed> {
    let mut presets: Vec<ListedPreset> = Vec::new();
    for line in text.lines() {
        let Some(indented) = line.strip_prefix("    ") else {
            let title = line.split([',', ':']).next().unwrap_or_default();
            presets.push(ListedPreset {
                title: title.to_owned(),
                regions: Vec::new(),
            });
            continue;
        };
        if indented.starts_with("source: ") || indented.starts_with("event: ") {
            continue;
        }
        let unreadable = || format!("unreadable --list-presets line {line:?}");
        let (name, sizes) = indented.split_once(": section ").ok_or_else(unreadable)?;
        let (section, exact) = sizes.split_once(" bytes (").ok_or_else(unreadable)?;
        let exact = match exact.strip_prefix("struct ") {
            // "struct N bytes)", or "struct N bytes; native programs write it …)".
            Some(bytes) => Some(
                bytes
                    .split_once(" bytes")
                    .ok_or_else(unreadable)?
                    .0
                    .parse()?,
            ),
            None if exact == "no fixed size)" => None,
            None => return Err(unreadable().into()),
        };
        let preset = presets.last_mut().ok_or_else(unreadable)?;
        preset
            .regions
            .push((name.to_owned(), section.parse()?, exact));
    }
    Ok(presets)
}

/// Each preset's title in turn: a stand-in game with the title's real names and exact sizes
/// starts first, and the bridge (`--when-free`) makes the sections once it has exited; the
/// game started again finds them made (`ERROR_ALREADY_EXISTS`) and maps each whole, a native program that maps the files itself (as TinyPedal does, no lock) sees the
/// game's mark at the start and at the last byte of the structure, and nothing is left in
/// `/dev/shm` once the game and the bridge are gone.
#[cfg(target_os = "linux")]
fn wine_every_preset_serves_its_titles_stand_in_game() -> Outcome {
    /// The Windows process id a dedicated server's names end with, in this test.
    const PID: &str = "4660";
    let listing = bridge(&["--list-presets"]).output()?;
    expect_eq(listing.status.code(), Some(0))?;
    let presets = listed_presets(&String::from_utf8_lossy(&listing.stdout))?;
    let titles: Vec<&str> = presets.iter().map(|p| p.title.as_str()).collect();
    for expected in [
        "rfactor2",
        "rfactor2-dedicated",
        "lmu",
        "iracing",
        "ets2",
        "rfactor1",
        "acc",
        "acevo",
    ] {
        if !titles.contains(&expected) {
            return Err(format!("--list-presets has no {expected}: {titles:?}").into());
        }
    }
    for preset in &presets {
        let regions: Vec<(String, usize, usize)> = preset
            .regions
            .iter()
            .map(|(name, section, exact)| {
                (
                    name.replace("<PID>", PID),
                    *section,
                    exact.unwrap_or(*section),
                )
            })
            .collect();
        let mut args = vec!["--preset", preset.title.as_str(), "--when-free"];
        if preset
            .regions
            .iter()
            .any(|(name, ..)| name.ends_with("<PID>"))
        {
            args.extend(["--pid", PID]);
        }
        let game_args: Vec<String> = regions
            .iter()
            .map(|(name, _, exact)| format!("{name}={exact}"))
            .collect();
        let count = regions.len();
        // The game starts first: the bridge waits for it to exit, then bridges its next start.
        let mut first = Peer::spawn(preset_game(&game_args))?;
        first.expect_line(&format!("ready existed=0 of {count}"))?;
        let mut bridged = Peer::spawn(bridge(&args))?;
        // Long enough for the bridge to start and find the names taken.
        std::thread::sleep(Duration::from_millis(700));
        for (name, ..) in &regions {
            expect_no_shm_object(name)?;
        }
        first.finish()?;
        bridged.expect_line("ready")?;
        let mut game = Peer::spawn(preset_game(&game_args))?;
        game.expect_line(&format!("ready existed={count} of {count}"))?;
        for (name, section, exact) in &regions {
            let bytes = std::fs::read(shm_path(name))?;
            let what = format!("{}: {name}", preset.title);
            expect_eq((what.as_str(), bytes.len()), (what.as_str(), *section))?;
            expect_eq((what.as_str(), &bytes[..4]), (what.as_str(), &b"wsmg"[..]))?;
            expect_eq((what.as_str(), bytes[exact - 1]), (what.as_str(), 0x5A))?;
        }
        game.finish()?;
        bridged.finish()?;
        for (name, ..) in &regions {
            expect_no_shm_object(name)?;
        }
    }
    Ok(())
}

/// A native reader in the style of the overlays (TinyPedal): started before the bridge, it
/// creates the missing file empty and maps it itself, with no lock and without this crate. The
/// bridge adopts the file (grows it, backs the section with it), so the reader's own mapping
/// sees the game's updates, through two runs of the game while the bridge runs; when the
/// bridge ends the file stays, the reader's, and the next session's bridge adopts it again.
#[cfg(target_os = "linux")]
fn wine_lockless_reader_started_first_is_adopted_and_kept_across_game_restarts() -> Outcome {
    use std::os::unix::fs::OpenOptionsExt;
    let name = unique_name("wine_reader_first");
    let path = shm_path(&name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    let bytes = GAME_BYTES.to_string();
    let mut bridged = Peer::spawn(bridge(&[&format!("{name}={bytes}")]))?;
    bridged.expect_line("ready")?;
    expect_eq(file.metadata()?.len(), GAME_BYTES as u64)?;
    let reader = LocklessReader::map(&file)?;
    let run_game = |run: &str| reader.sees_a_game_run(&name, run);
    run_game("first")?;
    run_game("second")?;
    bridged.finish()?;
    expect_eq(std::path::Path::new(&path).exists(), true)?;
    // The next session: a new bridge adopts the same file again, although it holds the last
    // game's data now, and the reader, still running, sees the next game.
    let mut bridged = Peer::spawn(bridge(&[&format!("{name}={bytes}")]))?;
    bridged.expect_line("ready")?;
    run_game("next session's")?;
    bridged.finish()?;
    expect_eq(std::path::Path::new(&path).exists(), true)?;
    drop((reader, file));
    std::fs::remove_file(&path)?;
    expect_no_shm_object(&name)
}

/// What the bridge does not adopt, and leaves as it is: another user's empty file (whose owner
/// could then read the game's data), a file with data in it, and a symbolic link to an empty
/// file elsewhere.
#[cfg(target_os = "linux")]
fn wine_bridge_adopts_only_a_readers_file() -> Outcome {
    let name = unique_name("wine_not_adopted");
    let path = shm_path(&name);
    for (content, owner, why) in [
        (&b""[..], Some(65534), "another user owns it"),
        (&b"data"[..], None, "it is not empty"),
    ] {
        std::fs::write(&path, content)?;
        if let Some(uid) = owner {
            // Root (these tests' user) gives the file away; elsewhere the case is skipped.
            if std::os::unix::fs::chown(&path, Some(uid), None).is_err() {
                std::fs::remove_file(&path)?;
                continue;
            }
        }
        let refused = bridge(&[&format!("{name}={GAME_BYTES}")])
            .stdin(std::process::Stdio::null())
            .output()?;
        let message = String::from_utf8_lossy(&refused.stderr);
        expect_eq(refused.status.code(), Some(1))?;
        if !message.contains(why) {
            return Err(format!("expected {why:?} in: {message}").into());
        }
        expect_eq(std::fs::read(&path)?, content)?;
        std::fs::remove_file(&path)?;
    }
    // A symbolic link under the name to an empty file elsewhere (which another user could
    // plant where links are followed): the file elsewhere is neither grown nor written.
    let elsewhere = std::env::temp_dir().join(format!("wsm-link-target-{}", std::process::id()));
    std::fs::write(&elsewhere, b"")?;
    std::os::unix::fs::symlink(&elsewhere, &path)?;
    let refused = bridge(&[&format!("{name}={GAME_BYTES}")])
        .stdin(std::process::Stdio::null())
        .output()?;
    let message = String::from_utf8_lossy(&refused.stderr);
    std::fs::remove_file(&path)?;
    let left = std::fs::read(&elsewhere)?;
    std::fs::remove_file(&elsewhere)?;
    if !message.contains("symbolic link") {
        return Err(format!("a symbolic link: {message}").into());
    }
    expect_eq(left.len(), 0)?;
    expect_no_shm_object(&name)
}

/// A stand-in for a Proton build, in a new folder: `proton VERB PROGRAM ARGS…` runs PROGRAM with
/// the build's `files/bin/wine` (this machine's Wine) in `$STEAM_COMPAT_DATA_PATH/pfx`, which
/// is the tests' prefix. Returns the folder, the `proton` script and the compat data folder.
#[cfg(target_os = "linux")]
fn proton_stand_in(
    tag: &str,
) -> Result<(std::path::PathBuf, String, std::path::PathBuf), libtest_mimic::Failed> {
    use std::os::unix::fs::PermissionsExt;
    let root = std::env::temp_dir().join(format!("wsm-proton-{}-{tag}", std::process::id()));
    let bin = root.join("Proton stand-in").join("files").join("bin");
    std::fs::create_dir_all(&bin)?;
    let wine = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("wine"))
        .find(|wine| wine.is_file())
        .ok_or("no wine on PATH")?;
    std::os::unix::fs::symlink(wine, bin.join("wine"))?;
    let proton = root.join("Proton stand-in").join("proton");
    std::fs::write(
        &proton,
        "#!/bin/sh\n# proton VERB PROGRAM ARGS...\nshift\nWINEPREFIX=\"$STEAM_COMPAT_DATA_PATH/pfx\" exec \"$(dirname \"$0\")/files/bin/wine\" \"$@\"\n",
    )?;
    std::fs::set_permissions(&proton, std::fs::Permissions::from_mode(0o755))?;
    let compat = root.join("compatdata");
    std::fs::create_dir_all(&compat)?;
    let prefix = std::env::var_os("WINEPREFIX").ok_or("no WINEPREFIX")?;
    std::os::unix::fs::symlink(prefix, compat.join("pfx"))?;
    let proton = proton
        .to_str()
        .ok_or("a temporary path that is not UTF-8")?
        .to_owned();
    Ok((root, proton, compat))
}

/// Steam's launch option `wsm-bridge launch NAME=BYTES -- %command%`, with a stand-in for
/// Proton's command line and no `WINEPREFIX` (Steam gives `STEAM_COMPAT_DATA_PATH`): the game
/// finds the section made (the bridge started first, in the game's prefix, with the game's
/// Wine), a native reader sees the game's updates, and when the game ends the bridge ends
/// and removes the file; the launcher exits with the game's exit code, a failing one too.
#[cfg(target_os = "linux")]
fn wine_launch_starts_the_bridge_before_a_proton_game_and_ends_it_with_the_game() -> Outcome {
    let name = unique_name("wine_launch");
    let bytes = GAME_BYTES.to_string();
    let (root, proton, compat) = proton_stand_in("launch")?;
    let game_exe = format!(
        "{}\\wine_game.exe",
        std::env::var("WSM_C_PEER_DIR").unwrap_or_default()
    );
    let launch = |game_args: &[&str]| {
        let mut command = Command::new(std::env::var_os("WSM_NATIVE_BRIDGE").unwrap_or_default());
        command
            .arg("launch")
            .arg("--exe")
            .arg(std::env::var_os("WSM_WINE_BRIDGE").unwrap_or_default())
            .arg(format!("{name}={bytes}"))
            .args(["--", &proton, "waitforexitandrun", &game_exe])
            .args(game_args)
            .env("STEAM_COMPAT_DATA_PATH", &compat)
            .env_remove("WINEPREFIX");
        command
    };
    let mut launched = Peer::spawn(launch(&["publish", &name, &bytes]))?;
    launched.expect_line("ready existed=1")?;
    let reader = SharedMemory::<ReadOnly>::open(&name)?;
    let updates_done = || reader.read_at::<u32>(4);
    let before = updates_done()?;
    eventually("the native reader sees the launched game's updates", || {
        updates_done().is_ok_and(|now| now.wrapping_sub(before) > 1000)
    })?;
    drop(reader);
    launched.send("stop")?;
    eprintln!("launched game: {}", launched.read_line()?);
    launched.finish()?;
    expect_no_shm_object(&name)?;

    // A game that fails: its exit code is the launcher's, and the bridge still ends.
    let failed = launch(&["no-such-command"])
        .stdin(std::process::Stdio::null())
        .output()?;
    expect_eq(failed.status.code(), Some(1))?;
    expect_no_shm_object(&name)?;
    std::fs::remove_dir_all(root)?;
    Ok(())
}

/// Events across the boundary, both ways, through `wsm-bridge launch`: a native `set` of
/// win-shared-memory's `NamedEvent` reaches a Windows program's `WaitForSingleObject` in the
/// prefix (`--event-to-windows`), whose `SetEvent` wakes the native waiter of the other event
/// (`--event`); every one of the round trips arrives, and their times are printed.
#[cfg(target_os = "linux")]
fn wine_events_cross_the_boundary_both_ways() -> Outcome {
    const ROUND_TRIPS: usize = 200;
    let there = unique_name("wine_event_there");
    let back = unique_name("wine_event_back");
    let to_windows = NamedEvent::new(&there, EventReset::Auto)?;
    let from_windows = NamedEvent::new(&back, EventReset::Auto)?;
    let dir = std::env::var("WSM_C_PEER_DIR").unwrap_or_default();
    let mut launcher = Command::new(std::env::var_os("WSM_NATIVE_BRIDGE").unwrap_or_default());
    launcher
        .arg("launch")
        .arg("--exe")
        .arg(std::env::var_os("WSM_WINE_BRIDGE").unwrap_or_default())
        .args(["--event-to-windows", &format!("{there}=auto")])
        .args(["--event", &format!("{back}=auto")])
        .args([
            "--",
            "wine",
            &format!("{dir}\\event_echo.exe"),
            &there,
            &back,
        ])
        .arg(ROUND_TRIPS.to_string());
    let mut launched = Peer::spawn(launcher)?;
    launched.expect_line("ready")?;
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for trip in 0..ROUND_TRIPS {
        let started = Instant::now();
        to_windows.set()?;
        if !from_windows.wait_timeout(Duration::from_secs(5))? {
            return Err(
                format!("round trip {trip} of {ROUND_TRIPS} did not come back in 5 s").into(),
            );
        }
        times.push(started.elapsed());
    }
    launched.expect_line(&format!("echoed {ROUND_TRIPS}"))?;
    launched.finish()?;
    times.sort();
    let at = |fraction: f64| times[((times.len() - 1) as f64 * fraction) as usize];
    eprintln!(
        "event round trips native -> Windows -> native: {ROUND_TRIPS} of {ROUND_TRIPS}, median {:?}, p90 {:?}, max {:?}",
        at(0.5),
        at(0.9),
        at(1.0)
    );
    Ok(())
}

/// The 4-byte counter at offset 4 (the game's finished updates) of every deleted `tmpmap-*`
/// file that a process of this user has open and whose size is `bytes`: where Wine 8 keeps an
/// anonymous named section, in `wineserver`'s descriptors.
#[cfg(target_os = "linux")]
fn tmpmap_counters(bytes: u64) -> Vec<(String, u32)> {
    use std::io::Read;
    let mut found = Vec::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return found;
    };
    for process in processes.flatten() {
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            if !(target.contains("/tmpmap-") && target.ends_with(" (deleted)")) {
                continue;
            }
            let Ok(mut file) = std::fs::File::open(fd.path()) else {
                continue;
            };
            let mut head = [0u8; 8];
            if file.metadata().is_ok_and(|meta| meta.len() == bytes)
                && file.read_exact(&mut head).is_ok()
            {
                let counter = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
                found.push((fd.path().display().to_string(), counter));
            }
        }
    }
    found
}

/// A game that started before the bridge: with `--when-free` the bridge waits instead of
/// copying, makes the section once the game has exited, and the game's next start is
/// bridged. Before that, the test checks where Wine 8 keeps the game's own section: a deleted
/// `tmpmap-*` file that `wineserver` holds, whose counter a native process of the same user
/// sees advance through `/proc/<pid>/fd/<n>`, and which cannot be given a name in `/dev/shm`
/// (`linkat` of a deleted file fails), so native programs cannot reach it by name zero-copy.
#[cfg(target_os = "linux")]
fn wine_game_started_first_is_bridged_from_its_next_start() -> Outcome {
    let name = unique_name("wine_game_first");
    let bytes = GAME_BYTES.to_string();
    let mut first = Peer::spawn(game(&["publish", &name, &bytes]))?;
    first.expect_line("ready existed=0")?;
    // Wine rounds the section up to whole pages.
    let section = GAME_BYTES.next_multiple_of(4096) as u64;
    let before = tmpmap_counters(section);
    std::thread::sleep(Duration::from_millis(300));
    let after = tmpmap_counters(section);
    let advancing = after.iter().filter(|(fd, now)| {
        before
            .iter()
            .any(|(seen, then)| seen == fd && now.wrapping_sub(*then) > 0)
    });
    let advancing: Vec<&(String, u32)> = advancing.collect();
    if advancing.is_empty() {
        return Err(format!(
            "no deleted tmpmap file of {section} bytes advances: before {before:?}, after {after:?}"
        )
        .into());
    }
    for (fd, _) in advancing {
        let linked = rustix::fs::linkat(
            rustix::fs::CWD,
            fd.as_str(),
            rustix::fs::CWD,
            shm_path(&name).as_str(),
            rustix::fs::AtFlags::SYMLINK_FOLLOW,
        );
        eprintln!("linkat {fd} to {}: {linked:?}", shm_path(&name));
        if linked.is_ok() {
            let _ = std::fs::remove_file(shm_path(&name));
            return Err(format!("the game's deleted section file {fd} was given a name").into());
        }
    }
    expect_eq(std::path::Path::new(&shm_path(&name)).exists(), false)?;

    let mut bridged = Peer::spawn(bridge(&[&format!("{name}={bytes}"), "--when-free"]))?;
    std::thread::sleep(Duration::from_millis(500));
    expect_eq(std::path::Path::new(&shm_path(&name)).exists(), false)?;
    first.send("stop")?;
    first.read_line()?;
    first.finish()?;
    bridged.expect_line("ready")?;
    let mut next = Peer::spawn(game(&["publish", &name, &bytes]))?;
    next.expect_line("ready existed=1")?;
    let reader = SharedMemory::<ReadOnly>::open(&name)?;
    let started = reader.read_at::<u32>(4)?;
    eventually("a native reader sees the restarted game's updates", || {
        reader
            .read_at::<u32>(4)
            .is_ok_and(|now| now.wrapping_sub(started) > 1000)
    })?;
    drop(reader);
    next.send("stop")?;
    next.read_line()?;
    next.finish()?;
    bridged.finish()?;
    expect_no_shm_object(&name)
}

/// iRacing's way: a manual-reset event that the game pulses (`PulseEvent`), forwarded as a pulse
/// of the native `NamedEvent` (set, then reset): a native thread waiting at that moment wakes,
/// and the event is not left set. A pulse reaches only the waiters of that moment, so a
/// waiter that was descheduled between its `set` of the other event and its wait misses one:
/// at least 90 of 100 round trips must arrive (and the event must never be found set).
#[cfg(target_os = "linux")]
fn wine_pulses_of_a_manual_reset_event_reach_native_waiters() -> Outcome {
    const ROUND_TRIPS: usize = 100;
    let there = unique_name("wine_pulse_there");
    let back = unique_name("wine_pulse_back");
    let to_windows = NamedEvent::new(&there, EventReset::Auto)?;
    let pulsed = NamedEvent::new(&back, EventReset::Manual)?;
    let dir = std::env::var("WSM_C_PEER_DIR").unwrap_or_default();
    let mut launcher = Command::new(std::env::var_os("WSM_NATIVE_BRIDGE").unwrap_or_default());
    launcher
        .arg("launch")
        .arg("--exe")
        .arg(std::env::var_os("WSM_WINE_BRIDGE").unwrap_or_default())
        .args(["--event-to-windows", &format!("{there}=auto")])
        .args(["--event", &format!("{back}=manual")])
        .args([
            "--",
            "wine",
            &format!("{dir}\\event_echo.exe"),
            &there,
            &back,
        ])
        .args([ROUND_TRIPS.to_string().as_str(), "pulse"]);
    let mut launched = Peer::spawn(launcher)?;
    launched.expect_line("ready")?;
    let mut arrived = 0;
    for _ in 0..ROUND_TRIPS {
        // The waiter waits first, as a pulse's waiters must: a waiter that sets, then waits,
        // misses every pulse that comes while the machine keeps it from its wait.
        let woken = std::thread::scope(|scope| {
            let waiter = scope.spawn(|| pulsed.wait_timeout(Duration::from_secs(1)));
            std::thread::sleep(Duration::from_millis(2));
            to_windows.set()?;
            waiter
                .join()
                .map_err(|_| "the waiter panicked")?
                .map_err(libtest_mimic::Failed::from)
        })?;
        if woken {
            arrived += 1;
        }
        // The relay resets it right after setting it: a moment later it is unset.
        std::thread::sleep(Duration::from_millis(5));
        if pulsed.wait_timeout(Duration::ZERO)? {
            return Err("the native event was left set after a pulse".into());
        }
    }
    launched.expect_line(&format!("echoed {ROUND_TRIPS}"))?;
    launched.finish()?;
    eprintln!("pulses of a manual-reset event: {arrived} of {ROUND_TRIPS} woke the native waiter");
    if arrived < ROUND_TRIPS * 9 / 10 {
        return Err(
            format!("only {arrived} of {ROUND_TRIPS} pulses woke the native waiter").into(),
        );
    }
    Ok(())
}

/// A native reader in the style of the overlays: its own read-only mapping of a game's file
/// (`GAME_BYTES` bytes, the bridge's), with no lock and without this crate.
#[cfg(target_os = "linux")]
struct LocklessReader(*mut std::ffi::c_void);

#[cfg(target_os = "linux")]
impl LocklessReader {
    fn map(file: &std::fs::File) -> Result<Self, libtest_mimic::Failed> {
        // SAFETY: a shared, read-only mapping of the whole file, which the bridge has made (or
        // grown to) GAME_BYTES bytes and never shrinks; unmapped when the reader drops.
        let view = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                GAME_BYTES,
                rustix::mm::ProtFlags::READ,
                rustix::mm::MapFlags::SHARED,
                file,
                0,
            )?
        };
        Ok(Self(view))
    }

    /// The game's end counter: the updates it completed.
    fn updates_done(&self) -> u32 {
        // SAFETY: offset 4 is in the mapping and aligned for a u32, which the game updates
        // with InterlockedIncrement only; the mapping lives as long as `self`.
        unsafe { AtomicU32::from_ptr(self.0.cast::<u32>().add(1)) }.load(Ordering::Acquire)
    }

    /// Runs the stand-in game once under `name` (its `run`, for the messages) and checks this
    /// mapping sees it advance.
    fn sees_a_game_run(&self, name: &str, run: &str) -> Outcome {
        let mut game = Peer::spawn(game(&["publish", name, &GAME_BYTES.to_string()]))?;
        game.expect_line("ready existed=1")?;
        let before = self.updates_done();
        eventually(
            &format!("the reader's own mapping sees the {run} game's updates"),
            || self.updates_done().wrapping_sub(before) > 1000,
        )?;
        game.send("stop")?;
        eprintln!("{run} game: {}", game.read_line()?);
        game.finish()
    }
}

#[cfg(target_os = "linux")]
impl Drop for LocklessReader {
    fn drop(&mut self) {
        // SAFETY: the mapping `map` made, unmapped once, here.
        let _ = unsafe { rustix::mm::munmap(self.0, GAME_BYTES) };
    }
}

/// The usual order with Steam's launcher: the bridge first, then a lockless native reader that
/// maps the bridge's file itself. When the bridge ends (with the game) while the reader still
/// maps the file, the bridge keeps it rather than remove its name; the next session's bridge
/// adopts it, so the reader, never restarted, sees the next game; once nobody maps it, the
/// bridge that ends removes it.
#[cfg(target_os = "linux")]
fn wine_lockless_reader_started_after_the_bridge_keeps_its_file_across_sessions() -> Outcome {
    let name = unique_name("wine_reader_after");
    let path = shm_path(&name);
    let bytes = GAME_BYTES.to_string();
    let region = format!("{name}={bytes}");
    let mut bridged = Peer::spawn(bridge(&[&region]))?;
    bridged.expect_line("ready")?;
    let file = std::fs::File::open(&path)?;
    let reader = LocklessReader::map(&file)?;
    let run_game = |session: &str| reader.sees_a_game_run(&name, session);
    run_game("first")?;
    bridged.finish()?;
    expect_eq(std::path::Path::new(&path).exists(), true)?;
    let mut bridged = Peer::spawn(bridge(&[&region]))?;
    bridged.expect_line("ready")?;
    run_game("second")?;
    drop((reader, file));
    bridged.finish()?;
    expect_no_shm_object(&name)
}

/// A Linux dashboard of a game under Proton: a native `Follower` of the game's versioned
/// section (bridged, updated 100 times a second) waits for it, sees it live, copies only whole
/// updates, reports it stale once it is killed (the counters stop; the game takes no role), and live again when it
/// starts again in the section the bridge kept.
#[cfg(target_os = "linux")]
fn wine_native_follower_follows_a_bridged_games_lives() -> Outcome {
    use win_shared_memory::follow::{Followed, Follower};
    use win_shared_memory::zerocopy::{FromBytes, Immutable, IntoBytes};

    /// `wine_game.c`'s layout.
    #[repr(C)]
    #[derive(FromBytes, IntoBytes, Immutable, Debug)]
    #[zerocopy(crate = "win_shared_memory::zerocopy")]
    struct Game {
        begin: u32,
        end: u32,
        words: Words,
    }
    const STALE_AFTER: Duration = Duration::from_millis(300);

    let name = unique_name("wine_followed_game");
    let versioning = crate::harness::RFACTOR2;
    let mut follower = Follower::<Game>::versioned(&name, versioning)?.stale_after(STALE_AFTER);
    let wait = Duration::from_secs(20);
    expect_eq(
        matches!(follower.next(Duration::ZERO)?, Some(Followed::Waiting)),
        true,
    )?;
    let bytes = GAME_BYTES.to_string();
    let mut bridge = Peer::spawn(bridge(&[&format!("{name}={bytes}")]))?;
    bridge.expect_line("ready")?;
    for life in 1..=2 {
        let mut game = Peer::spawn(game(&["paced", &format!("{name}={bytes}@100")]))?;
        game.expect_line("ready existed=1")?;
        match follower.next(wait)? {
            Some(Followed::Live { generation }) if generation == life => {}
            other => return Err(format!("life {life}: {other:?}").into()),
        }
        for _ in 0..20 {
            match follower.next(wait)? {
                // The first word is the update's time, the others its begin counter.
                Some(Followed::Update(game))
                    if game.begin == game.end
                        && game.words[1..]
                            .iter()
                            .all(|&word| word == u64::from(game.begin)) => {}
                Some(Followed::Update(_)) => return Err(format!("life {life}: torn").into()),
                other => return Err(format!("life {life}: {other:?}").into()),
            }
        }
        game.kill()?;
        let killed = Instant::now();
        loop {
            match follower.next(wait)? {
                Some(Followed::Update(_)) => {}
                Some(Followed::Stale) => break,
                other => return Err(format!("life {life}, killed: {other:?}").into()),
            }
        }
        if killed.elapsed() > STALE_AFTER + Duration::from_millis(100) {
            return Err(format!("life {life}: stale {:?} after the kill", killed.elapsed()).into());
        }
    }
    bridge.finish()?;
    drop(follower);
    expect_no_shm_object(&name)
}
/// The data words of `wine_game.c`'s layout with the counters before them, as one copy.
#[cfg(target_os = "linux")]
type CountedWords = [u64; WORDS + 1];

/// A game that started first (its section is in the prefix, backed by a deleted file of
/// `wineserver`'s): the bridge attaches, copies each update into `/dev/shm` by the game's
/// begin and end counters, and a native reader of this crate checks every copy: whole (every
/// word equal: the game sets them all to the counter it took), matching the native counters
/// (a new copy's counter brings new data, the same counter the same data) and advancing. The
/// game exits and starts again: the bridge held its section, so the game gets it back
/// (`existed=1`) and the copy goes on, still only going up. A game that writes flat out
/// leaves the copy few gaps to fit in (a consistent copy about once a second here, where the
/// paced test's games are followed within milliseconds), so 20 advances per run are asked.
#[cfg(target_os = "linux")]
fn wine_game_started_first_is_copied_whole_to_native_readers_across_its_restart() -> Outcome {
    let name = unique_name("wine_attach");
    let bytes = GAME_BYTES.to_string();
    let mut game_run = Peer::spawn(game(&["publish", &name, &bytes]))?;
    game_run.expect_line("ready existed=0")?;
    let mut bridged = Peer::spawn(bridge(&[
        &format!("{name}={bytes}"),
        "--versioning",
        &format!("{name}=begin-end"),
    ]))?;
    bridged.expect_line("ready")?;
    let reader = SharedMemory::<ReadOnly>::open(&name)?;
    // The game's section, rounded up to whole pages by Wine.
    expect_eq(reader.len(), GAME_BYTES.next_multiple_of(4096))?;
    let versioning = crate::harness::RFACTOR2;
    let mut tally = Tally::new();
    let mut last_copy = (0_u64, 0_u64);
    const COPY_ADVANCES: usize = 20;
    let mut read_copies = |tally: &mut Tally| -> Outcome {
        while tally.wants_more_advances(SNAPSHOTS, COPY_ADVANCES)? {
            let copy: CountedWords =
                reader.read_versioned(0, versioning, Duration::from_secs(2))?;
            let counter = copy[0] >> 32;
            let words: &Words = copy[1..].try_into()?;
            tally.count(words);
            let (last_counter, last_data) = last_copy;
            let matches = match counter.cmp(&last_counter) {
                std::cmp::Ordering::Equal => words[0] == last_data,
                std::cmp::Ordering::Greater => words[0] > last_data,
                std::cmp::Ordering::Less => false,
            };
            if !matches {
                return Err(format!(
                    "copy {counter} holds {}, after copy {last_counter} with {last_data}",
                    words[0]
                )
                .into());
            }
            last_copy = (counter, words[0]);
        }
        Ok(())
    };
    read_copies(&mut tally)?;
    tally.check_advances(
        "native copies of the game that started first",
        COPY_ADVANCES,
    )?;
    game_run.send("stop")?;
    eprintln!("first run: {}", game_run.read_line()?);
    game_run.finish()?;

    let mut again = Peer::spawn(game(&["publish", &name, &bytes]))?;
    again.expect_line("ready existed=1")?;
    let mut after = Tally::new();
    read_copies(&mut after)?;
    after.check_advances("native copies after the game's restart", COPY_ADVANCES)?;
    if after.first < tally.last {
        return Err(format!("the copy went back at the restart: {}", after.line()).into());
    }
    again.send("stop")?;
    eprintln!("second run: {}", again.read_line()?);
    again.finish()?;
    drop(reader);
    bridged.finish()?;
    expect_no_shm_object(&name)
}

/// The CPU time a process has used so far (user and system, in clock ticks of 10 ms).
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> Result<u64, libtest_mimic::Failed> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command's closing parenthesis: utime and stime are the 12th and
    // 13th of them.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    match (fields.get(11), fields.get(12)) {
        (Some(user), Some(system)) => Ok(user.parse::<u64>()? + system.parse::<u64>()?),
        _ => Err(format!("unreadable /proc/{pid}/stat").into()),
    }
}

/// The time now as a Windows file time (100 ns units since 1601), as the paced game stamps
/// its updates.
#[cfg(target_os = "linux")]
fn file_time_now() -> u64 {
    const UNIX_EPOCH_AS_FILE_TIME: u64 = 116_444_736_000_000_000;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    UNIX_EPOCH_AS_FILE_TIME + (since.as_nanos() / 100) as u64
}

/// The value at `fraction` of sorted `samples`.
#[cfg(target_os = "linux")]
fn percentile(samples: &[u64], fraction: f64) -> u64 {
    let at = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
    samples.get(at).copied().unwrap_or(0)
}

/// The measurement the README gives: rFactor 2's thirteen buffers (their names made unique,
/// their section sizes from `--list-presets`) made first by a stand-in game that updates the
/// telemetry 50 times a second, the scoring 5 times, and the rest once, each update stamped
/// with its start time; the bridge attaches and copies; a native reader sees each copy and
/// takes the latency from the game's write to its own read (p50, p99, max). Every copy it sees
/// must be whole, every section must follow the game (at least 80% of its updates seen: a
/// copy follows within milliseconds, long before the next update), and the latencies stay
/// below 100 ms at p99. The bridge's CPU time over the run is reported beside.
#[cfg(target_os = "linux")]
fn wine_copies_of_rf2_sections_follow_the_game_at_its_rates() -> Outcome {
    const SECONDS: u64 = 15;
    let listing = bridge(&["--list-presets"]).output()?;
    let presets = listed_presets(&String::from_utf8_lossy(&listing.stdout))?;
    let rf2 = presets
        .iter()
        .find(|preset| preset.title == "rfactor2")
        .ok_or("no rfactor2 preset listed")?;
    let sections: Vec<(String, usize, u64)> = rf2
        .regions
        .iter()
        .map(|(name, size, _)| {
            let short = name.trim_matches('$').trim_start_matches("rFactor2SMMP_");
            let hz = match short {
                "Telemetry" => 50,
                "Scoring" => 5,
                _ => 1,
            };
            (unique_name(&format!("wine_rates_{short}")), *size, hz)
        })
        .collect();
    let specs: Vec<String> = sections
        .iter()
        .map(|(name, size, hz)| format!("{name}={size}@{hz}"))
        .collect();
    let mut game_run = Peer::spawn({
        let mut command = game(&["paced"]);
        command.args(&specs);
        command
    })?;
    game_run.expect_line("ready existed=0")?;
    let mut args = Vec::new();
    for (name, size, _) in &sections {
        args.push(format!("{name}={size}"));
        args.extend(["--versioning".to_owned(), format!("{name}=begin-end")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut bridged = Peer::spawn(bridge(&args))?;
    bridged.expect_line("ready")?;
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", bridged.id()))?;
    if !String::from_utf8_lossy(&cmdline).contains("wsm-bridge") {
        return Err("the bridge's process id is not the bridge's".into());
    }
    let readers: Vec<SharedMemory<ReadOnly>> = sections
        .iter()
        .map(|(name, _, _)| SharedMemory::<ReadOnly>::open(name))
        .collect::<Result<_, _>>()?;
    let versioning = crate::harness::RFACTOR2;
    let mut seen: Vec<u64> = readers
        .iter()
        .map(|reader| reader.versioned_updates(versioning))
        .collect::<Result<_, _>>()?;
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); readers.len()];
    let mut copy = Vec::new();
    let cpu_before = cpu_ticks(bridged.id())?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(SECONDS) {
        for (at, reader) in readers.iter().enumerate() {
            let now = reader.versioned_updates(versioning)?;
            if now == seen[at] {
                continue;
            }
            seen[at] = now;
            copy.resize(reader.len() / 8 - 1, 0_u64);
            reader.read_versioned_into(8, versioning, &mut copy[..], Duration::from_secs(1))?;
            let arrived = file_time_now();
            if copy[1..].iter().any(|&word| word != copy[1]) {
                return Err(format!("a torn copy of {}", sections[at].0).into());
            }
            latencies[at].push(arrived.saturating_sub(copy[0]) / 10);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let elapsed = started.elapsed();
    let cpu = cpu_ticks(bridged.id())? - cpu_before;
    drop(readers);
    game_run.send("stop")?;
    eprintln!("paced game: {}", game_run.read_line()?);
    game_run.finish()?;
    bridged.finish()?;

    let mut by_rate: Vec<(u64, Vec<u64>)> = Vec::new();
    for ((name, _, hz), samples) in sections.iter().zip(latencies) {
        let expected = hz * SECONDS;
        if (samples.len() as u64) * 10 < expected * 8 {
            return Err(format!(
                "{name}: {} copies seen of about {expected} updates",
                samples.len()
            )
            .into());
        }
        match by_rate.iter_mut().find(|(rate, _)| rate == hz) {
            Some((_, all)) => all.extend(samples),
            None => by_rate.push((*hz, samples)),
        }
    }
    for (hz, samples) in &mut by_rate {
        samples.sort_unstable();
        let (p50, p99) = (percentile(samples, 0.5), percentile(samples, 0.99));
        eprintln!(
            "{hz} Hz sections: {} copies, latency p50 {p50} us, p99 {p99} us, max {} us",
            samples.len(),
            samples.last().copied().unwrap_or(0)
        );
        if p99 > 100_000 {
            return Err(format!("{hz} Hz sections: p99 latency {p99} us").into());
        }
    }
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    eprintln!(
        "the bridge's CPU: {:.2} s over {:.1} s, {:.1}% of a core",
        cpu as f64 / ticks_per_second,
        elapsed.as_secs_f64(),
        100.0 * cpu as f64 / ticks_per_second / elapsed.as_secs_f64()
    );
    Ok(())
}
