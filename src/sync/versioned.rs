//! Consistent copies out of regions that other programs version themselves, the way games
//! publish telemetry.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use zerocopy::FromBytes;

use super::seqlock::{Seen, copy_words_out, read_consistent};
use crate::{Access, SharedMemory, SharedMemoryError};

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
        let counter = |at: usize| -> Result<&AtomicU32, SharedMemoryError> {
            let counter = self.checked::<u32>(at, 1)?;
            // SAFETY: in bounds and aligned (checked), in the view that `self` keeps mapped; the
            // publisher updates its counters with atomic (interlocked) increments.
            Ok(unsafe { AtomicU32::from_ptr(counter.as_ptr()) })
        };
        let counters = match versioning {
            Versioning::BeginEnd { begin, end } => (counter(begin)?, Some(counter(end)?)),
            Versioning::OddEven { sequence } => (counter(sequence)?, None),
        };
        let version = || match counters {
            (begin, Some(end)) => {
                Seen::begin_end(begin.load(Ordering::Relaxed), end.load(Ordering::Relaxed))
            }
            (sequence, None) => Seen::odd_even(u64::from(sequence.load(Ordering::Relaxed))),
        };
        let source = self.bounds(offset, size_of::<T>())?;
        read_consistent(patience, version, || {
            let mut value = MaybeUninit::<T>::zeroed();
            // SAFETY: the zeroed value's bytes are initialised, so they may be seen as a
            // `[u8]`; `source` has `size_of::<T>()` bytes in the view (checked).
            unsafe {
                let bytes =
                    std::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>());
                copy_words_out(source.as_ptr(), bytes);
                // SAFETY: every byte is set, and `T: FromBytes` makes any bytes a valid `T`.
                value.assume_init()
            }
        })
        .map_err(|source| SharedMemoryError::Inconsistent {
            name: self.name().to_owned(),
            source,
        })
    }
}
