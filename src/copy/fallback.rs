//! The word-atomic copy, for targets without an `asm!` copy and under Miri and loom.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// The bytes of a word, the unit of the copies.
const WORD: usize = size_of::<usize>();

/// Splits `len` bytes at the shared address `shared` into the bytes before its first word
/// boundary and the whole words after them (the rest are bytes again). It depends on the
/// shared address only, so every process of one word size splits a range the same way.
fn split(shared: usize, len: usize) -> (usize, usize) {
    let head = (shared.wrapping_neg() % WORD).min(len);
    (head, (len - head) / WORD)
}

/// As [`super::from_shared`]: relaxed atomic loads of the shared side.
///
/// # Safety
///
/// As [`super::from_shared`].
pub(super) unsafe fn from_shared(source: *const u8, target: *mut u8, len: usize) {
    let (head, words) = split(source as usize, len);
    let body_end = head + words * WORD;
    for index in (0..head).chain(body_end..len) {
        // SAFETY: in bounds, as the caller promised; any byte address is aligned for AtomicU8,
        // and a relaxed load of at most a pointer's size is sound on read-only memory.
        unsafe {
            let byte = AtomicU8::from_ptr(source.add(index).cast_mut()).load(Ordering::Relaxed);
            target.add(index).write(byte);
        }
    }
    for word in 0..words {
        // SAFETY: `source + head` is word-aligned by `split` and has `words` words in bounds;
        // the target has as many bytes (unaligned writes of private memory).
        unsafe {
            let shared = source.add(head).cast::<usize>().add(word).cast_mut();
            let value = AtomicUsize::from_ptr(shared).load(Ordering::Relaxed);
            target
                .add(head)
                .cast::<usize>()
                .add(word)
                .write_unaligned(value);
        }
    }
}

/// As [`super::to_shared`]: relaxed atomic stores of the shared side.
///
/// # Safety
///
/// As [`super::to_shared`].
pub(super) unsafe fn to_shared(source: *const u8, target: *mut u8, len: usize) {
    let (head, words) = split(target as usize, len);
    let body_end = head + words * WORD;
    for index in (0..head).chain(body_end..len) {
        // SAFETY: in bounds, as the caller promised; any byte address is aligned for AtomicU8.
        unsafe {
            AtomicU8::from_ptr(target.add(index)).store(source.add(index).read(), Ordering::Relaxed)
        };
    }
    for word in 0..words {
        // SAFETY: `target + head` is word-aligned by `split` and has `words` words in bounds;
        // the source has as many bytes (unaligned reads of private memory).
        unsafe {
            let value = source.add(head).cast::<usize>().add(word).read_unaligned();
            let shared = target.add(head).cast::<usize>().add(word);
            AtomicUsize::from_ptr(shared).store(value, Ordering::Relaxed);
        }
    }
}
