//! Regions versioned the way games publish telemetry: consistent copies out of them, waits for
//! their updates, and the publisher's side, bitwise compatible with the rFactor 2 plugin's
//! (`InterlockedIncrement` of the begin counter, the data, `InterlockedIncrement` of the end
//! counter) and Project CARS 2's (the sequence number taken odd, the data, taken even).

use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::{Duration, Instant};

use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::poll::Backoff;
use super::sequence::{Seen, read_consistent};
use crate::{Access, ReadWrite, SharedMemory, SharedMemoryError, SharedMemoryLink, copy};

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
        self.wait_for_versioned_change_paced(versioning, seen, timeout, &mut Backoff::default())
    }

    /// The wait, its looks paced by `backoff`: for a caller that waits in short waits again and
    /// again ([`Follower`](crate::follow::Follower)).
    pub(crate) fn wait_for_versioned_change_paced(
        &self,
        versioning: Versioning,
        seen: u64,
        timeout: Duration,
        backoff: &mut Backoff,
    ) -> Result<Option<u64>, SharedMemoryError> {
        let version = self.version_counters(versioning)?;
        let deadline = Instant::now().checked_add(timeout);
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

    /// Refuses begin and end counters that overlap: they could never tell an update in
    /// progress, so every copy would count as whole.
    fn check_versioning(&self, versioning: Versioning) -> Result<(), SharedMemoryError> {
        match versioning {
            Versioning::BeginEnd { begin, end } if begin.abs_diff(end) < size_of::<u32>() => {
                Err(SharedMemoryError::SynchronizationRefused {
                    name: self.name().to_owned(),
                    call: "versioned counters",
                    reason: "the begin and end counters overlap, so they could never tell an \
                             update in progress",
                })
            }
            _ => Ok(()),
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
        self.check_versioning(versioning)?;
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

impl SharedMemory<ReadWrite> {
    /// Publishes `value` at `offset` as a publisher that versions its region does, so that
    /// readers ([`read_versioned`](Self::read_versioned), a game's own readers) never take a
    /// torn copy: `BeginEnd` increments the begin counter, writes the data, then sets the end
    /// counter equal to the begin one; `OddEven` takes the sequence number to the next odd
    /// value, writes the data, then to the even one after it. The counters' bytes, where they
    /// lie within the data, are left to the counters; a counter across the start of the data,
    /// or begin and end counters that overlap, are refused
    /// ([`SharedMemoryError::SynchronizationRefused`]). One publisher at a time.
    ///
    /// Each counter update is a sequentially consistent read-modify-write (`InterlockedIncrement`
    /// in the games' plugins), and the data stores sit between them as a sequence lock's do.
    /// A publisher that died mid-update left the counters apart (rFactor 2's begin one ahead,
    /// or an odd sequence number): the next update brings them back together, where an
    /// increment of each would keep them apart for ever.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::Versioning;
    /// use win_shared_memory::{ReadWrite, SharedMemory};
    ///
    /// # let name = format!("Local\\doc_write_versioned_{}", std::process::id());
    /// let mut buffer = SharedMemory::<ReadWrite>::create(&name, 8 + 16)?;
    /// let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
    /// buffer.write_versioned(8, versioning, &[1.5_f64, 2.5])?;
    /// assert_eq!(buffer.read_at::<[u32; 2]>(0)?, [1, 1]); // begin and end, one update
    /// let data: [f64; 2] = buffer.read_versioned(8, versioning, Duration::from_millis(100))?;
    /// assert_eq!(data, [1.5, 2.5]);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn write_versioned<T: IntoBytes + Immutable + ?Sized>(
        &mut self,
        offset: usize,
        versioning: Versioning,
        value: &T,
    ) -> Result<(), SharedMemoryError> {
        let bytes = value.as_bytes();
        let target = self.bounds(offset, bytes.len())?;
        let counter = |at: usize| -> Result<&AtomicU32, SharedMemoryError> {
            let counter = self.checked::<u32>(at, 1)?;
            // SAFETY: in bounds and aligned (checked), in the writable view that `self` keeps
            // mapped; every publisher and reader touches the counters atomically only.
            Ok(unsafe { AtomicU32::from_ptr(counter.as_ptr()) })
        };
        let counters = match versioning {
            Versioning::BeginEnd { begin, end } => [Some(begin), Some(end)],
            Versioning::OddEven { sequence } => [Some(sequence), None],
        };
        self.check_versioning(versioning)?;
        let counters: Vec<usize> = counters.into_iter().flatten().collect();
        if counters
            .iter()
            .any(|&at| at < offset && at + size_of::<u32>() > offset)
        {
            return Err(SharedMemoryError::SynchronizationRefused {
                name: self.name().to_owned(),
                call: "write_versioned",
                reason: "a counter overlaps the start of the data",
            });
        }
        let holes: Vec<usize> = counters
            .iter()
            .filter_map(|at| at.checked_sub(offset))
            .collect();
        let runs = runs_between(bytes.len(), &holes);
        let write = || {
            for run in &runs {
                // SAFETY: `run` lies within `bytes` and so within the range `bounds` proved
                // inside the writable view; `bytes` is memory of this process that `&T` keeps
                // stable (`T: Immutable`).
                unsafe {
                    copy::to_shared(
                        bytes.as_ptr().add(run.start),
                        target.as_ptr().add(run.start),
                        run.len(),
                    )
                };
            }
        };
        match versioning {
            Versioning::BeginEnd { begin, end } => {
                let (begin, end) = (counter(begin)?, counter(end)?);
                let started = begin.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
                // Keeps the data stores after the new begin value for a reader that sees one of
                // them (the sequence engine's protocol).
                fence(Ordering::Release);
                write();
                end.store(started, Ordering::SeqCst);
            }
            Versioning::OddEven { sequence } => {
                let sequence = counter(sequence)?;
                // From even to the next odd value; from an odd one (a publisher that died
                // mid-update) to the odd one after it, so that readers see a new update.
                let step = |now: u32| now.wrapping_add(if now % 2 == 1 { 2 } else { 1 });
                let previous = sequence
                    .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |now| Some(step(now)))
                    .unwrap_or_else(|now| now);
                let odd = step(previous);
                fence(Ordering::Release);
                write();
                sequence.store(odd.wrapping_add(1), Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

/// The runs of `0..len` that miss the 4-byte counters at `holes` (offsets from the start, any
/// order, some perhaps past the end).
fn runs_between(len: usize, holes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut holes: Vec<usize> = holes.iter().copied().filter(|&at| at < len).collect();
    holes.sort_unstable();
    let mut runs = Vec::with_capacity(holes.len() + 1);
    let mut start = 0;
    for hole in holes {
        if hole > start {
            runs.push(start..hole);
        }
        start = start.max(hole + size_of::<u32>());
    }
    if start < len {
        runs.push(start..len);
    }
    runs
}

impl<T: FromBytes + IntoBytes + Immutable, A: Access> SharedMemoryLink<T, A> {
    /// A consistent copy of the whole `T`, from a region its publisher versions itself with
    /// counters inside `T` (rFactor 2's structs begin with their version block): the typed
    /// [`SharedMemory::read_versioned`], whose region the link checked to hold a `T`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::Versioning;
    /// use win_shared_memory::zerocopy::{FromBytes, Immutable, IntoBytes};
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// /// rFactor 2's layout: the version block, then the data.
    /// #[repr(C)]
    /// #[derive(FromBytes, IntoBytes, Immutable, Clone, Copy, Debug, PartialEq)]
    /// #[zerocopy(crate = "win_shared_memory::zerocopy")]
    /// struct Telemetry {
    ///     version_update_begin: u32,
    ///     version_update_end: u32,
    ///     speed: f64,
    /// }
    /// const VERSIONING: Versioning = Versioning::BeginEnd { begin: 0, end: 4 };
    ///
    /// # let name = format!("Local\\doc_link_versioned_{}", std::process::id());
    /// let mut game = SharedMemoryLink::<Telemetry, ReadWrite>::create(&name)?;
    /// game.write_versioned(VERSIONING, &Telemetry { version_update_begin: 0, version_update_end: 0, speed: 61.0 })?;
    ///
    /// let overlay = SharedMemoryLink::<Telemetry, ReadOnly>::open(&name)?;
    /// let copy = overlay.read_versioned(VERSIONING, Duration::from_millis(100))?;
    /// assert_eq!((copy.speed, copy.version_update_end), (61.0, 1));
    /// assert_eq!(overlay.versioned_updates(VERSIONING)?, 1);
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn read_versioned(
        &self,
        versioning: Versioning,
        patience: Duration,
    ) -> Result<T, SharedMemoryError> {
        self.region().read_versioned(0, versioning, patience)
    }

    /// [`read_versioned`](Self::read_versioned) into `target`, for large values (no copy on
    /// the stack); as [`SharedMemory::read_versioned_into`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::Versioning;
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_versioned_into_{}", std::process::id());
    /// // A sequence number, then 64 KiB of data.
    /// let _game = SharedMemoryLink::<[u32; 16 * 1024 + 2], ReadWrite>::create(&name)?;
    /// let overlay = SharedMemoryLink::<[u32; 16 * 1024 + 2], ReadOnly>::open(&name)?;
    /// let mut copy = vec![[0_u32; 16 * 1024 + 2]; 1].into_boxed_slice();
    /// overlay.read_versioned_into(Versioning::OddEven { sequence: 0 }, &mut copy[0], Duration::from_millis(100))?;
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn read_versioned_into(
        &self,
        versioning: Versioning,
        target: &mut T,
        patience: Duration,
    ) -> Result<(), SharedMemoryError> {
        self.region()
            .read_versioned_into(0, versioning, target, patience)
    }

    /// As [`SharedMemory::versioned_updates`] (example on
    /// [`read_versioned`](Self::read_versioned)).
    pub fn versioned_updates(&self, versioning: Versioning) -> Result<u64, SharedMemoryError> {
        self.region().versioned_updates(versioning)
    }

    /// As [`SharedMemory::wait_for_versioned_change`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use win_shared_memory::sync::Versioning;
    /// use win_shared_memory::{ReadOnly, ReadWrite, SharedMemoryLink};
    ///
    /// # let name = format!("Local\\doc_link_versioned_wait_{}", std::process::id());
    /// let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
    /// let mut game = SharedMemoryLink::<[u32; 4], ReadWrite>::create(&name)?;
    /// let overlay = SharedMemoryLink::<[u32; 4], ReadOnly>::open(&name)?;
    /// game.write_versioned(versioning, &[0, 0, 7, 8])?;
    /// assert_eq!(overlay.wait_for_versioned_change(versioning, 0, Duration::from_secs(10))?, Some(1));
    /// # Ok::<(), win_shared_memory::SharedMemoryError>(())
    /// ```
    pub fn wait_for_versioned_change(
        &self,
        versioning: Versioning,
        seen: u64,
        timeout: Duration,
    ) -> Result<Option<u64>, SharedMemoryError> {
        self.region()
            .wait_for_versioned_change(versioning, seen, timeout)
    }
}

impl<T: FromBytes + IntoBytes + Immutable> SharedMemoryLink<T, ReadWrite> {
    /// Publishes `value` as [`SharedMemory::write_versioned`] does, the counters inside `T`
    /// (their bytes in `value` are not written: the counters are the protocol's). Example on
    /// [`read_versioned`](Self::read_versioned).
    pub fn write_versioned(
        &mut self,
        versioning: Versioning,
        value: &T,
    ) -> Result<(), SharedMemoryError> {
        self.region_mut().write_versioned(0, versioning, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_runs_miss_the_counters_wherever_they_are() {
        let runs = |len, holes: &[usize]| -> Vec<(usize, usize)> {
            runs_between(len, holes)
                .into_iter()
                .map(|run| (run.start, run.end))
                .collect()
        };
        assert_eq!(runs(16, &[]), [(0, 16)]);
        assert_eq!(runs(16, &[0, 4]), [(8, 16)]);
        assert_eq!(runs(16, &[4, 0]), [(8, 16)]);
        assert_eq!(runs(16, &[8]), [(0, 8), (12, 16)]);
        assert_eq!(runs(16, &[14]), [(0, 14)]);
        assert_eq!(runs(8, &[0, 4]), []);
        assert_eq!(runs(8, &[20]), [(0, 8)]);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map shared memory")]
    fn an_update_after_a_dead_publishers_brings_the_counters_together() {
        let name = format!("Local\\wsm_unit_versioned_repair_{}", std::process::id());
        let mut region = SharedMemory::<ReadWrite>::create(&name, 16).unwrap();
        let begin_end = Versioning::BeginEnd { begin: 0, end: 4 };
        region.write_versioned(8, begin_end, &7_u64).unwrap();
        assert_eq!(region.read_at::<[u32; 2]>(0).unwrap(), [1, 1]);
        // A publisher that died after its begin increment.
        region.write_at(0, &[5_u32, 4]).unwrap();
        region.write_versioned(8, begin_end, &8_u64).unwrap();
        assert_eq!(region.read_at::<[u32; 2]>(0).unwrap(), [6, 6]);

        let odd_even = Versioning::OddEven { sequence: 0 };
        region.write_at(0, &2_u32).unwrap();
        region.write_versioned(8, odd_even, &9_u64).unwrap();
        assert_eq!(region.read_at::<u32>(0).unwrap(), 4);
        region.write_at(0, &5_u32).unwrap(); // died mid-update
        region.write_versioned(8, odd_even, &10_u64).unwrap();
        assert_eq!(region.read_at::<u32>(0).unwrap(), 8);
        assert_eq!(region.read_at::<u64>(8).unwrap(), 10);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map shared memory")]
    fn counters_across_the_data_or_on_each_other_are_refused() {
        let name = format!("Local\\wsm_unit_versioned_refused_{}", std::process::id());
        let mut region = SharedMemory::<ReadWrite>::create(&name, 16).unwrap();
        let refused = |result: Result<(), SharedMemoryError>| {
            matches!(
                result,
                Err(SharedMemoryError::SynchronizationRefused { .. })
            )
        };
        let across = Versioning::BeginEnd { begin: 0, end: 4 };
        assert!(refused(region.write_versioned(2, across, &[0xAA_u8; 8])));
        assert_eq!(region.read_at::<[u32; 2]>(0).unwrap(), [0, 0]);
        let shared = Versioning::BeginEnd { begin: 0, end: 0 };
        assert!(refused(region.write_versioned(8, shared, &1_u64)));
        assert!(refused(
            region
                .read_versioned::<u64>(8, shared, Duration::ZERO)
                .map(drop)
        ));
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map shared memory")]
    fn counters_inside_the_value_are_left_to_the_protocol() {
        let name = format!("Local\\wsm_unit_versioned_inside_{}", std::process::id());
        let mut link = SharedMemoryLink::<[u32; 4], ReadWrite>::create(&name).unwrap();
        let versioning = Versioning::BeginEnd { begin: 0, end: 4 };
        link.write_versioned(versioning, &[99, 99, 7, 8]).unwrap();
        link.write_versioned(versioning, &[99, 99, 9, 10]).unwrap();
        assert_eq!(link.read(), [2, 2, 9, 10]);
    }
}
