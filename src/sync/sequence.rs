//! The sequence engine that [`SeqLock`](super::SeqLock), [`DoubleBuffer`](super::DoubleBuffer)
//! and [`read_versioned`](crate::SharedMemory::read_versioned) share: the counter, the writer's
//! and the reader's sides of the protocol, and the wait that retries a refused copy. It never
//! touches the data: the callers copy it, so the loom model at the bottom checks this very code
//! with a payload of its own.
//!
//! The protocol is the Linux kernel's seqlock, with the orderings of Boehm's "Can seqlocks get
//! along with programming language memory models?" (MSPC 2012):
//!
//! - The writer takes the sequence from even to odd with a compare-exchange (`Acquire`, so that
//!   it sees the previous writer's data), then issues a `Release` fence, then stores the data
//!   with relaxed atomics, then takes the sequence from odd to the next even (`Release`, so that
//!   a reader that sees the new even value sees all of the data).
//! - A reader loads the sequence (`Acquire`), copies the data with relaxed atomic loads, issues
//!   an `Acquire` fence and loads the sequence again (`Relaxed`). If a data load saw a store made
//!   after the writer's fence, the fences synchronise and the second load sees the odd (or a
//!   later) value: the copy is refused. If both loads see the same even value, no write overlapped
//!   the copy.
//!
//! Readers can sleep until the sequence changes ([`Sequence::wait_for_change`]), through the
//! second word of the slot, `waiting`. 0.2 kept it zero, but as the high half of a 64-bit
//! sequence that its writers compare whole: a reader must not write it under such a writer. So:
//!
//! - A writer that wakes readers (0.3 or later, on Linux) marks the word [`WAKES`] (bits 8–31)
//!   when it writes; readers register only under that mark, and poll otherwise (0.2's writers,
//!   games' layouts read as sequence locks, Windows writers of a region shared through Wine).
//! - A reader that can write the slot sets [`WAITING`] (`SeqCst`), loads the counter (`SeqCst`),
//!   and, with no change to see, sleeps on the counter (Linux's futex) with the value it saw.
//! - A writer, after taking the counter to odd (a `SeqCst` compare-exchange it already needed),
//!   loads `waiting` (`SeqCst`); only if a flag is set does it clear the flags (a swap that
//!   keeps the mark) and wake the counter's sleepers after its write. With no reader waiting, a
//!   write costs one more load of the line it already owns. A writer that holds the writer
//!   role takes the counter to odd with a plain store and asks at its end, after a `SeqCst`
//!   fence.
//! - Either the reader's `WAITING` comes first in the single order of `SeqCst` operations, and
//!   the writer sees it and wakes it, or the writer's odd value (or its fence) does, and the
//!   reader's load sees the new value and does not sleep on the old one: no change is slept
//!   through. A reader re-registers before each sleep, as a writer may have cleared the word.
//! - A marked word whose writer wakes nobody (a 0.3 writer and an older or Windows one taking
//!   turns): a reader whose backstop sleep ([`BACKSTOP`]) ended to find a change made while its
//!   `WAITING` stayed set flags the word [`SILENT_WRITER`], after which readers poll
//!   (`crate::backoff`) until a waking writer clears the flags. Readers of read-only views that
//!   may not write the region, and every reader where processes share no futex (Windows,
//!   macOS), poll.
//! - Whatever another process writes into the word costs at most a wake-up or a poll.
//!
//! The callers' relaxed data accesses are the crate's one copy primitive (`crate::copy`, argued
//! there). The sequence is a 32-bit atomic, which every target loads with a plain load, even
//! from a read-only view (std promises plain atomic loads on read-only memory only up to the
//! pointer size). It sits in an 8-byte slot (the other 4 bytes are `waiting`), the layout of the
//! 64-bit sequence of earlier versions, so the data after it starts at the same offset on every
//! target. The counter wraps after 2^32 steps (2^31 writes); a reader would only
//! be fooled by a copy that lasted exactly a multiple of 2^31 writes.

use std::time::{Duration, Instant};

#[cfg(loom)]
use loom::sync::atomic::{AtomicU32, Ordering, fence};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU32, Ordering, fence};

use std::sync::atomic::AtomicU32 as StdAtomicU32;

use super::poll::{Backoff, POLL};
use crate::error::SeqLockError;
use crate::{ReadOnly, SharedMemory};

/// How long [`SeqLock::read`](super::SeqLock::read) and [`SeqLock::write`](super::SeqLock::write)
/// (and a [`DoubleBuffer`](super::DoubleBuffer)'s) wait for a writer before they report it
/// stalled: far longer than any write of a value that fits in memory takes.
///
/// ```
/// use win_shared_memory::sync::{DEFAULT_PATIENCE, SeqLock};
///
/// let lock = SeqLock::new(1_u8);
/// // `read` is `read_within` with this patience.
/// assert_eq!(lock.read_within(DEFAULT_PATIENCE)?, lock.read()?);
/// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
/// ```
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(1);

/// How long a registered reader sleeps before it looks whether its writer wakes readers at all.
const BACKSTOP: Duration = Duration::from_millis(20);

/// In `waiting`: some reader sleeps until the next write.
const WAITING: u32 = 1;
/// In `waiting`: a write was seen that woke nobody; readers poll until a waking writer clears it.
const SILENT_WRITER: u32 = 2;
/// In `waiting`, bits 8–31: a writer that wakes readers writes this sequence ("WSM").
const WAKES: u32 = 0x5753_4D00;
const MARK: u32 = 0xFFFF_FF00;

/// The sequence counter and the protocol around it: a 32-bit counter in an 8-byte slot (see the
/// module's documentation), which any bytes make valid.
#[repr(C, align(8))]
pub(super) struct Sequence {
    counter: AtomicU32,
    /// Whether readers wait for the next write ([`WAITING`], [`SILENT_WRITER`]); the four bytes
    /// that kept the layout of the 64-bit sequence of earlier versions, which left them zero.
    waiting: AtomicU32,
}

/// A write in progress: the even value it started from, and whether readers wait for its end
/// (`None`: the writer looks at its end).
#[must_use]
pub(super) struct Write {
    start: u32,
    wake: Option<bool>,
}

impl Write {
    /// The even value the write started from.
    pub(super) fn start(&self) -> u32 {
        self.start
    }
}

impl Sequence {
    pub(super) fn new() -> Self {
        Self {
            counter: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
        }
    }

    /// The counter as it is now (relaxed), for versions and debugging.
    pub(super) fn load(&self) -> u32 {
        self.counter.load(Ordering::Relaxed)
    }

    /// How many writes have completed (one in progress does not count yet), modulo 2^31: the
    /// `version` that the public types offer to readers polling for news.
    pub(super) fn completed_writes(&self) -> u64 {
        u64::from(self.load() / 2)
    }

    /// Takes the sequence from even to odd, waiting at most `patience` for another writer.
    #[inline]
    pub(super) fn begin_write(&self, patience: Duration) -> Result<Write, SeqLockError> {
        let start = wait(patience, || {
            let current = self.counter.load(Ordering::Relaxed);
            if is_odd(current) {
                return Err(Seen::odd_even(current.into()));
            }
            self.counter
                .compare_exchange_weak(
                    current,
                    current.wrapping_add(1),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                )
                .map_err(|now| Seen::odd_even(now.into()))
        })?;
        // Keeps the data stores after the odd value for any reader that sees one of them.
        fence(Ordering::Release);
        Ok(Write {
            start,
            wake: Some(self.take_waiting()),
        })
    }

    /// Whether readers registered to be woken before this write's odd value, clearing their
    /// registrations (and a [`SILENT_WRITER`] flag: this writer wakes), and marking the word
    /// [`WAKES`] for the readers to come. Where processes share no futex, writers never wake,
    /// so they leave the word alone.
    #[inline]
    fn take_waiting(&self) -> bool {
        if !cfg!(wsm_holder_locks) {
            return false;
        }
        let seen = self.waiting.load(Ordering::SeqCst);
        if seen & !MARK != 0 {
            self.waiting.swap(WAKES, Ordering::SeqCst);
            return true;
        }
        if seen != WAKES {
            // Unmarked: no reader registers here, so a plain store loses nobody's flag.
            self.waiting.store(WAKES, Ordering::Relaxed);
        }
        false
    }

    /// Takes the sequence from whatever it is to a new odd value, unconditionally; returns the
    /// even value this write counts from. An even value goes to odd, as in `begin_write`; an
    /// odd one goes `odd_step` further (a multiple of 2), so that a writer still holding it
    /// fails its end.
    pub(super) fn take_over(&self, odd_step: u32) -> Write {
        let mut current = self.counter.load(Ordering::Relaxed);
        let taken = loop {
            let odd = if is_odd(current) {
                current.wrapping_add(odd_step)
            } else {
                current.wrapping_add(1)
            };
            match self.counter.compare_exchange_weak(
                current,
                odd,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break odd,
                Err(now) => current = now,
            }
        };
        fence(Ordering::Release);
        Write {
            start: taken.wrapping_sub(1),
            wake: Some(self.take_waiting()),
        }
    }

    /// Begins the write of the holder of the writer role, the one writer there is: no
    /// compare-exchange, a plain store takes the sequence to odd. A write found in progress is
    /// a dead writer's, taken over as [`take_over`](Self::take_over) does (`odd_step` further).
    /// Whether readers wait is asked at the end ([`end_write`](Self::end_write)): a fence
    /// there, after the data is published, rather than one here, before the data stores, keeps
    /// the readers' latency that of a plain seqlock.
    #[inline]
    pub(super) fn begin_owned_write(&self, odd_step: u32) -> Write {
        let current = self.counter.load(Ordering::Relaxed);
        let odd = if is_odd(current) {
            current.wrapping_add(odd_step)
        } else {
            current.wrapping_add(1)
        };
        self.counter.store(odd, Ordering::Relaxed);
        // Keeps the data stores after the odd value for any reader that sees one of them.
        fence(Ordering::Release);
        Write {
            start: odd.wrapping_sub(1),
            wake: None,
        }
    }

    /// Takes the sequence from `start + 1` to `start + 2`, publishing the write, and wakes the
    /// readers that wait for it (even when it was superseded: they registered with this write).
    ///
    /// A plain release store, not a compare-exchange: only the writer holding the odd value
    /// writes the sequence (begin_write excludes the others), and a locked instruction here
    /// would wait for every data store to reach the other cores before the write returns. The
    /// check that no `recover` took over is a load of a line this writer owns: it catches a
    /// take-over that came before it, as `recover`'s contract (the old writer is dead) asks.
    #[inline]
    pub(super) fn end_write(&self, write: Write) -> Result<(), SeqLockError> {
        let Write { start, wake } = write;
        let ended = if self.counter.load(Ordering::Relaxed) == start.wrapping_add(1) {
            self.counter.store(start.wrapping_add(2), Ordering::Release);
            Ok(())
        } else {
            Err(SeqLockError::Superseded)
        };
        // The owned write's question: either a reader's registration comes before this fence
        // in the single order of `SeqCst` operations, and the load below sees it, or the
        // reader's load of the counter comes after it, and sees the new value.
        let wake = wake.unwrap_or_else(|| {
            fence(Ordering::SeqCst);
            self.take_waiting()
        });
        if wake {
            wake_sleepers(&self.counter);
        }
        ended
    }

    /// The `waiting` word, for a reader of this view to register in ([`wait_for_change`]);
    /// `None` under loom, whose models do not wait.
    ///
    /// [`wait_for_change`]: Self::wait_for_change
    pub(super) fn waiting_word(&self) -> Option<&StdAtomicU32> {
        #[cfg(not(loom))]
        return Some(&self.waiting);
        #[cfg(loom)]
        None
    }

    /// [`wait_for_change`](Self::wait_for_change) for a reader of the read-only `view` this
    /// sequence is in: it registers through the view's writable alias of the word, where the
    /// OS and the region's permissions allow one.
    pub(super) fn wait_in_view(
        &self,
        view: &SharedMemory<ReadOnly>,
        seen: u64,
        timeout: Duration,
        backoff: &mut Backoff,
    ) -> Result<Option<u64>, SeqLockError> {
        let waiting = self.waiting_word();
        let waiting = waiting.and_then(|waiting| view.writable_word(waiting));
        self.wait_for_change(seen, timeout, waiting, backoff)
    }

    /// This sequence, in the read-only view it lies in: what a reader's waits need.
    pub(super) fn in_view<'a>(&'a self, view: &'a SharedMemory<ReadOnly>) -> InView<'a> {
        InView {
            sequence: self,
            view,
        }
    }

    /// Waits until the completed writes are no longer `seen` (a [`completed_writes`]), and
    /// returns them; `None` once `timeout` has passed without. A write in progress counts once
    /// it completes; one that stays in progress for [`DEFAULT_PATIENCE`] is a stalled writer.
    /// `waiting`: this sequence's `waiting` word where this reader may write it (its own view,
    /// or another, writable view of the same memory), to register and be woken; `None`: it
    /// polls, paced by `backoff` (a caller that waits again and again in short waits passes
    /// the same one, so that its looks grow apart as a long wait's do). The protocol is the
    /// module's.
    ///
    /// [`completed_writes`]: Self::completed_writes
    pub(super) fn wait_for_change(
        &self,
        seen: u64,
        timeout: Duration,
        waiting: Option<&StdAtomicU32>,
        backoff: &mut Backoff,
    ) -> Result<Option<u64>, SeqLockError> {
        // Where processes share no futex, writers wake nobody: registering would be wasted.
        let waiting = waiting.filter(|_| cfg!(wsm_holder_locks));
        let flags = || waiting.map_or(0, |waiting| waiting.load(Ordering::Relaxed));
        let mark = |flag| waiting.map(|waiting| waiting.fetch_or(flag, Ordering::SeqCst));
        let deadline = Instant::now().checked_add(timeout);
        let mut in_progress: Option<(u32, Instant)> = None;
        let mut round: u32 = 0;
        let mut slept_out = false;
        loop {
            // Slept out registered, and nobody cleared the registration: if there is a change,
            // its writer does not wake readers.
            // Registered only under the mark of a writer that wakes readers.
            let register = flags() & MARK == WAKES;
            let unanswered = slept_out && flags() & WAITING != 0;
            let mut current = self.counter.load(Ordering::SeqCst);
            if register && u64::from(current / 2) == seen && !is_odd(current) {
                // About to sleep: registered first, then the counter looked at again.
                mark(WAITING);
                current = self.counter.load(Ordering::SeqCst);
            }
            if u64::from(current / 2) != seen {
                if unanswered {
                    mark(SILENT_WRITER);
                }
                return Ok(Some(u64::from(current / 2)));
            }
            let left = match deadline {
                None => Duration::MAX,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Ok(None),
                },
            };
            let nap = if is_odd(current) {
                // A write in progress: quick, unless its writer died.
                let since = match in_progress {
                    Some((odd, since)) if odd == current => since,
                    _ => in_progress.insert((current, Instant::now())).1,
                };
                let waited = since.elapsed();
                if waited >= DEFAULT_PATIENCE {
                    return Err(SeqLockError::Stalled {
                        completed_writes: seen,
                        waited,
                    });
                }
                if round < 128 {
                    back_off(round);
                    round += 1;
                    continue;
                }
                POLL
            } else if !register || flags() & SILENT_WRITER != 0 {
                backoff.pause()
            } else {
                BACKSTOP
            };
            slept_out = sleep_while(&self.counter, current, nap.min(left)) && nap == BACKSTOP;
        }
    }

    /// Runs `copy` until it ran while no write was in progress, waiting at most `patience`.
    #[inline]
    pub(super) fn read<R>(
        &self,
        patience: Duration,
        copy: impl FnMut() -> R,
    ) -> Result<R, SeqLockError> {
        read_consistent(patience, || Seen::odd_even(self.load().into()), copy)
    }

    /// The slot (0 or 1) of a two-slot buffer that the write begun at `start` fills: write `n`
    /// (counting from 1, so `start` is `2n - 2`) goes into slot `n % 2`, the rule
    /// [`read_latest`](Self::read_latest) relies on.
    pub(super) fn slot_of_write(start: u32) -> usize {
        (start / 2 + 1) as usize % 2
    }

    /// The reader's side of a two-slot buffer: runs `copy` with the slot (0 or 1) that holds
    /// the newest complete write until no write into that slot began before `copy` ended,
    /// waiting at most `patience`.
    ///
    /// Write `n` (counting from 1) goes into slot `n % 2`: with the counter at `2n` or `2n + 1`
    /// the newest complete write is `n`, and the write into its slot again is `n + 2`, which
    /// begins by taking the counter to `2n + 3`. A copy that saw any of that write's data sees
    /// that value or a later one afterwards (the fences of the module's protocol), so it is
    /// refused; a counter still below `2n + 3` proves the slot untouched.
    #[inline]
    pub(super) fn read_latest<R>(
        &self,
        patience: Duration,
        mut copy: impl FnMut(usize) -> R,
    ) -> Result<R, SeqLockError> {
        wait(patience, || {
            let before = self.load();
            fence(Ordering::Acquire);
            let value = copy((before / 2 % 2) as usize);
            fence(Ordering::Acquire);
            let after = self.load();
            if after.wrapping_sub(before & !1) <= 2 {
                Ok(value)
            } else {
                Err(Seen::odd_even(after.into()))
            }
        })
    }
}

/// What a reader saw of a writer's version counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    /// The counters, packed into one number: equal numbers, equal counters.
    state: u64,
    /// How many writes the counters say were completed.
    completed: u64,
    /// Whether they say a write is in progress.
    writing: bool,
}

impl Seen {
    /// How many writes the counters say were completed.
    pub(super) fn completed(&self) -> u64 {
        self.completed
    }

    /// One sequence number, odd while writing (the kernel's seqlock, PCARS2).
    pub(super) fn odd_even(sequence: u64) -> Self {
        Self {
            state: sequence,
            completed: sequence / 2,
            writing: sequence % 2 == 1,
        }
    }

    /// A begin and an end counter, apart while writing (rFactor 2).
    pub(super) fn begin_end(begin: u32, end: u32) -> Self {
        Self {
            state: u64::from(begin) << 32 | u64::from(end),
            completed: u64::from(end),
            writing: begin != end,
        }
    }
}

/// The reader's side of every versioning scheme: runs `copy` until the counters (read by
/// `version` with relaxed loads) say that no write overlapped it, waiting at most `patience`.
/// The orderings are those argued at the top of this module; the first load is relaxed and
/// followed by an acquire fence, rather than an acquire load, because the counters may be in a
/// read-only view, where std promises only relaxed loads.
pub(super) fn read_consistent<R>(
    patience: Duration,
    mut version: impl FnMut() -> Seen,
    mut copy: impl FnMut() -> R,
) -> Result<R, SeqLockError> {
    wait(patience, || {
        let before = version();
        fence(Ordering::Acquire);
        if before.writing {
            return Err(before);
        }
        let value = copy();
        fence(Ordering::Acquire);
        let after = version();
        if after == before {
            Ok(value)
        } else {
            Err(after)
        }
    })
}

/// Sleeps while `word` holds `expected`, at most `limit`; says whether the time ran out.
#[cfg(not(loom))]
fn sleep_while(word: &AtomicU32, expected: u32, limit: Duration) -> bool {
    use super::{Woke, word_sleep};
    // A failed sleep (the word is aligned and mapped, so the OS has no reason to refuse)
    // becomes a poll rather than a busy loop.
    match word_sleep::wait(word, expected, Some(limit)) {
        Ok(Woke::TimedOut) => true,
        Ok(Woke::Early) => false,
        Err(_) => {
            std::thread::sleep(limit.min(POLL));
            false
        }
    }
}

/// Wakes every reader asleep on `word`. A futex wake fails only for an unaligned or unmapped
/// word, which a live `&Sequence` rules out; a reader it missed would still look at its backstop.
#[cfg(not(loom))]
fn wake_sleepers(word: &AtomicU32) {
    let _ = super::word_sleep::wake(word, super::word_sleep::EVERYONE);
}

/// Under loom no one sleeps: a wait is a yield.
#[cfg(loom)]
fn sleep_while(_word: &AtomicU32, _expected: u32, _limit: Duration) -> bool {
    loom::thread::yield_now();
    false
}

#[cfg(loom)]
fn wake_sleepers(_word: &AtomicU32) {}

/// Whether a sequence value means a write in progress.
fn is_odd(sequence: u32) -> bool {
    sequence % 2 == 1
}

/// Retries `attempt` until it succeeds or `patience` runs out. A failed attempt tells what it
/// saw: a write in progress that did not move for the last half of the wait means a stalled
/// writer; counters that kept moving, a writer so busy that no copy fitted between its writes.
///
/// The first attempt runs before the clock is read: reading it costs as much as a small copy,
/// and most attempts succeed.
#[inline]
fn wait<R>(
    patience: Duration,
    mut attempt: impl FnMut() -> Result<R, Seen>,
) -> Result<R, SeqLockError> {
    match attempt() {
        Ok(result) => Ok(result),
        Err(seen) => wait_after_failure(patience, seen, attempt),
    }
}

/// [`wait`] after a first failed attempt that saw `first`: the clock starts now.
#[cold]
#[inline(never)]
fn wait_after_failure<R>(
    patience: Duration,
    first: Seen,
    mut attempt: impl FnMut() -> Result<R, Seen>,
) -> Result<R, SeqLockError> {
    let started = Instant::now();
    let mut latest = (first, started);
    let mut round: u32 = 0;
    loop {
        back_off(round);
        round = round.saturating_add(1);
        let seen = match attempt() {
            Ok(result) => return Ok(result),
            Err(seen) => seen,
        };
        if latest.0 != seen {
            latest = (seen, Instant::now());
        }
        let waited = started.elapsed();
        if waited < patience {
            continue;
        }
        let (latest, since) = latest;
        return Err(if latest.writing && since.elapsed() >= patience / 2 {
            SeqLockError::Stalled {
                completed_writes: latest.completed,
                waited,
            }
        } else {
            SeqLockError::Starved {
                writes: latest.completed.wrapping_sub(first.completed),
                waited,
            }
        });
    }
}

/// Waits a little before the next attempt: spins first, as a writer is usually quick, then
/// yields, then sleeps, so that a stalled writer does not cost its readers a whole core.
#[cfg(not(loom))]
fn back_off(round: u32) {
    match round {
        0..64 => std::hint::spin_loop(),
        64..128 => std::thread::yield_now(),
        _ => std::thread::sleep(Duration::from_micros(50)),
    }
}

/// Under loom every wait is a yield: spinning only adds interleavings to explore.
#[cfg(loom)]
fn back_off(_round: u32) {
    loom::thread::yield_now();
}

/// A sequence in the read-only view it lies in ([`Sequence::in_view`]).
pub(crate) struct InView<'a> {
    sequence: &'a Sequence,
    view: &'a SharedMemory<ReadOnly>,
}

impl InView<'_> {
    /// [`Sequence::wait_in_view`], paced by `backoff` where it polls: a caller that waits in
    /// short waits again and again ([`Follower`](crate::follow::Follower)) passes the same one.
    pub(crate) fn wait(
        &self,
        seen: u64,
        timeout: Duration,
        backoff: &mut Backoff,
    ) -> Result<Option<u64>, SeqLockError> {
        self.sequence
            .wait_in_view(self.view, seen, timeout, backoff)
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    //! The engine under every interleaving loom finds, with a two-word payload of the model's
    //! own in one slot (`SeqLock`'s protocol) or two (`DoubleBuffer`'s): a reader never accepts
    //! a mix of two writes, and two writers never interleave.

    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU64;

    use super::*;

    /// A payload of two words, which a torn copy shows as two different values; stored and
    /// loaded with relaxed atomics, as the crate's copy does.
    type Words = [AtomicU64; 2];

    fn zeroed() -> Words {
        [AtomicU64::new(0), AtomicU64::new(0)]
    }

    fn store(words: &Words, value: u64) {
        for word in words {
            word.store(value, Ordering::Relaxed);
        }
    }

    fn load(words: &Words) -> [u64; 2] {
        words.each_ref().map(|word| word.load(Ordering::Relaxed))
    }

    /// A sequence with the payload behind it, written and read as one of the public types does.
    trait Model: Send + Sync + 'static {
        fn new() -> Self;
        fn write(&self, value: u64);
        fn read(&self) -> [u64; 2];
    }

    /// `SeqLock`'s protocol: one slot, whose copies a write in progress refuses.
    struct OneSlot {
        sequence: Sequence,
        words: Words,
    }

    impl Model for OneSlot {
        fn new() -> Self {
            Self {
                sequence: Sequence::new(),
                words: zeroed(),
            }
        }

        fn write(&self, value: u64) {
            let start = self.sequence.begin_write(DEFAULT_PATIENCE).unwrap();
            store(&self.words, value);
            self.sequence.end_write(start).unwrap();
        }

        fn read(&self) -> [u64; 2] {
            self.sequence
                .read(DEFAULT_PATIENCE, || load(&self.words))
                .unwrap()
        }
    }

    /// `DoubleBuffer`'s protocol: two slots, the reader copying the newest complete write.
    struct TwoSlots {
        sequence: Sequence,
        slots: [Words; 2],
    }

    impl Model for TwoSlots {
        fn new() -> Self {
            Self {
                sequence: Sequence::new(),
                slots: [zeroed(), zeroed()],
            }
        }

        fn write(&self, value: u64) {
            let start = self.sequence.begin_write(DEFAULT_PATIENCE).unwrap();
            store(&self.slots[Sequence::slot_of_write(start.start())], value);
            self.sequence.end_write(start).unwrap();
        }

        fn read(&self) -> [u64; 2] {
            self.sequence
                .read_latest(DEFAULT_PATIENCE, |slot| load(&self.slots[slot]))
                .unwrap()
        }
    }

    /// A reader copies while a writer writes twice: with two slots, the second write refills
    /// the slot of the zero value the reader may be copying.
    fn a_reader_never_accepts_a_torn_copy<M: Model>() {
        loom::model(|| {
            let shared = Arc::new(M::new());
            let writer = {
                let shared = Arc::clone(&shared);
                loom::thread::spawn(move || {
                    shared.write(1);
                    shared.write(2);
                })
            };
            let [first, second] = shared.read();
            assert_eq!(first, second);
            writer.join().unwrap();
            assert_eq!(shared.read(), [2, 2]);
        });
    }

    fn two_writers_never_interleave<M: Model>() {
        loom::model(|| {
            let shared = Arc::new(M::new());
            let other = {
                let shared = Arc::clone(&shared);
                loom::thread::spawn(move || shared.write(1))
            };
            shared.write(2);
            other.join().unwrap();
            let [first, second] = shared.read();
            assert_eq!(first, second);
        });
    }

    #[test]
    fn one_slot_reader_never_accepts_a_torn_copy() {
        a_reader_never_accepts_a_torn_copy::<OneSlot>();
    }

    #[test]
    fn one_slot_writers_never_interleave() {
        two_writers_never_interleave::<OneSlot>();
    }

    #[test]
    fn two_slot_reader_never_accepts_a_torn_copy() {
        a_reader_never_accepts_a_torn_copy::<TwoSlots>();
    }

    #[test]
    fn two_slot_writers_never_interleave() {
        two_writers_never_interleave::<TwoSlots>();
    }
}
