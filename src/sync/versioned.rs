//! Consistent copies out of regions that other programs version themselves, the way games
//! publish telemetry.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use zerocopy::{FromBytes, IntoBytes};

use super::poll::Backoff;
use super::sequence::{Seen, read_consistent};
use crate::{Access, SharedMemory, SharedMemoryError, copy};

/// How a publisher marks its updates, for
/// [`SharedMemory::read_versioned`](crate::SharedMemory::read_versioned). Counters are `u32`
/// (a C `unsigned long` on Windows, `unsigned int` elsewhere), at byte offsets in the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// A `begin` counter incremented before each update and an `end` counter after it; a copy
    /// counts when they are equal, and unchanged, before and after it. rFactor 2's
    /// `rF2MappedBufferVersionBlock` (`mVersionUpdateBegin` at 0, `mVersionUpdateEnd` at 4).
    BeginEnd {
        /// The offset of the counter incremented before an update.
        begin: usize,
        /// The offset of the counter incremented after it.
        end: usize,
    },
    /// One sequence number, odd while an update is in progress; a copy counts when it is even,
    /// and unchanged, before and after it. Project CARS 2's `mSequenceNumber`.
    OddEven {
        /// The offset of the sequence number.
        sequence: usize,
    },
}

impl<A: Access> SharedMemory<A> {
    /// A consistent copy of the `T` at `offset`, from a region whose publisher marks its
    /// updates as `versioning` says, retrying for at most `patience`.
    ///
    /// Fails with [`SharedMemoryError::Inconsistent`] when no copy came out whole in time: the
    /// publisher stalled mid-update, or updated too often for a copy to fit in between.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::Versioning;
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_versioned_{}", std::process::id());
    /// // A publisher's buffer: begin and end counters, then the data.
    /// let mut buffer = SharedMemory::<ReadWrite>::create(&name, 8 + 16)?;
    /// buffer.write_at(8, &[3.5_f64, 7.0])?;
    /// let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
    /// let data: [f64; 2] = buffer.read_versioned(8, versioning, Duration::from_millis(100))?;
    /// assert_eq!(data, [3.5, 7.0]);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn read_versioned<T: FromBytes>(
        &self,
        offset: usize,
        versioning: Versioning,
        patience: Duration,
    ) -> Result<T, SharedMemoryError> {
        let mut value = std::mem::MaybeUninit::<T>::uninit();
        // SAFETY: the target is this function's own value, `size_of::<T>()` bytes.
        unsafe {
            self.copy_versioned(
                offset,
                versioning,
                value.as_mut_ptr().cast(),
                size_of::<T>(),
                patience,
            )
        }?;
        // SAFETY: a successful copy wrote every byte, and `T: FromBytes` makes them a `T`.
        Ok(unsafe { value.assume_init() })
    }

    /// [`read_versioned`](Self::read_versioned) into `target`: large snapshots need no copy by
    /// value. On an error `target` holds some valid, possibly torn, value.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::Versioning;
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_versioned_into_{}", std::process::id());
    /// // A publisher's buffer: one sequence number, then 4 KiB of data.
    /// let mut buffer = SharedMemory::<ReadWrite>::create(&name, 8 + 4096)?;
    /// buffer.write_at(8, &[1.5_f32; 1024])?;
    /// let reader = SharedMemory::<ReadOnly>::open(&name)?;
    /// let mut snapshot = Box::new([0.0_f32; 1024]);
    /// let versioning = Versioning::OddEven { sequence: 0 };
    /// reader.read_versioned_into(8, versioning, &mut *snapshot, Duration::from_millis(100))?;
    /// assert_eq!(snapshot[1023], 1.5);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn read_versioned_into<T: FromBytes + IntoBytes + ?Sized>(
        &self,
        offset: usize,
        versioning: Versioning,
        target: &mut T,
        patience: Duration,
    ) -> Result<(), SharedMemoryError> {
        let bytes = target.as_mut_bytes();
        // SAFETY: `bytes` is memory of this process, borrowed exclusively; any bytes written
        // into it leave a valid `T` (`T: FromBytes`).
        unsafe {
            self.copy_versioned(
                offset,
                versioning,
                bytes.as_mut_ptr(),
                bytes.len(),
                patience,
            )
        }
    }

    /// How many updates the publisher's counters say it completed: the `end` counter, or half
    /// the sequence number (an update in progress does not count yet).
    ///
    /// ```
    /// use win_shared_memory::sync::Versioning;
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_versioned_updates_{}", std::process::id());
    /// let mut buffer = SharedMemory::<ReadWrite>::create(&name, 8 + 16)?;
    /// let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
    /// assert_eq!(buffer.versioned_updates(versioning)?, 0);
    /// buffer.write_at(0, &[3_u32, 3])?; // three updates, none in progress
    /// assert_eq!(buffer.versioned_updates(versioning)?, 3);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn versioned_updates(&self, versioning: Versioning) -> Result<u64, SharedMemoryError> {
        Ok(self.version_counters(versioning)?().completed())
    }

    /// Waits until the publisher completed an update since `seen` (a
    /// [`versioned_updates`](Self::versioned_updates), or what an earlier wait returned) and
    /// returns the updates now; `None` once `timeout` has passed without one. Publishers that
    /// version their regions themselves (games) wake nobody, so it looks at their counters
    /// every millisecond, asleep in between, and after a second without an update every
    /// 16 ms: an update is seen about a millisecond late while updates come (at most 16 ms
    /// after a pause), and one that a faster publisher overwrote counts in `now - seen`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::Versioning;
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_versioned_wait_{}", std::process::id());
    /// let mut buffer = SharedMemory::<ReadWrite>::create(&name, 8 + 16)?;
    /// let versioning = Versioning::OddEven { sequence: 0 };
    /// let seen = buffer.versioned_updates(versioning)?;
    /// assert_eq!(buffer.wait_for_versioned_change(versioning, seen, Duration::from_millis(5))?, None);
    /// buffer.write_at(0, &2_u32)?; // one update done
    /// let now = buffer.wait_for_versioned_change(versioning, seen, Duration::from_secs(10))?;
    /// assert_eq!(now, Some(1));
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn wait_for_versioned_change(
        &self,
        versioning: Versioning,
        seen: u64,
        timeout: Duration,
    ) -> Result<Option<u64>, SharedMemoryError> {
        let version = self.version_counters(versioning)?;
        let deadline = Instant::now().checked_add(timeout);
        let mut backoff = Backoff::default();
        loop {
            let now = version().completed();
            if now != seen {
                return Ok(Some(now));
            }
            let pause = backoff.pause();
            let left = deadline.map_or(Some(pause), |deadline| {
                deadline.checked_duration_since(Instant::now())
            });
            match left {
                Some(left) if !left.is_zero() => std::thread::sleep(left.min(pause)),
                _ => return Ok(None),
            }
        }
    }

    /// A reader of the publisher's counters, checked to lie in the view.
    fn version_counters(
        &self,
        versioning: Versioning,
    ) -> Result<impl Fn() -> Seen + '_, SharedMemoryError> {
        let counter = |at: usize| -> Result<&AtomicU32, SharedMemoryError> {
            let counter = self.checked::<u32>(at, 1)?;
            // SAFETY: in bounds and aligned (checked), in the view that `self` keeps mapped; the
            // publisher updates its counters with atomic (interlocked) increments. A 4-byte
            // relaxed load is a plain load on every target, so sound on a read-only view.
            Ok(unsafe { AtomicU32::from_ptr(counter.as_ptr()) })
        };
        let counters = match versioning {
            Versioning::BeginEnd { begin, end } => (counter(begin)?, Some(counter(end)?)),
            Versioning::OddEven { sequence } => (counter(sequence)?, None),
        };
        Ok(move || match counters {
            (begin, Some(end)) => {
                Seen::begin_end(begin.load(Ordering::Relaxed), end.load(Ordering::Relaxed))
            }
            (sequence, None) => Seen::odd_even(u64::from(sequence.load(Ordering::Relaxed))),
        })
    }

    /// Copies `len` bytes at `offset` to `target` until a copy came out whole.
    ///
    /// # Safety
    ///
    /// `target` must be valid for writes of `len` bytes, apart from the view.
    unsafe fn copy_versioned(
        &self,
        offset: usize,
        versioning: Versioning,
        target: *mut u8,
        len: usize,
        patience: Duration,
    ) -> Result<(), SharedMemoryError> {
        let version = self.version_counters(versioning)?;
        let source = self.bounds(offset, len)?;
        read_consistent(patience, version, || {
            // SAFETY: `source` has `len` bytes in the readable view (checked); the caller
            // vouches for `target`.
            unsafe { copy::from_shared(source.as_ptr(), target, len) };
        })
        .map_err(|source| SharedMemoryError::Inconsistent {
            name: self.name().to_owned(),
            source,
        })
    }
}
