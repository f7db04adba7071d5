/*
 * wine_game: a third-party Windows program for the Proton/Wine bridge tests, which knows
 * nothing of win-shared-memory: it makes or opens its named mapping with plain Win32 calls,
 * as games and their telemetry tools do, and versions its data as rFactor 2 does
 * (mVersionUpdateBegin at 0 incremented before an update, mVersionUpdateEnd at 4 after it,
 * both with InterlockedIncrement; the data, 64-bit words, from offset 8 on).
 *
 * Usage:
 *   wine_game publish NAME BYTES [PAUSE_MS]
 *     CreateFileMappingW(INVALID_HANDLE_VALUE, ..., BYTES, NAME); prints "ready existed=E"
 *     (E: 1 when the section already existed, as when wsm-bridge made it), then publishes
 *     updates as fast as it can (update i sets every data word to i), or with Sleep(PAUSE_MS)
 *     after each as a game's plugin does, until a line or the end of standard input; prints
 *     "published N" and exits.
 *   wine_game read NAME SNAPSHOTS
 *     OpenFileMappingW(NAME) (made by wsm-bridge --expose), then takes SNAPSHOTS consistent
 *     copies (counters equal and unchanged around the copy), and more until the values
 *     moved on 100 times (a minute at most), and checks each: every word equal (else the
 *     copy is torn) and never smaller than the last one. Prints
 *     "snapshots S torn T advanced A first F last L"; exit 0 only if T is 0, S and A reached.
 *
 * Exit codes: 0 ok, 1 bad command line, 2 Win32 failure, 3 check failed.
 */
#include <windows.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

/* Times the values a reader sees must move on, at least. */
#define ADVANCES 100

struct Header {
    volatile LONG begin;
    volatile LONG end;
};

static volatile LONG stop_publishing;

static DWORD WINAPI wait_for_stdin_line(LPVOID unused)
{
    char line[64];
    (void)unused;
    fgets(line, sizeof line, stdin);
    InterlockedExchange(&stop_publishing, 1);
    return 0;
}

static int publish(const wchar_t *name, unsigned long long bytes, DWORD pause_ms)
{
    HANDLE mapping = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE,
                                        (DWORD)(bytes >> 32), (DWORD)bytes, name);
    if (mapping == NULL) {
        fprintf(stderr, "wine_game: CreateFileMappingW failed: %lu\n", GetLastError());
        return 2;
    }
    int existed = GetLastError() == ERROR_ALREADY_EXISTS;
    unsigned char *view = MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, (SIZE_T)bytes);
    if (view == NULL) {
        fprintf(stderr, "wine_game: MapViewOfFile failed: %lu\n", GetLastError());
        return 2;
    }
    struct Header *header = (struct Header *)view;
    unsigned long long *words = (unsigned long long *)(view + sizeof *header);
    size_t count = (size_t)((bytes - sizeof *header) / sizeof *words);
    printf("ready existed=%d\n", existed);
    fflush(stdout);
    HANDLE waiter = CreateThread(NULL, 0, wait_for_stdin_line, NULL, 0, NULL);
    if (waiter == NULL) {
        fprintf(stderr, "wine_game: CreateThread failed: %lu\n", GetLastError());
        return 2;
    }
    unsigned long long update = 0;
    while (!stop_publishing) {
        update++;
        InterlockedIncrement(&header->begin);
        for (size_t word = 0; word < count; word++)
            words[word] = update;
        InterlockedIncrement(&header->end);
        if (pause_ms > 0)
            Sleep(pause_ms);
    }
    printf("published %llu\n", update);
    fflush(stdout);
    UnmapViewOfFile(view);
    CloseHandle(mapping);
    return 0;
}

static int read_snapshots(const wchar_t *name, long long snapshots)
{
    HANDLE mapping = OpenFileMappingW(FILE_MAP_READ, FALSE, name);
    if (mapping == NULL) {
        fprintf(stderr, "wine_game: OpenFileMappingW failed: %lu\n", GetLastError());
        return 2;
    }
    unsigned char *view = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
    MEMORY_BASIC_INFORMATION info;
    if (view == NULL || VirtualQuery(view, &info, sizeof info) == 0) {
        fprintf(stderr, "wine_game: mapping the view failed: %lu\n", GetLastError());
        return 2;
    }
    const struct Header *header = (const struct Header *)view;
    const volatile unsigned long long *words =
        (const volatile unsigned long long *)(view + sizeof *header);
    /* 512 words at most: the native publisher's layout. */
    size_t count = (info.RegionSize - sizeof *header) / sizeof *words;
    if (count > 512)
        count = 512;
    unsigned long long copy[512], first = 0, last = 0;
    long long taken = 0, torn = 0, advanced = 0;
    /* Until enough copies, and values that moved on often enough (a reader faster than the
       publisher sees each value many times), for a minute at most. */
    ULONGLONG started = GetTickCount64();
    while (taken < snapshots || advanced < ADVANCES) {
        if (GetTickCount64() - started > 60000)
            break;
        LONG begin = header->begin;
        MemoryBarrier();
        if (begin != header->end)
            continue;
        for (size_t word = 0; word < count; word++)
            copy[word] = words[word];
        MemoryBarrier();
        if (header->begin != begin || header->end != begin)
            continue;
        taken++;
        for (size_t word = 1; word < count; word++) {
            if (copy[word] != copy[0]) {
                torn++;
                break;
            }
        }
        if (taken == 1)
            first = copy[0];
        else if (copy[0] > last)
            advanced++;
        else if (copy[0] < last)
            torn++;
        last = copy[0];
    }
    printf("snapshots %lld torn %lld advanced %lld first %llu last %llu\n", taken, torn,
           advanced, first, last);
    fflush(stdout);
    UnmapViewOfFile(view);
    CloseHandle(mapping);
    return torn == 0 && taken >= snapshots && advanced >= ADVANCES ? 0 : 3;
}

int wmain(int argc, wchar_t **argv)
{
    _setmode(_fileno(stdout), _O_BINARY);
    if ((argc == 4 || argc == 5) && wcscmp(argv[1], L"publish") == 0) {
        unsigned long long bytes = _wcstoui64(argv[3], NULL, 10);
        if (bytes < sizeof(struct Header) + 8) {
            fprintf(stderr, "wine_game: BYTES must be at least 16\n");
            return 1;
        }
        DWORD pause_ms = argc == 5 ? (DWORD)_wtoi(argv[4]) : 0;
        return publish(argv[2], bytes, pause_ms);
    }
    if (argc == 4 && wcscmp(argv[1], L"read") == 0)
        return read_snapshots(argv[2], _wtoi64(argv[3]));
    fprintf(stderr, "usage: wine_game publish NAME BYTES [PAUSE_MS] | wine_game read NAME SNAPSHOTS\n");
    return 1;
}
