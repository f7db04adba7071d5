//! `cargo xtask bench`: runs the benchmarks natively and under Wine and writes BENCHMARKS.md.

use std::fmt::Write as _;
use std::process::{Command, ExitCode};

use crate::error::{Error, Result};
use crate::process::capture;
use crate::toolchain::{WINDOWS_GNU, ensure_rust_targets};
use crate::wine::prepare_wine;
use crate::workspace::{LIB_PACKAGE, Workspace};

/// What the file says before the figures: how they were taken and what to look for.
const HOW_TO_READ: &str = "\
Each table comes from one run of `cargo xtask bench` on the machine below; every ratio compares
figures taken in that run, interleaved, so a noisy moment of a shared machine hurts all
contenders alike. Absolute times vary between runs and machines; the ratios are the result.
Wine's absolute times are not Windows': its table is worth its ratios against raw Win32 under
the same Wine.

The targets the crate is measured against: create and open at most 1.3x the raw calls and at
most 1.3x `shared_memory`; SeqLock latency at most 1.3x the atomic floor and at least 10x
better than a Unix socket; 1 MiB snapshots at least 0.8x memcpy.";

/// What the figures mean, from what each operation does (this holds from run to run; the
/// figures above it say by how much).
const READING: &str = "\
- **Create** does more than the floor on Linux: the region is made unnamed (`O_TMPFILE`,
  with its mark in the mode), locked (`flock`), allocated (`fallocate`, so a full /dev/shm
  fails here, not with a SIGBUS later) and only then linked under its name; dropping it takes
  the holder lock exclusively and checks the name before unlinking. That is the crash-proof
  lifetime, and it costs a quarter to a third more than the bare calls.
- **Open** adds the holder lock and the size check to the floor's calls.
- Under Wine the crate is within a few percent of raw Win32 (it adds one `NtQuerySection`),
  while `shared_memory` backs its mappings with files and pays for it.
- **SeqLock latency** sits above the one-atomic floor because the floor moves one cache line
  each way, and a seqlock at least three (the sequence to the writer, the value and the
  sequence back to the reader), more when a 64 B value and its sequence span two lines: the
  1.3x target is below what the protocol can do across cores. It is still two orders of
  magnitude below a pipe or a Unix socket, which go through the kernel, and below iceoryx2,
  which moves a sample through its own queues.
- **NamedEvent** costs a futex wake-up and a context switch, as pipes and sockets do.
- **1 MiB snapshots** copy with word-sized atomic loads: SIMD copies (what memcpy uses) of
  memory another process may be writing are a data race in Rust's memory model until an atomic
  memcpy exists (RFC 3301), so the crate does not use them. Across processes, the copy also
  pulls every line from the writer's core, where memcpy reads its own cache.
- **`get()`** is two loads: the view's address, then the value.";

/// Runs the benchmarks and writes BENCHMARKS.md at the workspace root.
pub(super) fn cmd_bench(ws: &Workspace) -> Result<ExitCode> {
    ensure_rust_targets(&[WINDOWS_GNU])?;
    let native_lifecycle = bench(ws.cargo(), "lifecycle", None)?;
    let mut ipc = ws.cargo();
    ipc.env("WSM_BENCH_ICEORYX2", build_iceoryx2(ws)?);
    let native_ipc = bench(ipc, "ipc", None)?;
    let get = disassemble_get(ws)?;

    let env = prepare_wine(ws)?;
    let mut wine = ws.cargo();
    env.apply(&mut wine);
    let wine_lifecycle = bench(wine, "lifecycle", Some(WINDOWS_GNU));
    env.wait_for_wineserver()?;
    let wine_lifecycle = wine_lifecycle?;

    let mut page = String::from("# Benchmarks\n\n");
    page.push_str(HOW_TO_READ);
    let _ = write!(page, "\n\n## Machine\n\n{}\n", machine());
    let _ = write!(
        page,
        "\n## Create and open a 4 KiB region (Linux)\n\n{native_lifecycle}\n\
         \n## Create and open a 4 KiB region (Windows under Wine)\n\n{wine_lifecycle}\n\
         \n## Publishing across processes (Linux)\n\n{native_ipc}\n\
         \n## The cost of `get()`\n\n\
         `wsm_bench_get_score` in `benches/lifecycle.rs` reads a field through\n\
         `SharedMemoryLink::get`; on x86_64 it compiles to loading the view's address from the\n\
         link and loading the field from it:\n\n```text\n{get}```\n\
         \n## Reading\n\n{READING}\n"
    );
    std::fs::write(ws.root.join("BENCHMARKS.md"), page)
        .map_err(|error| Error(format!("cannot write BENCHMARKS.md: {error}")))?;
    println!("wrote BENCHMARKS.md");
    Ok(ExitCode::SUCCESS)
}

/// Builds the iceoryx2 contender, a package apart so that the crate's own builds do not compile
/// iceoryx2, and returns its program's path.
fn build_iceoryx2(ws: &Workspace) -> Result<std::path::PathBuf> {
    let target_dir = ws.root.join("target").join("peers");
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

/// The Markdown a benchmark prints (its tables), built for `target` (the host when `None`).
fn bench(mut cargo: Command, name: &str, target: Option<&str>) -> Result<String> {
    println!("==> cargo bench --bench {name} {}", target.unwrap_or(""));
    cargo.args(["bench", "--quiet", "-p", LIB_PACKAGE, "--bench", name]);
    if let Some(target) = target {
        cargo.args(["--target", target]);
    }
    let output = capture(&mut cargo)?;
    let tables: Vec<&str> = output
        .lines()
        .filter(|line| line.starts_with('|') || line.is_empty())
        .collect();
    Ok(tables.join("\n").trim().to_owned())
}

/// The instructions of `wsm_bench_get_score` in the newest native lifecycle bench binary.
fn disassemble_get(ws: &Workspace) -> Result<String> {
    let deps = ws.root.join("target").join("release").join("deps");
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
