/*
 * Stand-in for Windows' bcryptprimitives.dll, for running Rust test
 * binaries under Wine 8.0.
 *
 * Rust's std (1.78+) on Windows gets its randomness (HashMap seeds, ...)
 * from ProcessPrng in bcryptprimitives.dll. Wine 8.0 ships no such DLL, so
 * every Rust exe dies at load time with STATUS_DLL_NOT_FOUND (c0000135).
 * This shim forwards ProcessPrng to BCryptGenRandom, which Wine does
 * implement. `cargo xtask` builds it and copies it into the private Wine
 * prefix's system32; it is never shipped.
 */
#include <windows.h>
#include <bcrypt.h>
#include <limits.h>

/* Same contract as the real export: fill `data` with `len` random bytes.
 * BCryptGenRandom takes a ULONG length, so larger requests go in chunks. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > (SIZE_T)ULONG_MAX ? ULONG_MAX : (ULONG)len;
        NTSTATUS status = BCryptGenRandom(NULL, data, chunk,
                                          BCRYPT_USE_SYSTEM_PREFERRED_RNG);
        if (!BCRYPT_SUCCESS(status))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
