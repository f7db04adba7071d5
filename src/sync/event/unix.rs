//! A word in the event's companion region `<name>#event`, beside the reset mode its creator
//! chose, with Windows' semantics. Waiters sleep on whatever value they saw (`super::sleep`: a
//! futex on Linux, polling elsewhere), so no value makes them spin.
//!
//! - Manual reset: bit 0 is [`SIGNALLED`], the rest a generation that each `set` advances.
//!   A waiter that saw generation `g` is released by the event being set or by any generation
//!   but `g`: every `set` releases everyone waiting at that moment, however soon a `reset`
//!   follows (a pulse), and a `reset` alone releases nobody.
//! - Auto reset, Linux: waiters register in slots after the word (`slots.rs`), each locking
//!   its slot's byte while it waits. A `set` addresses one release to the oldest registered
//!   waiter that lives (one killed mid-wait is forgotten), or, with none, leaves the event
//!   signalled (once: a set event stays set). Against the race of a waiter that registers
//!   while a `set` finds none (both sides sequentially consistent): the waiter looks at the
//!   signal after registering, and a `set` that signalled the event looks at the slots again,
//!   taking the signal back for a waiter it finds, unless that waiter took it first. A waiter
//!   that took the signal and also finds a release in its slot hands the release on with a
//!   `set` of its own; one whose time runs out as it is released counts as released.
//! - Auto reset in the word alone (the portable backend; on Linux, a waiter that finds every
//!   slot taken, or a companion 0.2 made, too small for slots): bit 0 is [`SIGNALLED`], bits
//!   1–15 count the registered waiters, bits 16–30 the releases handed to them. A `set` with
//!   more such waiters than releases hands one more release over and wakes one waiter;
//!   otherwise it leaves the event signalled. A waiter takes a release, or else the signal, so
//!   each `set` releases exactly one waiter. Unlike Windows, a release goes to whichever
//!   registered waiter takes it first, one that came after the `set` included, and a waiter
//!   killed mid-wait leaves its registration: a release later handed to it goes to the next
//!   waiter that comes, as the signal would, and so one more idle `set` per such death
//!   releases a waiter where Windows would find the event already set.
//!
//! 0.2 wrote 1 (set) and 0 (unset) into the word; those read the same now, but a 0.2 peer's
//! `set` of an auto-reset event forgets the word's counts and wakes no slot: a waiter in a slot
//! looks at the signal every [`SLOT_SLICE`] too.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[cfg(wsm_holder_locks)]
use super::slots::{self, Look, Slots};
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

/// The companion's size: the word, and on Linux the waiters' slots after it.
#[cfg(wsm_holder_locks)]
const FULL_LEN: usize = size_of::<Shared>() + slots::LEN;
#[cfg(not(wsm_holder_locks))]
const FULL_LEN: usize = size_of::<Shared>();
/// The longest sleep of a waiter in a slot before it looks at the signal again, which only a
/// 0.2 peer (or a scribbler) sets without looking at the slots.
#[cfg(wsm_holder_locks)]
const SLOT_SLICE: Duration = Duration::from_millis(100);
/// Rounds of a `set` that signalled the event and found a waiter that had just registered.
#[cfg(wsm_holder_locks)]
const HAND_ATTEMPTS: u32 = 64;

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
    /// The description of the last wait in a slot, still locking it, for the next wait (only
    /// ever tried, never waited for: a fork may copy it locked).
    #[cfg(wsm_holder_locks)]
    spare: std::sync::Mutex<Option<slots::Held>>,
}

impl Event {
    pub(super) fn open_or_create(
        name: &RegionName,
        reset: EventReset,
        options: &Options,
    ) -> Result<Self, SharedMemoryError> {
        let region = with_room(|len| companion::open_or_create(name, "event", len, options))?;
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
        let region = with_room(|len| companion::open_existing(name, "event", len, options))?;
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
        Ok(Self {
            region,
            manual,
            #[cfg(wsm_holder_locks)]
            spare: std::sync::Mutex::new(None),
        })
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
        #[cfg(wsm_holder_locks)]
        if let Some(slots) = self.slots() {
            return self.set_slotted(&slots);
        }
        set_word(word).map(drop)
    }

    /// Sets an auto-reset event that has slots: a release for the oldest live waiter in a
    /// slot, else for a waiter in the word, else the signal.
    #[cfg(wsm_holder_locks)]
    fn set_slotted(&self, slots: &Slots<'_>) -> Result<(), Failure> {
        let word = self.word();
        for attempt in 1..=HAND_ATTEMPTS {
            if slots.release_oldest()? || !set_word(word)? {
                return Ok(());
            }
            // This `set` signalled the event. A waiter that registered after the slots were
            // looked at may have looked at the signal before it was there: take it back for
            // that waiter, unless someone took it first (and for good, the last time round,
            // when others keep rewriting the slots).
            if attempt == HAND_ATTEMPTS || !slots.anyone_waiting() || !take_signal(word) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The slots of an auto-reset event whose companion has room for them.
    #[cfg(wsm_holder_locks)]
    fn slots(&self) -> Option<Slots<'_>> {
        if self.region.len() < FULL_LEN {
            return None;
        }
        // SAFETY: the region is mapped read-write while the borrow lives and has room for the
        // table after `Shared` (checked above), at an offset of 8, a multiple of the table's
        // alignment (4); the table is atomics, valid for any bytes and shared with other
        // processes only through atomic operations.
        let table = unsafe {
            &*self
                .region
                .as_ptr()
                .add(size_of::<Shared>())
                .cast::<slots::Table>()
        };
        Some(Slots {
            table,
            object: self.region.mapping().as_fd(),
        })
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
            return waiting.manual();
        }
        #[cfg(wsm_holder_locks)]
        if let Some(slots) = self.slots() {
            if take_signal(waiting.word) {
                return Ok(true);
            }
            // A wait with no time left only polls, as on Windows.
            if waiting
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                return Ok(false);
            }
            let spare = self
                .spare
                .try_lock()
                .ok()
                .and_then(|mut spare| spare.take());
            if let Some(registration) = slots.register(spare)? {
                let took_signal = waiting.in_slot(&registration);
                let (released, held) = registration.leave();
                if let Ok(mut spare) = self.spare.try_lock() {
                    spare.get_or_insert(held);
                }
                return match took_signal {
                    Ok(false) => Ok(released),
                    outcome => {
                        if released {
                            // Released and signalled: the release goes on to the next waiter.
                            self.set_slotted(&slots)?;
                        }
                        outcome
                    }
                };
            }
        }
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

/// The companion with room for the waiters' slots where the backend has them; one made smaller
/// (by 0.2, or by the portable backend) is used as it is, with the word alone.
fn with_room(
    open: impl Fn(usize) -> Result<SharedMemory<ReadWrite>, SharedMemoryError>,
) -> Result<SharedMemory<ReadWrite>, SharedMemoryError> {
    match open(FULL_LEN) {
        Err(error) if companion::is_too_small(&error) => open(size_of::<Shared>()),
        opened => opened,
    }
}

/// Sets an auto-reset word: a release for one of its waiters if some have none, else the
/// signal. Says whether this call signalled an unset event.
fn set_word(word: &AtomicU32) -> Result<bool, Failure> {
    let handed = word.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |seen| {
        // More waiters than releases: one more of them goes. Else the event stays set.
        Some(if waiters(seen) > releases(seen) {
            seen + RELEASE
        } else {
            seen | SIGNALLED
        })
    });
    match handed {
        Ok(seen) if waiters(seen) > releases(seen) => sleep::wake(word, 1).map(|()| false),
        Ok(seen) => Ok(seen & SIGNALLED == 0),
        Err(_) => Ok(false),
    }
}

/// Takes the signal of an auto-reset word, if it is set; says whether it did.
#[cfg(wsm_holder_locks)]
fn take_signal(word: &AtomicU32) -> bool {
    // Bounded: a process that keeps rewriting the word has it as it likes.
    for _ in 0..LEAVE_ATTEMPTS {
        let seen = word.load(Ordering::SeqCst);
        if seen & SIGNALLED == 0 {
            return false;
        }
        if word
            .compare_exchange(seen, seen & !SIGNALLED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return true;
        }
    }
    false
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
            if !self.sleep(self.word, seen, None)? {
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
            if !self.sleep(self.word, seen, None)? {
                return Ok(false);
            }
        }
    }

    /// Waits in a slot until a release is addressed to it (false) or it takes the signal
    /// (true), or until the deadline (false).
    #[cfg(wsm_holder_locks)]
    fn in_slot(&mut self, registration: &slots::Registration<'_>) -> Result<bool, Failure> {
        let (slot, ticket) = registration.futex();
        loop {
            match registration.look() {
                Look::Released => return Ok(false),
                // Only another process writes over a slot whose byte this waiter locks.
                Look::Rewritten => {
                    if !registration.claim() && !self.lost_race() {
                        return Ok(false);
                    }
                }
                Look::Waiting => {}
            }
            if take_signal(self.word) {
                return Ok(true);
            }
            if !self.sleep(slot, ticket, Some(SLOT_SLICE))? {
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

    /// Sleeps while `word` holds `seen`, until the deadline and at most `slice`; false when
    /// the deadline has passed.
    fn sleep(
        &mut self,
        word: &AtomicU32,
        seen: u32,
        slice: Option<Duration>,
    ) -> Result<bool, Failure> {
        let left = match self.deadline {
            None => slice,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(slice.map_or(left, |slice| slice.min(left))),
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
        match sleep::wait(word, seen, left)? {
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

#[cfg(all(test, wsm_holder_locks))]
mod tests {
    use super::*;

    fn name(tag: &str) -> RegionName {
        RegionName::new(&format!(
            "Local\\wsm_unit_event_{}_{tag}",
            std::process::id()
        ))
        .unwrap()
    }

    fn auto(name: &RegionName) -> Event {
        Event::open_or_create(name, EventReset::Auto, &Options::new()).unwrap()
    }

    fn polls(event: &Event) -> [bool; 2] {
        [
            event.wait(Some(Duration::ZERO)).ok().unwrap(),
            event.wait(Some(Duration::ZERO)).ok().unwrap(),
        ]
    }

    /// A slot whose waiter's description is gone (as when its process dies) is forgotten by
    /// the next `set`, which leaves the event set for one wait, however often it is set.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot make shared memory objects")]
    fn a_slot_whose_lock_is_gone_is_forgotten() {
        let event = auto(&name("dead_slot"));
        let slots = event.slots().unwrap();
        // Registered, then its description closes without clearing the slot.
        drop(slots.register(None).ok().unwrap().unwrap());
        assert!(slots.anyone_waiting());
        event.set().ok().unwrap();
        event.set().ok().unwrap();
        assert!(!slots.anyone_waiting());
        assert_eq!(polls(&event), [true, false]);
    }

    /// Threads waiting through the handle that sets are live waiters (their locks are on
    /// descriptions of their own): two `set`s release both.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot make shared memory objects")]
    fn waiters_sharing_the_setters_handle_are_released() {
        let event = auto(&name("same_handle"));
        std::thread::scope(|scope| {
            let waiters: Vec<_> = (0..2)
                .map(|_| scope.spawn(|| event.wait(Some(Duration::from_secs(20))).ok().unwrap()))
                .collect();
            let slots = event.slots().unwrap();
            while slots.taken() < 2 {
                std::thread::sleep(Duration::from_millis(1));
            }
            event.set().ok().unwrap();
            event.set().ok().unwrap();
            for waiter in waiters {
                assert!(waiter.join().unwrap());
            }
        });
        assert_eq!(polls(&event), [false, false]);
    }

    /// Waiters whose short waits keep timing out as `set`s come: each `set` is taken exactly
    /// once, by a waiter whose wait returns true (a release addressed to a waiter whose time
    /// ran out counts for it, or goes on), never lost and never twice.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot make shared memory objects")]
    fn every_set_is_taken_once_by_waiters_that_time_out_around_it() {
        use std::sync::atomic::AtomicBool;
        const SETS: u32 = 2_000;
        let name = name("races");
        let setter = auto(&name);
        let taken = AtomicU32::new(0);
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for waiter in 0..4_u64 {
                let (name, taken, done) = (&name, &taken, &done);
                scope.spawn(move || {
                    let event = auto(name);
                    let mut round = waiter;
                    while !done.load(Ordering::SeqCst) {
                        round += 1;
                        // 0 to 300 microseconds: many waits end just as a release comes.
                        let timeout = Duration::from_micros(round * 37 % 300);
                        if event.wait(Some(timeout)).ok().unwrap() {
                            taken.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
            let outcome = (1..=SETS).try_for_each(|set| {
                setter.set().ok().unwrap();
                let started = Instant::now();
                while taken.load(Ordering::SeqCst) < set {
                    if started.elapsed() > Duration::from_secs(10) {
                        return Err(format!("set {set} was never taken"));
                    }
                    std::hint::spin_loop();
                }
                match taken.load(Ordering::SeqCst) {
                    now if now == set => Ok(()),
                    now => Err(format!("set {set}: {now} taken")),
                }
            });
            // The waiters stop before any verdict, so that a failure ends the test.
            done.store(true, Ordering::SeqCst);
            outcome.unwrap();
        });
        assert_eq!(taken.load(Ordering::SeqCst), SETS);
        assert_eq!(polls(&setter), [false, false]);
    }

    /// A 0.2 program's `set` writes 1 into the word and wakes whoever sleeps on the word: a
    /// waiter in a slot sees it at its next look, within a slice.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot make shared memory objects")]
    fn a_signal_written_without_the_slots_reaches_a_slot_waiter_within_a_slice() {
        let event = auto(&name("word_only_set"));
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let started = Instant::now();
                let woken = event.wait(Some(Duration::from_secs(5))).ok().unwrap();
                (woken, started.elapsed())
            });
            while event.slots().unwrap().taken() < 1 {
                std::thread::sleep(Duration::from_millis(1));
            }
            event.word().store(SIGNALLED, Ordering::SeqCst);
            let (woken, waited) = waiter.join().unwrap();
            assert!(woken);
            assert!(waited < Duration::from_secs(2), "{waited:?}");
        });
        assert_eq!(polls(&event), [false, false]);
    }

    /// A companion of 0.2's size, without room for slots, is used with the word alone.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot make shared memory objects")]
    fn a_companion_too_small_for_slots_keeps_the_word() {
        let name = name("small");
        let object = format!("{}#event", name.as_str());
        let _made = SharedMemory::<ReadWrite>::create(&object, size_of::<Shared>()).unwrap();
        let event = auto(&name);
        assert!(event.slots().is_none());
        event.set().ok().unwrap();
        assert_eq!(polls(&event), [true, false]);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| event.wait(Some(Duration::from_secs(20))).ok().unwrap());
            while waiters(event.word().load(Ordering::SeqCst)) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            event.set().ok().unwrap();
            assert!(waiter.join().unwrap());
        });
    }
}
