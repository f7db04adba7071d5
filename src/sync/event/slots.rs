//! Linux: the waiters of an auto-reset event, one slot each, so that a `set` addresses its
//! release to one live waiter, as Windows does, rather than counting it for whoever comes.
//!
//! The slots follow the event's word in its companion region. A slot holds 0 (free) or the
//! ticket its waiter drew (`next_ticket`, in order of arrival), with [`RELEASED`] once a `set`
//! addressed a release to it. Each slot is also a futex word, so a `set` wakes exactly the
//! waiter it released.
//!
//! A waiter first locks its slot's byte of the object (`F_OFD_SETLK`, write lock, bytes 1 to
//! [`SLOTS`]: byte 0 is the region's holder lock) through an open file description of its own,
//! then writes its ticket, and clears the slot before it ever lets go of the lock. So a slot
//! with a ticket whose byte nobody locks belongs to a waiter that died mid-wait (the kernel
//! dropped its lock): a `set` forgets it (`F_OFD_GETLK`), and a waiter that locks the byte may
//! take the slot whatever it holds. A `set` addresses and wakes first and looks at the lock
//! after, off the woken waiter's path: a release still in the slot of a waiter whose lock is
//! gone is taken back and addressed to the next.
//!
//! A handle keeps one description, still locking its slot, between waits ([`Held`]), so that
//! a wait costs no system call beyond the futex's; a wait opens another when that one is in
//! use, and a new one after a fork (a child shares the old one, and must not take its lock for
//! its own). A child forked mid-wait shares the waiter's description: if the waiter then dies,
//! it counts as waiting while the child lives.
//!
//! Hostile bytes: every value is an integer that is compared, never followed; a scribbled slot
//! costs at most a release that goes nowhere or a waiter that writes its ticket back.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use crate::sync::{Failure, futex};
use crate::sys::fork_watch;
use crate::sys::ofd_lock::{self, GETLK, Lock, SETLK};

/// Slots of an event: more waiters at once wait in the event's word, as before slots.
pub(super) const SLOTS: usize = 128;
/// A release addressed to the slot's waiter.
const RELEASED: u32 = 1 << 31;
const TICKET: u32 = !RELEASED;
/// Swaps a waiter tries to write its ticket while others rewrite the slot.
const CLAIM_ATTEMPTS: u32 = 16;

/// The waiters' part of the companion region, after the event's word.
#[repr(C)]
pub(super) struct Table {
    next_ticket: AtomicU32,
    slot: [AtomicU32; SLOTS],
}

/// The bytes the table takes.
pub(super) const LEN: usize = size_of::<Table>();

/// The byte of the object whose lock says that the slot's waiter lives.
fn lock_byte(index: usize) -> u32 {
    // At most SLOTS, which every u32 holds.
    index as u32 + 1
}

/// An event's slots, with the handle's description to ask about locks.
pub(super) struct Slots<'a> {
    pub(super) table: &'a Table,
    pub(super) object: BorrowedFd<'a>,
}

/// What a waiter finds in its slot.
pub(super) enum Look {
    Waiting,
    Released,
    /// Another process wrote over it.
    Rewritten,
}

impl<'a> Slots<'a> {
    /// Addresses a release to the oldest waiter that lives and wakes it; false when no live
    /// waiter is registered (or others kept rewriting the slots).
    pub(super) fn release_oldest(&self) -> Result<bool, Failure> {
        for _ in 0..2 * SLOTS {
            let Some((index, seen)) = self.oldest_waiting() else {
                return Ok(false);
            };
            let slot = &self.table.slot[index];
            let released = seen | RELEASED;
            if slot
                .compare_exchange(seen, released, SeqCst, SeqCst)
                .is_err()
            {
                continue;
            }
            futex::wake(slot, 1)?;
            // A waiter holds its lock until it has cleared its slot: with the lock gone and
            // the release still there, it died mid-wait. Forgotten, as Windows forgets a dead
            // thread's wait, and the release goes to the next one.
            if self.alive(index)? || slot.compare_exchange(released, 0, SeqCst, SeqCst).is_err() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether a waiter (live or not) is registered and not released.
    pub(super) fn anyone_waiting(&self) -> bool {
        self.oldest_waiting().is_some()
    }

    /// How many slots hold something.
    #[cfg(test)]
    pub(super) fn taken(&self) -> usize {
        self.table
            .slot
            .iter()
            .filter(|slot| slot.load(SeqCst) != 0)
            .count()
    }

    /// The registered waiter with the oldest ticket that no release was addressed to.
    fn oldest_waiting(&self) -> Option<(usize, u32)> {
        let next = self.table.next_ticket.load(SeqCst);
        self.table
            .slot
            .iter()
            .enumerate()
            .map(|(index, slot)| (index, slot.load(SeqCst)))
            .filter(|&(_, seen)| seen != 0 && seen & RELEASED == 0)
            .max_by_key(|&(_, ticket)| next.wrapping_sub(ticket) & TICKET)
    }

    /// Whether some description (a waiter's) locks the slot's byte.
    fn alive(&self, index: usize) -> Result<bool, Failure> {
        ofd_lock::conflicting(self.object, Lock::Write, lock_byte(index))
            .map(|found| found.is_some())
            .map_err(|errno| Failure::Os(GETLK, errno.into()))
    }

    /// Registers a waiter: writes a ticket into the slot that `spare` (the handle's
    /// description from its last wait) still locks, or else locks a slot's byte through a new
    /// description. `None` when every slot is taken, or no description of its own can be
    /// opened (no `/proc`, no descriptor left): the waiter then waits in the event's word.
    pub(super) fn register(
        &self,
        spare: Option<Held>,
    ) -> Result<Option<Registration<'a>>, Failure> {
        if let Some(held) = spare.filter(Held::is_this_processes_alone) {
            let registration = Registration {
                slot: &self.table.slot[held.index],
                ticket: self.draw_ticket(),
                held,
            };
            if registration.claim() {
                return Ok(Some(registration));
            }
            return Ok(None);
        }
        let Ok(lock) = ofd_lock::new_description(self.object) else {
            return Ok(None);
        };
        let mut lock = Some(lock);
        // Free slots first; then any other whose byte nobody locks (a dead waiter's).
        for any in [false, true] {
            for (index, slot) in self.table.slot.iter().enumerate() {
                if !any && slot.load(SeqCst) != 0 {
                    continue;
                }
                let Some(description) = lock.take() else {
                    return Ok(None);
                };
                match ofd_lock::try_lock(&description, Lock::Write, lock_byte(index)) {
                    Ok(()) => {}
                    Err(errno) if ofd_lock::is_conflict(errno) => {
                        lock = Some(description);
                        continue;
                    }
                    Err(errno) => return Err(Failure::Os(SETLK, errno.into())),
                }
                let registration = Registration {
                    slot,
                    ticket: self.draw_ticket(),
                    held: Held {
                        lock: description,
                        index,
                        process: fork_watch::process_id(),
                        forks: fork_watch::forks(),
                    },
                };
                if registration.claim() {
                    return Ok(Some(registration));
                }
                return Ok(None);
            }
        }
        Ok(None)
    }

    fn draw_ticket(&self) -> u32 {
        loop {
            let ticket = self.table.next_ticket.fetch_add(1, SeqCst) & TICKET;
            if ticket != 0 {
                return ticket;
            }
        }
    }
}

/// A description of the event's object of a handle's own, and the slot whose byte it locks.
pub(super) struct Held {
    lock: OwnedFd,
    index: usize,
    /// The process that opened it, and its forks then: a child forked since shares it.
    process: u32,
    forks: u32,
}

impl Held {
    /// Whether only this process has the description (no child forked since it was opened):
    /// its lock then says that this process's waiter lives.
    fn is_this_processes_alone(&self) -> bool {
        self.process == fork_watch::process_id() && self.forks == fork_watch::forks()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Closing lets go too, unless a forked child shares the description: then this
        // process lets go, but a copy in a child must not take its parent's lock away.
        if self.process == fork_watch::process_id() {
            let _ = ofd_lock::unlock(self.lock.as_fd(), lock_byte(self.index));
        }
    }
}

/// A waiter's slot, locked through a description of the handle's own until it leaves.
pub(super) struct Registration<'a> {
    slot: &'a AtomicU32,
    ticket: u32,
    held: Held,
}

impl Registration<'_> {
    /// Writes the ticket into the slot, whose byte this waiter locks: whatever the slot held
    /// was a dead waiter's (or a scribble). False if others kept rewriting it.
    pub(super) fn claim(&self) -> bool {
        let mut seen = self.slot.load(SeqCst);
        for _ in 0..CLAIM_ATTEMPTS {
            match self
                .slot
                .compare_exchange(seen, self.ticket, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(now) => seen = now,
            }
        }
        false
    }

    /// The slot, a futex word, and the value it holds while the waiter waits.
    pub(super) fn futex(&self) -> (&AtomicU32, u32) {
        (self.slot, self.ticket)
    }

    pub(super) fn look(&self) -> Look {
        match self.slot.load(SeqCst) {
            seen if seen == self.ticket => Look::Waiting,
            seen if seen == self.ticket | RELEASED => Look::Released,
            _ => Look::Rewritten,
        }
    }

    /// Clears the slot, keeping its lock for the handle's next wait; says whether a release was
    /// addressed to this waiter, which it thereby takes.
    pub(super) fn leave(self) -> (bool, Held) {
        let released = match self.slot.compare_exchange(self.ticket, 0, SeqCst, SeqCst) {
            Ok(_) => false,
            Err(seen) => {
                seen == self.ticket | RELEASED
                    && self.slot.compare_exchange(seen, 0, SeqCst, SeqCst).is_ok()
            }
        };
        (released, self.held)
    }
}
