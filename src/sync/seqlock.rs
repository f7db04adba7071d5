//! A sequence lock: one writer publishes a value, any number of readers take consistent copies
//! without locks and without ever blocking the writer, across processes.
//!
//! The protocol is the sequence engine's (`super::sequence`, argued there); this file lays the
//! value out behind the sequence and copies it in and out with the crate's one copy primitive
//! (`crate::copy`, argued there): an `asm!` copy on x86_64 and aarch64, relaxed word atomics
//! elsewhere. A `SeqLock<T>` has the same layout on every target: the 8-byte sequence at offset
//! 0, then `T` at `max(8, align_of::<T>())`. The value must only be accessed through the
//! `SeqLock` (not also through `write_at` or `get_mut` of the same bytes).

use std::cell::UnsafeCell;
use std::fmt;
use std::time::Duration;

use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::WriterRole;
use super::poll::Backoff;
use super::sequence::{DEFAULT_PATIENCE, InView, Sequence};
use crate::copy;
use crate::error::SeqLockError;
use crate::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryError, SharedMemoryLink};

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
///
/// A value of many MiB must not pass through the stack, which [`read`](Self::read) and
/// [`SeqLock::new`] use (a 4 MiB `read` overflows a thread's 2 MiB stack, in debug and release
/// builds): read into a heap allocation with [`read_into`](Self::read_into), made with
/// [`FromZeros::new_box_zeroed`](zerocopy::FromZeros::new_box_zeroed) of the crate's zerocopy
/// re-export, and write from one (`write` takes a reference).
///
/// ```
/// use win_shared_memory::sync::{DEFAULT_PATIENCE, SeqLock};
/// use win_shared_memory::zerocopy::FromZeros;
/// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
///
/// type Image = [u8; 8 << 20]; // 8 MiB
/// # let name = format!("Local\\doc_seqlock_large_{}", std::process::id());
/// let writer = SharedMemoryLink::<SeqLock<Image>, ReadWrite>::create(&name)?;
/// let mut image = Image::new_box_zeroed().expect("memory for it");
/// image[42] = 7;
/// writer.seqlock().write(&image)?;
///
/// let reader = SharedMemoryLink::<SeqLock<Image>, ReadOnly>::open(&name)?;
/// let mut copy = Image::new_box_zeroed().expect("memory for it");
/// reader.seqlock().read_into(&mut copy, DEFAULT_PATIENCE)?;
/// assert_eq!(copy[42], 7);
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
        let write = self.sequence.begin_write(patience)?;
        self.store(value);
        self.sequence.end_write(write)
    }

    /// Publishes `value` as the holder of the region's writer role (see
    /// [`take_writer_role`](crate::SharedMemory::take_writer_role)), the one writer there is:
    /// no compare-exchange with other writers, and a write left half done is a dead writer's,
    /// taken over at once (no [`recover`](Self::recover) call, no wait for a stalled writer).
    /// Use the role of the region this lock is in, and let every writer of the lock take the
    /// role: a writer without it could interleave with this one. This one's plain store can
    /// then take the sequence back over the other's whole write, so that readers accept a copy
    /// that mixes the two writes and count one update fewer (a [`wait_for_change`] sleeps
    /// through it), though neither writer reports [`SeqLockError::Superseded`]; never memory
    /// errors.
    ///
    /// [`wait_for_change`]: Self::wait_for_change
    ///
    /// ```
    /// use win_shared_memory::sync::SeqLock;
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_seqlock_write_as_{}", std::process::id());
    /// let link = SharedMemoryLink::<SeqLock<[f32; 2]>, ReadWrite>::create(&name)?;
    /// let role = link.take_writer_role()?;
    /// link.seqlock().write_as(&role, &[1.0, 2.0])?;
    /// assert_eq!(link.seqlock().read()?, [1.0, 2.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn write_as(&self, _role: &WriterRole, value: &T) -> Result<(), SeqLockError> {
        let write = self.sequence.begin_owned_write(2);
        self.store(value);
        self.sequence.end_write(write)
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
        let write = self.sequence.take_over(2);
        self.store(value);
        self.sequence.end_write(write)
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
        self.sequence.completed_writes()
    }

    /// Waits until a write has completed since version `seen` (a [`version`](Self::version),
    /// or what an earlier wait returned) and returns the version now; `None` once `timeout`
    /// has passed without one. A reader that passes back what the last wait returned never
    /// misses a change, however soon after the call it comes or however long before it, and
    /// knows how many writes it skipped: `now - seen` completed where it expected one. A write
    /// in progress counts once it is complete; one left in progress for
    /// [`DEFAULT_PATIENCE`](super::DEFAULT_PATIENCE) is a writer that died mid-write
    /// ([`SeqLockError::Stalled`]).
    ///
    /// How it waits:
    ///
    /// - Linux: asleep in the kernel (a futex on the sequence), woken by the write, once a
    ///   writer of this version has written the lock (its mark in the sequence's spare word
    ///   tells readers that they may register there). A write costs one load more while nobody
    ///   waits, and a futex wake (a system call) when readers do. A read-only handle
    ///   ([`SeqLockReader`]) registers through a writable view of the page of the lock, where
    ///   the region's permissions let the process write it.
    /// - Otherwise it polls: on Windows and macOS, where processes share no futex; before the
    ///   first such write, and for writers that never wake readers (version 0.2, games, a
    ///   Windows program under Wine writing a region shared with Linux); for a read-only handle
    ///   that may not write the region. It looks at the sequence every millisecond, asleep in
    ///   between, and after a second without a change every 16 ms (an idle waiter costs a
    ///   fraction of a percent of a core).
    /// - After a publisher restarts, or once the 31-bit version wraps (2^31 writes), the version
    ///   returned may be below `seen`: count skipped writes with `saturating_sub`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use win_shared_memory::sync::SeqLock;
    ///
    /// let lock = Arc::new(SeqLock::new(0_u32));
    /// let seen = lock.version();
    /// let writer = std::thread::spawn({
    ///     let lock = Arc::clone(&lock);
    ///     move || lock.write(&7)
    /// });
    /// let now = lock.wait_for_change(seen, Duration::from_secs(10))?;
    /// assert_eq!(now, Some(seen + 1));
    /// assert_eq!(lock.read()?, 7);
    /// writer.join().unwrap()?;
    /// // Nothing new since: the wait ends at its timeout.
    /// assert_eq!(lock.wait_for_change(seen + 1, Duration::from_millis(5))?, None);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn wait_for_change(
        &self,
        seen: u64,
        timeout: Duration,
    ) -> Result<Option<u64>, SeqLockError> {
        let waiting = self.sequence.waiting_word();
        self.sequence
            .wait_for_change(seen, timeout, waiting, &mut Backoff::default())
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
        SeqLockReader {
            // SAFETY: as for the read-write accessor; reading never writes the view.
            lock: unsafe { self.get() },
            view: self.region(),
        }
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
        Ok(SeqLockReader {
            // SAFETY: as for the read-write accessor; reading never writes the view (plain
            // loads of the 32-bit sequence and the copy's loads).
            lock: unsafe { lock.as_ref() },
            view: self,
        })
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
pub struct SeqLockReader<'a, T> {
    lock: &'a SeqLock<T>,
    /// The read-only view the lock is in, for a wait to register through
    /// ([`SharedMemory::writable_word`]).
    view: &'a SharedMemory<ReadOnly>,
}

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
        self.lock.read()
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
        self.lock.read_into(target, patience)
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
        self.lock.version()
    }

    /// As [`SeqLock::wait_for_change`]. On Linux the wait registers through a second, writable
    /// view of the region, made on its first wait (where the region's permissions let this
    /// process write it; else it polls, every millisecond while changes come).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use win_shared_memory::sync::SeqLock;
    /// # use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    /// # let name = format!("Local\\doc_seqlock_reader_wait_{}", std::process::id());
    /// let writer = SharedMemoryLink::<SeqLock<u8>, ReadWrite>::create(&name)?;
    /// let reader = SharedMemoryLink::<SeqLock<u8>, ReadOnly>::open(&name)?;
    /// let seen = reader.seqlock().version();
    /// writer.seqlock().write(&3)?;
    /// assert_eq!(reader.seqlock().wait_for_change(seen, Duration::from_secs(10))?, Some(seen + 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_change(
        &self,
        seen: u64,
        timeout: Duration,
    ) -> Result<Option<u64>, SeqLockError> {
        self.sequence().wait(seen, timeout, &mut Backoff::default())
    }

    /// The sequence, in this reader's view.
    pub(crate) fn sequence(&self) -> InView<'_> {
        self.lock.sequence.in_view(self.view)
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
        self.lock.read_within(patience)
    }
}

impl<T> fmt::Debug for SeqLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeqLock")
            .field("sequence", &self.sequence.load())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

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
