//! A sequence lock: one writer publishes a value, any number of readers take consistent copies
//! without locks and without ever blocking the writer, across processes.
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
//! The data is copied in and out with the crate's one copy primitive (`crate::copy`, argued
//! there): an `asm!` copy on x86_64 and aarch64, relaxed word atomics elsewhere. The sequence is
//! a 32-bit atomic, which every target loads with a plain load, even from a read-only view (std
//! promises plain atomic loads on read-only memory only up to the pointer size). It sits in an
//! 8-byte slot (the other 4 bytes are reserved and stay zero), so a `SeqLock<T>` has the same
//! layout on every target: the sequence at offset 0, then `T` at `max(8, align_of::<T>())`.
//! The counter wraps after 2^32 steps (2^31 writes); a reader would only be fooled by a copy
//! that lasted exactly a multiple of 2^31 writes. The value must only be accessed through the
//! `SeqLock` (not also through `write_at` or `get_mut` of the same bytes).

use std::cell::UnsafeCell;
use std::fmt;
use std::time::{Duration, Instant};

#[cfg(loom)]
use loom::sync::atomic::{AtomicU32, Ordering, fence};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU32, Ordering, fence};

use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::copy;
use crate::error::SeqLockError;
use crate::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryError, SharedMemoryLink};

/// How long [`SeqLock::read`] and [`SeqLock::write`] wait for a writer before they report it
/// stalled: far longer than any write of a value that fits in memory takes.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(1);

/// A value of type `T` shared across processes under a sequence lock, to live inside a
/// shared region (as a field of the shared struct, or as the whole region).
///
/// `T` is plain data (zerocopy's `FromBytes`, `IntoBytes` and `Immutable`): a reader copies it
/// out with [`read`](Self::read) and never sees a torn value; a writer publishes with
/// [`write`](Self::write) and never waits for readers. Writers serialise: a second writer waits
/// for the first to finish. A zero-filled region holds a valid `SeqLock<T>`, holding
/// `T`'s zero value.
///
/// A writer that dies mid-write leaves the sequence odd. Readers then wait at most their
/// patience and report [`SeqLockError::Stalled`]; a new writer that knows the old one is dead
/// (a [`NamedMutex`]-style owner-died signal, or its supervisor) calls [`recover`](Self::recover)
/// with a complete value.
///
/// [`NamedMutex`]: https://learn.microsoft.com/windows/win32/sync/mutex-objects
///
/// ```
/// use win_shared_memory::sync::SeqLock;
/// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
///
/// # let name = format!("Local\\doc_seqlock_{}", std::process::id());
/// let writer = SharedMemoryLink::<SeqLock<[f64; 3]>, ReadWrite>::create(&name)?;
/// writer.seqlock().write(&[1.0, 2.0, 3.0])?;
///
/// let reader = SharedMemoryLink::<SeqLock<[f64; 3]>, ReadOnly>::open(&name)?;
/// assert_eq!(reader.seqlock().read()?, [1.0, 2.0, 3.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[repr(C)]
pub struct SeqLock<T> {
    sequence: Sequence,
    data: UnsafeCell<T>,
}

// SAFETY: every access to `data` goes through the sequence protocol with atomic word copies,
// so threads (and processes) may share a `SeqLock` whenever its `T` may be sent between them.
unsafe impl<T: Send> Sync for SeqLock<T> {}

impl<T: FromBytes + IntoBytes + Immutable> SeqLock<T> {
    /// A sequence lock holding `value`, for use within one process (in a region, a zero-filled
    /// `SeqLock` is already valid).
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    ///
    /// let lock = SeqLock::new(5_u32);
    /// assert_eq!(lock.read()?, 5);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn new(value: T) -> Self {
        Self {
            sequence: Sequence::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// A consistent copy of the value, waiting up to [`DEFAULT_PATIENCE`] for a writer.
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    ///
    /// let lock = SeqLock::new([1_u16, 2]);
    /// assert_eq!(lock.read()?, [1, 2]);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn read(&self) -> Result<T, SeqLockError> {
        self.read_within(DEFAULT_PATIENCE)
    }

    /// A consistent copy of the value, waiting at most `patience` for a writer to finish.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::SeqLock;
    ///
    /// let lock = SeqLock::new(1.5_f32);
    /// assert_eq!(lock.read_within(Duration::from_millis(10))?, 1.5);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn read_within(&self, patience: Duration) -> Result<T, SeqLockError> {
        let mut value = std::mem::MaybeUninit::<T>::uninit();
        self.sequence.read(patience, || {
            // SAFETY: `data` is a live `T` of this lock; the target is this function's value.
            unsafe { self.copy_out(value.as_mut_ptr().cast()) };
        })?;
        // SAFETY: a successful read copied every byte, and `T: FromBytes` makes them a `T`.
        Ok(unsafe { value.assume_init() })
    }

    /// Copies a consistent value into `target`, waiting at most `patience` for a writer: for
    /// large values, it saves [`read`](Self::read)'s zeroing and moves. On an error `target`
    /// holds some valid, possibly torn, value.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::SeqLock;
    ///
    /// let lock = SeqLock::new([7_u64; 1024]);
    /// let mut snapshot = Box::new([0_u64; 1024]);
    /// lock.read_into(&mut snapshot, Duration::from_millis(10))?;
    /// assert_eq!(snapshot[1023], 7);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn read_into(&self, target: &mut T, patience: Duration) -> Result<(), SeqLockError> {
        self.sequence.read(patience, || {
            // SAFETY: `target` is a `T` of this process, borrowed exclusively.
            unsafe { self.copy_out(target.as_mut_bytes().as_mut_ptr()) };
        })
    }

    /// Publishes `value`, waiting up to [`DEFAULT_PATIENCE`] for another writer to finish.
    /// Readers are never waited for.
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    ///
    /// let lock = SeqLock::new(0_u64);
    /// lock.write(&9)?;
    /// assert_eq!(lock.read()?, 9);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn write(&self, value: &T) -> Result<(), SeqLockError> {
        self.write_within(value, DEFAULT_PATIENCE)
    }

    /// Publishes `value`, waiting at most `patience` for another writer to finish.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::SeqLock;
    ///
    /// let lock = SeqLock::new(0_i32);
    /// lock.write_within(&-3, Duration::from_millis(10))?;
    /// assert_eq!(lock.read()?, -3);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn write_within(&self, value: &T, patience: Duration) -> Result<(), SeqLockError> {
        let start = self.sequence.begin_write(patience)?;
        self.store(value);
        self.sequence.end_write(start)
    }

    /// Takes over from a writer that died mid-write (the sequence is odd) and publishes
    /// `value`; with no write in progress, it is [`write`](Self::write).
    ///
    /// Call it only when the old writer is known to be dead: a live one loses its write
    /// ([`SeqLockError::Superseded`]), and its data may mix with `value` until it stops.
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    ///
    /// let lock = SeqLock::new(0_u8);
    /// lock.recover(&1)?;
    /// assert_eq!(lock.read()?, 1);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn recover(&self, value: &T) -> Result<(), SeqLockError> {
        let start = self.sequence.take_over(2);
        self.store(value);
        self.sequence.end_write(start)
    }

    /// How many writes have completed (one in progress does not count yet; a recovery counts
    /// one more), modulo 2^31: a reader that polls for news compares this, which touches one
    /// cache line, before copying the value.
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    ///
    /// let lock = SeqLock::new(0_u32);
    /// let seen = lock.version();
    /// lock.write(&1)?;
    /// assert_eq!(lock.version(), seen + 1);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn version(&self) -> u64 {
        u64::from(self.sequence.load() / 2)
    }

    /// Copies `value` into the lock; only between `begin_write` and `end_write`.
    fn store(&self, value: &T) {
        // SAFETY: `data` is a live `T` of this lock, written only by the writer holding the odd
        // sequence, which is us; `value` is memory of this process that `&T` keeps stable.
        unsafe {
            copy::to_shared(
                value.as_bytes().as_ptr(),
                self.data.get().cast(),
                size_of::<T>(),
            )
        };
    }

    /// Copies the value, as it is, to `target`.
    ///
    /// # Safety
    ///
    /// `target` must be valid for writes of `size_of::<T>()` bytes, apart from the lock.
    unsafe fn copy_out(&self, target: *mut u8) {
        // SAFETY: `data` is a live `T` of this lock (perhaps in a read-only view, which the
        // copy only loads from); the caller vouches for `target`.
        unsafe { copy::from_shared(self.data.get().cast(), target, size_of::<T>()) };
    }
}

impl<T: FromBytes + IntoBytes + Immutable> SharedMemoryLink<SeqLock<T>, ReadWrite> {
    /// The sequence lock that is the whole region, to read and write.
    ///
    /// Safe, unlike [`get`](SharedMemoryLink::get): every bit pattern is a valid `SeqLock<T>`,
    /// and all its accesses are atomic, whatever other processes do.
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_seqlock_rw_{}", std::process::id());
    /// let link = SharedMemoryLink::<SeqLock<u32>, ReadWrite>::create(&name)?;
    /// link.seqlock().write(&3)?;
    /// assert_eq!(link.seqlock().read()?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seqlock(&self) -> &SeqLock<T> {
        // SAFETY: the view holds a `SeqLock<T>` (size and alignment checked when opened); any
        // bytes are a valid one, and it is only ever accessed atomically.
        unsafe { self.get() }
    }
}

impl<T: FromBytes + IntoBytes + Immutable> SharedMemoryLink<SeqLock<T>, ReadOnly> {
    /// The sequence lock that is the whole region, to read: the view is read-only, so the
    /// writing methods are not offered.
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_seqlock_ro_{}", std::process::id());
    /// let _writer = SharedMemoryLink::<SeqLock<u32>, ReadWrite>::create(&name)?;
    /// let reader = SharedMemoryLink::<SeqLock<u32>, ReadOnly>::open(&name)?;
    /// assert_eq!(reader.seqlock().read()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seqlock(&self) -> SeqLockReader<'_, T> {
        // SAFETY: as for the read-write accessor; reading never writes the view.
        SeqLockReader(unsafe { self.get() })
    }
}

impl SharedMemory<ReadWrite> {
    /// The sequence lock at `offset`, to read and write: a `SeqLock` as a field of a region
    /// whose size is chosen at run time. Checked like [`get_at`](SharedMemory::get_at) (in
    /// bounds, aligned for `SeqLock<T>`) and safe, unlike it: any bytes are a valid
    /// `SeqLock<T>`, and all its accesses are atomic or go through the crate's copy.
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_seqlock_at_{}", std::process::id());
    /// let region = SharedMemory::<ReadWrite>::create(&name, 4096)?;
    /// region.seqlock_at::<[f32; 4]>(64)?.write(&[1.0, 2.0, 3.0, 4.0])?;
    /// assert!(region.seqlock_at::<[f32; 4]>(4092).is_err()); // past the end
    /// assert!(region.seqlock_at::<[f32; 4]>(4).is_err()); // misaligned
    ///
    /// let reader = SharedMemory::<ReadOnly>::open(&name)?;
    /// assert_eq!(reader.seqlock_at::<[f32; 4]>(64)?.read()?, [1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seqlock_at<T: FromBytes + IntoBytes + Immutable>(
        &self,
        offset: usize,
    ) -> Result<&SeqLock<T>, SharedMemoryError> {
        let lock = self.checked::<SeqLock<T>>(offset, 1)?;
        // SAFETY: in bounds and aligned (checked), in the view `self` keeps mapped while the
        // borrow lives; any bytes are a valid `SeqLock<T>` (`T: FromBytes`), only ever accessed
        // through its atomic sequence and the crate's copy.
        Ok(unsafe { lock.as_ref() })
    }
}

impl SharedMemory<ReadOnly> {
    /// The sequence lock at `offset`, to read: the view is read-only, so only the reading half
    /// is offered. Checked as [`SharedMemory::<ReadWrite>::seqlock_at`](SharedMemory::seqlock_at).
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_seqlock_at_ro_{}", std::process::id());
    /// let writer = SharedMemory::<ReadWrite>::create(&name, 64)?;
    /// writer.seqlock_at::<u64>(16)?.write(&7)?;
    /// let reader = SharedMemory::<ReadOnly>::open(&name)?;
    /// assert_eq!(reader.seqlock_at::<u64>(16)?.read()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seqlock_at<T: FromBytes + IntoBytes + Immutable>(
        &self,
        offset: usize,
    ) -> Result<SeqLockReader<'_, T>, SharedMemoryError> {
        let lock = self.checked::<SeqLock<T>>(offset, 1)?;
        // SAFETY: as for the read-write accessor; reading never writes the view (plain loads
        // of the 32-bit sequence and the copy's loads).
        Ok(SeqLockReader(unsafe { lock.as_ref() }))
    }
}

/// The reading half of a [`SeqLock`], for a read-only view.
///
/// ```
/// use win_shared_memory::sync::SeqLock;
/// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
///
/// # let name = format!("Local\\doc_seqlock_reader_{}", std::process::id());
/// let writer = SharedMemoryLink::<SeqLock<[u8; 2]>, ReadWrite>::create(&name)?;
/// writer.seqlock().write(&[4, 5])?;
/// let reader = SharedMemoryLink::<SeqLock<[u8; 2]>, ReadOnly>::open(&name)?;
/// assert_eq!(reader.seqlock().read()?, [4, 5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SeqLockReader<'a, T>(&'a SeqLock<T>);

impl<T: FromBytes + IntoBytes + Immutable> SeqLockReader<'_, T> {
    /// As [`SeqLock::read`].
    ///
    /// ```
    /// # use win_shared_memory::sync::SeqLock;
    /// # use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    /// # let name = format!("Local\\doc_seqlock_reader_read_{}", std::process::id());
    /// # let _writer = SharedMemoryLink::<SeqLock<u8>, ReadWrite>::create(&name)?;
    /// let reader = SharedMemoryLink::<SeqLock<u8>, ReadOnly>::open(&name)?;
    /// assert_eq!(reader.seqlock().read()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(&self) -> Result<T, SeqLockError> {
        self.0.read()
    }

    /// As [`SeqLock::read_into`]: large snapshots need no copy by value.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use win_shared_memory::sync::SeqLock;
    /// # use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    /// # let name = format!("Local\\doc_seqlock_reader_into_{}", std::process::id());
    /// let writer = SharedMemoryLink::<SeqLock<[u32; 256]>, ReadWrite>::create(&name)?;
    /// writer.seqlock().write(&[6; 256])?;
    /// let reader = SharedMemoryLink::<SeqLock<[u32; 256]>, ReadOnly>::open(&name)?;
    /// let mut snapshot = [0; 256];
    /// reader.seqlock().read_into(&mut snapshot, Duration::from_millis(10))?;
    /// assert_eq!(snapshot, [6; 256]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_into(&self, target: &mut T, patience: Duration) -> Result<(), SeqLockError> {
        self.0.read_into(target, patience)
    }

    /// As [`SeqLock::version`].
    ///
    /// ```
    /// # use win_shared_memory::sync::SeqLock;
    /// # use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    /// # let name = format!("Local\\doc_seqlock_reader_version_{}", std::process::id());
    /// # let _writer = SharedMemoryLink::<SeqLock<u8>, ReadWrite>::create(&name)?;
    /// let reader = SharedMemoryLink::<SeqLock<u8>, ReadOnly>::open(&name)?;
    /// assert_eq!(reader.seqlock().version(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn version(&self) -> u64 {
        self.0.version()
    }

    /// As [`SeqLock::read_within`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use win_shared_memory::sync::SeqLock;
    /// # use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    /// # let name = format!("Local\\doc_seqlock_reader_within_{}", std::process::id());
    /// # let _writer = SharedMemoryLink::<SeqLock<u8>, ReadWrite>::create(&name)?;
    /// let reader = SharedMemoryLink::<SeqLock<u8>, ReadOnly>::open(&name)?;
    /// assert_eq!(reader.seqlock().read_within(Duration::from_millis(5))?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_within(&self, patience: Duration) -> Result<T, SeqLockError> {
        self.0.read_within(patience)
    }
}

impl<T> fmt::Debug for SeqLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeqLock")
            .field("sequence", &self.sequence.load())
            .finish_non_exhaustive()
    }
}

/// The sequence counter and the protocol around it, apart from the data so that the loom model
/// checks this very code with its own payload: a 32-bit counter in an 8-byte slot (see the
/// module's documentation).
#[repr(C, align(8))]
pub(crate) struct Sequence {
    counter: AtomicU32,
    /// Four bytes that keep the layout of the 64-bit sequence of earlier versions.
    _reserved: [u8; 4],
}

impl Sequence {
    pub(crate) fn new() -> Self {
        Self {
            counter: AtomicU32::new(0),
            _reserved: [0; 4],
        }
    }

    /// The counter as it is now (relaxed), for versions and debugging.
    pub(crate) fn load(&self) -> u32 {
        self.counter.load(Ordering::Relaxed)
    }

    /// Takes the sequence from even to odd, waiting at most `patience` for another writer;
    /// returns the even value it started from.
    #[inline]
    pub(crate) fn begin_write(&self, patience: Duration) -> Result<u32, SeqLockError> {
        let start = wait(patience, || {
            let current = self.counter.load(Ordering::Relaxed);
            if is_odd(current) {
                return Err(Seen::odd_even(current.into()));
            }
            self.counter
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

    /// Takes the sequence from whatever it is to a new odd value, unconditionally; returns the
    /// even value this write counts from. An even value goes to odd, as in `begin_write`; an
    /// odd one goes `odd_step` further (a multiple of 2), so that a writer still holding it
    /// fails its end.
    pub(crate) fn take_over(&self, odd_step: u32) -> u32 {
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
    pub(crate) fn end_write(&self, start: u32) -> Result<(), SeqLockError> {
        if self.counter.load(Ordering::Relaxed) != start.wrapping_add(1) {
            return Err(SeqLockError::Superseded);
        }
        self.counter.store(start.wrapping_add(2), Ordering::Release);
        Ok(())
    }

    /// Runs `copy` until it ran while no write was in progress, waiting at most `patience`.
    #[inline]
    pub(crate) fn read<R>(
        &self,
        patience: Duration,
        copy: impl FnMut() -> R,
    ) -> Result<R, SeqLockError> {
        read_consistent(patience, || Seen::odd_even(self.load().into()), copy)
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
    pub(crate) fn read_latest<R>(
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
pub(crate) struct Seen {
    /// The counters, packed into one number: equal numbers, equal counters.
    state: u64,
    /// How many writes the counters say were completed.
    completed: u64,
    /// Whether they say a write is in progress.
    writing: bool,
}

impl Seen {
    /// One sequence number, odd while writing (the kernel's seqlock, PCARS2).
    pub(crate) fn odd_even(sequence: u64) -> Self {
        Self {
            state: sequence,
            completed: sequence / 2,
            writing: sequence % 2 == 1,
        }
    }

    /// A begin and an end counter, apart while writing (rFactor 2).
    pub(crate) fn begin_end(begin: u32, end: u32) -> Self {
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
pub(crate) fn read_consistent<R>(
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

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// Under Miri every step is slow: fewer rounds show the same.
    const ROUNDS: u64 = if cfg!(miri) { 30 } else { 20_000 };

    /// Miri runs a thousand times slower than the machine, and its scheduler may leave a writer
    /// waiting: give waits room there.
    const PATIENCE: Duration = if cfg!(miri) {
        Duration::from_secs(600)
    } else {
        DEFAULT_PATIENCE
    };

    /// A value whose words must all agree: any torn copy shows.
    type Uniform = [u64; 16];

    fn check_uniform(value: &Uniform) -> u64 {
        assert!(
            value.iter().all(|&word| word == value[0]),
            "torn copy: {value:?}"
        );
        value[0]
    }

    /// Readers in threads while writers publish: every copy is whole, and they move forward.
    fn run(writers: u64) {
        let lock = Arc::new(SeqLock::new([0_u64; 16]));
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (lock, done) = (Arc::clone(&lock), Arc::clone(&done));
                std::thread::spawn(move || {
                    let mut copies = 0;
                    while !done.load(Ordering::Relaxed) {
                        check_uniform(&lock.read_within(PATIENCE).expect("no writer stalls"));
                        copies += 1;
                    }
                    copies
                })
            })
            .collect();
        let writing: Vec<_> = (0..writers)
            .map(|writer| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for round in 1..=ROUNDS {
                        let value = [round * writers + writer; 16];
                        lock.write_within(&value, PATIENCE)
                            .expect("writers take turns");
                    }
                })
            })
            .collect();
        writing
            .into_iter()
            .for_each(|writer| writer.join().unwrap());
        done.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.join().unwrap();
        }
        // Every write completed and left the sequence even.
        assert_eq!(u64::from(lock.sequence.load()), 2 * ROUNDS * writers);
        check_uniform(&lock.read().unwrap());
    }

    #[test]
    fn readers_never_see_a_torn_value() {
        run(1);
    }

    #[test]
    fn concurrent_writers_take_turns() {
        run(3);
    }

    /// The layout of the 64-bit sequence that the 32-bit one replaced: an 8-byte, 8-aligned
    /// header, then the value, on every target.
    #[test]
    fn the_layout_is_that_of_a_64_bit_sequence() {
        assert_eq!((size_of::<Sequence>(), align_of::<Sequence>()), (8, 8));
        assert_eq!(size_of::<SeqLock<[u8; 1]>>(), 16);
        assert_eq!(size_of::<SeqLock<[u64; 3]>>(), 32);
        let lock = SeqLock::new(0_u32);
        let data = std::ptr::from_ref(&lock.data) as usize - std::ptr::from_ref(&lock) as usize;
        assert_eq!(data, 8);
    }

    #[test]
    fn a_dead_writer_stalls_readers_until_recovered() {
        let lock = SeqLock::new(7_u32);
        // A writer that begins and never ends, as one killed mid-write.
        let dead = lock.sequence.begin_write(DEFAULT_PATIENCE).unwrap();
        let patience = Duration::from_millis(20);
        match lock.read_within(patience) {
            Err(SeqLockError::Stalled {
                completed_writes: 0,
                waited,
            }) => assert!(waited >= patience),
            other => panic!("expected Stalled, got {other:?}"),
        }
        assert!(matches!(
            lock.write_within(&8, patience),
            Err(SeqLockError::Stalled { .. })
        ));
        lock.recover(&9).unwrap();
        assert_eq!(lock.read().unwrap(), 9);
        // Had the old writer been alive, its end is refused.
        assert_eq!(lock.sequence.end_write(dead), Err(SeqLockError::Superseded));
        assert_eq!(lock.read().unwrap(), 9);
        lock.write(&10).unwrap();
        assert_eq!(lock.read().unwrap(), 10);
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    //! The protocol under every interleaving loom finds, with a two-word payload: a reader
    //! never accepts a mix of two writes, and two writers never interleave.

    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU64;

    use super::*;

    struct Model {
        sequence: Sequence,
        words: [AtomicU64; 2],
    }

    impl Model {
        fn write(&self, value: u64) {
            let start = self.sequence.begin_write(DEFAULT_PATIENCE).unwrap();
            for word in &self.words {
                word.store(value, Ordering::Relaxed);
            }
            self.sequence.end_write(start).unwrap();
        }

        fn read(&self) -> [u64; 2] {
            self.sequence
                .read(DEFAULT_PATIENCE, || {
                    self.words
                        .each_ref()
                        .map(|word| word.load(Ordering::Relaxed))
                })
                .unwrap()
        }
    }

    fn model() -> Arc<Model> {
        Arc::new(Model {
            sequence: Sequence::new(),
            words: [AtomicU64::new(0), AtomicU64::new(0)],
        })
    }

    #[test]
    fn a_reader_never_accepts_a_torn_copy() {
        loom::model(|| {
            let shared = model();
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

    #[test]
    fn two_writers_never_interleave() {
        loom::model(|| {
            let shared = model();
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
}
