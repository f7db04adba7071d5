//! The `wsm` binary driven as its users drive it: the inspection commands on this machine's
//! `/dev/shm`, and the mirror between "machines" made of network and mount namespaces (as
//! root on Linux; skipped with the reason elsewhere), with a stand-in rFactor 2 writing its
//! telemetry on one side and an unmodified reader checking every copy on the other.
//!
//! `<this binary> [FILTER]` runs the tests whose names contain FILTER; `role NAME ...` runs one
//! of the helper programs of `roles.rs`; `bench` prints the mirror's figures (BENCHMARKS.md).
//! Multicast scouting is off in every run (the tool's default), and traffic goes only to
//! loopback or to the veth pairs the test made.

mod machines;
mod roles;

use std::process::{Command, ExitCode, Output};
use std::time::{Duration, Instant};

use machines::{Machine, Netns, Running, Veth, clock_ticks_per_s, is_root, sh, unavailable};
use roles::{Summary, TELEMETRY, TELEMETRY_SIZE, rf2_names};

type TestResult = Result<(), String>;

/// A test: its name, why it cannot run here (if it cannot), and its body.
type Test = (&'static str, fn() -> Option<String>, fn() -> TestResult);

/// The tests of the commands on this machine run anywhere the tool does.
fn runs_anywhere() -> Option<String> {
    None
}

const TESTS: &[Test] = &[
    (
        "usage_and_missing_names_are_clear_errors",
        runs_anywhere,
        usage_and_missing_names,
    ),
    (
        "ls_show_watch_and_rm_follow_a_region_to_its_removal",
        runs_anywhere,
        ls_show_watch_rm,
    ),
    (
        "rm_refuses_other_programs_and_other_users",
        runs_anywhere,
        rm_refuses,
    ),
    ("mirror_says_its_rates_while_it_runs", runs_anywhere, rates),
    (
        "watch_names_the_fields_an_rf2_update_changed",
        unavailable,
        watch_fields,
    ),
    (
        "mirror_keeps_a_reader_consistent_and_current",
        unavailable,
        mirror_rf2,
    ),
    (
        "mirror_catches_up_after_the_link_was_down_5s",
        unavailable,
        link_down_and_up,
    ),
    (
        "mirror_follows_restarts_of_subscriber_and_publisher",
        unavailable,
        restarts,
    ),
    (
        "mirror_serves_three_subscribers",
        unavailable,
        three_subscribers,
    ),
    (
        "mirror_over_tls_with_a_test_made_certificate",
        unavailable,
        tls,
    ),
    (
        "mirror_reports_a_region_gone_at_the_source",
        unavailable,
        gone,
    ),
    (
        "mirror_keeps_a_double_buffer_whole_for_its_typed_readers",
        unavailable,
        double_buffer,
    ),
    (
        "mirror_publishes_a_windows_game_section_from_wine",
        wine_unavailable,
        wine_publisher,
    ),
    (
        "mirror_subscribes_on_windows_for_a_windows_reader_under_wine",
        wine_unavailable,
        wine_subscriber,
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("role") => {
            let result = match args.get(1).map(String::as_str) {
                Some("game") => roles::game(&args[2..]),
                Some("reader") => roles::reader(&args[2..]),
                Some("hold") => roles::hold(&args[2..]),
                Some("double-writer") => roles::double_writer(&args[2..]),
                Some("double-reader") => roles::double_reader(&args[2..]),
                other => Err(format!("no role {other:?}")),
            };
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("role: {message}");
                    ExitCode::FAILURE
                }
            };
        }
        Some("bench") => {
            return match bench() {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("bench: {message}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    // libtest's flags (cargo test passes some) are not filters.
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, why_not, test) in TESTS {
        if !filters.is_empty() && !filters.iter().any(|filter| name.contains(filter.as_str())) {
            continue;
        }
        if let Some(reason) = why_not() {
            println!("test {name} ... skipped: {reason}");
            skipped += 1;
            continue;
        }
        let started = Instant::now();
        match test() {
            Ok(()) => {
                println!(
                    "test {name} ... ok ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
                passed += 1;
            }
            Err(message) => {
                println!("test {name} ... FAILED: {message}");
                failed += 1;
            }
        }
    }
    println!("\ntest result: {passed} passed; {failed} failed; {skipped} skipped");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The binary under test.
fn wsm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wsm"))
}

/// This binary, for a role.
fn role(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command.args(["role", name]);
    command
}

fn run(command: &mut Command) -> Result<Output, String> {
    command
        .output()
        .map_err(|error| format!("{command:?}: {error}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ensure(condition: bool, message: impl FnOnce() -> String) -> TestResult {
    if condition { Ok(()) } else { Err(message()) }
}

/// An error exit (1, 2 for usage) with a message on stderr that contains `expected`, and
/// no panic.
fn fails_with(output: &Output, code: i32, expected: &str) -> TestResult {
    let stderr = text(&output.stderr);
    ensure(
        output.status.code() == Some(code)
            && stderr.contains(expected)
            && !stderr.contains("panicked"),
        || {
            format!(
                "expected exit {code} and {expected:?}, got {:?}: {stderr}",
                output.status
            )
        },
    )
}

fn usage_and_missing_names() -> TestResult {
    fails_with(&run(&mut wsm())?, 2, "usage: wsm ls")?;
    fails_with(&run(wsm().arg("frob"))?, 2, "unknown command")?;
    fails_with(
        &run(wsm().args(["show", "x", "--len", "lots"]))?,
        2,
        "not a number",
    )?;
    let missing = format!("wsm_test_missing_{}", std::process::id());
    for command in ["show", "watch", "rm"] {
        let output = run(wsm().args([command, &missing]))?;
        fails_with(&output, 1, &format!("`{missing}`"))?;
    }
    fails_with(&run(wsm().args(["show", "a/b"]))?, 1, "not a region name")?;
    let help = run(wsm().arg("--help"))?;
    ensure(
        help.status.success() && text(&help.stdout).contains("wsm mirror publish"),
        || "--help".into(),
    )
}

/// The JSON object of `name` in `wsm ls --json`, if listed.
fn listed(name: &str) -> Result<Option<String>, String> {
    let output = run(wsm().args(["ls", "--json"]))?;
    ensure(output.status.success(), || text(&output.stderr))?;
    let key = format!("\"name\":\"{name}\"");
    Ok(text(&output.stdout)
        .lines()
        .find(|line| line.contains(&key))
        .map(str::to_owned))
}

/// `role hold NAME SIZE --versioned` (rF2's counters around words each update sets, 100
/// updates a second), once it is ready.
fn start_holder(name: &str, size: usize) -> Result<Running, String> {
    let mut command = role("hold");
    command.args([name, &size.to_string(), "--versioned"]);
    let mut holder = Running::start(command, "holder")?;
    holder.expect("ready", Duration::from_secs(10))?;
    Ok(holder)
}

fn ls_show_watch_rm() -> TestResult {
    let name = format!("wsm_test_cli_{}", std::process::id());
    let holder = start_holder(&name, 4096)?;
    let object = listed(&name)?.ok_or("ls --json does not list the region")?;
    for field in [
        "\"size\":4096",
        "\"crate\":true",
        "\"holders\":1",
        "\"held\":true",
        "\"stale\":false",
    ] {
        ensure(object.contains(field), || {
            format!("{field} not in {object}")
        })?;
    }
    let table = text(&run(wsm().arg("ls"))?.stdout);
    ensure(
        table
            .lines()
            .any(|line| line.starts_with(&name) && line.ends_with("live")),
        || table.clone(),
    )?;

    let show = run(wsm().args(["show", &format!("{name}:versioned"), "--len", "32"]))?;
    let shown = text(&show.stdout);
    ensure(show.status.success(), || text(&show.stderr))?;
    for expected in [
        "size      4096 bytes",
        "layout    versioned",
        "counters  begin ",
        "(idle)",
        "00000000  ",
        "00000010  ",
    ] {
        ensure(shown.contains(expected), || {
            format!("{expected:?} not in {shown}")
        })?;
    }
    ensure(!shown.contains("00000020"), || {
        format!("more than --len: {shown}")
    })?;

    let watch = run(wsm().args([
        "watch",
        &format!("{name}:versioned"),
        "--every",
        "300",
        "--count",
        "2",
        "--json",
    ]))?;
    let reports = text(&watch.stdout);
    ensure(
        watch.status.success() && reports.lines().count() == 2,
        || format!("{reports} {}", text(&watch.stderr)),
    )?;
    let rate = reports
        .lines()
        .last()
        .and_then(|line| line.split("\"updates_per_s\":").nth(1))
        .and_then(|rest| rest.split(',').next())
        .and_then(|rate| rate.parse::<f64>().ok())
        .ok_or_else(|| format!("no rate in {reports}"))?;
    // The holder writes every 10 ms: about 100 updates a second, however loaded the machine.
    ensure((20.0..=150.0).contains(&rate), || {
        format!("rate {rate}: {reports}")
    })?;

    fails_with(&run(wsm().args(["rm", &name]))?, 1, "is live")?;
    // A death without drop: the object stays, held by nobody.
    holder.kill();
    let object = listed(&name)?.ok_or("the dead holder's region is not listed")?;
    ensure(
        object.contains("\"stale\":true") && object.contains("\"holders\":0"),
        || object.clone(),
    )?;
    fails_with(&run(wsm().args(["show", &name]))?, 1, "is stale")?;
    let removed = run(wsm().args(["rm", &name]))?;
    ensure(
        removed.status.success() && text(&removed.stdout).trim() == format!("removed {name}"),
        || text(&removed.stderr),
    )?;
    ensure(listed(&name)?.is_none(), || "still listed after rm".into())?;
    fails_with(&run(wsm().args(["rm", &name]))?, 1, "no region")
}

/// A publisher says its rates on standard error while it runs (here every second, of a
/// region written 100 times a second, on loopback), from when it is ready, and ends when its
/// input closes.
fn rates() -> TestResult {
    let name = format!("wsm_test_rates_{}", std::process::id());
    let holder = start_holder(&name, 4096)?;
    let log = std::env::temp_dir().join(format!("{name}.stderr"));
    let endpoint = format!("tcp/127.0.0.1:{}", 21_000 + std::process::id() % 10_000);
    // Its standard error into a file (`Running` shows it), through the shell.
    let mut publisher = {
        let mut command = Command::new("sh");
        command
            .args(["-c", "exec \"$0\" \"$@\" 2>\"$WSM_TEST_LOG\""])
            .arg(env!("CARGO_BIN_EXE_wsm"))
            .args([
                "mirror",
                "publish",
                "--listen",
                &endpoint,
                "--rates-every",
                "1",
            ])
            .arg(format!("{name}:versioned"))
            .env("WSM_TEST_LOG", &log);
        Running::start(command, "the publisher")?
    };
    publisher.expect("ready", Duration::from_secs(20))?;
    std::thread::sleep(Duration::from_millis(2500));
    let ended = publisher.finish(Duration::from_secs(10));
    holder.finish(Duration::from_secs(10))?;
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    ended?;
    let reports: Vec<&str> = said
        .lines()
        .filter(|line| line.contains(" frames/s sent ("))
        .collect();
    ensure(reports.len() >= 2, || {
        format!("expected a report a second: {said}")
    })?;
    // 100 updates a second, each a frame (a delta, or whole once a second).
    let rate: f64 = reports[1]
        .trim_start_matches("wsm: ")
        .split(' ')
        .next()
        .and_then(|rate| rate.parse().ok())
        .ok_or_else(|| format!("no rate in {}", reports[1]))?;
    ensure((50.0..=150.0).contains(&rate), || {
        format!("{rate} frames/s: {said}")
    })
}

fn rm_refuses() -> TestResult {
    let plain = format!("wsm_test_plain_{}", std::process::id());
    let path = format!("/dev/shm/{plain}");
    std::fs::write(&path, [0; 64]).map_err(|error| error.to_string())?;
    let refused = run(wsm().args(["rm", &plain]));
    let listed_all = run(wsm().args(["ls", "--all", "--json"]));
    let listed_crate = listed(&plain);
    let _ = std::fs::remove_file(&path);
    fails_with(&refused?, 1, "not made by win-shared-memory")?;
    ensure(
        text(&listed_all?.stdout).contains(&format!("\"name\":\"{plain}\"")),
        || "--all misses it".into(),
    )?;
    ensure(listed_crate?.is_none(), || {
        "ls lists another program's object".into()
    })?;

    // Another user's stale region: refused with the reason, and kept.
    if is_root() && Command::new("setpriv").arg("--help").output().is_ok() {
        let name = format!("wsm_test_other_user_{}", std::process::id());
        let mut holder = Running::start(
            {
                let mut command = role("hold");
                command.args([&name, "64"]);
                command
            },
            "holder",
        )?;
        holder.expect("ready", Duration::from_secs(10))?;
        holder.kill();
        let output = run(Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_wsm"))
            .args(["rm", &name]))?;
        let kept = listed(&name)?.is_some();
        let _ = run(wsm().args(["rm", &name]));
        fails_with(&output, 1, "not readable by this user")?;
        ensure(kept, || "another user removed the region".into())?;
    }
    Ok(())
}

/// Two machines joined by a veth pair: A (the game's) and B.
struct Pair {
    a: Machine,
    b: Machine,
    veth: Veth,
    // Dropped last: the machines' processes go first.
    netns: (Netns, Netns),
}

fn pair(subnet: u8) -> Result<Pair, String> {
    let netns = (Netns::new()?, Netns::new()?);
    let veth = Veth::join(&netns.0, &netns.1, subnet)?;
    Ok(Pair {
        a: Machine::new(&netns.0)?,
        b: Machine::new(&netns.1)?,
        veth,
        netns,
    })
}

const PORT: u16 = 7447;

fn start_game(machine: &Machine, extra: &[&str]) -> Result<Running, String> {
    let mut command = machine.command(std::env::current_exe().unwrap().to_str().unwrap());
    command.args(["role", "game"]).args(extra);
    let mut game = Running::start(command, "game")?;
    game.expect("ready", Duration::from_secs(10))?;
    Ok(game)
}

fn start_publisher(
    machine: &Machine,
    endpoint: &str,
    extra: &[&str],
    names: &[&str],
) -> Result<Running, String> {
    start_mirror(machine, ["publish", "--listen", endpoint], extra, names)
}

fn start_subscriber(
    machine: &Machine,
    endpoint: &str,
    extra: &[&str],
    names: &[&str],
) -> Result<Running, String> {
    start_mirror(machine, ["subscribe", "--connect", endpoint], extra, names)
}

/// `wsm mirror SIDE --listen|--connect ENDPOINT EXTRA… NAMES…`, once it says `ready`.
fn start_mirror(
    machine: &Machine,
    [side, flag, endpoint]: [&str; 3],
    extra: &[&str],
    names: &[&str],
) -> Result<Running, String> {
    let mut command = machine.command(env!("CARGO_BIN_EXE_wsm"));
    command
        .args(["mirror", side, flag, endpoint])
        .args(extra)
        .args(names);
    ready_mirror(command, side)
}

/// A `wsm mirror SIDE …` command started, once it says `ready`.
fn ready_mirror(command: Command, side: &str) -> Result<Running, String> {
    let label = if side == "publish" {
        "publisher"
    } else {
        "subscriber"
    };
    let mut mirror = Running::start(command, label)?;
    mirror.expect("ready", Duration::from_secs(20))?;
    Ok(mirror)
}

fn start_reader(machine: &Machine, seconds: u64) -> Result<Running, String> {
    let mut command = machine.command(std::env::current_exe().unwrap().to_str().unwrap());
    command.args(["role", "reader", "--seconds", &seconds.to_string()]);
    let mut reader = Running::start(command, "reader")?;
    reader.expect("reading", Duration::from_secs(15))?;
    Ok(reader)
}

/// Waits for the reader's summary: it ends on its own after its seconds.
fn summary(reader: Running, seconds: u64) -> Result<Summary, String> {
    Summary::parse(&reader.finish(Duration::from_secs(seconds + 20))?)
}

/// No pause of the copies longer than this while nothing disturbs the mirror: the machine is
/// shared, and a process descheduled for a moment delays an update or two.
const HICCUP_MS: u64 = 500;

/// Whether no stale period of `summary` lasted `HICCUP_MS` or more.
fn current(summary: &Summary) -> TestResult {
    ensure(
        summary.stale.iter().all(|(from, to)| to - from < HICCUP_MS),
        || format!("a pause of {HICCUP_MS} ms or more: {}", summary.line),
    )
}

/// Every copy whole, none older than the one before, and updates at the game's pace.
fn consistent(summary: &Summary, min_updates: u64) -> TestResult {
    ensure(
        summary.torn == 0 && summary.regressions == 0 && summary.updates >= min_updates,
        || {
            format!(
                "expected no torn copy, no regression, {min_updates}+ updates: {}",
                summary.line
            )
        },
    )
}

fn mirror_rf2() -> TestResult {
    let pair = pair(77)?;
    let endpoint = format!("tcp/{}:{PORT}", pair.veth.a_address);
    let game = start_game(&pair.a, &[])?;
    let publisher = start_publisher(&pair.a, &endpoint, &[], &[TELEMETRY])?;
    let subscriber = start_subscriber(&pair.b, &endpoint, &[], &[TELEMETRY])?;
    let objects = pair.b.shm_entries()?;
    ensure(objects == [TELEMETRY], || {
        format!("B's /dev/shm: {objects:?}")
    })?;
    let ls = run(pair
        .b
        .command(env!("CARGO_BIN_EXE_wsm"))
        .args(["ls", "--json"]))?;
    let listing = text(&ls.stdout);
    ensure(
        listing.contains(&format!("\"size\":{TELEMETRY_SIZE}"))
            && listing.contains("\"held\":true"),
        || listing.clone(),
    )?;
    // Nothing listens but the publisher's endpoint: no scouting socket, no subscriber port.
    let listening = |netns: &Netns| {
        sh(&[
            "ip",
            "netns",
            "exec",
            &netns.name,
            "ss",
            "-H",
            "-l",
            "-t",
            "-u",
            "-n",
        ])
    };
    let on_b = listening(&pair.netns.1)?;
    ensure(on_b.trim().is_empty(), || format!("listening on B: {on_b}"))?;
    let on_a = listening(&pair.netns.0)?;
    ensure(
        on_a.lines().count() == 1 && on_a.contains(&format!("{}:{PORT}", pair.veth.a_address)),
        || format!("listening on A: {on_a}"),
    )?;
    let reader = start_reader(&pair.b, 5)?;
    let summary = summary(reader, 5)?;
    // 100 Hz for 5 s, less the start.
    consistent(&summary, 400)?;
    current(&summary)?;
    ensure(summary.lat_p99_us < 50_000, || summary.line.clone())?;
    println!("  {}", summary.line);
    subscriber.finish(Duration::from_secs(10))?;
    let left = pair.b.shm_entries()?;
    ensure(left.is_empty(), || format!("the subscriber left {left:?}"))?;
    publisher.finish(Duration::from_secs(10))?;
    game.finish(Duration::from_secs(10))?;
    let left = pair.a.shm_entries()?;
    ensure(left.is_empty(), || {
        format!("the publisher's side kept {left:?}")
    })
}

/// The time in ms since 1970.
fn now_ms() -> u64 {
    roles::now_ns() / 1_000_000
}

fn link_down_and_up() -> TestResult {
    let pair = pair(78)?;
    let endpoint = format!("tcp/{}:{PORT}", pair.veth.a_address);
    let _game = start_game(&pair.a, &[])?;
    let _publisher = start_publisher(&pair.a, &endpoint, &[], &[TELEMETRY])?;
    let _subscriber = start_subscriber(&pair.b, &endpoint, &[], &[TELEMETRY])?;
    let reader = start_reader(&pair.b, 12)?;
    std::thread::sleep(Duration::from_secs(2));
    let link = ["ip", "-n", &pair.netns.0.name, "link", "set", &pair.veth.a];
    sh(&[&link[..], &["down"]].concat())?;
    let down_at = now_ms();
    std::thread::sleep(Duration::from_secs(5));
    sh(&[&link[..], &["up"]].concat())?;
    let up_at = now_ms();
    let summary = summary(reader, 12)?;
    println!("  link down at {down_at}, up at {up_at}: {}", summary.line);
    consistent(&summary, 500)?;
    // One stale period, which began with the outage and ended within 1 s of the link's return.
    let [(from, to)] = summary.stale[..] else {
        return Err(format!("expected one stale period: {}", summary.line));
    };
    ensure(
        from >= down_at && from <= down_at + 500 && to <= up_at + 1000,
        || {
            format!(
                "stale {from}-{to}: caught up {} ms after the link came up",
                to as i64 - up_at as i64
            )
        },
    )?;
    println!(
        "  current again {} ms after the link came up",
        to as i64 - up_at as i64
    );
    Ok(())
}

fn restarts() -> TestResult {
    let pair = pair(79)?;
    let endpoint = format!("tcp/{}:{PORT}", pair.veth.a_address);
    let _game = start_game(&pair.a, &[])?;
    let publisher = start_publisher(&pair.a, &endpoint, &[], &[TELEMETRY])?;
    let subscriber = start_subscriber(&pair.b, &endpoint, &[], &[TELEMETRY])?;
    let reader = start_reader(&pair.b, 10)?;
    std::thread::sleep(Duration::from_secs(2));
    // The reader holds the region: it stays, and the new subscriber writes into it.
    subscriber.finish(Duration::from_secs(10))?;
    let subscriber_back = now_ms();
    let subscriber = start_subscriber(&pair.b, &endpoint, &[], &[TELEMETRY])?;
    let subscriber_ready = now_ms() - subscriber_back;
    std::thread::sleep(Duration::from_secs(2));
    publisher.finish(Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(500));
    let publisher_back = now_ms();
    let _publisher = start_publisher(&pair.a, &endpoint, &[], &[TELEMETRY])?;
    let summary = summary(reader, 10)?;
    println!(
        "  subscriber restarted at {subscriber_back} (ready after {subscriber_ready} ms), publisher at {publisher_back}: {}",
        summary.line
    );
    consistent(&summary, 600)?;
    // Each restart's pause ends within 3 s of the new process's start (a Zenoh session's
    // opening and reconnection included).
    for (from, to) in &summary.stale {
        let cause = [subscriber_back, publisher_back]
            .into_iter()
            .filter(|&at| *from + 1000 >= at && *from <= at + 1000)
            .max();
        ensure(cause.is_some_and(|at| *to <= at + 3000), || {
            format!(
                "stale {from}-{to} not explained by a restart: {}",
                summary.line
            )
        })?;
    }
    drop(subscriber);
    Ok(())
}

fn three_subscribers() -> TestResult {
    let pair = pair(80)?;
    let endpoint = format!("tcp/{}:{PORT}", pair.veth.a_address);
    let _game = start_game(&pair.a, &[])?;
    let _publisher = start_publisher(&pair.a, &endpoint, &[], &[TELEMETRY])?;
    // Three machines on B's network, each with its own /dev/shm.
    let machines = [
        Machine::new(&pair.netns.1)?,
        Machine::new(&pair.netns.1)?,
        Machine::new(&pair.netns.1)?,
    ];
    let mut subscribers = Vec::new();
    let mut readers = Vec::new();
    for machine in &machines {
        subscribers.push(start_subscriber(machine, &endpoint, &[], &[TELEMETRY])?);
    }
    for machine in &machines {
        readers.push(start_reader(machine, 4)?);
    }
    for reader in readers {
        let summary = summary(reader, 4)?;
        println!("  {}", summary.line);
        consistent(&summary, 300)?;
        current(&summary)?;
    }
    drop(pair.b);
    Ok(())
}

fn tls() -> TestResult {
    let pair = pair(81)?;
    let dir = std::env::temp_dir().join(format!("wsm-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
    let result = tls_in(&pair, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tls_in(pair: &Pair, dir: &std::path::Path) -> TestResult {
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    // A CA, and the publisher's certificate for its address, signed by it.
    sh(&[
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=wsm test CA",
        "-keyout",
        &file("ca.key"),
        "-out",
        &file("ca.pem"),
    ])?;
    sh(&[
        "openssl",
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=wsm publisher",
        "-keyout",
        &file("pub.key"),
        "-out",
        &file("pub.csr"),
    ])?;
    std::fs::write(
        file("ext"),
        format!("subjectAltName=IP:{}\n", pair.veth.a_address),
    )
    .map_err(|e| e.to_string())?;
    sh(&[
        "openssl",
        "x509",
        "-req",
        "-in",
        &file("pub.csr"),
        "-CA",
        &file("ca.pem"),
        "-CAkey",
        &file("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &file("ext"),
        "-out",
        &file("pub.pem"),
    ])?;
    let publisher_config = format!(
        "{{ transport: {{ link: {{ tls: {{ listen_certificate: {:?}, listen_private_key: {:?} }} }} }} }}",
        file("pub.pem"),
        file("pub.key")
    );
    let subscriber_config = format!(
        "{{ transport: {{ link: {{ tls: {{ root_ca_certificate: {:?} }} }} }} }}",
        file("ca.pem")
    );
    std::fs::write(file("publisher.json5"), publisher_config).map_err(|e| e.to_string())?;
    std::fs::write(file("subscriber.json5"), subscriber_config).map_err(|e| e.to_string())?;
    let endpoint = format!("tls/{}:{PORT}", pair.veth.a_address);
    let _game = start_game(&pair.a, &[])?;
    let _publisher = start_publisher(
        &pair.a,
        &endpoint,
        &["--config", &file("publisher.json5")],
        &[TELEMETRY],
    )?;
    // Without the CA the publisher's certificate is refused: no session, no copy.
    let mut command = pair.b.command(env!("CARGO_BIN_EXE_wsm"));
    command.args(["mirror", "subscribe", "--connect", &endpoint, TELEMETRY]);
    let mut untrusting = Running::start(command, "subscriber without the CA")?;
    ensure(
        untrusting.expect("ready", Duration::from_secs(3)).is_err(),
        || "a subscriber without the CA got the region".into(),
    )?;
    drop(untrusting);
    let _subscriber = start_subscriber(
        &pair.b,
        &endpoint,
        &["--config", &file("subscriber.json5")],
        &[TELEMETRY],
    )?;
    let summary = summary(start_reader(&pair.b, 3)?, 3)?;
    println!("  {}", summary.line);
    consistent(&summary, 200)
}

fn gone() -> TestResult {
    let pair = pair(82)?;
    let endpoint = format!("tcp/{}:{PORT}", pair.veth.a_address);
    let game = start_game(&pair.a, &[])?;
    let _publisher = start_publisher(&pair.a, &endpoint, &[], &[TELEMETRY])?;
    let mut subscriber = start_subscriber(&pair.b, &endpoint, &[], &[TELEMETRY])?;
    game.finish(Duration::from_secs(10))?;
    subscriber.expect(&format!("gone {TELEMETRY}"), Duration::from_secs(5))?;
    let left_b = pair.b.shm_entries()?;
    let left_a = pair.a.shm_entries()?;
    ensure(left_b.is_empty() && left_a.is_empty(), || {
        format!("left: A {left_a:?}, B {left_b:?}")
    })?;
    // The game back: the copy is back.
    let _game = start_game(&pair.a, &[])?;
    let summary = summary(start_reader(&pair.b, 2)?, 2)?;
    consistent(&summary, 100)
}

/// `wsm watch` of rFactor 2's telemetry names the fields the last update changed, with their
/// values: the stand-in game (in a mount namespace of its own, so that its
/// `$rFactor2SMMP_Telemetry$` is nobody else's) moves each vehicle's position, velocities and
/// the like at every update, which are `mPos`, `mLocalVel`, … at their offsets in the header
/// (JSON names the first 64 changed fields: those of the first vehicles).
fn watch_fields() -> TestResult {
    let pair = pair(85)?;
    let _game = start_game(&pair.a, &[])?;
    let watch = |extra: &[&str]| -> Result<String, String> {
        let mut command = pair.a.command(env!("CARGO_BIN_EXE_wsm"));
        command
            .args(["watch", TELEMETRY, "--every", "300", "--count", "1"])
            .args(extra);
        let output = run(&mut command)?;
        ensure(output.status.success(), || text(&output.stderr))?;
        Ok(text(&output.stdout))
    };
    let json = watch(&["--json"])?;
    for expected in [
        "{\"field\":\"mVehicles[0].mPos.x\",\"before\":",
        "{\"field\":\"mVehicles[1].mLocalVel.z\",\"before\":",
    ] {
        ensure(json.contains(expected), || {
            format!("{expected} not in {json}")
        })?;
    }
    // 20 vehicles, and at every update 40 doubles each (one update in ten, 60 more).
    let count = json
        .split("\"changed_field_count\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|count| count.parse::<usize>().ok())
        .ok_or_else(|| format!("no changed_field_count in {json}"))?;
    ensure(count >= 20 * 40, || {
        format!("{count} fields changed: {json}")
    })?;
    let line = watch(&[])?;
    ensure(line.contains(" fields: mVehicles[0]."), || line.clone())?;
    println!("  {}", line.trim());
    Ok(())
}

/// The crate's `DoubleBuffer` mirrored (`NAME:double-buffer`): a writer holding the role
/// writes 8 KiB values at 100 Hz on A, and a typed reader on B, woken by each of the
/// subscriber's writes, sees every copy whole and advancing at the writer's pace.
fn double_buffer() -> TestResult {
    let pair = pair(84)?;
    let endpoint = format!("tcp/{}:{PORT}", pair.veth.a_address);
    let name = "wsm_mirror_double_buffer";
    let region = format!("{name}:double-buffer");
    let mut writer = {
        let mut command = pair
            .a
            .command(std::env::current_exe().unwrap().to_str().unwrap());
        command.args(["role", "double-writer", name]);
        Running::start(command, "double-buffer writer")?
    };
    writer.expect("ready", Duration::from_secs(10))?;
    let _publisher = start_publisher(&pair.a, &endpoint, &[], &[&region])?;
    let _subscriber = start_subscriber(&pair.b, &endpoint, &[], &[&region])?;
    let seconds = 3;
    let mut reader = {
        let mut command = pair
            .b
            .command(std::env::current_exe().unwrap().to_str().unwrap());
        command.args([
            "role",
            "double-reader",
            name,
            "--seconds",
            &seconds.to_string(),
        ]);
        Running::start(command, "double-buffer reader")?
    };
    reader.expect("reading", Duration::from_secs(15))?;
    let printed = reader.finish(Duration::from_secs(seconds + 20))?;
    let line = printed
        .lines()
        .find(|line| line.starts_with("summary"))
        .ok_or_else(|| format!("no summary from the reader: {printed}"))?;
    let field = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|field| field.strip_prefix(key)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .unwrap_or(u64::MAX)
    };
    // 100 Hz for 3 s: 300 updates; a shared two-core host may hold the reader back for some.
    ensure(
        field("torn") == 0 && field("regressions") == 0 && (150..=400).contains(&field("updates")),
        || format!("expected no torn copy, none going back, 150 to 400 updates: {line}"),
    )?;
    println!("  {line}");
    writer.finish(Duration::from_secs(10)).map(drop)
}

/// The mirror's figures (`key=value` lines for `cargo xtask bench`): the telemetry buffer alone
/// for the bytes on the wire against full frames and compressed full frames, and for latency;
/// then the 13 rF2 buffers for the publisher's CPU.
fn bench() -> TestResult {
    if let Some(reason) = unavailable() {
        return Err(format!(
            "the mirror bench needs network namespaces: {reason}"
        ));
    }
    let seconds = 15;
    let telemetry = measure(&[TELEMETRY], &[], seconds)?;
    let updates_per_s = telemetry.summary.updates as f64 / seconds as f64;
    let full = updates_per_s * TELEMETRY_SIZE as f64;
    let compressed = updates_per_s * compressed_telemetry_frame() as f64;
    println!("mirror_bytes_per_s={:.0}", telemetry.wire);
    println!("full_frames_bytes_per_s={full:.0}");
    println!("compressed_full_frames_bytes_per_s={compressed:.0}");
    println!("ratio_to_full={:.4}", telemetry.wire / full);
    println!(
        "ratio_to_compressed_full={:.4}",
        telemetry.wire / compressed
    );
    println!("telemetry_updates_per_s={updates_per_s:.1}");
    println!("latency_p50_us={}", telemetry.summary.lat_p50_us);
    println!("latency_p99_us={}", telemetry.summary.lat_p99_us);
    println!("latency_max_us={}", telemetry.summary.lat_max_us);
    println!(
        "publisher_cpu_telemetry_percent={:.2}",
        telemetry.cpu_percent
    );
    let all = measure(&rf2_names(), &["--all-rf2"], seconds)?;
    println!("all_rf2_bytes_per_s={:.0}", all.wire);
    println!("publisher_cpu_percent_of_one_core={:.2}", all.cpu_percent);
    println!("all_rf2_latency_p50_us={}", all.summary.lat_p50_us);
    println!("all_rf2_latency_p99_us={}", all.summary.lat_p99_us);
    let broken = [&telemetry.summary, &all.summary]
        .iter()
        .map(|s| s.torn + s.regressions)
        .sum::<u64>();
    println!("torn={broken} regressions=0");
    Ok(())
}

/// What one run of the mirror measured.
struct Measured {
    summary: Summary,
    /// Bytes per second through the veth, both directions.
    wire: f64,
    /// The publisher's CPU time over the run, in percent of one core.
    cpu_percent: f64,
}

/// Mirrors `names` (the stand-in game started with `game_args`) between two fresh machines for
/// `seconds` while a reader checks the telemetry.
fn measure(names: &[&str], game_args: &[&str], seconds: u64) -> Result<Measured, String> {
    let pair = pair(83)?;
    let endpoint = format!("tcp/{}:{PORT}", pair.veth.a_address);
    let _game = start_game(&pair.a, game_args)?;
    let publisher = start_publisher(&pair.a, &endpoint, &[], names)?;
    let _subscriber = start_subscriber(&pair.b, &endpoint, &[], names)?;
    std::thread::sleep(Duration::from_secs(1));
    let bytes = || -> Result<u64, String> {
        let netns = &pair.netns.0;
        Ok(netns.counter(&pair.veth.a, "tx_bytes")? + netns.counter(&pair.veth.a, "rx_bytes")?)
    };
    let cpu = |pid: u32| -> Result<u64, String> {
        let stat =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime, fields 14 and 15 of the line (11 and 12 after the name).
        let ticks = |at: usize| {
            fields
                .get(at)
                .and_then(|f| f.parse::<u64>().ok())
                .ok_or("/proc stat")
        };
        Ok(ticks(11)? + ticks(12)?)
    };
    let (bytes_before, cpu_before, started) = (bytes()?, cpu(publisher.pid())?, Instant::now());
    let summary = summary(start_reader(&pair.b, seconds)?, seconds)?;
    let elapsed = started.elapsed().as_secs_f64();
    let wire = (bytes()? - bytes_before) as f64 / elapsed;
    let ticks_per_s = clock_ticks_per_s();
    let cpu_percent = (cpu(publisher.pid())? - cpu_before) as f64 / ticks_per_s / elapsed * 100.0;
    Ok(Measured {
        summary,
        wire,
        cpu_percent,
    })
}

/// The size of one telemetry update's full frame, LZ4-compressed (the stand-in's update 1000).
fn compressed_telemetry_frame() -> usize {
    roles::compressed_frame_len(1000)
}

/// Why the Windows publisher is not run: no Windows `wsm.exe` was given
/// (`WSM_WINE_PUBLISHER`, a build for x86_64-pc-windows-gnu; `cargo xtask test` gives it in
/// its Wine step, with `WSM_C_PEER_DIR` holding `wine_game.exe` and a `WINEPREFIX` where
/// Rust's programs start). Given one, the test runs, and fails if the rest is missing.
fn wine_unavailable() -> Option<String> {
    match std::env::var_os("WSM_WINE_PUBLISHER") {
        Some(_) => None,
        None => Some("WSM_WINE_PUBLISHER is not set (cargo xtask test's Wine step sets it)".into()),
    }
}

/// What a test of `wsm.exe` under Wine needs: the exe, the C peers' directory (as Windows
/// sees it), and a versioned region and a loopback endpoint of its own.
struct WineRun {
    exe: String,
    peers: String,
    name: String,
    region: String,
    endpoint: String,
}

/// The Wine test `what`'s run; `port` tells the tests' endpoints apart.
fn wine_run(what: &str, port: u32) -> Result<WineRun, String> {
    given("WINEPREFIX")?;
    let name = format!("wsm_wine_{what}_{}", std::process::id());
    Ok(WineRun {
        exe: given("WSM_WINE_PUBLISHER")?,
        peers: given("WSM_C_PEER_DIR")?,
        region: format!("{name}:versioned"),
        name,
        endpoint: format!(
            "tcp/127.0.0.1:{}",
            20_000 + (std::process::id() + port) % 10_000
        ),
    })
}

/// The value of the environment variable the Wine tests need.
fn given(variable: &str) -> Result<String, String> {
    std::env::var(variable).map_err(|_| format!("{variable} is not set (or not UTF-8)"))
}

/// A Windows program under Wine, quiet.
fn wine(program: &str) -> Command {
    let mut command = Command::new("wine");
    command.arg(program);
    if std::env::var_os("WINEDEBUG").is_none() {
        command.env("WINEDEBUG", "-all");
    }
    command
}

/// The Windows side: a stand-in game (plain Win32, rF2's counters) writes its named
/// section at 100 Hz under Wine, `wsm.exe ls` lists it, the Windows `wsm.exe` publishes it
/// from Wine on loopback, and the native subscriber's copy, read here by the protocol, is
/// whole and advancing.
fn wine_publisher() -> TestResult {
    let WineRun {
        exe: publisher_exe,
        peers,
        name,
        region,
        endpoint,
    } = wine_run("mirror", 0)?;
    let mut game = {
        let mut command = wine(&format!("{peers}\\wine_game.exe"));
        command.args(["paced", &format!("{name}=4096@100")]);
        Running::start(command, "the Windows game")?
    };
    game.expect("ready existed=0", Duration::from_secs(60))?;
    let mut publisher = {
        let mut command = wine(&publisher_exe);
        command.args(["mirror", "publish", "--listen", &endpoint, &region]);
        Running::start(command, "the Windows publisher")?
    };
    publisher.expect("ready", Duration::from_secs(60))?;
    // `ls` on Windows lists the game's section, with its size.
    let listed = run(wine(&publisher_exe).args(["ls", "--json"]))?;
    let line = format!("{{\"name\":\"{name}\",\"size\":4096}}");
    ensure(
        listed.status.success() && text(&listed.stdout).lines().any(|each| each == line),
        || {
            format!(
                "{line} not listed by wsm.exe ls --json: {} {}",
                text(&listed.stdout),
                text(&listed.stderr)
            )
        },
    )?;
    // A double buffer's value size is not guessed from a length Wine rounds up.
    let guessed = run(wine(&publisher_exe).args(["show", &format!("{name}:double-buffer")]))?;
    fails_with(&guessed, 1, "double-buffer@BYTES")?;
    let subscriber = {
        let mut command = wsm();
        command.args(["mirror", "subscribe", "--connect", &endpoint, &region]);
        ready_mirror(command, "subscribe")?
    };
    let result = read_words_advancing(&name, Duration::from_secs(3));
    subscriber.finish(Duration::from_secs(10))?;
    publisher.finish(Duration::from_secs(30))?;
    game.finish(Duration::from_secs(30))?;
    let (copies, advances) = result?;
    println!("  {copies} copies, {advances} advances, none torn");
    ensure(
        win_shared_memory::SharedMemory::<win_shared_memory::ReadOnly>::open(&name).is_err(),
        || format!("the subscriber left `{name}` behind"),
    )
}

/// The subscriber on Windows: a native holder writes rF2's counters and words at 100 Hz, the
/// native publisher publishes it on loopback, the Windows `wsm.exe` subscribes under Wine and
/// makes the region a Windows section, and a plain Win32 reader (`wine_game read`) takes
/// consistent copies of it by the counters: every word equal, none going back, and the values
/// moving on 100 times. The region is no whole number of pages (4 104 bytes), and the
/// subscriber is restarted while the reader holds the section: the new one finds the section,
/// whose length Wine rounds up to 8 192, and goes on writing it.
fn wine_subscriber() -> TestResult {
    let WineRun {
        exe: subscriber_exe,
        peers,
        name,
        region,
        endpoint,
    } = wine_run("subscribed", 1)?;
    let holder = start_holder(&name, 4104)?;
    let publisher = {
        let mut command = wsm();
        command.args(["mirror", "publish", "--listen", &endpoint, &region]);
        ready_mirror(command, "publish")?
    };
    let subscriber = || -> Result<Running, String> {
        let mut command = wine(&subscriber_exe);
        command.args(["mirror", "subscribe", "--connect", &endpoint, &region]);
        let mut subscriber = Running::start(command, "the Windows subscriber")?;
        subscriber.expect("ready", Duration::from_secs(60))?;
        Ok(subscriber)
    };
    let first = subscriber()?;
    let mut reader = {
        let mut command = wine(&format!("{peers}\\wine_game.exe"));
        command.args(["read", &name, "200"]);
        Running::start(command, "the Windows reader")?
    };
    // Once the reader holds the section, the subscriber goes, and another comes: the reader's
    // 100 advances are then mostly the second's.
    reader.expect("opened", Duration::from_secs(60))?;
    first.finish(Duration::from_secs(30))?;
    let second = subscriber()?;
    let read = reader.finish(Duration::from_secs(90));
    second.finish(Duration::from_secs(30))?;
    publisher.finish(Duration::from_secs(10))?;
    holder.finish(Duration::from_secs(10))?;
    let said = read?;
    ensure(said.contains("torn 0"), || {
        format!("the Windows reader: {said}")
    })?;
    println!("  {}", said.trim());
    Ok(())
}

/// Reads `name` (rF2's counters, then the update's time and words that each update sets all
/// to its begin counter: `wine_game paced`) for `span` by the protocol: every copy's words
/// after the time equal, none smaller than the copy before; how many copies, and how many of
/// them advanced, at least one every 50 ms.
fn read_words_advancing(name: &str, span: Duration) -> Result<(u64, u64), String> {
    use win_shared_memory::sync::Versioning;
    let region = win_shared_memory::SharedMemory::<win_shared_memory::ReadOnly>::open(name)
        .map_err(|error| format!("the copy of `{name}`: {error}"))?;
    let mut words = vec![0_u64; region.len().saturating_sub(8) / 8];
    let (mut copies, mut advances, mut last) = (0, 0, 0);
    let end = Instant::now() + span;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
        region
            .read_versioned_into(
                8,
                Versioning::BeginEnd { begin: 0, end: 4 },
                words.as_mut_slice(),
                Duration::from_millis(50),
            )
            .map_err(|error| format!("reading the copy: {error}"))?;
        copies += 1;
        let counters = words.get(1..).unwrap_or_default();
        let first = counters.first().copied().unwrap_or_default();
        ensure(counters.iter().all(|&word| word == first), || {
            format!(
                "a torn copy: words from {first} to {:?}",
                counters.iter().max()
            )
        })?;
        ensure(first >= last, || format!("update {first} after {last}"))?;
        advances += u64::from(first > last);
        last = first;
    }
    let least = span.as_millis() as u64 / 50;
    ensure(advances >= least, || {
        format!("{advances} advances in {span:?}, fewer than {least}")
    })?;
    Ok((copies, advances))
}
