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
//! The callers' relaxed data accesses are the crate's one copy primitive (`crate::copy`, argued
//! there). The sequence is a 32-bit atomic, which every target loads with a plain load, even
//! from a read-only view (std promises plain atomic loads on read-only memory only up to the
//! pointer size). It sits in an 8-byte slot (the other 4 bytes are reserved and stay zero), the
//! layout of the 64-bit sequence of earlier versions, so the data after it starts at the same
//! offset on every target. The counter wraps after 2^32 steps (2^31 writes); a reader would only
//! be fooled by a copy that lasted exactly a multiple of 2^31 writes.

use std::time::{Duration, Instant};

#[cfg(loom)]
use loom::sync::atomic::{AtomicU32, Ordering, fence};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU32, Ordering, fence};

use crate::error::SeqLockError;

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

/// The sequence counter and the protocol around it: a 32-bit counter in an 8-byte slot (see the
/// module's documentation), which any bytes make valid.
#[repr(C, align(8))]
pub(super) struct Sequence {
    counter: AtomicU32,
    /// Four bytes that keep the layout of the 64-bit sequence of earlier versions.
    _reserved: [u8; 4],
}

impl Sequence {
    pub(super) fn new() -> Self {
        Self {
            counter: AtomicU32::new(0),
            _reserved: [0; 4],
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

    /// Takes the sequence from even to odd, waiting at most `patience` for another writer;
    /// returns the even value it started from.
    #[inline]
    pub(super) fn begin_write(&self, patience: Duration) -> Result<u32, SeqLockError> {
        begin_odd_even_write(&self.counter, patience)
    }

    /// Takes the sequence from whatever it is to a new odd value, unconditionally; returns the
    /// even value this write counts from. An even value goes to odd, as in `begin_write`; an
    /// odd one goes `odd_step` further (a multiple of 2), so that a writer still holding it
    /// fails its end.
    pub(super) fn take_over(&self, odd_step: u32) -> u32 {
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
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break odd,
                Err(now) => current = now,
            }
        };
        fence(Ordering::Release);
        taken.wrapping_sub(1)
    }

    /// Takes the sequence from `start + 1` to `start + 2`, publishing the write.
    ///
    /// A plain release store, not a compare-exchange: only the writer holding the odd value
    /// writes the sequence (begin_write excludes the others), and a locked instruction here
    /// would wait for every data store to reach the other cores before the write returns. The
    /// check that no `recover` took over is a load of a line this writer owns: it catches a
    /// take-over that came before it, as `recover`'s contract (the old writer is dead) asks.
    #[inline]
    pub(super) fn end_write(&self, start: u32) -> Result<(), SeqLockError> {
        end_odd_even_write(&self.counter, start)
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

/// [`Sequence::begin_write`] on any 32-bit counter, such as a game's sequence number at an
/// offset of its own ([`write_versioned`](crate::SharedMemory::write_versioned)).
#[inline]
pub(super) fn begin_odd_even_write(
    counter: &AtomicU32,
    patience: Duration,
) -> Result<u32, SeqLockError> {
    let start = wait(patience, || {
        let current = counter.load(Ordering::Relaxed);
        if is_odd(current) {
            return Err(Seen::odd_even(current.into()));
        }
        counter
            .compare_exchange_weak(
                current,
                current.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .map_err(|now| Seen::odd_even(now.into()))
    })?;
    // Keeps the data stores after the odd value for any reader that sees one of them.
    fence(Ordering::Release);
    Ok(start)
}

/// [`Sequence::end_write`] on any 32-bit counter.
#[inline]
pub(super) fn end_odd_even_write(counter: &AtomicU32, start: u32) -> Result<(), SeqLockError> {
    if counter.load(Ordering::Relaxed) != start.wrapping_add(1) {
        return Err(SeqLockError::Superseded);
    }
    counter.store(start.wrapping_add(2), Ordering::Release);
    Ok(())
}

/// The writer's side of a begin and an end counter (rFactor 2's): takes `begin` one past
/// `end`, so readers refuse copies from now on, and returns the value that `end` takes when
/// the write is done ([`end_begin_end_write`]). A writer that died mid-write left them apart:
/// they are equal again after this one's write. One writer at a time, as the games have.
#[cfg(not(loom))]
#[inline]
pub(super) fn begin_begin_end_write(begin: &AtomicU32) -> u32 {
    let started = begin.fetch_add(1, Ordering::Acquire).wrapping_add(1);
    // As in `begin_odd_even_write`: the data stores stay after the new begin value.
    fence(Ordering::Release);
    started
}

/// Publishes the write that [`begin_begin_end_write`] began: `end` catches up with `begin`.
#[cfg(not(loom))]
#[inline]
pub(super) fn end_begin_end_write(end: &AtomicU32, started: u32) {
    end.store(started, Ordering::Release);
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
            store(&self.slots[Sequence::slot_of_write(start)], value);
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
