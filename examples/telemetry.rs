//! Live telemetry between two processes, the way a game publishes it to a dashboard, across the
//! game's whole life. This program is the dashboard, and starts first: a `Follower` waits for
//! the game's region, reports the game live, takes each consistent snapshot it publishes (no
//! polling loop: it sleeps until each write), and reports the game gone when it dies. The
//! program starts itself again as the game, which takes the region's writer role and publishes
//! 300 times a second; it kills that game (`kill -9` on Unix, `TerminateProcess` on Windows:
//! no destructor runs), starts it again, and lets the second one finish its session. The
//! dashboard prints waiting, live, snapshots, gone, live again, snapshots, gone.
//!
//! Run it with `cargo run --example telemetry` (`cargo xtask example telemetry` runs it as a
//! Windows program under Wine).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use win_shared_memory::follow::{Followed, Follower};
use win_shared_memory::sync::SeqLock;
use win_shared_memory::zerocopy::{FromBytes, Immutable, IntoBytes};
use win_shared_memory::{ReadWrite, SharedMemoryLink};

/// What the "game" publishes.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, Clone, Copy, Debug)]
// The derives name zerocopy by its path; through the re-export, a crate without a zerocopy
// dependency of its own says where it is.
#[zerocopy(crate = "win_shared_memory::zerocopy")]
struct Telemetry {
    /// Seconds since the session started.
    time: f64,
    speed_kmh: f32,
    rpm: f32,
    gear: i32,
    _padding: u32,
}

const REGION: &str = "Local\\wsm_example_telemetry";
const RATE_HZ: u32 = 300;
/// How long the first game runs before it is killed, and how long the second one's session
/// lasts.
const SESSION: Duration = Duration::from_secs(1);
/// How long a game meant to be killed runs at most, if nobody kills it (a dashboard that
/// failed before its time).
const ORPHANED_AFTER: Duration = Duration::from_secs(30);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("game") => game(std::env::args().nth(2).as_deref() == Some("until-killed")),
        _ => dashboard(),
    }
}

fn dashboard() -> Result<(), Box<dyn std::error::Error>> {
    let mut follower = Follower::<Telemetry>::seqlock(REGION)?;
    // The game's two lives, started (and the first killed) by a thread of their own while
    // this one follows them.
    let lives = std::thread::spawn(|| -> Result<(), String> {
        let start = |how: &str| -> Result<Child, String> {
            let exe = std::env::current_exe().map_err(|error| error.to_string())?;
            Command::new(exe)
                .args(["game", how])
                .spawn()
                .map_err(|error| error.to_string())
        };
        std::thread::sleep(Duration::from_millis(300)); // the dashboard starts first
        let mut first = start("until-killed")?;
        std::thread::sleep(SESSION);
        first.kill().map_err(|error| error.to_string())?; // a crash: nothing is dropped
        first.wait().map_err(|error| error.to_string())?;
        std::thread::sleep(Duration::from_millis(300));
        let status = start("one-session")?
            .wait()
            .map_err(|error| error.to_string())?;
        status
            .success()
            .then_some(())
            .ok_or(format!("the game failed: {status}"))
    });

    let (mut snapshots, mut first_update) = (0, None);
    let mut deaths = 0;
    while deaths < 2 {
        match follower.next(Duration::from_secs(10))? {
            Some(Followed::Waiting) => println!("dashboard: waiting for the game"),
            Some(Followed::Live { generation }) => {
                println!("dashboard: the game is live (life {generation})");
                (snapshots, first_update) = (0, None);
            }
            Some(Followed::Update(telemetry)) => {
                snapshots += 1;
                if snapshots % 100 == 1 {
                    println!(
                        "dashboard: t={:.2}s speed={:5.1} km/h rpm={:4.0} gear={}",
                        telemetry.time, telemetry.speed_kmh, telemetry.rpm, telemetry.gear
                    );
                }
                first_update.get_or_insert(follower.updates());
            }
            Some(Followed::Gone) => {
                // Updates the game completed that the dashboard never copied: none, unless
                // the machine kept it from running for a whole frame (3.3 ms).
                let published = (follower.updates() + 1).saturating_sub(first_update.unwrap_or(0));
                let missed = published.saturating_sub(snapshots);
                println!("dashboard: the game is gone: {snapshots} snapshots, {missed} missed");
                deaths += 1;
            }
            // Stale is for publishers followed by their counters; this one has a writer role.
            Some(Followed::Stale) | None => return Err("no news of the game for 10 s".into()),
        }
    }
    lives.join().map_err(|_| "the game's thread panicked")??;
    Ok(())
}

/// Publishes for a session, or until killed.
fn game(until_killed: bool) -> Result<(), Box<dyn std::error::Error>> {
    // A restarted game finds the region if the dashboard still holds it: it takes it over.
    let link = SharedMemoryLink::<SeqLock<Telemetry>, ReadWrite>::get_or_create(REGION)?;
    let role = link.take_writer_role()?;
    let started = Instant::now();
    let period = Duration::from_secs(1) / RATE_HZ;
    let mut updates = 0;
    // One waiting to be killed stops by itself after a while, should its dashboard have gone.
    let lasts = if until_killed {
        ORPHANED_AFTER
    } else {
        SESSION
    };
    while started.elapsed() < lasts {
        let time = started.elapsed().as_secs_f64();
        // A car accelerating through the gears.
        let speed_kmh = (time * 60.0) as f32;
        let gear = 1 + (speed_kmh / 40.0) as i32;
        let rpm = 2000.0 + (speed_kmh % 40.0) * 150.0;
        let telemetry = Telemetry {
            time,
            speed_kmh,
            rpm,
            gear,
            _padding: 0,
        };
        link.seqlock().write_as(&role, &telemetry)?;
        updates += 1;
        // The next frame's slot, as a game keeps its frame rate: a frame the OS made late
        // moves the next one on rather than doubling up (two writes back to back would leave
        // the reader only the second).
        let frames = started.elapsed().as_nanos() / period.as_nanos() + 1;
        let next = started + period * u32::try_from(frames)?;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    println!(
        "game: {updates} updates in {:.2?}, session over",
        started.elapsed()
    );
    Ok(())
}
