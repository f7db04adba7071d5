//! A word in the event's companion region `<name>#event`: set when it holds 1, unset
//! otherwise, beside the reset mode its creator chose. Waiters sleep on whatever value they saw
//! (`super::sleep`: a futex on Linux, polling elsewhere), so no value makes them spin.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{EventReset, sleep};
use crate::name::RegionName;
use crate::sync::{Failure, Woke, companion};
use crate::{Options, ReadWrite, SharedMemory, SharedMemoryError};

/// The companion region's layout.
#[repr(C)]
struct Shared {
    state: AtomicU32,
    /// [`AUTO`] or [`MANUAL`]; 0 until the creator has written it.
    mode: AtomicU32,
}

const SET: u32 = 1;
const UNSET: u32 = 0;
const AUTO: u32 = 1;
const MANUAL: u32 = 2;

/// How long [`Event::open`] waits for a creator that is writing the mode.
const CREATOR_PATIENCE: Duration = Duration::from_secs(1);

/// Wake-ups in a row without the event (someone keeps changing the word, or waking it) after
/// which a waiter naps for [`NAP`] instead.
const RESTLESS: u32 = 32;
const NAP: Duration = Duration::from_millis(1);

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
                    name: format!("{}#event", name.as_str()),
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
        self.word().store(SET, Ordering::Release);
        sleep::wake(self.word(), if self.manual { sleep::EVERYONE } else { 1 })
    }

    pub(super) fn reset(&self) -> Result<(), Failure> {
        self.word().store(UNSET, Ordering::Release);
        Ok(())
    }

    pub(super) fn wait(&self, timeout: Option<Duration>) -> Result<bool, Failure> {
        let word = self.word();
        let started = Instant::now();
        let mut restless = 0;
        loop {
            let seen = word.load(Ordering::Acquire);
            if seen == SET
                && (self.manual
                    || word
                        .compare_exchange(SET, UNSET, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok())
            {
                return Ok(true);
            }
            let left = match timeout {
                None => None,
                Some(timeout) => match timeout.checked_sub(started.elapsed()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(false),
                },
            };
            if restless >= RESTLESS {
                restless = 0;
                std::thread::sleep(left.map_or(NAP, |left| left.min(NAP)));
                continue;
            }
            if seen == SET {
                // Another waiter took it first: look again.
                restless += 1;
                continue;
            }
            // Asleep on whatever unset value the word holds: any change wakes it.
            match sleep::wait(word, seen, left)? {
                Woke::TimedOut => restless = 0,
                Woke::Early => restless += 1,
            }
        }
    }
}

/// The state in an event's companion region.
fn shared(region: &SharedMemory<ReadWrite>) -> &Shared {
    // SAFETY: the region is mapped read-write while the borrow lives, page-aligned, and at
    // least `size_of::<Shared>()` bytes (the companion checks); `Shared` is atomics, valid for
    // any bytes and shared with other processes only through atomic operations.
    unsafe { &*region.as_ptr().cast::<Shared>() }
}
