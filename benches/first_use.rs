//! What a process's first create and first open cost when /dev/shm is crowded (Linux).
//!
//! At its first create or open, a process sweeps this user's stale regions out of /dev/shm
//! (`sweep_once` in src/sys/unix/linux.rs), so the first call pays for every entry there,
//! other programs' included. The bench fills /dev/shm with 100 000 foreign entries (empty
//! files owned by this user, no mode bits of the crate's mark), and times, each in a fresh
//! process (the sweep runs once per process), the first `create` against a second one in the
//! same process, which does not sweep: today's cost without the sweep. The same for `open`,
//! and both again without the crowd.
//!
//! `cargo bench --bench first_use` prints a Markdown table and, for `cargo xtask bench`,
//! `target first_use_crowded_overhead_ms <ms> at-most 2`: the milliseconds a crowded first
//! call takes above the second (the larger of create's and open's). The benchmark runs itself
//! again as the measured process (`WSM_BENCH_FIRST_USE`). It refuses to run where /dev/shm
//! has too little room, and removes the foreign entries when it ends, even by a panic.

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("first_use: the sweep it measures is Linux's; nothing to measure here");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::OpenOptions;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};

    /// The environment variable that makes this binary the measured process, and which call it
    /// measures ([`CREATE`] or [`OPEN`]).
    const ROLE: &str = "WSM_BENCH_FIRST_USE";
    const CREATE: &str = "create";
    const OPEN: &str = "open";

    const SHM_DIR: &str = "/dev/shm";
    /// The foreign entries' names: this prefix, the bench's process id, and a number. The id
    /// lets a later run tell a crowd left by a killed run (whose process is gone) from one in
    /// use.
    const FOREIGN_PREFIX: &str = "wsm_bench_foreign_";
    const FOREIGN: usize = 100_000;
    /// The room /dev/shm must have before the bench fills it: its entries are empty, but the
    /// file system's inodes and the regions of other programs need it.
    const MIN_FREE_BYTES: u64 = 50 << 20;

    /// Fresh processes per call and per state of /dev/shm; the median is reported.
    const SAMPLES: usize = 15;
    const SIZE: usize = 4096;
    /// The target: at most this many milliseconds above the second call's cost.
    const TARGET_MS: f64 = 2.0;

    pub fn main() {
        if let Ok(role) = std::env::var(ROLE) {
            let names: Vec<String> = std::env::args().skip(1).collect();
            measured_process(&role, &names[0], &names[1]);
            return;
        }
        if let Err(error) = run() {
            eprintln!("first_use: {error}");
            std::process::exit(1);
        }
    }

    /// The bench; the foreign entries are gone when it returns, or unwinds.
    fn run() -> Result<(), String> {
        remove_abandoned_crowds();
        check_room()?;
        // The regions that the measured processes open, held for the whole bench. This
        // process's own sweep runs here, before the crowd exists.
        let pid = std::process::id();
        let held = [0, 1].map(|which| format!("Local\\wsm_bench_first_use_{pid}_held_{which}"));
        let _held = held
            .iter()
            .map(|name| SharedMemory::<ReadWrite>::create(name, SIZE))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| format!("cannot create the regions to open: {error}"))?;

        let quiet_entries = shm_entries()?;
        let quiet = measure(&held, "quiet");
        eprintln!("first_use: making {FOREIGN} foreign entries in {SHM_DIR}");
        let crowd = Crowd::fill(FOREIGN)?;
        let crowded_entries = shm_entries()?;
        let crowded = measure(&held, "crowded");
        drop(crowd);

        println!(
            "| a process's first create/open (4 KiB), median of {SAMPLES} fresh processes | first call (sweeps) | second call in the same process (no sweep) | first - second |"
        );
        println!("|---|---|---|---|");
        let states = [
            (format!("{quiet_entries} entries (no crowd)"), &quiet),
            (
                format!("{crowded_entries} entries ({FOREIGN} foreign)"),
                &crowded,
            ),
        ];
        for (state, samples) in states {
            for (call, pairs) in [("create", &samples.create), ("open", &samples.open)] {
                let median = Medians::of(pairs);
                println!(
                    "| {call}, /dev/shm with {state} | {:.2?} | {:.2?} | {:.2?} |",
                    median.first,
                    median.second,
                    Duration::from_secs_f64(median.overhead_ms.max(0.0) / 1e3)
                );
            }
        }
        let overhead_ms = Medians::of(&crowded.create)
            .overhead_ms
            .max(Medians::of(&crowded.open).overhead_ms);
        println!("target first_use_crowded_overhead_ms {overhead_ms:.4} at-most {TARGET_MS}");
        Ok(())
    }

    /// The first and the second call's times in each measured process.
    #[derive(Default)]
    struct Samples {
        create: Vec<(Duration, Duration)>,
        open: Vec<(Duration, Duration)>,
    }

    /// `SAMPLES` fresh processes for each call, create and open taking turns.
    fn measure(held: &[String; 2], state: &str) -> Samples {
        let pid = std::process::id();
        let mut samples = Samples::default();
        for sample in 0..SAMPLES {
            let created = [0, 1]
                .map(|which| format!("Local\\wsm_bench_first_use_{pid}_{state}_{sample}_{which}"));
            samples.create.push(in_fresh_process(CREATE, &created));
            samples.open.push(in_fresh_process(OPEN, held));
        }
        samples
    }

    /// Runs this binary as the measured process of `call` on `names`, and returns its times.
    fn in_fresh_process(call: &str, names: &[String; 2]) -> (Duration, Duration) {
        let output = Command::new(std::env::current_exe().expect("the bench's path"))
            .env(ROLE, call)
            .args(names)
            .output()
            .expect("start the measured process");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "the measured process failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let nanos: Vec<u64> = text
            .split_whitespace()
            .map(|number| number.parse().expect("nanoseconds"))
            .collect();
        let [first, second] = nanos[..] else {
            panic!("the measured process printed {text:?}")
        };
        (Duration::from_nanos(first), Duration::from_nanos(second))
    }

    /// The measured process: times its first call (which sweeps) and its second (which does
    /// not), the first on `first`, the second on `second`, and prints both in nanoseconds.
    /// Nothing before the first call touches the crate, so the sweep is the first call's.
    fn measured_process(call: &str, first: &str, second: &str) {
        // Each region lives to the end of its arm: dropping one is no part of the call.
        let (first, second) = match call {
            CREATE => {
                let create = |name| SharedMemory::<ReadWrite>::create(name, SIZE);
                let (first, _first_region) = timed(|| create(first));
                let (second, _second_region) = timed(|| create(second));
                (first, second)
            }
            OPEN => {
                let (first, _first_region) = timed(|| SharedMemory::<ReadOnly>::open(first));
                let (second, _second_region) = timed(|| SharedMemory::<ReadOnly>::open(second));
                (first, second)
            }
            _ => panic!("unknown call {call}"),
        };
        println!("{} {}", first.as_nanos(), second.as_nanos());
    }

    /// How long `call` takes, and what it made.
    fn timed<T, E: std::fmt::Debug>(call: impl FnOnce() -> Result<T, E>) -> (Duration, T) {
        let started = Instant::now();
        let made = call();
        let elapsed = started.elapsed();
        (elapsed, made.expect("the measured call"))
    }

    /// The medians of one call's samples.
    struct Medians {
        first: Duration,
        second: Duration,
        /// The median of the processes' first - second, in milliseconds (negative when the
        /// second call was the slower).
        overhead_ms: f64,
    }

    impl Medians {
        fn of(pairs: &[(Duration, Duration)]) -> Self {
            let median = |mut values: Vec<f64>| {
                values.sort_by(f64::total_cmp);
                values[values.len() / 2]
            };
            let seconds = |pick: fn(&(Duration, Duration)) -> Duration| {
                median(pairs.iter().map(|pair| pick(pair).as_secs_f64()).collect())
            };
            Self {
                first: Duration::from_secs_f64(seconds(|pair| pair.0)),
                second: Duration::from_secs_f64(seconds(|pair| pair.1)),
                overhead_ms: median(
                    pairs
                        .iter()
                        .map(|(first, second)| (first.as_secs_f64() - second.as_secs_f64()) * 1e3)
                        .collect(),
                ),
            }
        }
    }

    /// The foreign entries made so far; dropping it removes them.
    struct Crowd {
        made: usize,
    }

    impl Crowd {
        /// Makes `count` empty files, plain regular files of this user, none of the crate's.
        fn fill(count: usize) -> Result<Self, String> {
            let mut crowd = Crowd { made: 0 };
            for index in 0..count {
                // `create_new`: never truncate a file this bench did not make.
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(foreign_path(std::process::id(), index))
                    .map_err(|error| {
                        format!(
                            "cannot make foreign entry {index} of {count} in {SHM_DIR}: {error}"
                        )
                    })?;
                crowd.made += 1;
            }
            Ok(crowd)
        }
    }

    impl Drop for Crowd {
        fn drop(&mut self) {
            let pid = std::process::id();
            let left = (0..self.made)
                .filter(|&index| std::fs::remove_file(foreign_path(pid, index)).is_err())
                .count();
            if left > 0 {
                eprintln!(
                    "first_use: {left} foreign entries could not be removed: {SHM_DIR}/{FOREIGN_PREFIX}{pid}_*"
                );
            }
        }
    }

    fn foreign_path(pid: u32, index: usize) -> PathBuf {
        PathBuf::from(format!("{SHM_DIR}/{FOREIGN_PREFIX}{pid}_{index}"))
    }

    /// Removes the foreign entries of earlier runs whose process is gone (killed before its
    /// guard ran), so that they neither crowd the quiet measurement nor stay behind.
    fn remove_abandoned_crowds() {
        let Ok(entries) = std::fs::read_dir(SHM_DIR) else {
            return;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|name| name.strip_prefix(FOREIGN_PREFIX))
                .and_then(|rest| rest.split('_').next())
            else {
                continue;
            };
            let gone = !PathBuf::from(format!("/proc/{pid}")).exists();
            if gone && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            eprintln!("first_use: removed {removed} foreign entries of an earlier, killed run");
        }
    }

    /// Refuses a /dev/shm with too little room for the crowd.
    fn check_room() -> Result<(), String> {
        let status = rustix::fs::statvfs(SHM_DIR)
            .map_err(|error| format!("cannot query {SHM_DIR}: {error}"))?;
        let free = status.f_bavail * status.f_frsize;
        if free < MIN_FREE_BYTES {
            return Err(format!(
                "{SHM_DIR} has {} MiB free, the bench needs {} MiB; not run",
                free >> 20,
                MIN_FREE_BYTES >> 20
            ));
        }
        // A file system without an inode limit reports none at all.
        let needed = FOREIGN as u64 + 1_000;
        if status.f_files > 0 && status.f_favail < needed {
            return Err(format!(
                "{SHM_DIR} has {} free inodes, the bench needs {needed}; not run",
                status.f_favail
            ));
        }
        Ok(())
    }

    /// The entries in /dev/shm now, whoever's.
    fn shm_entries() -> Result<usize, String> {
        std::fs::read_dir(SHM_DIR)
            .map(Iterator::count)
            .map_err(|error| format!("cannot list {SHM_DIR}: {error}"))
    }
}
