//! A word in the event's companion region `<name>#event`, beside the reset mode its creator
//! chose, with Windows' semantics. Waiters sleep on whatever value they saw (`super::sleep`: a
//! futex on Linux, polling elsewhere), so no value makes them spin.
//!
//! - Manual reset: bit 0 is [`SIGNALLED`], the rest a generation that each `set` advances.
//!   A waiter that saw generation `g` is released by the event being set or by any generation
//!   but `g`: every `set` releases everyone waiting at that moment, however soon a `reset`
//!   follows (a pulse), and a `reset` alone releases nobody.
//! - Auto reset: bit 0 is [`SIGNALLED`], bits 1–15 count the registered waiters, bits 16–30
//!   the releases handed to them. A `set` with more waiters than releases hands one more
//!   release over and wakes one waiter; otherwise it leaves the event signalled (once: a set
//!   event stays set). A waiter takes a release, or else the signal, so each `set` releases
//!   exactly one waiter. Unlike Windows, a release goes to whichever registered waiter takes it
//!   first, one that came after the `set` included. A waiter killed mid-wait leaves its
//!   registration: a release later handed to it goes to the next waiter that comes, as the
//!   signal would, and so one more idle `set` per such death releases a waiter where Windows
//!   would find the event already set. (Telling live waiters from dead ones needs a lock per
//!   waiter, as the mutex's slots.)
//!
//! 0.2 wrote 1 (set) and 0 (unset) into the word; those read the same now, but a 0.2 peer's
//! `set` of an auto-reset event forgets the waiters' counts.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{EventReset, sleep};
use crate::name::RegionName;
use crate::sync::poll::Backoff;
use crate::sync::{Failure, Woke, companion};
use crate::{Options, ReadWrite, SharedMemory, SharedMemoryError};

/// The companion region's layout.
#[repr(C)]
struct Shared {
    state: AtomicU32,
    /// [`AUTO`] or [`MANUAL`]; 0 until the creator has written it.
    mode: AtomicU32,
}

/// Set: a wait returns at once (and, auto reset, resets it).
const SIGNALLED: u32 = 1;
/// One step of the manual-reset generation, above [`SIGNALLED`].
const GENERATION: u32 = 1 << 1;
/// One registered waiter of an auto-reset event, and the field's largest count.
const WAITER: u32 = 1 << 1;
/// One release handed to a waiter of an auto-reset event.
const RELEASE: u32 = 1 << 16;
const MOST: u32 = (1 << 15) - 1;
const AUTO: u32 = 1;
const MANUAL: u32 = 2;

/// How long [`Event::open`] waits for a creator that is writing the mode.
const CREATOR_PATIENCE: Duration = Duration::from_secs(1);

/// Wake-ups in a row without the event (someone keeps changing the word, or waking it) after
/// which a waiter naps for [`NAP`] instead.
const RESTLESS: u32 = 32;
const NAP: Duration = Duration::from_millis(1);
/// Swaps a leaving waiter tries before it leaves its registration to whoever rewrites the word.
const LEAVE_ATTEMPTS: u32 = 1024;

pub(super) struct Event {
    /// Keeps the region mapped (and alive) while the handle lives.
    region: SharedMemory<ReadWrite>,
    manual: bool,
}

impl Event {
    pub(super) fn open_or_create(
        name: &RegionName,
        reset: EventReset,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        let region = companion::open_or_create(name, "event", size_of::<Shared>(), options)?;
        let chosen = match reset {
            EventReset::Auto => AUTO,
            EventReset::Manual => MANUAL,
        };
        // The first to write the mode (the creator, unless an opener beat it by microseconds)
        // chooses it; everyone else keeps it.
        let mode = match shared(&region).mode.compare_exchange(
            0,
            chosen,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => chosen,
            Err(found) => found,
        };
        Self::with_mode(region, mode, name)
    }

    pub(super) fn open(name: &RegionName, options: &Options) -> Result<Self, SharedMemoryError> {
        let region = companion::open_existing(name, "event", size_of::<Shared>(), options)?;
        let started = Instant::now();
        let mode = loop {
            let mode = shared(&region).mode.load(Ordering::Acquire);
            if mode != 0 || started.elapsed() > CREATOR_PATIENCE {
                break mode;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        Self::with_mode(region, mode, name)
    }

    fn with_mode(
        region: SharedMemory<ReadWrite>,
        mode: u32,
        name: &RegionName,
    ) -> Result<Self, SharedMemoryError> {
        let manual = match mode {
            AUTO => false,
            MANUAL => true,
            _ => {
                return Err(SharedMemoryError::SynchronizationRefused {
                    name: name.as_str().to_owned(),
                    call: "open",
                    reason: "the event's reset mode is neither auto nor manual: its creator \
                             never wrote it, or another program wrote over it",
                });
            }
        };
        Ok(Self { region, manual })
    }

    fn word(&self) -> &AtomicU32 {
        &shared(&self.region).state
    }

    pub(super) fn set(&self) -> Result<(), Failure> {
        let word = self.word();
        if self.manual {
            let _ = word.fetch_update(Ordering::Release, Ordering::Relaxed, |seen| {
                Some((seen & !SIGNALLED).wrapping_add(GENERATION) | SIGNALLED)
            });
            return sleep::wake(word, sleep::EVERYONE);
        }
        let handed = word.fetch_update(Ordering::Release, Ordering::Relaxed, |seen| {
            // More waiters than releases: one more of them goes. Else the event stays set.
            Some(if waiters(seen) > releases(seen) {
                seen + RELEASE
            } else {
                seen | SIGNALLED
            })
        });
        match handed {
            Ok(seen) if waiters(seen) > releases(seen) => sleep::wake(word, 1),
            _ => Ok(()),
        }
    }

    pub(super) fn reset(&self) -> Result<(), Failure> {
        self.word().fetch_and(!SIGNALLED, Ordering::Release);
        Ok(())
    }

    pub(super) fn wait(&self, timeout: Option<Duration>) -> Result<bool, Failure> {
        let mut waiting = Waiting {
            word: self.word(),
            deadline: timeout.and_then(|timeout| Instant::now().checked_add(timeout)),
            restless: 0,
            backoff: Backoff::default(),
        };
        if self.manual {
            waiting.manual()
        } else {
            let mut registered = false;
            let released = waiting.auto(&mut registered);
            if !registered {
                return released;
            }
            // Timed out or failed while registered: a release handed over meanwhile is taken.
            match (waiting.leave()?, released) {
                (true, _) => Ok(true),
                (false, released) => released,
            }
        }
    }
}

/// The waiters registered on an auto-reset word.
fn waiters(word: u32) -> u32 {
    (word >> 1) & MOST
}

/// The releases handed to waiters of an auto-reset word.
fn releases(word: u32) -> u32 {
    (word >> 16) & MOST
}

/// One wait on the word.
struct Waiting<'a> {
    word: &'a AtomicU32,
    deadline: Option<Instant>,
    /// Wake-ups and lost races in a row, after which the waiter naps.
    restless: u32,
    /// The pauses between looks, where waiters poll.
    backoff: Backoff,
}

impl Waiting<'_> {
    /// Manual reset: released by the signal or by any generation but the one first seen.
    fn manual(&mut self) -> Result<bool, Failure> {
        let mut seen = self.word.load(Ordering::Acquire);
        let first = seen & !SIGNALLED;
        loop {
            if seen & SIGNALLED != 0 || seen & !SIGNALLED != first {
                return Ok(true);
            }
            if !self.sleep(seen)? {
                return Ok(false);
            }
            seen = self.word.load(Ordering::Acquire);
        }
    }

    /// Auto reset: takes the signal, or registers and takes a release handed over; says
    /// whether it did. `registered` says whether it is registered when it returns.
    fn auto(&mut self, registered: &mut bool) -> Result<bool, Failure> {
        loop {
            let seen = self.word.load(Ordering::Acquire);
            let next = if *registered && releases(seen) > 0 && waiters(seen) > 0 {
                // A release handed over first: the signal stays for the next wait.
                Some(seen - RELEASE - WAITER)
            } else if seen & SIGNALLED != 0 {
                // Taken, and not waiting any more.
                let leaving = if *registered && waiters(seen) > 0 {
                    WAITER
                } else {
                    0
                };
                Some((seen & !SIGNALLED) - leaving)
            } else if !*registered && waiters(seen) < MOST {
                Some(seen + WAITER)
            } else {
                None
            };
            if let Some(next) = next {
                if self
                    .word
                    .compare_exchange(seen, next, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    if !self.lost_race() {
                        return Ok(false);
                    }
                    continue;
                }
                if *registered || seen & SIGNALLED != 0 {
                    *registered = false;
                    return Ok(true);
                }
                *registered = true;
                continue;
            }
            // Registered (or every place taken: then polling) and nothing to take: sleep.
            if !self.sleep(seen)? {
                return Ok(false);
            }
        }
    }

    /// Unregisters an auto-reset waiter whose wait ended without a release: if releases
    /// are waiting, one was meant for a waiter like it, so it takes one; says whether it did.
    fn leave(&mut self) -> Result<bool, Failure> {
        // Bounded: a process that keeps rewriting the word has it as it likes.
        for _ in 0..LEAVE_ATTEMPTS {
            let seen = self.word.load(Ordering::Acquire);
            if waiters(seen) == 0 {
                // Another process rewrote the word: nothing of this waiter's is left there.
                return Ok(false);
            }
            let took = releases(seen) > 0;
            let next = seen - WAITER - if took { RELEASE } else { 0 };
            if self
                .word
                .compare_exchange(seen, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Ok(took);
            }
            self.restless += 1;
            if self.restless % RESTLESS == 0 {
                std::thread::sleep(NAP);
            }
        }
        Ok(false)
    }

    /// Sleeps while the word holds `seen`, until the deadline; false when it has passed.
    fn sleep(&mut self, seen: u32) -> Result<bool, Failure> {
        let left = match self.deadline {
            None => None,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Ok(false),
            },
        };
        if self.restless >= RESTLESS {
            self.restless = 0;
            std::thread::sleep(left.map_or(NAP, |left| left.min(NAP)));
            return Ok(true);
        }
        // Asleep on whatever value the word holds: any change wakes it (or, polling, the
        // next look sees it).
        let left = if sleep::POLLS {
            let pause = self.backoff.pause();
            Some(left.map_or(pause, |left| left.min(pause)))
        } else {
            left
        };
        match sleep::wait(self.word, seen, left)? {
            Woke::TimedOut => self.restless = 0,
            Woke::Early => self.restless += 1,
        }
        Ok(true)
    }

    /// Another process changed the word between a look and a swap: look again, napping
    /// when that keeps happening (someone keeps rewriting it); false once the deadline passed.
    fn lost_race(&mut self) -> bool {
        self.restless += 1;
        if self.restless >= RESTLESS {
            self.restless = 0;
            std::thread::sleep(NAP);
        }
        self.deadline
            .is_none_or(|deadline| Instant::now() < deadline)
    }
}

/// The state in an event's companion region.
fn shared(region: &SharedMemory<ReadWrite>) -> &Shared {
    // SAFETY: the region is mapped read-write while the borrow lives, page-aligned, and at
    // least `size_of::<Shared>()` bytes (the companion checks); `Shared` is atomics, valid for
    // any bytes and shared with other processes only through atomic operations.
    unsafe { &*region.as_ptr().cast::<Shared>() }
}
