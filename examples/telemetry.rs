//! Live telemetry between two processes, the way a game publishes it to an overlay: this
//! program is the publisher. It writes a `Telemetry` through a `SeqLock` 300 times a second;
//! it starts itself again as the reader, which waits for each change (`wait_for_change`: no
//! polling loop, no event to signal), takes consistent snapshots, counts any update it missed
//! and prints them.
//!
//! Run it with `cargo run --example telemetry`.

use std::process::Command;
use std::time::{Duration, Instant};

use win_shared_memory::sync::SeqLock;
use win_shared_memory::zerocopy::{FromBytes, Immutable, IntoBytes};
use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};

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
    /// 1 while the session runs, 0 once it is over.
    running: u32,
}

const REGION: &str = "Local\\wsm_example_telemetry";
const RATE_HZ: u32 = 300;
const SESSION: Duration = Duration::from_secs(2);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("reader") => reader(),
        _ => publisher(),
    }
}

fn publisher() -> Result<(), Box<dyn std::error::Error>> {
    let link = SharedMemoryLink::<SeqLock<Telemetry>, ReadWrite>::create(REGION)?;
    // Running before the reader can look: a new region is all zeros, `running` included.
    let starting = Telemetry {
        time: 0.0,
        speed_kmh: 0.0,
        rpm: 800.0,
        gear: 0,
        running: 1,
    };
    link.seqlock().write(&starting)?;
    let mut reader = Command::new(std::env::current_exe()?)
        .arg("reader")
        .spawn()?;

    let started = Instant::now();
    let period = Duration::from_secs(1) / RATE_HZ;
    let mut updates = 0;
    while started.elapsed() < SESSION {
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
            running: 1,
        };
        link.seqlock().write(&telemetry)?;
        updates += 1;
        // The next frame's slot, as a game keeps its frame rate: a frame the OS made late
        // moves the next one on rather than doubling up (two writes back to back would leave
        // the reader only the second).
        let frames = started.elapsed().as_nanos() / period.as_nanos() + 1;
        let next = started + period * u32::try_from(frames)?;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let last = Telemetry {
        running: 0,
        ..link.seqlock().read()?
    };
    link.seqlock().write(&last)?;
    println!("publisher: {updates} updates in {:.2?}", started.elapsed());

    let status = reader.wait()?;
    if !status.success() {
        return Err(format!("the reader failed: {status}").into());
    }
    Ok(())
}

fn reader() -> Result<(), Box<dyn std::error::Error>> {
    let link = SharedMemoryLink::<SeqLock<Telemetry>, ReadOnly>::open(REGION)?;
    let telemetry = link.seqlock();
    let (mut snapshots, mut missed) = (0, 0);
    let mut seen = telemetry.version();
    loop {
        // Asleep until the publisher's next write; a second without one means it is gone.
        let Some(now) = telemetry.wait_for_change(seen, Duration::from_secs(1))? else {
            return Err("no update for a second: the publisher stopped".into());
        };
        // A restarted publisher counts from 0 again: nothing was missed then.
        missed += now.saturating_sub(seen + 1);
        seen = now;
        let snapshot = telemetry.read()?;
        snapshots += 1;
        if snapshot.running == 0 {
            break;
        }
        if snapshots % 60 == 0 {
            println!(
                "reader: t={:.2}s speed={:5.1} km/h rpm={:4.0} gear={}",
                snapshot.time, snapshot.speed_kmh, snapshot.rpm, snapshot.gear
            );
        }
    }
    println!("reader: {snapshots} consistent snapshots, {missed} updates missed, session over");
    Ok(())
}
