//! The programs the tests start beside `wsm`, as roles of this test binary
//! (`<test binary> role NAME ARGS...`): a stand-in game writing the rF2 telemetry layout, an
//! unmodified reader checking every copy it takes, and a plain holder of a region.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use win_shared_memory::sync::{DEFAULT_PATIENCE, DoubleBuffer, Versioning};
use win_shared_memory::{Options, ReadOnly, ReadWrite, SharedMemory, SharedMemoryLink};

/// rFactor 2's telemetry buffer: `rF2MappedBufferVersionBlock` (8 bytes), `mBytesUpdatedHint`
/// and `mNumVehicles` (4 each), then 128 vehicles of 1888 bytes (wsm-bridge's preset).
pub const TELEMETRY: &str = "$rFactor2SMMP_Telemetry$";
pub const TELEMETRY_SIZE: usize = 241_680;
const VEHICLE_SIZE: usize = 1888;
const VEHICLES_AT: usize = 16;
/// Filled vehicle slots.
const FILLED: usize = 20;
/// Doubles per vehicle that change at every update (positions, velocities, rotations,
/// inputs, wheel speeds and deflections) and every tenth update (temperatures, pressures,
/// wear), from these offsets in the vehicle.
const FAST: (usize, usize) = (160, 40);
const SLOW: (usize, usize) = (480, 60);
const VERSIONING: Versioning = Versioning::BeginEnd { begin: 0, end: 4 };

/// The other buffers of the rF2 plugin (name, size, updates per second; 0: written once): the
/// sizes of wsm-bridge's preset, the plugin's structures compiled for x86_64 Windows.
const OTHER_RF2: &[(&str, usize, u32)] = &[
    ("$rFactor2SMMP_Scoring$", 75_312, 5),
    ("$rFactor2SMMP_Rules$", 45_272, 1),
    ("$rFactor2SMMP_MultiRules$", 39_792, 0),
    ("$rFactor2SMMP_ForceFeedback$", 16, 100),
    ("$rFactor2SMMP_Graphics$", 272, 100),
    ("$rFactor2SMMP_PitInfo$", 340, 0),
    ("$rFactor2SMMP_Weather$", 632, 1),
    ("$rFactor2SMMP_Extended$", 10_152, 5),
    ("$rFactor2SMMP_HWControl$", 116, 0),
    ("$rFactor2SMMP_WeatherControl$", 628, 0),
    ("$rFactor2SMMP_RulesControl$", 45_272, 0),
    ("$rFactor2SMMP_PluginControl$", 20, 0),
];

/// The names of all 13 buffers, telemetry first.
pub fn rf2_names() -> Vec<&'static str> {
    std::iter::once(TELEMETRY)
        .chain(OTHER_RF2.iter().map(|(name, _, _)| *name))
        .collect()
}

/// Nanoseconds since 1970: the clock both namespaces share.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

/// Set when standard input closes.
fn end_of_input() -> Arc<AtomicBool> {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&closed);
    std::thread::spawn(move || {
        let mut sink = [0; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        flag.store(true, Ordering::Relaxed);
    });
    closed
}

/// The value of fast double `i` of vehicle `v` at update `k`: smooth, a few percent of its
/// range per update at 100 Hz.
fn fast(k: u64, v: usize, i: usize) -> f64 {
    (k as f64 * 0.01 * (1 + i % 7) as f64 + v as f64).sin() * (10 + i) as f64
}

/// Slow double `i`, updated every tenth update.
fn slow(k: u64, v: usize, i: usize) -> f64 {
    let k = k - k % 10;
    80.0 + 5.0 * (k as f64 * 0.001 + i as f64 * 0.37 + v as f64 * 1.13).sin()
}

/// Fills `data` (the region from offset 8) with update `k`, stamped `stamp`.
fn fill(data: &mut [u8], k: u64, stamp: u64) {
    let put = |data: &mut [u8], at: usize, bytes: &[u8]| {
        data[at - 8..at - 8 + bytes.len()].copy_from_slice(bytes);
    };
    put(data, 8, &((TELEMETRY_SIZE - 8) as i32).to_le_bytes());
    put(data, 12, &(FILLED as i32).to_le_bytes());
    for v in 0..FILLED {
        let at = VEHICLES_AT + v * VEHICLE_SIZE;
        put(data, at, &(v as i32).to_le_bytes());
        put(data, at + 8, &k.to_le_bytes());
        put(data, at + 16, &stamp.to_le_bytes());
        put(data, at + 24, &(k as f64 / 100.0).to_le_bytes());
        let name = format!("Stand-in car {v:03}");
        put(data, at + 32, name.as_bytes());
        for i in 0..FAST.1 {
            put(data, at + FAST.0 + 8 * i, &fast(k, v, i).to_le_bytes());
        }
        for i in 0..SLOW.1 {
            put(data, at + SLOW.0 + 8 * i, &slow(k, v, i).to_le_bytes());
        }
    }
}

/// The LZ4-compressed size of update `k`'s data: what sending every update whole but
/// compressed would cost.
pub fn compressed_frame_len(k: u64) -> usize {
    let mut data = vec![0; TELEMETRY_SIZE - 8];
    fill(&mut data, k, now_ns());
    lz4_flex::block::compress(&data).len()
}

/// What a copy of the region (from offset 8; fields are named by their offsets in the
/// region) says: its update number and stamp, if every
/// filled vehicle holds exactly that update's values (a torn copy mixes two).
fn check(data: &[u8]) -> Result<(u64, u64), String> {
    let word = |at: usize| u64::from_le_bytes(data[at - 8..at].try_into().unwrap());
    let double = |at: usize| f64::from_le_bytes(data[at - 8..at].try_into().unwrap());
    let k = word(VEHICLES_AT + 8);
    let stamp = word(VEHICLES_AT + 16);
    for v in 0..FILLED {
        let at = VEHICLES_AT + v * VEHICLE_SIZE;
        if word(at + 8) != k || word(at + 16) != stamp {
            return Err(format!(
                "vehicle {v} holds update {} in update {k}",
                word(at + 8)
            ));
        }
        let fields = (0..FAST.1)
            .map(|i| (at + FAST.0 + 8 * i, fast(k, v, i)))
            .chain((0..SLOW.1).map(|i| (at + SLOW.0 + 8 * i, slow(k, v, i))));
        for (offset, expected) in fields {
            if double(offset).to_bits() != expected.to_bits() {
                return Err(format!(
                    "vehicle {v}, offset {offset}: not update {k}'s value"
                ));
            }
        }
    }
    Ok((k, stamp))
}

/// `role game [--seconds S] [--all-rf2]`: creates the telemetry buffer (and with --all-rf2 the
/// plugin's 12 others) and writes it at 100 Hz with the plugin's begin/end counters; prints
/// `ready` after the first update; stops when standard input closes or after S seconds.
pub fn game(args: &[String]) -> Result<(), String> {
    let seconds = option(args, "--seconds")
        .map_or(Ok(3600), |s| s.parse::<u64>())
        .map_err(|e| e.to_string())?;
    let all = args.iter().any(|arg| arg == "--all-rf2");
    let closed = end_of_input();
    let create = |name: &str, size| {
        SharedMemory::<ReadWrite>::create(name, size).map_err(|e| format!("{name}: {e:?}"))
    };
    let mut telemetry = create(TELEMETRY, TELEMETRY_SIZE)?;
    let mut others = Vec::new();
    if all {
        for (name, size, rate) in OTHER_RF2 {
            others.push((create(name, *size)?, *rate));
        }
    }
    let mut data = vec![0; TELEMETRY_SIZE - 8];
    let started = Instant::now();
    let period = Duration::from_millis(10);
    let mut k = 0_u64;
    while !closed.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(seconds) {
        k += 1;
        fill(&mut data, k, now_ns());
        telemetry
            .write_versioned(8, VERSIONING, data.as_slice())
            .map_err(|e| e.to_string())?;
        for (region, rate) in &mut others {
            if k == 1 || (*rate > 0 && k.is_multiple_of(u64::from(100 / *rate))) {
                let len = region.len() - 8;
                let bytes: Vec<u8> = (0..len).map(|i| (i as u64 ^ k) as u8).collect();
                region
                    .write_versioned(8, VERSIONING, bytes.as_slice())
                    .map_err(|e| e.to_string())?;
            }
        }
        if k == 1 {
            println!("ready");
        }
        let next = started + period * k as u32;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}

/// `role reader --seconds S [--stale-ms MS]`: waits (10 s at most) for the telemetry buffer,
/// then reads it as an unmodified reader does (`read_versioned`) for S seconds, checking every
/// copy; prints `summary` with counts, latencies (write at the game to visible here) and the
/// periods (in ms since 1970) when the newest update it had was older than MS (100).
pub fn reader(args: &[String]) -> Result<(), String> {
    let seconds: u64 = option(args, "--seconds")
        .ok_or("--seconds")?
        .parse()
        .map_err(|_| "--seconds")?;
    let stale_ms: u64 = option(args, "--stale-ms").map_or(100, |v| v.parse().unwrap_or(100));
    let found = Instant::now();
    let region = loop {
        match SharedMemory::<ReadOnly>::open(TELEMETRY) {
            Ok(region) => break region,
            Err(_) if found.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => return Err(format!("no telemetry after 10 s: {error}")),
        }
    };
    if region.len() != TELEMETRY_SIZE {
        return Err(format!("telemetry of {} bytes", region.len()));
    }
    println!("reading");
    let mut data = vec![0; TELEMETRY_SIZE - 8];
    let (mut reads, mut refused, mut torn, mut regressions, mut updates) = (0, 0, 0, 0, 0_u64);
    let mut latencies = Vec::new();
    let mut last = (0_u64, 0_u64);
    let mut counters = [u32::MAX; 2];
    let mut stale: Vec<(u64, u64)> = Vec::new();
    let mut stale_since: Option<u64> = None;
    let mut first_error = String::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_micros(100));
        let now = now_ns();
        let lagging = last.1 > 0 && now.saturating_sub(last.1) > stale_ms * 1_000_000;
        if lagging && stale_since.is_none() {
            stale_since = Some(last.1 / 1_000_000 + stale_ms);
        }
        // The counters first, as a polling reader does: a full copy only when they moved.
        let seen: [u32; 2] = region.read_at(0).map_err(|e| e.to_string())?;
        if seen == counters {
            continue;
        }
        reads += 1;
        if region
            .read_versioned_into(
                8,
                VERSIONING,
                data.as_mut_slice(),
                Duration::from_millis(50),
            )
            .is_err()
        {
            refused += 1;
            continue;
        }
        counters = seen;
        match check(&data) {
            Err(error) => {
                torn += 1;
                if first_error.is_empty() {
                    first_error = error;
                }
            }
            Ok((k, _)) if k < last.0 => regressions += 1,
            Ok((k, _)) if k == last.0 => {}
            Ok((k, stamp)) => {
                let seen_at = now_ns();
                updates += 1;
                latencies.push(seen_at.saturating_sub(stamp) / 1000);
                last = (k, stamp);
                if seen_at.saturating_sub(stamp) <= stale_ms * 1_000_000
                    && let Some(since) = stale_since.take()
                {
                    stale.push((since, seen_at / 1_000_000));
                }
            }
        }
    }
    if let Some(since) = stale_since {
        stale.push((since, now_ns() / 1_000_000));
    }
    latencies.sort_unstable();
    let percentile = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let periods: Vec<String> = stale.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    println!(
        "summary reads={reads} refused={refused} torn={torn} regressions={regressions} updates={updates} last={} lat_p50_us={} lat_p99_us={} lat_max_us={} stale={} error={first_error:?}",
        last.0,
        percentile(50),
        percentile(99),
        latencies.last().copied().unwrap_or(0),
        if periods.is_empty() {
            "-".to_owned()
        } else {
            periods.join(",")
        },
    );
    Ok(())
}

/// `role hold NAME SIZE [--versioned]`: creates a region and holds it until standard input
/// closes (or the process is killed); with --versioned writes an update every 10 ms, rF2's
/// counters around words (from 8) that each update sets all to its number, as
/// `tests/c/wine_game.c` does (its `read` checks them).
pub fn hold(args: &[String]) -> Result<(), String> {
    let [name, size, rest @ ..] = args else {
        return Err("hold NAME SIZE".into());
    };
    let size: usize = size.parse().map_err(|_| "SIZE")?;
    let versioned = rest.iter().any(|arg| arg == "--versioned");
    let closed = end_of_input();
    let mut region = SharedMemory::<ReadWrite>::create(name, size).map_err(|e| e.to_string())?;
    let mut words = vec![0_u64; size.saturating_sub(8) / 8];
    let mut update = |round: u64| {
        words.fill(round);
        region
            .write_versioned(8, VERSIONING, words.as_slice())
            .map_err(|e| e.to_string())
    };
    if versioned {
        update(0)?;
    }
    println!("ready");
    let mut round = 0;
    while !closed.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
        if versioned {
            round += 1;
            update(round)?;
        }
    }
    Ok(())
}

/// The value of the `double-writer` role: 8 KiB of words, each write setting all of them to
/// its number, so that a torn copy shows.
type Frame = [u64; 1024];

/// `role double-writer NAME`: creates a `DoubleBuffer<Frame>` region, takes its writer role
/// and writes 100 times a second until standard input closes; prints `ready` after the first
/// write.
pub fn double_writer(args: &[String]) -> Result<(), String> {
    let [name] = args else {
        return Err("double-writer NAME".into());
    };
    let link = SharedMemoryLink::<DoubleBuffer<Frame>, ReadWrite>::create(name)
        .map_err(|e| e.to_string())?;
    let role = link.take_writer_role().map_err(|e| e.to_string())?;
    let closed = end_of_input();
    let mut frame: Box<Frame> = Box::new([0; 1024]);
    let started = Instant::now();
    let mut k = 0_u32;
    while !closed.load(Ordering::Relaxed) {
        k += 1;
        frame.fill(u64::from(k));
        link.double_buffer()
            .write_as(&role, &frame)
            .map_err(|e| e.to_string())?;
        if k == 1 {
            println!("ready");
        }
        let next = started + Duration::from_millis(10) * k;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}

/// `role double-reader NAME --seconds S`: opens the `double-writer`'s region once it exists
/// (10 s at most), then for S seconds sleeps until each change (`wait_for_change`) and copies
/// the newest value, as a reader of the typed `DoubleBuffer` does; prints `reading`, then
/// `summary updates=U torn=T regressions=R`.
pub fn double_reader(args: &[String]) -> Result<(), String> {
    let name = args.first().ok_or("double-reader NAME --seconds S")?;
    let seconds: u64 = option(args, "--seconds")
        .ok_or("--seconds")?
        .parse()
        .map_err(|_| "--seconds")?;
    let appear = Options::new().wait_for_creation(Duration::from_secs(10));
    let link = SharedMemoryLink::<DoubleBuffer<Frame>, ReadOnly>::open_with(name, &appear)
        .map_err(|e| e.to_string())?;
    let reader = link.double_buffer();
    println!("reading");
    let mut frame: Box<Frame> = Box::new([0; 1024]);
    let (mut updates, mut torn, mut regressions, mut last) = (0, 0, 0, 0);
    let mut seen = reader.version();
    let end = Instant::now() + Duration::from_secs(seconds);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match reader
            .wait_for_change(seen, left)
            .map_err(|e| e.to_string())?
        {
            Some(now) => seen = now,
            None => break,
        }
        reader
            .read_into(&mut frame, DEFAULT_PATIENCE)
            .map_err(|e| e.to_string())?;
        if frame.iter().any(|&word| word != frame[0]) {
            torn += 1;
        } else if frame[0] < last {
            regressions += 1;
        } else if frame[0] > last {
            updates += 1;
            last = frame[0];
        }
    }
    println!("summary updates={updates} torn={torn} regressions={regressions} last={last}");
    Ok(())
}

/// The value after `name` in `args`.
fn option<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|at| args.get(at + 1))
        .map(String::as_str)
}

/// A reader's `summary` line, parsed.
#[derive(Debug, Default)]
pub struct Summary {
    pub reads: u64,
    pub torn: u64,
    pub regressions: u64,
    pub updates: u64,
    pub lat_p50_us: u64,
    pub lat_p99_us: u64,
    pub lat_max_us: u64,
    /// Periods (ms since 1970) when the newest update was stale.
    pub stale: Vec<(u64, u64)>,
    pub line: String,
}

impl Summary {
    pub fn parse(output: &str) -> Result<Self, String> {
        let line = output
            .lines()
            .find(|line| line.starts_with("summary "))
            .ok_or_else(|| format!("no summary in {output:?}"))?;
        let mut summary = Summary {
            line: line.to_owned(),
            ..Summary::default()
        };
        for field in line.split_whitespace().skip(1) {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let number = || value.parse::<u64>().unwrap_or(u64::MAX);
            match key {
                "reads" => summary.reads = number(),
                "torn" => summary.torn = number(),
                "regressions" => summary.regressions = number(),
                "updates" => summary.updates = number(),
                "lat_p50_us" => summary.lat_p50_us = number(),
                "lat_p99_us" => summary.lat_p99_us = number(),
                "lat_max_us" => summary.lat_max_us = number(),
                "stale" if value != "-" => {
                    for period in value.split(',') {
                        let (a, b) = period.split_once('-').unwrap_or(("0", "0"));
                        summary
                            .stale
                            .push((a.parse().unwrap_or(0), b.parse().unwrap_or(0)));
                    }
                }
                _ => {}
            }
        }
        Ok(summary)
    }
}
