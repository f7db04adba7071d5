//! The one copy between this process's memory and a shared region, which other processes may
//! write at the same time.
//!
//! Rust's memory model makes a plain copy (`ptr::copy`, `memcpy`) that races with a write a
//! data race, undefined behaviour, whatever the bytes are used for afterwards. Every copy in
//! and out of a region therefore goes through [`from_shared`] and [`to_shared`], argued here
//! once:
//!
//! - **x86_64 and aarch64** (not under Miri or loom): the copy is an `asm!` block of plain
//!   loads and stores (vector moves, `rep movsb` for large copies on x86_64 where it is fast).
//!   The compiler cannot see into it, so it cannot assume the bytes stable or duplicate,
//!   invent or drop accesses; the block only promises to behave like *some* Rust code, and it
//!   does: on these CPUs every aligned byte a load or store touches is single-copy atomic, so
//!   the block does exactly what relaxed `AtomicU8` loads (or stores) of each byte would do
//!   (the byte-wise atomic memcpy of RFC 3301), which is no data race. The bytes read may
//!   mix old and new writes, which is why callers only read types valid for any bytes and
//!   validate with the seqlock protocols of [`crate::sync`]; the fences those place around a
//!   copy order it as they order atomics (`rep movsb` included: string stores are not
//!   reordered with other stores, nor string loads with later loads, on x86).
//! - **everywhere else, and under Miri and loom**: relaxed atomic loads and stores of whole
//!   words (`AtomicUsize`, at word-aligned shared addresses) and single bytes (`AtomicU8`) at
//!   the unaligned edges. The split depends only on the shared address and the word size, so
//!   processes of one word size always race with atomics of one size. Words are never wider
//!   than a pointer: std promises plain atomic loads on read-only memory only up to that size
//!   (a 64-bit atomic load on 32-bit x86 or ARM may be a compare-exchange, which faults).
//!
//! Both read the shared side with loads only, so copying out of a read-only view is sound.
//! Under Miri the fallback lets Miri check each access; loom does not see these copies (its
//! models carry their own atomic payloads).

#[cfg(all(target_arch = "aarch64", not(miri), not(loom)))]
mod aarch64;
#[cfg(any(
    miri,
    loom,
    test,
    not(any(target_arch = "x86_64", target_arch = "aarch64"))
))]
mod fallback;
#[cfg(all(target_arch = "x86_64", not(miri), not(loom)))]
mod x86_64;

#[cfg(all(target_arch = "aarch64", not(miri), not(loom)))]
use aarch64 as arch;
#[cfg(any(miri, loom, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
use fallback as arch;
#[cfg(all(target_arch = "x86_64", not(miri), not(loom)))]
use x86_64 as arch;

use std::mem::MaybeUninit;

use zerocopy::FromBytes;

/// Copies `len` bytes of shared memory at `source` into this process's memory at `target`.
///
/// # Safety
///
/// `source` must be valid for reads of `len` bytes (a read-only view will do), `target` valid
/// for writes of `len` bytes and private to this thread for the call; the two must not overlap.
/// Others may write `source` meanwhile, only through this module, atomics or other processes.
#[inline]
pub(crate) unsafe fn from_shared(source: *const u8, target: *mut u8, len: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { arch::from_shared(source, target, len) }
}

/// Copies `len` bytes of this process's memory at `source` into shared memory at `target`.
///
/// # Safety
///
/// `source` must be valid for reads of `len` bytes and not written meanwhile, `target` valid
/// for writes of `len` bytes (a writable view); the two must not overlap. Others may read or
/// write `target` meanwhile, only through this module, atomics or other processes.
#[inline]
pub(crate) unsafe fn to_shared(source: *const u8, target: *mut u8, len: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { arch::to_shared(source, target, len) }
}

/// A `T` copied out of shared memory at `source`, which needs no alignment.
///
/// # Safety
///
/// As [`from_shared`] for `size_of::<T>()` bytes at `source`.
#[inline]
pub(crate) unsafe fn read_value<T: FromBytes>(source: *const u8) -> T {
    let mut value = MaybeUninit::<T>::uninit();
    // SAFETY: the caller vouches for `source`; the target is this function's own value.
    unsafe {
        from_shared(source, value.as_mut_ptr().cast(), size_of::<T>());
        // SAFETY: every byte was written, and `T: FromBytes` makes any bytes a valid `T`.
        value.assume_init()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy under test.
    type Copy = unsafe fn(*const u8, *mut u8, usize);

    /// Every length up to 300 at several alignments of both sides, against a reference copy,
    /// through the primitive this target uses and through the fallback.
    #[test]
    fn copies_every_length_at_every_alignment() {
        let lengths = if cfg!(miri) { 0..=70 } else { 0..=300 };
        let mut pattern: Vec<u8> = (0..400_u32).map(|index| (index * 7 + 3) as u8).collect();
        // Shared memory is reached through raw pointers that may be written (atomics need that
        // permission under Miri even to load).
        let shared = pattern.as_mut_ptr();
        let copies: [(&str, Copy); 4] = [
            ("from_shared", from_shared),
            ("to_shared", to_shared),
            ("fallback::from_shared", fallback::from_shared),
            ("fallback::to_shared", fallback::to_shared),
        ];
        let offsets: &[usize] = if cfg!(miri) {
            &[0, 3]
        } else {
            &[0, 1, 3, 8, 13, 32]
        };
        for (name, copy) in copies {
            for len in lengths.clone() {
                for &from in offsets {
                    for &to in offsets {
                        let mut target = vec![0xA5_u8; len + 80];
                        // SAFETY: both in bounds of separate buffers this thread owns.
                        unsafe { copy(shared.add(from), target.as_mut_ptr().add(to), len) };
                        let source = &pattern[from..from + len];
                        assert_eq!(
                            &target[to..to + len],
                            source,
                            "{name} len {len} {from}->{to}"
                        );
                        assert!(
                            target[..to]
                                .iter()
                                .chain(&target[to + len..])
                                .all(|&b| b == 0xA5),
                            "{name} wrote outside the target: len {len} {from}->{to}"
                        );
                    }
                }
            }
        }
    }

    /// Copies out of a read-only view (where a store, or a 64-bit atomic load that is a
    /// compare-exchange, would fault) at every length and offset up to 300.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map shared memory")]
    fn copies_out_of_a_read_only_view() {
        use crate::{ReadOnly, ReadWrite, SharedMemory};
        let name = format!("wsm_copy_read_only_{}", std::process::id());
        let pattern: Vec<u8> = (0..400_u32).map(|index| (index * 11 + 5) as u8).collect();
        let mut writer = SharedMemory::<ReadWrite>::create(&name, pattern.len()).unwrap();
        writer.write_at(0, pattern.as_slice()).unwrap();
        let reader = SharedMemory::<ReadOnly>::open(&name).unwrap();
        for offset in 0..40 {
            for len in 0..=300 {
                let mut target = vec![0_u8; len];
                reader.read_bytes_at(offset, &mut target).unwrap();
                assert_eq!(
                    target,
                    pattern[offset..offset + len],
                    "offset {offset} len {len}"
                );
            }
        }
    }

    #[test]
    fn reads_a_value_at_any_offset() {
        let bytes: Vec<u8> = (0..32).collect();
        // SAFETY: 8 bytes in bounds.
        let value: u64 = unsafe { read_value(bytes.as_ptr().add(3)) };
        assert_eq!(value.to_ne_bytes(), [3, 4, 5, 6, 7, 8, 9, 10]);
    }
}
