/*
 * win32_peer: a foreign process that shares memory the way games and their
 * plugins do, with nothing but plain Win32 calls (CreateFileMappingW,
 * OpenFileMappingW, MapViewOfFile, UnmapViewOfFile, CloseHandle). The Rust
 * integration tests spawn it to prove interoperability with code that was
 * not written against this crate.
 *
 * Built by `cargo xtask test` (x86_64-w64-mingw32-gcc -municode, so the
 * entry point is wmain and names arrive as UTF-16) into
 * target/c-peers/win32_peer.exe; tests find it through WSM_C_PEER_DIR.
 *
 * Usage:
 *   win32_peer create NAME SIZE SEED
 *       Create a pagefile-backed mapping NAME of SIZE bytes, fill byte i with
 *       (i * 31 + SEED) & 0xFF, print "ready\n", then wait for one line on
 *       stdin (or EOF). If the line is "verify-bumped", check that every byte
 *       is now (i * 31 + SEED + 1) & 0xFF. Keeps the mapping alive until
 *       then.
 *   win32_peer read NAME SIZE SEED
 *       Open the existing mapping NAME read-only, map SIZE bytes and check
 *       byte i == (i * 31 + SEED) & 0xFF.
 *
 * Exit codes: 0 ok, 1 bad command line, 2 Win32 failure (GetLastError() on
 * stderr), 3 pattern mismatch (first bad index on stderr), 4 `read` found no
 * mapping of that name (ERROR_FILE_NOT_FOUND).
 */
#define __USE_MINGW_ANSI_STDIO 1 /* C99 printf formats (%llu) with msvcrt */
#include <windows.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#define EXIT_USAGE 1
#define EXIT_WIN32 2
#define EXIT_MISMATCH 3
#define EXIT_NOT_FOUND 4

/* Report a failed Win32 call the same way everywhere; returns EXIT_WIN32. */
static int win32_failure(const char *what)
{
    DWORD err = GetLastError();
    fprintf(stderr, "win32_peer: %s failed: GetLastError()=%lu\n", what,
            (unsigned long)err);
    return EXIT_WIN32;
}

/* The byte every test agrees on for offset i. */
static unsigned char pattern(unsigned long long i, unsigned long long seed)
{
    return (unsigned char)((i * 31 + seed) & 0xFF);
}

/* Strict decimal parse: the whole argument must be a number. */
static int parse_u64(const wchar_t *text, unsigned long long *out)
{
    wchar_t *end = NULL;
    if (text[0] == L'\0' || text[0] == L'-')
        return 0;
    *out = wcstoull(text, &end, 10);
    return *end == L'\0';
}

/* Check the whole view against the pattern for `seed`; 0 or EXIT_MISMATCH. */
static int verify(const unsigned char *view, unsigned long long size,
                  unsigned long long seed)
{
    for (unsigned long long i = 0; i < size; i++) {
        unsigned char want = pattern(i, seed);
        if (view[i] != want) {
            fprintf(stderr,
                    "win32_peer: mismatch at index %llu: got %u, want %u\n", i,
                    (unsigned)view[i], (unsigned)want);
            return EXIT_MISMATCH;
        }
    }
    return 0;
}

/* `create`: publish a mapping, signal readiness, wait for the test's verdict. */
static int cmd_create(const wchar_t *name, unsigned long long size,
                      unsigned long long seed)
{
    HANDLE mapping = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL,
                                        PAGE_READWRITE, (DWORD)(size >> 32),
                                        (DWORD)(size & 0xFFFFFFFFu), name);
    if (mapping == NULL)
        return win32_failure("CreateFileMappingW");

    unsigned char *view =
        MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, (SIZE_T)size);
    if (view == NULL) {
        int rc = win32_failure("MapViewOfFile");
        CloseHandle(mapping);
        return rc;
    }

    for (unsigned long long i = 0; i < size; i++)
        view[i] = pattern(i, seed);

    fputs("ready\n", stdout);
    fflush(stdout);

    int rc = 0;
    char line[256];
    if (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strcmp(line, "verify-bumped") == 0)
            rc = verify(view, size, seed + 1);
    }

    if (!UnmapViewOfFile(view))
        rc = win32_failure("UnmapViewOfFile");
    if (!CloseHandle(mapping))
        rc = win32_failure("CloseHandle");
    return rc;
}

/* `read`: open someone else's mapping read-only and check its contents. */
static int cmd_read(const wchar_t *name, unsigned long long size,
                    unsigned long long seed)
{
    HANDLE mapping = OpenFileMappingW(FILE_MAP_READ, FALSE, name);
    if (mapping == NULL) {
        if (GetLastError() == ERROR_FILE_NOT_FOUND) {
            fprintf(stderr, "win32_peer: no mapping named %ls\n", name);
            return EXIT_NOT_FOUND;
        }
        return win32_failure("OpenFileMappingW");
    }

    const unsigned char *view =
        MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, (SIZE_T)size);
    if (view == NULL) {
        int rc = win32_failure("MapViewOfFile");
        CloseHandle(mapping);
        return rc;
    }

    int rc = verify(view, size, seed);

    if (!UnmapViewOfFile(view))
        rc = win32_failure("UnmapViewOfFile");
    if (!CloseHandle(mapping))
        rc = win32_failure("CloseHandle");
    return rc;
}

int wmain(int argc, wchar_t **argv)
{
    /* Exactly "ready\n" on the pipe, not the CRT's text-mode "ready\r\n". */
    _setmode(_fileno(stdout), _O_BINARY);

    unsigned long long size = 0, seed = 0;
    if (argc != 5 || !parse_u64(argv[3], &size) || !parse_u64(argv[4], &seed) ||
        size > (SIZE_T)-1) {
        fputs("usage: win32_peer create|read NAME SIZE SEED\n", stderr);
        return EXIT_USAGE;
    }
    if (wcscmp(argv[1], L"create") == 0)
        return cmd_create(argv[2], size, seed);
    if (wcscmp(argv[1], L"read") == 0)
        return cmd_read(argv[2], size, seed);
    fputs("usage: win32_peer create|read NAME SIZE SEED\n", stderr);
    return EXIT_USAGE;
}
