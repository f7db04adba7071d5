//! The `wsm` tool and its Zenoh mirror: their test steps and their benchmark section.
//!
//! `wsm` is the one package that builds Zenoh (several minutes on two cores), so the native
//! test step and the native clippy step leave it out (`--exclude wsm`) and it has steps of its
//! own, in release mode: the mirror's tests measure latencies, and unoptimised LZ4 and Zenoh
//! would measure the build, not the mirror.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::process::{capture, run};
use crate::step::{Need, Step};
use crate::toolchain::{Host, WINDOWS_GNU};
use crate::wine::WineEnv;
use crate::workspace::Workspace;

/// The package of the tool and the mirror.
pub(crate) const TOOL_PACKAGE: &str = "wsm";

/// `cargo test --release -p wsm`: its unit tests, then the binary driven by the tests in
/// `wsm/tests/cli` (the mirror's between network namespaces, as root on Linux).
fn tool_test(ws: &Workspace, extra: &[std::ffi::OsString]) -> Command {
    let mut cargo = ws.cargo();
    cargo
        .args(["test", "--release", "-p", TOOL_PACKAGE])
        .args(extra);
    cargo
}

/// Why the tool's tests run on Linux only: they drive `/dev/shm`, `/proc/locks` and, as
/// root, network and mount namespaces.
const LINUX_TOOL: &str = "the wsm tool's tests drive Linux's /dev/shm and namespaces";

/// Where the tool's build and tests run: natively, on Linux.
pub(crate) const ON_LINUX: [Need; 3] = [
    Need::Native,
    Need::NotOn(Host::Windows, LINUX_TOOL),
    Need::NotOn(Host::OtherUnix, LINUX_TOOL),
];

/// The name of the step of the Windows publisher under Wine.
pub(crate) const WINE_STEP: &str =
    "wsm: wsm.exe (Zenoh, release) under Wine: ls, a Windows publisher and a Windows subscriber";

/// The filter of the tests of `wsm/tests/cli` that the Wine step runs (the Windows publisher
/// of a Windows game, with `ls`, and the Windows subscriber of a Windows reader).
const WINE_TESTS: &str = "wine";

/// Upper bound for the Wine test's run (the Windows build is outside it).
const WINE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Builds `wsm.exe` for Windows (a second Zenoh build, of its own target) and runs the tests
/// of its publisher and its subscriber under Wine, natively, then waits for the prefix's
/// processes to end. The tests run rather than skip: their exe is given.
pub(crate) fn windows_publisher_under_wine(ws: &Workspace, env: &WineEnv) -> Result {
    run(ws.cargo().args([
        "build",
        "--release",
        "-p",
        TOOL_PACKAGE,
        "--bin",
        TOOL_PACKAGE,
        "--target",
        WINDOWS_GNU,
    ]))?;
    let exe = ws
        .target
        .join(WINDOWS_GNU)
        .join("release")
        .join(format!("{TOOL_PACKAGE}.exe"));
    let mut test = tool_test(ws, &[]);
    test.args(["--test", "cli", "--", WINE_TESTS])
        .env("WSM_WINE_PUBLISHER", &exe);
    env.apply(&mut test);
    let tested = env.run_bounded(&mut test, WINE_TIMEOUT);
    let drained = env.wait_for_wineserver();
    tested.and(drained)
}

/// The steps of the tool, after the native tests.
pub(crate) fn steps() -> Vec<Step> {
    vec![
        Step::command(
            "wsm: build the tool and the Zenoh mirror (release)",
            &ON_LINUX,
            |cx| {
                let mut cargo = cx.ws.cargo();
                cargo.args([
                    "build",
                    "--release",
                    "-p",
                    TOOL_PACKAGE,
                    "--bins",
                    "--tests",
                ]);
                cargo
            },
        ),
        Step::command(
            "wsm: unit tests, the commands, the mirror between network namespaces",
            &ON_LINUX,
            |cx| tool_test(cx.ws, cx.extra),
        ),
        Step::command("clippy (wsm, with Zenoh)", &ON_LINUX[1..], |cx| {
            let mut cargo = cx.ws.cargo();
            cargo.args([
                "clippy",
                "-p",
                TOOL_PACKAGE,
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]);
            cargo
        }),
    ]
}

/// The mirror's section of BENCHMARKS.md: its figures from one run of the bench (the rF2
/// buffers between two network namespaces), and what building it costs.
pub(crate) fn section(ws: &Workspace) -> Result<String> {
    println!("==> the wsm mirror between network namespaces");
    capture(ws.cargo().args([
        "build",
        "--quiet",
        "--release",
        "-p",
        TOOL_PACKAGE,
        "--tests",
    ]))?;
    let output = capture(ws.cargo().args([
        "test",
        "--quiet",
        "--release",
        "-p",
        TOOL_PACKAGE,
        "--test",
        "cli",
        "--",
        "bench",
    ]))?;
    let figures: Vec<(String, String)> = output
        .lines()
        .flat_map(|line| line.split_whitespace())
        .filter_map(|field| field.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    let figure = |key: &str| -> Result<f64> {
        figures
            .iter()
            .find(|(known, _)| known == key)
            .and_then(|(_, value)| value.parse().ok())
            .ok_or_else(|| Error(format!("the mirror bench printed no {key}: {output}")))
    };
    let dependencies = dependency_count(ws)?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "`wsm mirror` between two network namespaces joined by a veth pair, each with its own\n\
         /dev/shm, in two runs of 15 s on fresh namespaces. A stand-in rFactor 2 writes the\n\
         telemetry buffer (241 680 bytes, 20 of 128 vehicles filled, at 100 Hz: per vehicle 40\n\
         doubles change at every update and 60 at every tenth, each with a phase of its own), the\n\
         publisher mirrors it, the subscriber re-creates it, and an unmodified reader there checks\n\
         every copy (consistent and advancing) and its latency, from the game's write to the\n\
         reader's copy (the reader polls every 0.1 ms; the publisher looks at every buffer every\n\
         1 ms, and every 0.1 ms around the moment a steadily written one's next change is due).\n\
         The second run adds the plugin's 12 other buffers (scoring and extended at 5 Hz, force\n\
         feedback and graphics at 100 Hz, the rest once) for the publisher's CPU. Bytes on the\n\
         wire are the veth's own counters (both directions, Zenoh's and TCP's overhead included);\n\
         \"full frames\" is every telemetry update sent whole, \"compressed full frames\" each one\n\
         LZ4-compressed. The machine is shared with other builds: latencies are those of a busy\n\
         two-core host, and the table is one run's (the tail of the latency moves most between\n\
         runs). Building Zenoh is the tool's cost: the dependency count is below.\n"
    );
    let _ = writeln!(text, "| figure | value | target |\n|---|---|---|");
    let rows = [
        (
            "bytes on the wire",
            format!("{:.0} kB/s", figure("mirror_bytes_per_s")? / 1e3),
            "",
        ),
        (
            "full frames",
            format!("{:.0} kB/s", figure("full_frames_bytes_per_s")? / 1e3),
            "",
        ),
        (
            "compressed full frames",
            format!(
                "{:.0} kB/s",
                figure("compressed_full_frames_bytes_per_s")? / 1e3
            ),
            "",
        ),
        (
            "wire / full frames",
            format!("{:.2}%", figure("ratio_to_full")? * 100.0),
            "at most 10%",
        ),
        (
            "wire / compressed full frames",
            format!("{:.1}%", figure("ratio_to_compressed_full")? * 100.0),
            "",
        ),
        (
            "telemetry updates seen by the reader",
            format!("{:.1}/s", figure("telemetry_updates_per_s")?),
            "",
        ),
        (
            "latency p50 (game's write to the far reader's copy)",
            format!("{:.0} us", figure("latency_p50_us")?),
            "at most 1 ms",
        ),
        (
            "latency p99",
            format!("{:.0} us", figure("latency_p99_us")?),
            "at most 5 ms",
        ),
        (
            "latency max",
            format!("{:.0} us", figure("latency_max_us")?),
            "",
        ),
        (
            "publisher CPU, telemetry alone",
            format!(
                "{:.2}% of one core",
                figure("publisher_cpu_telemetry_percent")?
            ),
            "",
        ),
        (
            "bytes on the wire, 13 buffers",
            format!("{:.0} kB/s", figure("all_rf2_bytes_per_s")? / 1e3),
            "",
        ),
        (
            "latency p50 / p99, 13 buffers",
            format!(
                "{:.0} / {:.0} us",
                figure("all_rf2_latency_p50_us")?,
                figure("all_rf2_latency_p99_us")?
            ),
            "",
        ),
        (
            "publisher CPU, 13 buffers",
            format!(
                "{:.2}% of one core",
                figure("publisher_cpu_percent_of_one_core")?
            ),
            "at most 5%",
        ),
        (
            "torn or regressing copies",
            format!("{:.0}", figure("torn")? + figure("regressions")?),
            "0",
        ),
        (
            "crates in wsm's dependency tree (normal, this host)",
            dependencies.to_string(),
            "",
        ),
    ];
    for (name, value, target) in rows {
        let _ = writeln!(text, "| {name} | {value} | {target} |");
    }
    Ok(text.trim_end().to_owned())
}

/// How many distinct crates (the package itself excluded) `wsm` builds on this host.
fn dependency_count(ws: &Workspace) -> Result<usize> {
    let tree = capture(ws.cargo().args([
        "tree",
        "-p",
        TOOL_PACKAGE,
        "-e",
        "normal,build",
        "--prefix",
        "none",
    ]))?;
    // Each line is `name vX.Y.Z`, then perhaps `(proc-macro)`, a path or `(*)` for a repeat.
    let mut crates: Vec<String> = tree
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .collect();
    crates.sort_unstable();
    crates.dedup();
    Ok(crates.len().saturating_sub(1))
}

/// `cargo xtask bench --mirror`: the mirror's section alone, replaced in BENCHMARKS.md (or
/// added before its closing "Reading" section), the rest of the file as it was.
pub(crate) fn cmd_bench_mirror(ws: &Workspace) -> Result<std::process::ExitCode> {
    let section = section(ws)?;
    let path = ws.root.join("BENCHMARKS.md");
    let page = std::fs::read_to_string(&path)
        .map_err(|error| Error(format!("cannot read BENCHMARKS.md: {error}")))?;
    let page = replace_section(&page, HEADING, &section);
    std::fs::write(&path, page)
        .map_err(|error| Error(format!("cannot write BENCHMARKS.md: {error}")))?;
    println!("{section}\nwrote the mirror's section of BENCHMARKS.md");
    Ok(std::process::ExitCode::SUCCESS)
}

/// The mirror section's heading.
pub(crate) const HEADING: &str = "## The wsm mirror over Zenoh (Linux, two network namespaces)";

/// `page` with the section under `heading` replaced by `body` (up to the next `## `), or
/// with the section inserted before `## Reading` (at the end without one).
fn replace_section(page: &str, heading: &str, body: &str) -> String {
    let section = format!("{heading}\n\n{body}\n\n");
    if let Some(start) = page.find(heading) {
        let rest = &page[start + heading.len()..];
        let end = rest
            .find("\n## ")
            .map_or(page.len(), |at| start + heading.len() + at + 1);
        return format!("{}{section}{}", &page[..start], &page[end..]);
    }
    match page.find("## Reading") {
        Some(at) => format!("{}{section}{}", &page[..at], &page[at..]),
        None => format!("{}\n\n{}", page.trim_end(), section.trim_end()) + "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::replace_section;

    #[test]
    fn the_section_is_replaced_or_inserted_before_reading() {
        let page = "# B\n\n## A\n\na\n\n## Reading\n\nr\n";
        let inserted = replace_section(page, "## M", "m1");
        assert_eq!(
            inserted,
            "# B\n\n## A\n\na\n\n## M\n\nm1\n\n## Reading\n\nr\n"
        );
        let replaced = replace_section(&inserted, "## M", "m2");
        assert_eq!(
            replaced,
            "# B\n\n## A\n\na\n\n## M\n\nm2\n\n## Reading\n\nr\n"
        );
        assert_eq!(replace_section("# B\n", "## M", "m"), "# B\n\n## M\n\nm\n");
    }
}
