//! A two-slot snapshot for large values: the writer fills the older slot while readers copy
//! the newer one, so a copy that takes as long as a write is not thrown away.

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::time::Duration;

use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::WriterRole;
use super::poll::Backoff;
use super::sequence::{DEFAULT_PATIENCE, InView, Sequence};
use crate::error::SeqLockError;
use crate::{Access, ReadOnly, ReadWrite, SharedMemory, SharedMemoryError, SharedMemoryLink, copy};

/// A value of type `T` published by one writer at a time and copied by any number of readers,
/// in any processes, in two slots: the writer fills the older slot, readers copy the newer.
///
/// Use it instead of a [`SeqLock`](super::SeqLock) for large values written often: a
/// `SeqLock` reader must copy between two writes, and a write of a large value keeps it waiting
/// for as long as the write takes; here a reader is only refused when two writes begin during
/// its copy. Readers never wait for a writer, not even a dead one (they copy the newest complete
/// value); writers never wait for readers, only for each other. A reader never accepts a torn
/// value. It takes twice `T`'s size; a zero-filled region holds a valid `DoubleBuffer<T>`,
/// holding `T`'s zero value.
///
/// The layout (`#[repr(C)]`): the 8-byte sequence of a `SeqLock` (a 32-bit counter, odd while
/// a write is in progress; write `n` goes into slot `n % 2`), then the two slots.
///
/// ```
/// use win_shared_memory::sync::DoubleBuffer;
/// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
///
/// type Frame = DoubleBuffer<[u32; 1024]>;
/// # let name = format!("Local\\doc_double_buffer_{}", std::process::id());
/// let writer = SharedMemoryLink::<Frame, ReadWrite>::create(&name)?;
/// writer.double_buffer().write(&[7; 1024])?;
///
/// let reader = SharedMemoryLink::<Frame, ReadOnly>::open(&name)?;
/// assert_eq!(reader.double_buffer().read()?, [7; 1024]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The values a double buffer is for are often too large for the stack, which
/// [`read`](Self::read) and [`DoubleBuffer::new`] use (a 4 MiB `read` overflows a thread's 2 MiB
/// stack, in debug and release builds): read into a heap allocation with
/// [`read_into`](Self::read_into), made with
/// [`FromZeros::new_box_zeroed`](zerocopy::FromZeros::new_box_zeroed) of the crate's zerocopy
/// re-export, and write from one (`write` takes a reference).
///
/// ```
/// use win_shared_memory::sync::{DEFAULT_PATIENCE, DoubleBuffer};
/// use win_shared_memory::zerocopy::FromZeros;
/// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
///
/// type Frame = [f32; 2 << 20]; // 8 MiB
/// # let name = format!("Local\\doc_double_buffer_large_{}", std::process::id());
/// let writer = SharedMemoryLink::<DoubleBuffer<Frame>, ReadWrite>::create(&name)?;
/// let mut frame = Frame::new_box_zeroed().expect("memory for it");
/// frame[1 << 20] = 0.5;
/// writer.double_buffer().write(&frame)?;
///
/// let reader = SharedMemoryLink::<DoubleBuffer<Frame>, ReadOnly>::open(&name)?;
/// let mut copy = Frame::new_box_zeroed().expect("memory for it");
/// reader.double_buffer().read_into(&mut copy, DEFAULT_PATIENCE)?;
/// assert_eq!(copy[1 << 20], 0.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[repr(C)]
pub struct DoubleBuffer<T> {
    sequence: Sequence,
    slots: [UnsafeCell<T>; 2],
}

// SAFETY: every access to the slots goes through the sequence protocol and the crate's copy,
// so threads (and processes) may share a `DoubleBuffer` whenever its `T` may be sent.
unsafe impl<T: Send> Sync for DoubleBuffer<T> {}

impl<T: FromBytes + IntoBytes + Immutable> DoubleBuffer<T> {
    /// A double buffer holding `value`, for use within one process (in a region, a zero-filled
    /// `DoubleBuffer` is already valid).
    ///
    /// ```
    /// use win_shared_memory::sync::DoubleBuffer;
    ///
    /// let buffer = DoubleBuffer::new([1_u8, 2]);
    /// assert_eq!(buffer.read()?, [1, 2]);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn new(value: T) -> Self {
        Self {
            sequence: Sequence::new(),
            slots: [UnsafeCell::new(value), UnsafeCell::new(T::new_zeroed())],
        }
    }

    /// A copy of the newest value, waiting up to [`DEFAULT_PATIENCE`] for a copy that no
    /// write overtook.
    ///
    /// ```
    /// use win_shared_memory::sync::DoubleBuffer;
    ///
    /// let buffer = DoubleBuffer::new(3_u64);
    /// assert_eq!(buffer.read()?, 3);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn read(&self) -> Result<T, SeqLockError> {
        self.read_within(DEFAULT_PATIENCE)
    }

    /// A copy of the newest value, retrying for at most `patience`; fails with
    /// [`SeqLockError::Starved`] when writes kept overtaking the copies.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::DoubleBuffer;
    ///
    /// let buffer = DoubleBuffer::new(-1_i16);
    /// assert_eq!(buffer.read_within(Duration::from_millis(10))?, -1);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn read_within(&self, patience: Duration) -> Result<T, SeqLockError> {
        let mut value = MaybeUninit::<T>::uninit();
        self.sequence.read_latest(patience, |slot| {
            // SAFETY: the target is this function's own value.
            unsafe { self.copy_out(slot, value.as_mut_ptr().cast()) };
        })?;
        // SAFETY: a successful read copied every byte, and `T: FromBytes` makes them a `T`.
        Ok(unsafe { value.assume_init() })
    }

    /// Copies the newest value into `target`, retrying for at most `patience`: for large
    /// values, it saves [`read`](Self::read)'s moves. On an error `target` holds some valid,
    /// possibly torn, value.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::DoubleBuffer;
    ///
    /// let buffer = DoubleBuffer::new([5_u64; 4096]);
    /// let mut snapshot = Box::new([0; 4096]);
    /// buffer.read_into(&mut snapshot, Duration::from_millis(10))?;
    /// assert_eq!(snapshot[4095], 5);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn read_into(&self, target: &mut T, patience: Duration) -> Result<(), SeqLockError> {
        self.sequence.read_latest(patience, |slot| {
            // SAFETY: `target` is a `T` of this process, borrowed exclusively.
            unsafe { self.copy_out(slot, target.as_mut_bytes().as_mut_ptr()) };
        })
    }

    /// Publishes `value`, waiting up to [`DEFAULT_PATIENCE`] for another writer to finish.
    /// Readers are never waited for.
    ///
    /// ```
    /// use win_shared_memory::sync::DoubleBuffer;
    ///
    /// let buffer = DoubleBuffer::new(0_u32);
    /// buffer.write(&1)?;
    /// buffer.write(&2)?;
    /// assert_eq!(buffer.read()?, 2);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn write(&self, value: &T) -> Result<(), SeqLockError> {
        self.write_within(value, DEFAULT_PATIENCE)
    }

    /// Publishes `value`, waiting at most `patience` for another writer to finish
    /// ([`SeqLockError::Stalled`] if it died mid-write: see [`recover`](Self::recover)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::DoubleBuffer;
    ///
    /// let buffer = DoubleBuffer::new(0.0_f64);
    /// buffer.write_within(&0.5, Duration::from_millis(10))?;
    /// assert_eq!(buffer.read()?, 0.5);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn write_within(&self, value: &T, patience: Duration) -> Result<(), SeqLockError> {
        let write = self.sequence.begin_write(patience)?;
        self.store(write.start(), value);
        self.sequence.end_write(write)
    }

    /// Publishes `value` as the holder of the region's writer role, the one writer there is:
    /// as [`SeqLock::write_as`](super::SeqLock::write_as), a write left half done is a dead
    /// writer's, taken over at once, and a writer without the role could interleave with this
    /// one (its readers then risk what that lock's do).
    ///
    /// ```
    /// use win_shared_memory::sync::DoubleBuffer;
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_double_buffer_write_as_{}", std::process::id());
    /// let link = SharedMemoryLink::<DoubleBuffer<u64>, ReadWrite>::create(&name)?;
    /// let role = link.take_writer_role()?;
    /// link.double_buffer().write_as(&role, &3)?;
    /// assert_eq!(link.double_buffer().read()?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_as(&self, _role: &WriterRole, value: &T) -> Result<(), SeqLockError> {
        // As in `recover`: from a dead writer's odd 2n + 1 to 2n + 5.
        let write = self.sequence.begin_owned_write(4);
        self.store(write.start(), value);
        self.sequence.end_write(write)
    }

    /// Takes over from a writer that died mid-write and publishes `value`; with no write in
    /// progress, it is [`write`](Self::write). Readers kept copying the newest complete value
    /// meanwhile.
    ///
    /// Call it only when the old writer is known to be dead: a live one loses its write
    /// ([`SeqLockError::Superseded`]), and its data may mix with `value` until it stops.
    ///
    /// ```
    /// use win_shared_memory::sync::DoubleBuffer;
    ///
    /// let buffer = DoubleBuffer::new(0_u8);
    /// buffer.recover(&4)?;
    /// assert_eq!(buffer.read()?, 4);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn recover(&self, value: &T) -> Result<(), SeqLockError> {
        // From an odd 2n + 1 (write n + 1 into slot (n + 1) % 2 in progress) to 2n + 5: write
        // n + 2 counts as complete, so readers keep copying slot n % 2, which still holds write
        // n, and this write, n + 3, goes into the dead writer's slot.
        let write = self.sequence.take_over(4);
        self.store(write.start(), value);
        self.sequence.end_write(write)
    }

    /// How many writes have completed (recoveries count a few more): a reader that polls for
    /// news compares this, which touches one cache line, before copying. It wraps after 2^31.
    ///
    /// ```
    /// use win_shared_memory::sync::DoubleBuffer;
    ///
    /// let buffer = DoubleBuffer::new(0_u32);
    /// let seen = buffer.version();
    /// buffer.write(&1)?;
    /// assert_ne!(buffer.version(), seen);
    /// # Ok::<(), win_shared_memory::sync::SeqLockError>(())
    /// ```
    pub fn version(&self) -> u64 {
        self.sequence.completed_writes()
    }

    /// Waits until a write has completed since version `seen` and returns the version now;
    /// `None` once `timeout` has passed without one. The same wait as
    /// [`SeqLock::wait_for_change`](super::SeqLock::wait_for_change), which says how it waits
    /// on each platform.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::DoubleBuffer;
    ///
    /// let buffer = DoubleBuffer::new([0_u8; 64]);
    /// let seen = buffer.version();
    /// buffer.write(&[1; 64])?;
    /// let now = buffer.wait_for_change(seen, Duration::from_secs(10))?;
    /// assert_eq!(now, Some(seen + 1));
    /// assert_eq!(buffer.wait_for_change(seen + 1, Duration::from_millis(5))?, None);
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

    /// Copies `value` into the slot of the write that began at `start`.
    fn store(&self, start: u32, value: &T) {
        let slot = &self.slots[Sequence::slot_of_write(start)];
        // SAFETY: the slot is a live `T` of this buffer that only the writer holding the odd
        // sequence writes, which is us; `value` is memory of this process that `&T` keeps
        // stable.
        unsafe { copy::to_shared(value.as_bytes().as_ptr(), slot.get().cast(), size_of::<T>()) };
    }

    /// Copies slot `slot`, as it is, to `target`.
    ///
    /// # Safety
    ///
    /// `target` must be valid for writes of `size_of::<T>()` bytes, apart from the buffer.
    unsafe fn copy_out(&self, slot: usize, target: *mut u8) {
        // SAFETY: the slot is a live `T` of this buffer (perhaps in a read-only view, which the
        // copy only loads from); the caller vouches for `target`.
        unsafe { copy::from_shared(self.slots[slot].get().cast(), target, size_of::<T>()) };
    }
}

impl<T> fmt::Debug for DoubleBuffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoubleBuffer")
            .field("sequence", &self.sequence.load())
            .finish_non_exhaustive()
    }
}

impl<T: FromBytes + IntoBytes + Immutable> SharedMemoryLink<DoubleBuffer<T>, ReadWrite> {
    /// The double buffer that is the whole region, to read and write. Safe: any bytes are a
    /// valid `DoubleBuffer<T>`, only ever accessed atomically or through the crate's copy.
    ///
    /// ```
    /// use win_shared_memory::sync::DoubleBuffer;
    /// use win_shared_memory::{ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_double_buffer_rw_{}", std::process::id());
    /// let link = SharedMemoryLink::<DoubleBuffer<[u8; 3]>, ReadWrite>::create(&name)?;
    /// link.double_buffer().write(&[1, 2, 3])?;
    /// assert_eq!(link.double_buffer().read()?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn double_buffer(&self) -> &DoubleBuffer<T> {
        // SAFETY: the view holds a `DoubleBuffer<T>` (size and alignment checked when opened);
        // any bytes are a valid one.
        unsafe { self.get() }
    }
}

impl<T: FromBytes + IntoBytes + Immutable> SharedMemoryLink<DoubleBuffer<T>, ReadOnly> {
    /// The double buffer that is the whole region, to read: the view is read-only, so only
    /// the reading half is offered.
    ///
    /// ```
    /// use win_shared_memory::sync::DoubleBuffer;
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_double_buffer_ro_{}", std::process::id());
    /// let _writer = SharedMemoryLink::<DoubleBuffer<u16>, ReadWrite>::create(&name)?;
    /// let reader = SharedMemoryLink::<DoubleBuffer<u16>, ReadOnly>::open(&name)?;
    /// assert_eq!(reader.double_buffer().read()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn double_buffer(&self) -> DoubleBufferReader<'_, T> {
        DoubleBufferReader {
            // SAFETY: as for the read-write accessor; reading never writes the view.
            buffer: unsafe { self.get() },
            view: self.region(),
        }
    }
}

/// The reading half of a [`DoubleBuffer`], for a read-only view.
///
/// ```
/// use std::time::Duration;
/// use win_shared_memory::sync::DoubleBuffer;
/// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
///
/// # let name = format!("Local\\doc_double_buffer_reader_{}", std::process::id());
/// let writer = SharedMemoryLink::<DoubleBuffer<[u64; 512]>, ReadWrite>::create(&name)?;
/// writer.double_buffer().write(&[9; 512])?;
/// let reader = SharedMemoryLink::<DoubleBuffer<[u64; 512]>, ReadOnly>::open(&name)?;
/// let reader = reader.double_buffer();
/// assert_eq!(reader.version(), 1);
/// assert_eq!(reader.wait_for_change(0, Duration::from_secs(10))?, Some(1));
/// assert_eq!(reader.read()?, [9; 512]);
/// let mut snapshot = [0; 512];
/// reader.read_into(&mut snapshot, Duration::from_millis(10))?;
/// assert_eq!(reader.read_within(Duration::from_millis(10))?, snapshot);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DoubleBufferReader<'a, T> {
    buffer: &'a DoubleBuffer<T>,
    /// The read-only view the buffer is in, for a wait to register through.
    view: &'a SharedMemory<ReadOnly>,
}

impl<T: FromBytes + IntoBytes + Immutable> DoubleBufferReader<'_, T> {
    /// As [`DoubleBuffer::read`] (example on the type).
    pub fn read(&self) -> Result<T, SeqLockError> {
        self.buffer.read()
    }

    /// As [`DoubleBuffer::read_within`] (example on the type).
    pub fn read_within(&self, patience: Duration) -> Result<T, SeqLockError> {
        self.buffer.read_within(patience)
    }

    /// As [`DoubleBuffer::read_into`] (example on the type).
    pub fn read_into(&self, target: &mut T, patience: Duration) -> Result<(), SeqLockError> {
        self.buffer.read_into(target, patience)
    }

    /// As [`DoubleBuffer::version`] (example on the type).
    pub fn version(&self) -> u64 {
        self.buffer.version()
    }

    /// As [`DoubleBuffer::wait_for_change`], registering as
    /// [`SeqLockReader::wait_for_change`](super::SeqLockReader::wait_for_change) says (example
    /// on the type).
    pub fn wait_for_change(
        &self,
        seen: u64,
        timeout: Duration,
    ) -> Result<Option<u64>, SeqLockError> {
        self.sequence().wait(seen, timeout, &mut Backoff::default())
    }

    /// The sequence, in this reader's view.
    pub(crate) fn sequence(&self) -> InView<'_> {
        self.buffer.sequence.in_view(self.view)
    }
}

/// A [`DoubleBuffer`] in a region, by size rather than by type: what tools that move regions
/// they know only by name (a mirror, a recorder) read and write it with.
///
/// A `DoubleBuffer<T>` at `offset` (a multiple of 8) whose `T` has `len` bytes and an
/// alignment of at most 8 (numbers up to 64 bits, arrays and `#[repr(C)]` structures of them;
/// not `u128`, `i128` or a type aligned to 16, whose slots start later) is its 8-byte
/// sequence, then its two slots of `len` bytes each, at `offset + 8` and
/// `offset + 8 + len`: the layout the methods below take. A region that is one
/// `SharedMemoryLink<DoubleBuffer<T>>` was made with `size_of::<DoubleBuffer<T>>()` bytes,
/// which is `8 + 2 * len` when `len` is a multiple of 4 (else padding follows the slots); its
/// [`len`](SharedMemory::len) may be more, where the OS rounds sizes up to whole pages (Wine's
/// Windows does), so the value's size is best known rather than taken from the length.
impl<A: Access> SharedMemory<A> {
    /// Copies the newest complete value of the double buffer at `offset`, whose value has
    /// `target`'s size, into `target`, retrying for at most `patience` as
    /// [`DoubleBuffer::read_within`] does. On an error `target` holds some valid, possibly
    /// torn, value.
    ///
    /// Fails with [`SharedMemoryError::OutOfBounds`] or [`SharedMemoryError::Misaligned`] when
    /// the double buffer does not fit at `offset`, and with
    /// [`SharedMemoryError::Inconsistent`] when writes kept overtaking the copies.
    ///
    /// ```
    /// use win_shared_memory::sync::{DEFAULT_PATIENCE, DoubleBuffer};
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_read_double_buffer_{}", std::process::id());
    /// let writer = SharedMemoryLink::<DoubleBuffer<[u32; 256]>, ReadWrite>::create(&name)?;
    /// writer.double_buffer().write(&[7; 256])?;
    ///
    /// // A tool that knows the value's size, not its type.
    /// let region = SharedMemory::<ReadOnly>::open(&name)?;
    /// let mut value = vec![0_u8; 1024];
    /// region.read_double_buffer_into(0, value.as_mut_slice(), DEFAULT_PATIENCE)?;
    /// assert_eq!(value[..4], 7_u32.to_ne_bytes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_double_buffer_into<T: FromBytes + IntoBytes + ?Sized>(
        &self,
        offset: usize,
        target: &mut T,
        patience: Duration,
    ) -> Result<(), SharedMemoryError> {
        let target = target.as_mut_bytes();
        let len = target.len();
        let (sequence, slots) = self.double_buffer_at(offset, len)?;
        sequence
            .read_latest(patience, |slot| {
                // SAFETY: both slots lie in the view (`double_buffer_at` checked them), which
                // the copy only loads from; `target` is memory of this process, borrowed
                // exclusively, and any bytes leave it valid (`T: FromBytes`).
                unsafe { copy::from_shared(slots.add(slot * len), target.as_mut_ptr(), len) };
            })
            .map_err(|source| SharedMemoryError::Inconsistent {
                name: self.name().to_owned(),
                source,
            })
    }

    /// The double buffer's sequence at `offset` and the start of its slots of `len` bytes
    /// each, checked to lie in the view (an error names the whole double buffer: `offset`
    /// and its `8 + 2 * len` bytes).
    fn double_buffer_at(
        &self,
        offset: usize,
        len: usize,
    ) -> Result<(&Sequence, *mut u8), SharedMemoryError> {
        let whole = len
            .checked_mul(2)
            .and_then(|slots| slots.checked_add(size_of::<Sequence>()))
            .unwrap_or(usize::MAX);
        let start = self.bounds(offset, whole)?;
        let sequence = self.checked::<Sequence>(offset, 1)?;
        // SAFETY: `bounds` proved the whole double buffer, from `offset`, in the view; its
        // slots start after the sequence.
        let slots = unsafe { start.as_ptr().add(size_of::<Sequence>()) };
        // SAFETY: in bounds and aligned (checked), in the view `self` keeps mapped; any bytes
        // are a valid sequence, only ever accessed atomically.
        Ok((unsafe { sequence.as_ref() }, slots))
    }
}

impl SharedMemory<ReadWrite> {
    /// Publishes `value` into the double buffer at `offset` (the layout of
    /// [`read_double_buffer_into`](Self::read_double_buffer_into)) as
    /// [`DoubleBuffer::write`] does: readers of the `DoubleBuffer<T>` there, typed or not,
    /// never take a torn value, and those waiting in [`DoubleBuffer::wait_for_change`] are
    /// woken. Writers take turns; a write left in progress for [`DEFAULT_PATIENCE`] is a dead
    /// writer's, taken over as [`DoubleBuffer::recover`] does. Writers that kept the buffer
    /// busy for as long fail it with [`SharedMemoryError::SynchronizationRefused`].
    ///
    /// ```
    /// use win_shared_memory::sync::DoubleBuffer;
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_write_double_buffer_{}", std::process::id());
    /// let mut region = SharedMemory::<ReadWrite>::create(&name, 8 + 2 * 16)?;
    /// region.write_double_buffer(0, &[1.5_f64, 2.5])?;
    ///
    /// let reader = SharedMemoryLink::<DoubleBuffer<[f64; 2]>, ReadOnly>::open(&name)?;
    /// assert_eq!(reader.double_buffer().read()?, [1.5, 2.5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_double_buffer<T: IntoBytes + Immutable + ?Sized>(
        &mut self,
        offset: usize,
        value: &T,
    ) -> Result<(), SharedMemoryError> {
        let value = value.as_bytes();
        let len = value.len();
        let (sequence, slots) = self.double_buffer_at(offset, len)?;
        let refused = |reason| SharedMemoryError::SynchronizationRefused {
            name: self.name().to_owned(),
            call: "write_double_buffer",
            reason,
        };
        let write = match sequence.begin_write(DEFAULT_PATIENCE) {
            Ok(write) => write,
            // As `recover`: from a dead writer's odd 2n + 1 to 2n + 5.
            Err(SeqLockError::Stalled { .. }) => sequence.take_over(4),
            Err(_) => return Err(refused("other writers kept the double buffer busy")),
        };
        let slot = Sequence::slot_of_write(write.start());
        // SAFETY: the slot lies in the writable view (checked); `value` is memory of this
        // process that the borrow keeps stable (`T: Immutable`); `to_shared` is the crate's
        // copy into memory that others may write meanwhile (a writer this one took over as a
        // dead one, a hostile peer): sound whatever they write, though their bytes may then
        // mix with this value's, as `DoubleBuffer::recover` says.
        unsafe { copy::to_shared(value.as_ptr(), slots.add(slot * len), len) };
        sequence.end_write(write).map_err(|_| {
            refused(
                "another writer took the double buffer over during this write, as over a dead one",
            )
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    const ROUNDS: u64 = if cfg!(miri) { 30 } else { 20_000 };

    /// Miri runs a thousand times slower than the machine (and fails weak compare-exchanges at
    /// random): give waits room there.
    const PATIENCE: Duration = if cfg!(miri) {
        Duration::from_secs(600)
    } else {
        DEFAULT_PATIENCE
    };

    /// Readers in threads while a writer publishes: every copy is whole, and they move forward.
    #[test]
    fn readers_never_see_a_torn_value() {
        let buffer = Arc::new(DoubleBuffer::new([0_u64; 64]));
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (buffer, done) = (Arc::clone(&buffer), Arc::clone(&done));
                std::thread::spawn(move || {
                    let mut last = 0;
                    while !done.load(Ordering::Relaxed) {
                        let value = buffer.read_within(PATIENCE).unwrap();
                        assert!(
                            value.iter().all(|&word| word == value[0]),
                            "torn: {value:?}"
                        );
                        assert!(value[0] >= last, "went back from {last} to {}", value[0]);
                        last = value[0];
                    }
                })
            })
            .collect();
        for round in 1..=ROUNDS {
            buffer.write_within(&[round; 64], PATIENCE).unwrap();
        }
        done.store(true, Ordering::Relaxed);
        readers
            .into_iter()
            .for_each(|reader| reader.join().unwrap());
        assert_eq!(buffer.read().unwrap(), [ROUNDS; 64]);
        assert_eq!(buffer.version(), ROUNDS);
    }

    #[test]
    fn a_dead_writer_leaves_readers_the_newest_value_until_recovered() {
        let buffer = DoubleBuffer::new(1_u32);
        buffer.write(&2).unwrap();
        // A writer that begins and never ends, after scribbling over its slot.
        let dead = buffer.sequence.begin_write(DEFAULT_PATIENCE).unwrap();
        buffer.store(dead.start(), &99);
        assert_eq!(buffer.read().unwrap(), 2);
        assert!(matches!(
            buffer.write_within(&3, Duration::from_millis(20)),
            Err(SeqLockError::Stalled { .. })
        ));
        buffer.recover(&4).unwrap();
        assert_eq!(buffer.read().unwrap(), 4);
        assert_eq!(
            buffer.sequence.end_write(dead),
            Err(SeqLockError::Superseded)
        );
        buffer.write(&5).unwrap();
        assert_eq!(buffer.read().unwrap(), 5);
    }
}
