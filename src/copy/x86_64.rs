//! The `asm!` copy for x86_64: overlapping moves for up to 64 bytes, a 64-byte SSE2 loop (or a
//! 128-byte AVX loop, chosen at run time) above, `rep movsb` for large copies on CPUs with
//! enhanced `rep movsb`. Every instruction is a plain load or store (see the module above).

use std::arch::asm;

/// From this size, `rep movsb` (with ERMS) beats the vector loops: copies that no longer fit
/// in the caches stream as fast as memcpy's.
const REP_MOVSB_FROM: usize = 256 * 1024;

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
                "mov {b}, byte ptr [{s}]",
                "mov byte ptr [{t}], {b}",
                s = in(reg) source, t = in(reg) target, b = out(reg_byte) _,
                options(nostack, preserves_flags),
            ),
            2..=3 => asm!(
                "mov {a:x}, word ptr [{s}]",
                "mov {b:x}, word ptr [{se} - 2]",
                "mov word ptr [{t}], {a:x}",
                "mov word ptr [{te} - 2], {b:x}",
                s = in(reg) source, se = in(reg) source_end,
                t = in(reg) target, te = in(reg) target_end,
                a = out(reg) _, b = out(reg) _,
                options(nostack, preserves_flags),
            ),
            4..=7 => asm!(
                "mov {a:e}, dword ptr [{s}]",
                "mov {b:e}, dword ptr [{se} - 4]",
                "mov dword ptr [{t}], {a:e}",
                "mov dword ptr [{te} - 4], {b:e}",
                s = in(reg) source, se = in(reg) source_end,
                t = in(reg) target, te = in(reg) target_end,
                a = out(reg) _, b = out(reg) _,
                options(nostack, preserves_flags),
            ),
            8..=16 => asm!(
                "mov {a}, qword ptr [{s}]",
                "mov {b}, qword ptr [{se} - 8]",
                "mov qword ptr [{t}], {a}",
                "mov qword ptr [{te} - 8], {b}",
                s = in(reg) source, se = in(reg) source_end,
                t = in(reg) target, te = in(reg) target_end,
                a = out(reg) _, b = out(reg) _,
                options(nostack, preserves_flags),
            ),
            17..=32 => asm!(
                "movdqu {a}, xmmword ptr [{s}]",
                "movdqu {b}, xmmword ptr [{se} - 16]",
                "movdqu xmmword ptr [{t}], {a}",
                "movdqu xmmword ptr [{te} - 16], {b}",
                s = in(reg) source, se = in(reg) source_end,
                t = in(reg) target, te = in(reg) target_end,
                a = out(xmm_reg) _, b = out(xmm_reg) _,
                options(nostack, preserves_flags),
            ),
            33..=64 => asm!(
                "movdqu {a}, xmmword ptr [{s}]",
                "movdqu {b}, xmmword ptr [{s} + 16]",
                "movdqu {c}, xmmword ptr [{se} - 32]",
                "movdqu {d}, xmmword ptr [{se} - 16]",
                "movdqu xmmword ptr [{t}], {a}",
                "movdqu xmmword ptr [{t} + 16], {b}",
                "movdqu xmmword ptr [{te} - 32], {c}",
                "movdqu xmmword ptr [{te} - 16], {d}",
                s = in(reg) source, se = in(reg) source_end,
                t = in(reg) target, te = in(reg) target_end,
                a = out(xmm_reg) _, b = out(xmm_reg) _, c = out(xmm_reg) _, d = out(xmm_reg) _,
                options(nostack, preserves_flags),
            ),
            _ => copy_large(source, target, len),
        }
    }
}

/// Copies more than 64 bytes, with the fastest loop this CPU has.
#[inline(never)]
unsafe fn copy_large(source: *const u8, target: *mut u8, len: usize) {
    // Zen CPUs run `rep movsb` ten times slower when the target is just above the source
    // modulo a page (glibc avoids it too).
    let short_distance = (target as usize).wrapping_sub(source as usize) % 4096 < 64;
    // SAFETY: for every arm, the caller guarantees `len > 64` bytes at both, apart; the CPU
    // features each loop needs are checked first.
    unsafe {
        if len >= REP_MOVSB_FROM && !short_distance && std::is_x86_feature_detected!("ermsb") {
            // The direction flag is clear at every `asm!` block, so this copies forwards.
            asm!(
                "rep movsb",
                inout("rcx") len => _, inout("rsi") source => _, inout("rdi") target => _,
                options(nostack, preserves_flags),
            );
        } else if len >= 256 && std::is_x86_feature_detected!("avx") {
            copy_avx(source, target, len);
        } else {
            copy_sse2(source, target, len);
        }
    }
}

/// Copies `len > 64` bytes in 64-byte blocks, the last one overlapping its predecessor.
unsafe fn copy_sse2(source: *const u8, target: *mut u8, len: usize) {
    // SAFETY: the loop runs while more than 64 bytes are left, so every block is in bounds;
    // the last 64 bytes end exactly at `len`. SSE2 is part of x86_64.
    unsafe {
        asm!(
            "2:",
            "movdqu {a}, xmmword ptr [{s}]",
            "movdqu {b}, xmmword ptr [{s} + 16]",
            "movdqu {c}, xmmword ptr [{s} + 32]",
            "movdqu {d}, xmmword ptr [{s} + 48]",
            "movdqu xmmword ptr [{t}], {a}",
            "movdqu xmmword ptr [{t} + 16], {b}",
            "movdqu xmmword ptr [{t} + 32], {c}",
            "movdqu xmmword ptr [{t} + 48], {d}",
            "add {s}, 64",
            "add {t}, 64",
            "sub {n}, 64",
            "cmp {n}, 64",
            "ja 2b",
            "movdqu {a}, xmmword ptr [{se} - 64]",
            "movdqu {b}, xmmword ptr [{se} - 48]",
            "movdqu {c}, xmmword ptr [{se} - 32]",
            "movdqu {d}, xmmword ptr [{se} - 16]",
            "movdqu xmmword ptr [{te} - 64], {a}",
            "movdqu xmmword ptr [{te} - 48], {b}",
            "movdqu xmmword ptr [{te} - 32], {c}",
            "movdqu xmmword ptr [{te} - 16], {d}",
            s = inout(reg) source => _, t = inout(reg) target => _, n = inout(reg) len => _,
            se = in(reg) source.add(len), te = in(reg) target.add(len),
            a = out(xmm_reg) _, b = out(xmm_reg) _, c = out(xmm_reg) _, d = out(xmm_reg) _,
            options(nostack),
        );
    }
}

/// Copies `len >= 256` bytes: 32 unaligned, then 128-byte blocks stored 32-byte aligned while
/// more than 128 are left, then the last 128 (overlapping).
#[target_feature(enable = "avx")]
unsafe fn copy_avx(source: *const u8, target: *mut u8, len: usize) {
    let skip = (target as usize).wrapping_neg() % 32;
    // SAFETY: `skip < 32 <= len`, and at least 224 bytes follow it, so the loop runs at least
    // once with every block in bounds; the head covers the skipped bytes and the tail ends at
    // `len`. `vzeroupper` leaves the upper halves clean for SSE code after the block.
    unsafe {
        asm!(
            "vmovdqu {a}, ymmword ptr [{s}]",
            "vmovdqu ymmword ptr [{t}], {a}",
            "add {s}, {skip}",
            "add {t}, {skip}",
            "sub {n}, {skip}",
            "2:",
            "vmovdqu {a}, ymmword ptr [{s}]",
            "vmovdqu {b}, ymmword ptr [{s} + 32]",
            "vmovdqu {c}, ymmword ptr [{s} + 64]",
            "vmovdqu {d}, ymmword ptr [{s} + 96]",
            "vmovdqa ymmword ptr [{t}], {a}",
            "vmovdqa ymmword ptr [{t} + 32], {b}",
            "vmovdqa ymmword ptr [{t} + 64], {c}",
            "vmovdqa ymmword ptr [{t} + 96], {d}",
            "add {s}, 128",
            "add {t}, 128",
            "sub {n}, 128",
            "cmp {n}, 128",
            "ja 2b",
            "vmovdqu {a}, ymmword ptr [{se} - 128]",
            "vmovdqu {b}, ymmword ptr [{se} - 96]",
            "vmovdqu {c}, ymmword ptr [{se} - 64]",
            "vmovdqu {d}, ymmword ptr [{se} - 32]",
            "vmovdqu ymmword ptr [{te} - 128], {a}",
            "vmovdqu ymmword ptr [{te} - 96], {b}",
            "vmovdqu ymmword ptr [{te} - 64], {c}",
            "vmovdqu ymmword ptr [{te} - 32], {d}",
            "vzeroupper",
            s = inout(reg) source => _, t = inout(reg) target => _, n = inout(reg) len => _,
            skip = in(reg) skip,
            se = in(reg) source.add(len), te = in(reg) target.add(len),
            a = out(ymm_reg) _, b = out(ymm_reg) _, c = out(ymm_reg) _, d = out(ymm_reg) _,
            options(nostack),
        );
    }
}
