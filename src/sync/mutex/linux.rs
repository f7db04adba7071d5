//! A futex word that holds integers only, with owner death told by open-file-description
//! locks that the kernel drops when their process dies.
//!
//! The companion region `<name>#mutex` holds two words, both zero when it is new, so it needs
//! no initialisation and nobody waits for its creator:
//!
//! - `word`: 0 when free; else the holder's slot number (low 30 bits), [`WAITERS`] when
//!   someone may be asleep on it, and [`RECOVERED`], which each takeover from a dead holder
//!   flips so that it never writes back the very value it replaced.
//! - `next_slot`: where handles draw their slot numbers.
//!
//! A handle draws a slot number and locks the byte at that offset of the object
//! (`F_OFD_SETLK`, write lock) for its whole life: the kernel releases it when the handle drops
//! or the process dies, however it dies. Slot numbers come from a counter, so a number is not
//! drawn again before 2^30 handles have been made: a dead holder's number does not come back
//! to life under a new handle. Only the slow path looks at the locks: a waiter whose sleep ran
//! out (or who was woken many times in vain) asks whether the holder's byte is still locked
//! (`F_OFD_GETLK`); if not, the holder is gone, and the waiter swaps the word from exactly the
//! value it saw to its own, so of two waiters that find the death at once, one wins.
//!
//! Another process that writes the region can only make calls wait (a live slot in the word),
//! take an abandoned mutex (a dead one), or be unlocked by their holder: the word is an
//! integer, every wait sleeps on the exact value seen, sleeps are bounded slices, and a waiter
//! woken in vain too often naps. Nothing from the region is a pointer or a length.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::Acquired;
use crate::name::RegionName;
use crate::sync::{Failure, Woke, companion, futex};
use crate::sys::fork_watch;
use crate::sys::ofd_lock::{self, GETLK, Lock, SETLK};
use crate::{Options, ReadWrite, SharedMemory, SharedMemoryError};

/// The companion region's layout.
#[repr(C)]
struct Shared {
    word: AtomicU32,
    next_slot: AtomicU32,
}

/// The holder's slot number in the word.
const SLOT: u32 = (1 << 30) - 1;
/// Flipped by each takeover from a dead holder.
const RECOVERED: u32 = 1 << 30;
/// Someone may sleep on the word: the unlocker must wake one.
const WAITERS: u32 = 1 << 31;

/// Rounds a locker spins before it sleeps: a holder usually lets go within microseconds,
/// sooner than a sleep and a wake-up take.
const SPINS: u32 = 200;
/// The first sleep before a waiter checks that the holder lives; each later one doubles, up
/// to [`LONGEST_SLICE`].
const FIRST_SLICE: Duration = Duration::from_millis(2);
const LONGEST_SLICE: Duration = Duration::from_millis(128);
/// Wake-ups in a row without the lock (someone keeps changing the word, or waking it) after
/// which a waiter naps for [`NAP`] instead, and checks the holder.
const RESTLESS: u32 = 32;
const NAP: Duration = Duration::from_millis(1);
/// Slot numbers a handle tries (others hold the first ones) before giving up.
const SLOT_ATTEMPTS: u32 = 64;

pub(super) struct Mutex {
    /// The state in `region`, looked up once.
    shared: NonNull<Shared>,
    /// Keeps the region mapped (and alive) while the handle lives, and holds the slot lock.
    region: SharedMemory<ReadWrite>,
    /// This handle's slot number, locked in the region's object.
    slot: u32,
    /// The process that made the handle: a copy in a forked child must not lock or unlock.
    opener: u32,
}

// SAFETY: the pointer is into the region this value owns, used only through atomics, whose
// operations are thread-safe; the lock itself is released only by the guard, on the locking
// thread.
unsafe impl Send for Mutex {}

impl Mutex {
    pub(super) fn open(name: &RegionName, options: &Options) -> Result<Self, SharedMemoryError> {
        let opener = fork_watch::process_id();
        let region = companion::open_or_create(name, "mutex", size_of::<Shared>(), options)?;
        let slot = take_slot(&region).map_err(|failure| failure.named(name.as_str()))?;
        Ok(Self {
            shared: NonNull::from(shared(&region)),
            region,
            slot,
            opener,
        })
    }

    #[inline]
    fn shared(&self) -> &Shared {
        // SAFETY: points into `region`, which stays mapped while `self` lives (see `shared`).
        unsafe { self.shared.as_ref() }
    }

    #[inline]
    pub(super) fn lock(&self, timeout: Option<Duration>) -> Result<Acquired, Failure> {
        if fork_watch::process_id() != self.opener {
            return Err(Failure::Refused(
                "lock",
                "this handle was copied into a forked child: open the mutex again there",
            ));
        }
        let word = &self.shared().word;
        if word
            .compare_exchange(0, self.slot, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(Acquired::Locked);
        }
        self.lock_contended(timeout)
    }

    #[cold]
    fn lock_contended(&self, timeout: Option<Duration>) -> Result<Acquired, Failure> {
        let word = &self.shared().word;
        if timeout != Some(Duration::ZERO) {
            for _ in 0..SPINS {
                let seen = word.load(Ordering::Relaxed);
                if seen & SLOT == 0
                    && word
                        .compare_exchange(seen, self.slot, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    return Ok(Acquired::Locked);
                }
                std::hint::spin_loop();
            }
        }
        // No deadline: a timeout too large for the clock is forever.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut slice = FIRST_SLICE;
        let mut restless = 0;
        let mut check_holder = false;
        loop {
            let seen = word.load(Ordering::Relaxed);
            if seen & SLOT == 0 || check_holder {
                check_holder = false;
                if let Some(acquired) = self.take_if_free(seen)? {
                    return Ok(acquired);
                }
            }
            let nap = match deadline {
                None => slice,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(slice),
                    _ => {
                        let last = word.load(Ordering::Relaxed);
                        return Ok(self.take_if_free(last)?.unwrap_or(Acquired::TimedOut));
                    }
                },
            };
            if restless >= RESTLESS {
                restless = 0;
                check_holder = true;
                std::thread::sleep(nap.min(NAP));
                continue;
            }
            let seen = word.load(Ordering::Relaxed);
            let waiting = seen | WAITERS;
            if seen & SLOT == 0
                || (seen != waiting
                    && word
                        .compare_exchange(seen, waiting, Ordering::Relaxed, Ordering::Relaxed)
                        .is_err())
            {
                restless += 1;
                continue;
            }
            match futex::wait(word, waiting, Some(nap))? {
                Woke::TimedOut => {
                    restless = 0;
                    check_holder = true;
                    slice = (slice * 2).min(LONGEST_SLICE);
                }
                Woke::Early => restless += 1,
            }
        }
    }

    /// Takes the mutex if the word, as `seen`, is free or its holder is gone; `None` if it is
    /// held, or changed meanwhile.
    fn take_if_free(&self, seen: u32) -> Result<Option<Acquired>, Failure> {
        let holder = seen & SLOT;
        // Waiters may be asleep: keep the bit, so that this handle's unlock wakes one.
        let (taken, acquired) = if holder == 0 {
            (self.slot | WAITERS, Acquired::Locked)
        } else if !self.holder_is_alive(holder)? {
            (
                self.slot | WAITERS | (!seen & RECOVERED),
                Acquired::OwnerDied,
            )
        } else {
            return Ok(None);
        };
        let word = &self.shared().word;
        Ok(word
            .compare_exchange(seen, taken, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then_some(acquired))
    }

    /// Whether some handle still locks `slot`'s byte.
    fn holder_is_alive(&self, slot: u32) -> Result<bool, Failure> {
        // The caller does not hold the mutex, so its own slot in the word is a leftover (or
        // was written there by another process); the query would not see its own lock.
        if slot == self.slot {
            return Ok(false);
        }
        ofd_lock::conflicting(self.region.mapping().as_fd(), Lock::Write, slot)
            .map(|found| found.is_some())
            .map_err(|errno| Failure::Os(GETLK, errno.into()))
    }

    #[inline]
    pub(super) fn unlock(&self) {
        if fork_watch::process_id() != self.opener {
            // A guard copied into a forked child: the lock is its parent's.
            return;
        }
        let word = &self.shared().word;
        if word
            .compare_exchange(self.slot, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_contended();
        }
    }

    #[cold]
    fn unlock_contended(&self) {
        let word = &self.shared().word;
        let mut seen = word.load(Ordering::Relaxed);
        // Bounded: a process that keeps rewriting the word gets it as it likes.
        for _ in 0..SLOT_ATTEMPTS {
            if seen & SLOT != self.slot {
                // Not this handle's any more: another process wrote the word. Leave it.
                return;
            }
            match word.compare_exchange(seen, 0, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    if seen & WAITERS != 0 {
                        // A failed wake leaves the waiters to their next slice.
                        let _ = futex::wake(word, 1);
                    }
                    return;
                }
                Err(now) => seen = now,
            }
        }
    }
}

/// The state in a mutex's companion region.
fn shared(region: &SharedMemory<ReadWrite>) -> &Shared {
    // SAFETY: the region is mapped read-write while the borrow lives, page-aligned, and at
    // least `size_of::<Shared>()` bytes (the companion checks); `Shared` is atomics, valid for
    // any bytes and shared with other processes only through atomic operations.
    unsafe { &*region.as_ptr().cast::<Shared>() }
}

/// Draws a slot number and locks its byte in `region`'s object, for the life of the region's
/// descriptor (the handle's).
fn take_slot(region: &SharedMemory<ReadWrite>) -> Result<u32, Failure> {
    for _ in 0..SLOT_ATTEMPTS {
        let drawn = shared(region).next_slot.fetch_add(1, Ordering::Relaxed);
        let slot = drawn.wrapping_add(1) & SLOT;
        if slot == 0 {
            continue;
        }
        match ofd_lock::try_lock(region.mapping().as_fd(), Lock::Write, slot) {
            Ok(()) => return Ok(slot),
            Err(errno) if ofd_lock::is_conflict(errno) => continue,
            Err(errno) => return Err(Failure::Os(SETLK, errno.into())),
        }
    }
    Err(Failure::Refused(
        SETLK,
        "every slot number tried was locked by another handle",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(tag: &str) -> RegionName {
        RegionName::new(&format!(
            "Local\\wsm_unit_mutex_{}_{tag}",
            std::process::id()
        ))
        .unwrap()
    }

    /// Any word whose slot no live handle locks is a dead holder's: taken over, reported.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot make shared memory objects")]
    fn a_word_naming_no_live_handle_is_taken_over() {
        let mutex = Mutex::open(&name("dead"), &Options::new()).unwrap();
        for garbage in [u32::MAX, (1 << 29) | 12_345, RECOVERED | WAITERS | 7_777] {
            mutex.shared().word.store(garbage, Ordering::Relaxed);
            let outcome = mutex.lock(Some(Duration::from_secs(5))).ok().unwrap();
            assert!(matches!(outcome, Acquired::OwnerDied), "word {garbage:#x}");
            assert_eq!(
                mutex.shared().word.load(Ordering::Relaxed) & SLOT,
                mutex.slot
            );
            mutex.unlock();
            assert_eq!(mutex.shared().word.load(Ordering::Relaxed), 0);
        }
    }

    /// A word naming a live handle (that does not hold it) keeps the mutex held: waits run out.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot make shared memory objects")]
    fn a_word_naming_a_live_handle_waits_out_its_timeout() {
        let name = name("alive");
        let mutex = Mutex::open(&name, &Options::new()).unwrap();
        let other = Mutex::open(&name, &Options::new()).unwrap();
        assert_ne!(mutex.slot, other.slot);
        mutex.shared().word.store(other.slot, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = mutex.lock(Some(Duration::from_millis(50))).ok().unwrap();
        assert!(matches!(outcome, Acquired::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(matches!(
            mutex.lock(Some(Duration::ZERO)).ok().unwrap(),
            Acquired::TimedOut
        ));
        // Once that handle is gone, its slot is dead.
        drop(other);
        let outcome = mutex.lock(Some(Duration::from_secs(5))).ok().unwrap();
        assert!(matches!(outcome, Acquired::OwnerDied));
    }

    /// Of two handles that find the same dead holder, one takes over.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot make shared memory objects")]
    fn a_dead_holder_is_taken_over_once() {
        let name = name("once");
        let first = Mutex::open(&name, &Options::new()).unwrap();
        let second = Mutex::open(&name, &Options::new()).unwrap();
        first.shared().word.store((1 << 29) | 1, Ordering::Relaxed);
        let outcomes = std::thread::scope(|scope| {
            // Each thread hands its handle back: a handle dropped holding the lock abandons it.
            let lock =
                |mutex: Mutex| move || (mutex.lock(Some(Duration::from_millis(300))).ok(), mutex);
            let first = scope.spawn(lock(first));
            let second = scope.spawn(lock(second));
            [
                first.join().unwrap().0.unwrap(),
                second.join().unwrap().0.unwrap(),
            ]
        });
        let died = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Acquired::OwnerDied))
            .count();
        let timed_out = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Acquired::TimedOut))
            .count();
        assert_eq!((died, timed_out), (1, 1));
    }

    /// A handle copied by `fork` neither locks in the child nor unlocks its parent's lock.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot fork")]
    fn a_handle_copied_by_fork_refuses_to_lock_in_the_child() {
        let mutex = Mutex::open(&name("fork"), &Options::new()).unwrap();
        assert!(matches!(mutex.lock(None).ok().unwrap(), Acquired::Locked));
        // SAFETY: the child runs only an atomic load, a comparison and `_exit`, which are
        // async-signal-safe, as a child of a multithreaded process must.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let refused = matches!(mutex.lock(Some(Duration::ZERO)), Err(Failure::Refused(..)));
            // As a guard copied into the child would.
            mutex.unlock();
            // SAFETY: ends the child without running the parent's destructors or tests.
            unsafe { libc::_exit(if refused { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked, into a local.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_eq!(mutex.shared().word.load(Ordering::Relaxed), mutex.slot);
        mutex.unlock();
    }
}
