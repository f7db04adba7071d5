//! Events behave as Windows' do, on every backend (native Linux, the portable backend, and
//! Windows itself under Wine, the reference): a `set` releases every process waiting at that
//! moment however soon a `reset` follows (manual reset); each `set` of an auto-reset event
//! releases exactly one waiter, or leaves the event set for the next one, and a `set` of a set
//! event does not count twice; a release goes to a waiter asleep at the `set`, not to one that
//! comes after it; a waiter killed mid-wait is forgotten, taking no release with it and
//! absorbing none.

use std::time::Duration;

use libtest_mimic::Failed;
use win_shared_memory::sync::{EventReset, NamedEvent};

use crate::harness::{Outcome, Peer, answers, expect_eq, spawn_child, unique_name};

tests! {
    a_pulse_releases_one_waiting_process,
    a_pulse_releases_three_waiting_processes,
    a_pulse_releases_eight_waiting_processes,
    an_auto_reset_event_set_twice_releases_both_of_two_waiters,
    an_auto_reset_event_set_thrice_releases_two_waiters_and_stays_set,
    a_set_before_any_wait_is_kept_for_the_next_waiter,
    a_wait_times_out_without_a_set,
    a_waiter_killed_mid_wait_takes_no_release_with_it,
    // The portable backend counts releases (README, "What differs by OS").
    #[cfg(any(windows, wsm_holder_locks))]
    a_release_goes_to_the_waiter_asleep_not_to_one_that_comes_after_the_set,
    #[cfg(target_os = "linux")]
    a_forked_child_waiting_on_its_parents_handle_is_released_by_the_parent,
}

roles! {
    #[cfg(target_os = "linux")]
    "fork-wait-event" => fork_wait_event,
    #[cfg(any(windows, wsm_holder_locks))]
    "wait-event-rounds" => wait_event_rounds,
}

/// How long the tests' waiters wait at most: far longer than any release takes.
const PATIENCE_MS: &str = "20000";

/// How long a test lets its waiters fall asleep before it signals: a waiter that starts
/// waiting after a pulse is rightly not released by it.
const FALL_ASLEEP: Duration = Duration::from_millis(400);

fn a_pulse_releases_one_waiting_process() -> Outcome {
    pulse_releases(1)
}

fn a_pulse_releases_three_waiting_processes() -> Outcome {
    pulse_releases(3)
}

fn a_pulse_releases_eight_waiting_processes() -> Outcome {
    pulse_releases(8)
}

/// `count` processes wait on a manual-reset event; a `set` at once undone by a `reset`
/// releases them all, and leaves the event unset.
fn pulse_releases(count: usize) -> Outcome {
    let name = unique_name(&format!("pulse_{count}"));
    let event = NamedEvent::new(&name, EventReset::Manual)?;
    let waiters = start_waiters(&name, "manual", count)?;
    event.set()?;
    event.reset()?;
    let answers = answers(waiters)?;
    expect_eq(woken(&answers), count)?;
    expect_eq(event.wait_timeout(Duration::ZERO)?, false)
}

/// Two processes wait on an auto-reset event, and it is set twice in a row: each `set`
/// releases one of them (0.2 released one on Linux: the second `set` found the event set).
fn an_auto_reset_event_set_twice_releases_both_of_two_waiters() -> Outcome {
    let name = unique_name("auto_twice");
    let event = NamedEvent::new(&name, EventReset::Auto)?;
    let waiters = start_waiters(&name, "auto", 2)?;
    event.set()?;
    event.set()?;
    expect_eq(woken(&answers(waiters)?), 2)?;
    expect_eq(event.wait_timeout(Duration::ZERO)?, false)
}

/// Set three times with two waiters: both go, and the third `set` leaves the event set for
/// exactly one later wait.
fn an_auto_reset_event_set_thrice_releases_two_waiters_and_stays_set() -> Outcome {
    let name = unique_name("auto_thrice");
    let event = NamedEvent::new(&name, EventReset::Auto)?;
    let waiters = start_waiters(&name, "auto", 2)?;
    for _ in 0..3 {
        event.set()?;
    }
    expect_eq(woken(&answers(waiters)?), 2)?;
    let later = [
        event.wait_timeout(Duration::ZERO)?,
        event.wait_timeout(Duration::ZERO)?,
    ];
    expect_eq(later, [true, false])
}

/// A `set` with nobody waiting: an auto-reset event releases the next waiter (another
/// process) once, however often it was set; a manual-reset one every waiter until its reset.
fn a_set_before_any_wait_is_kept_for_the_next_waiter() -> Outcome {
    let name = unique_name("set_first_auto");
    let event = NamedEvent::new(&name, EventReset::Auto)?;
    event.set()?;
    event.set()?;
    let first = answers(start_waiters(&name, "auto", 1)?)?;
    let second = answers(vec![spawn_child("wait-event", &[&name, "auto", "100"])?])?;
    expect_eq((woken(&first), woken(&second)), (1, 0))?;

    let name = unique_name("set_first_manual");
    let event = NamedEvent::new(&name, EventReset::Manual)?;
    event.set()?;
    expect_eq(woken(&answers(start_waiters(&name, "manual", 2)?)?), 2)?;
    event.reset()?;
    expect_eq(event.wait_timeout(Duration::ZERO)?, false)
}

/// Without a `set`, a wait ends at its timeout, not before, and reports no signal.
fn a_wait_times_out_without_a_set() -> Outcome {
    for mode in ["auto", "manual"] {
        let name = unique_name(&format!("timeout_{mode}"));
        let reset = if mode == "auto" {
            EventReset::Auto
        } else {
            EventReset::Manual
        };
        let _event = NamedEvent::new(&name, reset)?;
        let started = std::time::Instant::now();
        let answer = answers(vec![spawn_child("wait-event", &[&name, mode, "150"])?])?;
        expect_eq(answer, vec!["timed-out".to_owned()])?;
        if started.elapsed() < Duration::from_millis(150) {
            return Err(format!("{mode}: the wait ended before its timeout").into());
        }
    }
    Ok(())
}

/// Two processes wait on an auto-reset event and one of them is killed: a `set` still
/// releases the other, and a second `set` is kept for the next waiter.
fn a_waiter_killed_mid_wait_takes_no_release_with_it() -> Outcome {
    let name = unique_name("auto_killed");
    let event = NamedEvent::new(&name, EventReset::Auto)?;
    let mut waiters = start_waiters(&name, "auto", 2)?;
    let mut killed = waiters.remove(0);
    killed.kill()?;
    event.set()?;
    expect_eq(woken(&answers(waiters)?), 1)?;
    event.set()?;
    let next = answers(vec![spawn_child("wait-event", &[&name, "auto", "2000"])?])?;
    expect_eq(woken(&next), 1)?;
    // Nobody waits now (the dead waiter is forgotten): two `set`s leave the event set once, so
    // exactly one later wait is released. The portable backend counts waiters in the event's
    // word, where the dead waiter's registration takes the first `set`'s release and the
    // second signals the event: two later waits are released (README, "What differs by OS").
    event.set()?;
    event.set()?;
    let later = [
        event.wait_timeout(Duration::ZERO)?,
        event.wait_timeout(Duration::ZERO)?,
    ];
    expect_eq(later, [true, cfg!(not(any(windows, wsm_holder_locks)))])
}

#[cfg(any(windows, wsm_holder_locks))]
/// Rounds of the race between a sleeper's release and a waiter that comes after the `set`.
const RACE_ROUNDS: usize = 20;

#[cfg(any(windows, wsm_holder_locks))]
/// How long the sleeper has, after it says it waits, to be asleep in its wait.
const SETTLE: Duration = Duration::from_millis(50);

#[cfg(any(windows, wsm_holder_locks))]
/// A process sleeps on an auto-reset event; each round the test sets it and at once waits
/// itself (a poll, or a 5 ms wait): the release is the sleeper's every time, as on Windows,
/// where a `set` satisfies a thread already waiting (with a count of releases, the waiter
/// that came after the `set` took it, and the sleeper slept on).
fn a_release_goes_to_the_waiter_asleep_not_to_one_that_comes_after_the_set() -> Outcome {
    let name = unique_name("auto_sleeper_first");
    let event = NamedEvent::new(&name, EventReset::Auto)?;
    let rounds = RACE_ROUNDS.to_string();
    let mut sleeper = spawn_child("wait-event-rounds", &[&name, PATIENCE_MS, &rounds])?;
    for round in 0..RACE_ROUNDS {
        sleeper.expect_line("waiting")?;
        std::thread::sleep(SETTLE);
        event.set()?;
        let late = if round % 2 == 0 {
            event.wait_timeout(Duration::ZERO)?
        } else {
            event.wait_timeout(Duration::from_millis(5))?
        };
        let answer = sleeper.read_line()?;
        if late || !answer.starts_with("woken ") {
            return Err(format!(
                "round {round}: the waiter after the set got {late}, the sleeper said {answer}"
            )
            .into());
        }
    }
    sleeper.finish()?;
    expect_eq(event.wait_timeout(Duration::ZERO)?, false)
}

#[cfg(any(windows, wsm_holder_locks))]
/// Waits on the auto-reset event `rounds` times, saying "waiting" before each wait and
/// "woken MILLIS" or "timed-out" after it.
fn wait_event_rounds(name: &str, args: &[String]) -> crate::harness::RoleResult {
    use std::io::Write;
    let patience = Duration::from_millis(args[1].parse()?);
    let rounds: usize = args[2].parse()?;
    let event = NamedEvent::new(name, EventReset::Auto)?;
    for _ in 0..rounds {
        println!("waiting");
        std::io::stdout().flush()?;
        let started = std::time::Instant::now();
        if event.wait_timeout(patience)? {
            println!("woken {}", started.elapsed().as_millis());
        } else {
            println!("timed-out");
        }
        std::io::stdout().flush()?;
    }
    Ok(())
}

/// A process forks two children, which wait on the handle they inherited, while the parent
/// sets the event twice through the same handle: both children are released, and the event is
/// not left set. (On Linux each wait locks its slot through a description of its own: through
/// the handle's, which parent and children share, the parent would take the children for dead,
/// and its second `set` would find the event already set.)
#[cfg(target_os = "linux")]
fn a_forked_child_waiting_on_its_parents_handle_is_released_by_the_parent() -> Outcome {
    let name = unique_name("auto_forked");
    expect_eq(
        crate::harness::run_child("fork-wait-event", &[&name])?,
        "children woken 2, event unset",
    )
}

#[cfg(target_os = "linux")]
fn fork_wait_event(name: &str, _: &[String]) -> crate::harness::RoleResult {
    let event = NamedEvent::new(name, EventReset::Auto)?;
    let mut children = Vec::new();
    for _ in 0..2 {
        // SAFETY: a role's process runs one thread, so its child may do what the parent may.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let woken = event.wait_timeout(Duration::from_secs(20)).unwrap_or(false);
            // SAFETY: ends the child without running the role's own exit a second time.
            unsafe { libc::_exit(if woken { 0 } else { 1 }) };
        }
        if child < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        children.push(child);
    }
    std::thread::sleep(FALL_ASLEEP);
    event.set()?;
    event.set()?;
    let mut woken = 0;
    for child in children {
        let mut status = 0;
        // SAFETY: waits for a child just forked, into a local.
        if unsafe { libc::waitpid(child, &mut status, 0) } != child {
            return Err(std::io::Error::last_os_error().into());
        }
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            woken += 1;
        }
    }
    let set = event.wait_timeout(Duration::ZERO)?;
    println!(
        "children woken {woken}, event {}",
        if set { "set" } else { "unset" }
    );
    Ok(())
}

/// Starts `count` processes waiting on the event in `mode`, and lets them fall asleep.
fn start_waiters(name: &str, mode: &str, count: usize) -> Result<Vec<Peer>, Failed> {
    let mut waiters = Vec::with_capacity(count);
    for _ in 0..count {
        waiters.push(spawn_child("wait-event", &[name, mode, PATIENCE_MS])?);
    }
    for waiter in &mut waiters {
        waiter.expect_line("waiting")?;
    }
    std::thread::sleep(FALL_ASLEEP);
    Ok(waiters)
}

/// How many waiters were released, well before their patience ran out.
fn woken(answers: &[String]) -> usize {
    answers
        .iter()
        .filter(|answer| {
            answer
                .strip_prefix("woken ")
                .and_then(|millis| millis.parse::<u64>().ok())
                .is_some_and(|millis| millis < 10_000)
        })
        .count()
}
