//! Live telemetry between two processes, the way a game publishes it to an overlay: this
//! program is the publisher. It writes a `Telemetry` through a `SeqLock` 300 times a second and
//! signals a `NamedEvent` after each update; it starts itself again as the reader, which waits
//! for the event, takes consistent snapshots and prints them.
//!
//! Run it with `cargo run --example telemetry`.

use std::process::Command;
use std::time::{Duration, Instant};

use win_shared_memory::sync::{EventReset, NamedEvent, SeqLock};
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
const NEW_DATA: &str = "Local\\wsm_example_telemetry_new_data";
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
    let new_data = NamedEvent::new(NEW_DATA, EventReset::Auto)?;
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
        new_data.set()?;
        updates += 1;
        // Keep to the rate however long the update took.
        let next = started + period * updates;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let last = Telemetry {
        running: 0,
        ..link.seqlock().read()?
    };
    link.seqlock().write(&last)?;
    new_data.set()?;
    println!("publisher: {updates} updates in {:.2?}", started.elapsed());

    let status = reader.wait()?;
    if !status.success() {
        return Err(format!("the reader failed: {status}").into());
    }
    Ok(())
}

fn reader() -> Result<(), Box<dyn std::error::Error>> {
    let link = SharedMemoryLink::<SeqLock<Telemetry>, ReadOnly>::open(REGION)?;
    let new_data = NamedEvent::new(NEW_DATA, EventReset::Auto)?;
    let mut snapshots = 0;
    loop {
        // Wake on new data; a missed signal only delays the next print.
        new_data.wait_timeout(Duration::from_millis(100))?;
        let telemetry = link.seqlock().read()?;
        snapshots += 1;
        if telemetry.running == 0 {
            break;
        }
        if snapshots % 60 == 0 {
            println!(
                "reader: t={:.2}s speed={:5.1} km/h rpm={:4.0} gear={}",
                telemetry.time, telemetry.speed_kmh, telemetry.rpm, telemetry.gear
            );
        }
    }
    println!("reader: {snapshots} consistent snapshots, session over");
    Ok(())
}
