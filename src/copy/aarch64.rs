//! The `asm!` copy for aarch64: overlapping moves for up to 64 bytes, a 64-byte loop of
//! `ldp`/`stp` of q registers above. Every instruction is a plain load or store (see the
//! module above).

use std::arch::asm;

// One copy serves both directions: it only loads from the source and only stores to the target.
pub(super) use copy as from_shared;
pub(super) use copy as to_shared;

/// Copies `len` bytes; the caller guarantees both ranges valid and apart.
#[inline(always)]
pub(super) unsafe fn copy(source: *const u8, target: *mut u8, len: usize) {
    // SAFETY: for every arm, the caller guarantees `len` bytes at both; each block loads the
    // head and the tail of the range (which overlap when `len` is below twice the move size)
    // and stores them at the same offsets, so it touches exactly the `len` bytes.
    unsafe {
        let (source_end, target_end) = (source.add(len), target.add(len));
        match len {
            0 => {}
            1 => asm!(
                "ldrb {a:w}, [{s}]",
                "strb {a:w}, [{t}]",
                s = in(reg) source, t = in(reg) target, a = out(reg) _,
                options(nostack, preserves_flags),
            ),
            2..=3 => asm!(
                "ldrh {a:w}, [{s}]",
                "ldurh {b:w}, [{se}, #-2]",
                "strh {a:w}, [{t}]",
                "sturh {b:w}, [{te}, #-2]",
                s = in(reg) source, se = in(reg) source_end,
                t = in(reg) target, te = in(reg) target_end,
                a = out(reg) _, b = out(reg) _,
                options(nostack, preserves_flags),
            ),
            4..=7 => asm!(
                "ldr {a:w}, [{s}]",
                "ldur {b:w}, [{se}, #-4]",
                "str {a:w}, [{t}]",
                "stur {b:w}, [{te}, #-4]",
                s = in(reg) source, se = in(reg) source_end,
                t = in(reg) target, te = in(reg) target_end,
                a = out(reg) _, b = out(reg) _,
                options(nostack, preserves_flags),
            ),
            8..=16 => asm!(
                "ldr {a}, [{s}]",
                "ldur {b}, [{se}, #-8]",
                "str {a}, [{t}]",
                "stur {b}, [{te}, #-8]",
                s = in(reg) source, se = in(reg) source_end,
                t = in(reg) target, te = in(reg) target_end,
                a = out(reg) _, b = out(reg) _,
                options(nostack, preserves_flags),
            ),
            17..=32 => asm!(
                "ldr {a:q}, [{s}]",
                "ldur {b:q}, [{se}, #-16]",
                "str {a:q}, [{t}]",
                "stur {b:q}, [{te}, #-16]",
                s = in(reg) source, se = in(reg) source_end,
                t = in(reg) target, te = in(reg) target_end,
                a = out(vreg) _, b = out(vreg) _,
                options(nostack, preserves_flags),
            ),
            33..=64 => asm!(
                "ldp {a:q}, {b:q}, [{s}]",
                "ldp {c:q}, {d:q}, [{se}, #-32]",
                "stp {a:q}, {b:q}, [{t}]",
                "stp {c:q}, {d:q}, [{te}, #-32]",
                s = in(reg) source, se = in(reg) source_end,
                t = in(reg) target, te = in(reg) target_end,
                a = out(vreg) _, b = out(vreg) _, c = out(vreg) _, d = out(vreg) _,
                options(nostack, preserves_flags),
            ),
            _ => copy_large(source, target, len),
        }
    }
}

/// Copies `len > 64` bytes in 64-byte blocks, the last one overlapping its predecessor.
#[inline(never)]
unsafe fn copy_large(source: *const u8, target: *mut u8, len: usize) {
    // SAFETY: the loop runs while more than 64 bytes are left, so every block is in bounds;
    // the last 64 bytes end exactly at `len`.
    unsafe {
        asm!(
            "2:",
            "ldp {a:q}, {b:q}, [{s}]",
            "ldp {c:q}, {d:q}, [{s}, #32]",
            "stp {a:q}, {b:q}, [{t}]",
            "stp {c:q}, {d:q}, [{t}, #32]",
            "add {s}, {s}, #64",
            "add {t}, {t}, #64",
            "sub {n}, {n}, #64",
            "cmp {n}, #64",
            "b.hi 2b",
            "ldp {a:q}, {b:q}, [{se}, #-64]",
            "ldp {c:q}, {d:q}, [{se}, #-32]",
            "stp {a:q}, {b:q}, [{te}, #-64]",
            "stp {c:q}, {d:q}, [{te}, #-32]",
            s = inout(reg) source => _, t = inout(reg) target => _, n = inout(reg) len => _,
            se = in(reg) source.add(len), te = in(reg) target.add(len),
            a = out(vreg) _, b = out(vreg) _, c = out(vreg) _, d = out(vreg) _,
            options(nostack),
        );
    }
}
