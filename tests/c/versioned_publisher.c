/*
 * versioned_publisher: publishes telemetry the way games do, with plain Win32
 * calls, bracketing every update with both versioning schemes readers meet:
 * rFactor 2's begin/end counters (mVersionUpdateBegin before the update,
 * mVersionUpdateEnd after) and Project CARS 2's sequence number (odd while
 * updating), each bumped with InterlockedIncrement, the data with memcpy.
 *
 * Usage: versioned_publisher NAME UPDATES
 *   Create the mapping NAME, print "ready\n", make UPDATES updates (update i
 *   sets every data word to i), then wait for a line on stdin (or EOF).
 *
 * Exit codes: 0 ok, 1 bad command line, 2 Win32 failure (GetLastError() on
 * stderr). Built by `cargo xtask test`, like every C program in tests/c.
 */
#include <windows.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#define WORDS 512

/* The layout the Rust test reads: counters at 0, 4 and 8, data at 16. */
struct Published {
    volatile LONG begin;
    volatile LONG end;
    volatile LONG sequence;
    LONG padding;
    unsigned long long data[WORDS];
};

int wmain(int argc, wchar_t **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: versioned_publisher NAME UPDATES\n");
        return 1;
    }
    _setmode(_fileno(stdout), _O_BINARY);
    long long updates = _wtoi64(argv[2]);
    HANDLE mapping = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0,
                                        sizeof(struct Published), argv[1]);
    if (mapping == NULL) {
        fprintf(stderr, "versioned_publisher: CreateFileMappingW failed: %lu\n", GetLastError());
        return 2;
    }
    struct Published *published =
        MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, sizeof(struct Published));
    if (published == NULL) {
        fprintf(stderr, "versioned_publisher: MapViewOfFile failed: %lu\n", GetLastError());
        CloseHandle(mapping);
        return 2;
    }
    printf("ready\n");
    fflush(stdout);

    unsigned long long staged[WORDS];
    for (long long update = 1; update <= updates; update++) {
        for (int word = 0; word < WORDS; word++)
            staged[word] = (unsigned long long)update;
        InterlockedIncrement(&published->begin);
        InterlockedIncrement(&published->sequence);
        memcpy(published->data, staged, sizeof staged);
        InterlockedIncrement(&published->sequence);
        InterlockedIncrement(&published->end);
        Sleep(0);
    }

    char line[64];
    fgets(line, sizeof line, stdin);
    UnmapViewOfFile(published);
    CloseHandle(mapping);
    return 0;
}
