//! `cargo xtask bench`: runs the benchmarks natively and under Wine and writes BENCHMARKS.md.

use std::fmt::Write as _;
use std::process::{Command, ExitCode};

use crate::error::{Error, Result};
use crate::process::capture;
use crate::toolchain::{WINDOWS_GNU, ensure_rust_targets};
use crate::wine::prepare_wine;
use crate::workspace::{LIB_PACKAGE, Workspace};

/// How many times each native benchmark runs: a target's figure is the median of its runs.
const RUNS: usize = 3;

/// What the file says before the figures: how they were taken and what to look for.
const HOW_TO_READ: &str = "\
Each ratio compares figures taken in one run of a benchmark, interleaved batch by batch, so a
noisy moment hurts all contenders alike; `cargo xtask bench` runs each native benchmark three
times and judges each target by the median of its three ratios, with their spread. The machine
below is shared (two cores, other jobs building and testing at the same time) and noisy:
absolute times vary between runs and machines, and even ratios move by several percent; the
tables are those of the last run. Wine's absolute times are not Windows': its table is worth
its ratios against raw Win32 under the same Wine. Two targets are not ratios: one is a time (its
name ends in `_ms`), what a process's first create or open costs above its second with /dev/shm
crowded; one a share of a core (`_pct`), what the costliest of five idle waiters uses (a follower among them).";

/// What the figures mean, from what each operation does (this holds from run to run; the
/// figures above it say by how much).
const READING: &str = "\
- **Create** does more than the floor on Linux: the region is made unnamed (`O_TMPFILE`,
  with its mark in the mode), checked for its exact mode (`fstat`), given the holder's read lock
  (an open-file-description `fcntl` lock), allocated (`fallocate`, so a full /dev/shm fails
  here, not with a SIGBUS later) and only then linked under its name; dropping it turns the
  holder lock into a write lock and checks the name (`lstat`) before unlinking. That is the
  crash-proof lifetime: 11 system calls where the floor makes 6.
- **Open** adds the lock probe, the holder lock and the status check (regular file, size,
  owner) to the floor's calls: 8 system calls where the floor makes 5.
- **Locks**: the named mutex's uncontended lock and unlock are a compare-exchange each, as a
  bare futex's, plus a check that the process has not forked; in a handoff between two
  processes a waiter spins briefly before it sleeps, where the robust pthread mutex sleeps in
  the kernel at once.
- Under Wine the crate is within a few percent of raw Win32 (it adds one `NtQuerySection`),
  while `shared_memory` backs its mappings with files and pays for it.
- **SeqLock latency** is compared with a minimal hand-written seqlock in the same layout (one
  writer, no compare-exchange, no clock, relaxed word copies), measured interleaved with it
  and with the one-atomic floor. Any seqlock sits above the floor: the floor moves one cache
  line each way, a seqlock at least three (the sequence to the writer, the value and the
  sequence back to the reader). `SeqLock` adds a compare-exchange at the start and the end of
  a write (it allows several writers, and `recover`), and reads the clock only after a failed
  attempt. At 4 KiB its `asm!` copy moves 32 bytes per load where the minimal one moves 8.
- **NamedEvent** costs a futex wake-up and a context switch, as pipes and sockets do.
- **Waits for news**: `wait_for_change` on a read-write handle sleeps on a futex that the
  writer wakes, so it wakes about as fast as a raw futex; a read-only handle cannot tell the
  writer it waits and polls (every millisecond while changes come, every 16 ms after a second
  without), which is its latency; under Wine every change wait polls (Windows shares no
  futex across processes). A write pays for waiting readers only when some registered since
  the last write: one swap and one futex wake, whose cost (tens of microseconds with four
  waiting processes in this VM) is the kernel's waking them; with nobody waiting, one more load
  of the line it already holds.
- **1 MiB snapshots** copy through the crate's one copy primitive: an `asm!` block of vector
  moves (AVX when the CPU has it, `rep movsb` for large copies where it is fast), which the
  compiler cannot see into, so a concurrent writer is no data race (see `src/copy/mod.rs`).
  With a writer publishing every millisecond, a single-slot `SeqLock` loses every copy that
  overlaps a write (the sequence stays odd for the whole 1 MiB write) and pulls each newly
  written line from the writer's core; a `DoubleBuffer` reader copies the newer slot while the
  writer fills the older one, so only the cache misses remain.
- **`get()`** is two loads: the view's address, then the value.
- **A process's first create or open** sweeps this user's stale regions out of /dev/shm, once
  per process: the first call pays for what the sweep reads there, the second does not. It
  reads only the user's index of the regions the crate made, so 100 000 foreign entries cost
  nothing (0.2 examined each: 760 ms over the second call with this crowd, 7.5 us an entry).";

/// Runs the benchmarks and writes BENCHMARKS.md at the workspace root.
pub(super) fn cmd_bench(ws: &Workspace) -> Result<ExitCode> {
    ensure_rust_targets(&[WINDOWS_GNU])?;
    let iceoryx2 = build_iceoryx2(ws)?;
    let mut targets = Targets::default();
    let mut native_lifecycle = String::new();
    let mut native_ipc = String::new();
    let mut native_first_use = String::new();
    let mut native_waits = String::new();
    for run in 1..=RUNS {
        println!("==> run {run} of {RUNS}");
        native_lifecycle = bench(ws.cargo(), "lifecycle", None, &mut targets)?;
        native_first_use = bench(ws.cargo(), "first_use", None, &mut targets)?;
        let mut ipc = ws.cargo();
        ipc.env("WSM_BENCH_ICEORYX2", &iceoryx2);
        native_ipc = bench(ipc, "ipc", None, &mut targets)?;
        native_waits = bench(ws.cargo(), "waits", None, &mut targets)?;
    }
    let get = disassemble_get(ws)?;
    let mirror = crate::mirror::section(ws)?;

    let env = prepare_wine(ws)?;
    let mut wine = ws.cargo();
    env.apply(&mut wine);
    let wine_lifecycle = bench(
        wine,
        "lifecycle",
        Some(WINDOWS_GNU),
        &mut Targets::default(),
    );
    env.wait_for_wineserver()?;
    let wine_lifecycle = wine_lifecycle?;
    let mut wine = ws.cargo();
    env.apply(&mut wine);
    let wine_waits = bench(wine, "waits", Some(WINDOWS_GNU), &mut Targets::default());
    env.wait_for_wineserver()?;
    let wine_waits = wine_waits?;

    let mut page = String::from("# Benchmarks\n\n");
    page.push_str(HOW_TO_READ);
    let _ = write!(page, "\n\n## Machine\n\n{}\n", machine());
    let _ = write!(page, "\n## Targets\n\n{}\n", targets.table());
    let _ = write!(
        page,
        "\n## Create and open a 4 KiB region (Linux)\n\n{native_lifecycle}\n\
         \n## A process's first create and open, /dev/shm crowded (Linux)\n\n{native_first_use}\n\
         \n## Create and open a 4 KiB region (Windows under Wine)\n\n{wine_lifecycle}\n\
         \n## Publishing across processes (Linux)\n\n{native_ipc}\n\
         \n## Waiting for news in another process (Linux)\n\n{native_waits}\n\
         \n## Waiting for news in another process (Windows under Wine)\n\n{wine_waits}\n\
         \n## The cost of `get()`\n\n\
         `wsm_bench_get_score` in `benches/lifecycle.rs` reads a field through\n\
         `SharedMemoryLink::get`; on x86_64 it compiles to loading the view's address from the\n\
         link and loading the field from it:\n\n```text\n{get}```\n\
         \n{mirror_heading}\n\n{mirror}\n\
         \n## Reading\n\n{READING}\n",
        mirror_heading = crate::mirror::HEADING,
    );
    std::fs::write(ws.root.join("BENCHMARKS.md"), page)
        .map_err(|error| Error(format!("cannot write BENCHMARKS.md: {error}")))?;
    println!("wrote BENCHMARKS.md");
    Ok(ExitCode::SUCCESS)
}

/// Where a target's limit is when this machine misses it, by target name: what was measured,
/// not a hope. A target without a note here says only "missed".
const MISSED_BECAUSE: &[(&str, &str)] = &[
    (
        "seqlock-latency-64B",
        "the writer's compare-exchange at the start (it lets several writers and recover take turns): it waits for the sequence's line to leave the reader's core before the data stores start, where the minimal seqlock's plain store lets both transfers overlap (a plain end store instead of a second compare-exchange took the ratio from 1.40-1.45x to 1.28-1.37x)",
    ),
    (
        "create-vs-raw",
        "system calls: 16 for a create and its drop against the raw calls' 6 (strace -c here: 5-14 us each in this VM), each backing a guarantee (linkat: never seen half-made; fstat: exact mode and identity; two fcntl locks: holder counting that survives crashes and fork; lstat: a replaced name is left alone; utimensat: the Wine mark no other user can forge; mknodat, and unlinkat plus a stat at the drop: the index that keeps a crowded /dev/shm from costing every process's first use 0.76 s, 0.08 ms now); 0.2's 11 calls cost 1.61x",
    ),
    (
        "create-vs-shared_memory",
        "the same system calls as create-vs-raw: shared_memory makes the raw calls' 6 (its figures track the raw calls within a few percent)",
    ),
    (
        "open-vs-raw",
        "system calls: 8 against the raw calls' 5 (the lock probe, the holder lock and the status check that refuses FIFOs, symlinks and stale regions)",
    ),
    (
        "snapshot-seqlock-writer",
        "a single slot: every copy that overlaps the 1 MiB write is retried, and each publish invalidates the lines readers hold",
    ),
];

/// The targets the benchmarks report (`target <name> <figure> <at-most|at-least> <bound>`
/// lines), with each run's figure: a ratio, or for a name ending in `_ms` a time in
/// milliseconds, in `_pct` a percentage.
#[derive(Default)]
struct Targets {
    /// Name, bound, and the figures of the runs so far, in the order first reported.
    seen: Vec<(String, Bound, Vec<f64>)>,
}

/// Which side of its bound a target's figure must be on.
#[derive(Clone, Copy)]
enum Bound {
    /// The figure must be at most this (a time against a contender's, or a time).
    AtMost(f64),
    /// The figure must be at least this (a rate against a contender's).
    AtLeast(f64),
}

/// The unit a target's figures are written with: `x` for a ratio, ` ms` or `%` for a target
/// whose name says it is milliseconds or a percentage.
fn unit(name: &str) -> &'static str {
    if name.ends_with("_ms") {
        " ms"
    } else if name.ends_with("_pct") {
        "%"
    } else {
        "x"
    }
}

impl Targets {
    /// Takes a `target ...` line of a benchmark's output; false if it is not one.
    fn take(&mut self, line: &str) -> Result<bool> {
        let Some(rest) = line.strip_prefix("target ") else {
            return Ok(false);
        };
        let bad = || {
            Error(format!(
                "a benchmark printed a malformed target line: {line:?}"
            ))
        };
        let [name, figure, side, bound] = rest.split_whitespace().collect::<Vec<_>>()[..] else {
            return Err(bad());
        };
        let figure: f64 = figure.parse().map_err(|_| bad())?;
        let bound: f64 = bound.parse().map_err(|_| bad())?;
        let bound = match side {
            "at-most" => Bound::AtMost(bound),
            "at-least" => Bound::AtLeast(bound),
            _ => return Err(bad()),
        };
        match self.seen.iter_mut().find(|(known, ..)| known == name) {
            Some((_, _, figures)) => figures.push(figure),
            None => self.seen.push((name.to_owned(), bound, vec![figure])),
        }
        Ok(true)
    }

    /// The Markdown table: each run's figure, the median, the spread, met or missed.
    fn table(&self) -> String {
        let mut table = format!(
            "| target | bound | figure in each of {RUNS} runs | median | spread | verdict |\n|---|---|---|---|---|---|\n"
        );
        for (name, bound, figures) in &self.seen {
            let unit = unit(name);
            let mut sorted = figures.clone();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            let (low, high) = (sorted[0], sorted[sorted.len() - 1]);
            let (bound_text, met) = match *bound {
                Bound::AtMost(limit) => (format!("at most {limit:.2}{unit}"), median <= limit),
                Bound::AtLeast(limit) => (format!("at least {limit:.2}{unit}"), median >= limit),
            };
            let verdict = if met {
                "met".to_owned()
            } else {
                let reason = MISSED_BECAUSE
                    .iter()
                    .find(|(known, _)| known == name)
                    .map_or(String::new(), |(_, reason)| format!(": {reason}"));
                format!("missed{reason}")
            };
            let runs: Vec<String> = figures
                .iter()
                .map(|figure| format!("{figure:.2}{unit}"))
                .collect();
            // A ratio's spread as a share of its median; a time's median may be near zero, so
            // its spread stays in its unit.
            let spread = if unit == "x" {
                format!(
                    "{low:.2}–{high:.2}x (±{:.0}%)",
                    50.0 * (high - low) / median
                )
            } else {
                format!("{low:.2}–{high:.2}{unit}")
            };
            let _ = writeln!(
                table,
                "| {name} | {bound_text} | {} | {median:.2}{unit} | {spread} | {verdict} |",
                runs.join(", "),
            );
        }
        table.trim_end().to_owned()
    }
}

/// Builds the iceoryx2 contender, a package apart so that the crate's own builds do not compile
/// iceoryx2, and returns its program's path.
fn build_iceoryx2(ws: &Workspace) -> Result<std::path::PathBuf> {
    let target_dir = ws.target.join("peers");
    let manifest = ws
        .root
        .join("benches")
        .join("peers")
        .join("iceoryx2")
        .join("Cargo.toml");
    println!("==> building the iceoryx2 contender");
    capture(
        ws.cargo()
            .args(["build", "--quiet", "--release", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir),
    )?;
    Ok(target_dir.join("release").join("iceoryx2-pingpong"))
}

/// The Markdown a benchmark prints (its tables), built for `target` (the host when `None`);
/// its target lines go to `targets`.
fn bench(
    mut cargo: Command,
    name: &str,
    target: Option<&str>,
    targets: &mut Targets,
) -> Result<String> {
    println!("==> cargo bench --bench {name} {}", target.unwrap_or(""));
    cargo.args(["bench", "--quiet", "-p", LIB_PACKAGE, "--bench", name]);
    if let Some(target) = target {
        cargo.args(["--target", target]);
    }
    let output = capture(&mut cargo)?;
    let mut tables = Vec::new();
    for line in output.lines() {
        if targets.take(line)? {
            continue;
        }
        if line.starts_with('|') || line.is_empty() {
            tables.push(line);
        }
    }
    Ok(tables.join("\n").trim().to_owned())
}

/// The instructions of `wsm_bench_get_score` in the newest native lifecycle bench binary.
fn disassemble_get(ws: &Workspace) -> Result<String> {
    let deps = ws.target.join("release").join("deps");
    let newest = std::fs::read_dir(&deps)
        .map_err(|error| Error(format!("cannot list {}: {error}", deps.display())))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("lifecycle-") && !name.contains('.')
        })
        .max_by_key(|entry| entry.metadata().and_then(|meta| meta.modified()).ok())
        .ok_or_else(|| Error("no lifecycle bench binary in target/release/deps".into()))?;
    let listing = capture(
        Command::new("objdump")
            .args(["-d", "--no-show-raw-insn"])
            .arg(newest.path()),
    )?;
    let body: String = listing
        .lines()
        .skip_while(|line| !line.ends_with("<wsm_bench_get_score>:"))
        .take_while(|line| !line.contains("int3") && !line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    if body.is_empty() {
        return Err(Error(
            "wsm_bench_get_score is not in the bench binary".into(),
        ));
    }
    Ok(body)
}

/// CPU, cores, OS and kernel, as far as this machine tells.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |cores| cores.get());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|release| {
            release
                .lines()
                .find_map(|line| line.strip_prefix("PRETTY_NAME="))
                .map(|name| name.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.into());
    let kernel = capture(Command::new("uname").arg("-r")).unwrap_or_default();
    let wine = capture(Command::new("wine").arg("--version")).unwrap_or_default();
    format!(
        "- CPU: {cpu}, {cores} cores available\n- OS: {os}, kernel {}\n- Wine: {}",
        kernel.trim(),
        wine.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::Targets;

    /// A ratio target reads in `x` with its spread in percent; a `_ms` one in milliseconds.
    #[test]
    fn a_time_target_reads_in_milliseconds() {
        let mut targets = Targets::default();
        for line in [
            "target seqlock-latency-64B 1.2000 at-most 1.15",
            "target first_use_crowded_overhead_ms 759.9142 at-most 2",
            "target first_use_crowded_overhead_ms 0.0100 at-most 2",
        ] {
            assert!(targets.take(line).expect("a well-formed line"));
        }
        let table = targets.table();
        assert!(
            table.contains(
                "| seqlock-latency-64B | at most 1.15x | 1.20x | 1.20x | 1.20–1.20x (±0%) | missed"
            ),
            "{table}"
        );
        assert!(
            table.contains("| first_use_crowded_overhead_ms | at most 2.00 ms | 759.91 ms, 0.01 ms | 759.91 ms | 0.01–759.91 ms | missed |"),
            "{table}"
        );
    }
}
