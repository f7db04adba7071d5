//! Consistent copies out of regions that other programs version themselves, the way games
//! publish telemetry.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[cfg(not(loom))]
use zerocopy::Immutable;
use zerocopy::{FromBytes, IntoBytes};

use super::sequence::{Seen, read_consistent};
#[cfg(not(loom))]
use super::sequence::{
    begin_begin_end_write, begin_odd_even_write, end_begin_end_write, end_odd_even_write,
};
#[cfg(not(loom))]
use crate::ReadWrite;
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
        let version = || match counters {
            (begin, Some(end)) => {
                Seen::begin_end(begin.load(Ordering::Relaxed), end.load(Ordering::Relaxed))
            }
            (sequence, None) => Seen::odd_even(u64::from(sequence.load(Ordering::Relaxed))),
        };
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

// Not in the loom build, whose counters are loom's own type and not at an address.
#[cfg(not(loom))]
impl SharedMemory<ReadWrite> {
    /// Writes `bytes` at `offset` the way a publisher that marks its updates as `versioning`
    /// says does, so that [`read_versioned`](Self::read_versioned) readers (and the games' own
    /// reader code) never take a torn copy: the counters say "writing" before the first byte
    /// changes and "done" after the last. For a program that republishes a game's region,
    /// such as a mirror of it on another machine.
    ///
    /// `BeginEnd`: `begin` is incremented, then the data written, then `end` set equal to
    /// `begin` (a writer that died mid-write left them apart: they are equal again after).
    /// `OddEven`: the sequence is taken from even to odd (waiting at most `patience` for
    /// another writer, which a [`SeqLock`](super::SeqLock) at `sequence` also excludes), then
    /// the data written, then the sequence taken to the next even value. A `SeqLock` whose
    /// data starts 8 bytes after its sequence is written so with `OddEven`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::Versioning;
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_write_versioned_{}", std::process::id());
    /// let mut buffer = SharedMemory::<ReadWrite>::create(&name, 8 + 16)?;
    /// let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
    /// let patience = Duration::from_millis(100);
    /// buffer.write_versioned(8, versioning, [2.5_f64, 4.0].as_slice(), patience)?;
    /// assert_eq!(buffer.read_at::<[u32; 2]>(0)?, [1, 1]);
    /// let data: [f64; 2] = buffer.read_versioned(8, versioning, patience)?;
    /// assert_eq!(data, [2.5, 4.0]);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn write_versioned<T: IntoBytes + Immutable + ?Sized>(
        &mut self,
        offset: usize,
        versioning: Versioning,
        value: &T,
        patience: Duration,
    ) -> Result<(), SharedMemoryError> {
        let bytes = value.as_bytes();
        let counter = |at: usize| -> Result<&AtomicU32, SharedMemoryError> {
            let counter = self.checked::<u32>(at, 1)?;
            // SAFETY: in bounds and aligned (checked), in the writable view that `self` keeps
            // mapped; other processes access the counters only atomically.
            Ok(unsafe { AtomicU32::from_ptr(counter.as_ptr()) })
        };
        let target = self.bounds(offset, bytes.len())?;
        let inconsistent = |source| SharedMemoryError::Inconsistent {
            name: self.name().to_owned(),
            source,
        };
        match versioning {
            Versioning::BeginEnd { begin, end } => {
                let (begin, end) = (counter(begin)?, counter(end)?);
                let started = begin_begin_end_write(begin);
                // SAFETY: `bounds` proved the range inside the writable view; `bytes` is
                // memory of this process that `&T` keeps stable (`T: Immutable`).
                unsafe { copy::to_shared(bytes.as_ptr(), target.as_ptr(), bytes.len()) };
                end_begin_end_write(end, started);
            }
            Versioning::OddEven { sequence } => {
                let sequence = counter(sequence)?;
                let start = begin_odd_even_write(sequence, patience).map_err(inconsistent)?;
                // SAFETY: as for `BeginEnd`.
                unsafe { copy::to_shared(bytes.as_ptr(), target.as_ptr(), bytes.len()) };
                end_odd_even_write(sequence, start).map_err(inconsistent)?;
            }
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A writer republishing with `write_versioned` while a reader copies with
    /// `read_versioned`: every copy the reader accepts is one whole write (all its words
    /// equal), for both schemes, and the counters end as one finished write leaves them.
    #[test]
    fn a_reader_never_accepts_a_torn_write() {
        const WORDS: usize = 4096;
        for versioning in [
            Versioning::BeginEnd { begin: 0, end: 4 },
            Versioning::OddEven { sequence: 0 },
        ] {
            let name = format!("wsm_write_versioned_{}_{versioning:?}", std::process::id())
                .replace([' ', '{', '}', ':', ','], "");
            let mut writer = SharedMemory::<ReadWrite>::create(&name, 8 + WORDS * 8).unwrap();
            let reader = SharedMemory::<crate::ReadOnly>::open(&name).unwrap();
            let writes = 2000_u64;
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    for round in 1..=writes {
                        let words = [round; WORDS];
                        writer
                            .write_versioned(8, versioning, &words, Duration::from_secs(1))
                            .unwrap();
                    }
                });
                let mut copy = Box::new([0_u64; WORDS]);
                let mut accepted = 0;
                while copy[0] < writes {
                    let patience = Duration::from_millis(100);
                    if reader
                        .read_versioned_into(8, versioning, &mut *copy, patience)
                        .is_ok()
                    {
                        assert!(copy.iter().all(|&w| w == copy[0]), "torn: {versioning:?}");
                        accepted += 1;
                    }
                }
                assert!(accepted > 0);
            });
            let counters: [u32; 2] = reader.read_at(0).unwrap();
            let expected = match versioning {
                Versioning::BeginEnd { .. } => [writes as u32, writes as u32],
                Versioning::OddEven { .. } => [2 * writes as u32, 0],
            };
            assert_eq!(counters, expected, "{versioning:?}");
        }
    }
}
