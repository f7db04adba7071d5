//! One-way latency (half a round trip) of iceoryx2 publish-subscribe between two processes
//! pinned to different cores, for 64 B and 4 KiB payloads, measured as `benches/ipc.rs`
//! measures this crate: median of 5 batches of 5000 round trips. Prints the two latencies in
//! nanoseconds, which `benches/ipc.rs` reads when `cargo xtask bench` points it here.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use iceoryx2::prelude::*;

const BATCHES: usize = 5;
const ROUNDS: u64 = 5_000;
const WARM_UP: u64 = 2_000;
/// A wait for the other process longer than this is an error, not a hang.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The round number that tells the answering process to stop.
const STOP: u64 = u64::MAX;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    set_log_level_from_env_or(LogLevel::Error);
    if let Ok(words) = std::env::var("ICEORYX2_PINGPONG_WORDS") {
        pin_to_core(1);
        return match words.as_str() {
            "8" => answer::<8>(),
            _ => answer::<512>(),
        };
    }
    pin_to_core(0);
    let small = measure::<8>()?;
    let large = measure::<512>()?;
    // Nanoseconds, for benches/ipc.rs to put in its table.
    println!("{} {}", small.as_nanos(), large.as_nanos());
    Ok(())
}

/// The services' names, unique to this run.
fn service(which: &str) -> Result<ServiceName, Error> {
    let pid = std::env::var("ICEORYX2_PINGPONG_PARENT")
        .unwrap_or_else(|_| std::process::id().to_string());
    Ok(format!("wsm-bench-{pid}-{which}").as_str().try_into()?)
}

/// Spins until `poll` says done, for at most TIMEOUT.
fn spin_until(mut poll: impl FnMut() -> Result<bool, Error>) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        if poll()? {
            return Ok(());
        }
        if started.elapsed() > TIMEOUT {
            return Err("no message within 5 s".into());
        }
        std::hint::spin_loop();
    }
}

fn measure<const N: usize>() -> Result<Duration, Error> {
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let open = |which| -> Result<_, Error> {
        Ok(node
            .service_builder(&service(which)?)
            .publish_subscribe::<[u64; N]>()
            .max_publishers(1)
            .max_subscribers(1)
            .subscriber_max_buffer_size(16)
            .create()?)
    };
    let (ping, pong) = (open("ping")?, open("pong")?);
    let publisher = ping.publisher_builder().create()?;
    let subscriber = pong.subscriber_builder().create()?;
    let child = Command::new(std::env::current_exe()?)
        .env("ICEORYX2_PINGPONG_WORDS", N.to_string())
        .env("ICEORYX2_PINGPONG_PARENT", std::process::id().to_string())
        .spawn()?;

    let result = (|| -> Result<Duration, Error> {
        // Subscribers connect lazily: resend round 0 until it comes back, then drain echoes.
        spin_until(|| {
            publisher.send_copy([0; N])?;
            std::thread::sleep(Duration::from_millis(1));
            Ok(subscriber.receive()?.is_some())
        })?;
        std::thread::sleep(Duration::from_millis(20));
        while subscriber.receive()?.is_some() {}

        let mut round = 0;
        let mut round_trip = || -> Result<(), Error> {
            round += 1;
            publisher.send_copy([round; N])?;
            spin_until(|| {
                Ok(subscriber
                    .receive()?
                    .is_some_and(|sample| sample[0] == round))
            })
        };
        for _ in 0..WARM_UP {
            round_trip()?;
        }
        let mut batches = Vec::new();
        for _ in 0..BATCHES {
            let started = Instant::now();
            for _ in 0..ROUNDS {
                round_trip()?;
            }
            batches.push(started.elapsed() / (2 * ROUNDS as u32));
        }
        batches.sort();
        Ok(batches[BATCHES / 2])
    })();
    for _ in 0..3 {
        let _ = publisher.send_copy([STOP; N]);
    }
    reap(child)?;
    result
}

/// Echoes every ping back until told to stop.
fn answer<const N: usize>() -> Result<(), Error> {
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let ping = node
        .service_builder(&service("ping")?)
        .publish_subscribe::<[u64; N]>()
        .open()?;
    let pong = node
        .service_builder(&service("pong")?)
        .publish_subscribe::<[u64; N]>()
        .open()?;
    let subscriber = ping.subscriber_builder().create()?;
    let publisher = pong.publisher_builder().create()?;
    loop {
        let mut stop = false;
        spin_until(|| match subscriber.receive()? {
            Some(sample) if sample[0] == STOP => {
                stop = true;
                Ok(true)
            }
            Some(sample) => {
                publisher.send_copy(*sample)?;
                Ok(true)
            }
            None => Ok(false),
        })?;
        if stop {
            return Ok(());
        }
    }
}

/// Waits for the answering process, killing it if it does not end in time.
fn reap(mut child: Child) -> Result<(), Error> {
    let started = Instant::now();
    while started.elapsed() < TIMEOUT {
        if let Some(status) = child.try_wait()? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("the answering process failed: {status}").into())
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err("the answering process did not stop; killed it".into())
}

/// Pins this process to `core`.
fn pin_to_core(core: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; the call reads it and affects this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}
