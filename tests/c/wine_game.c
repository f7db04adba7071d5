/*
 * wine_game: a third-party Windows program for the Proton/Wine bridge tests, which knows
 * nothing of win-shared-memory: it makes or opens its named mapping with plain Win32 calls,
 * as games and their telemetry tools do, and versions its data as rFactor 2 does
 * (mVersionUpdateBegin at 0 incremented before an update, mVersionUpdateEnd at 4 after it,
 * both with InterlockedIncrement; the data, 64-bit words, from offset 8 on).
 *
 * Usage:
 *   wine_game publish NAME BYTES
 *     CreateFileMappingW(INVALID_HANDLE_VALUE, ..., BYTES, NAME); prints "ready existed=E"
 *     (E: 1 when the section already existed, as when wsm-bridge made it), then publishes
 *     updates as fast as it can until a line or the end of standard input; prints
 *     "published N" and exits. An update sets every data word to the begin counter it took,
 *     so the data matches the counters, and keeps going up when a later run finds the section
 *     (held by wsm-bridge) with the last run's counters.
 *   wine_game paced NAME=BYTES@HZ...
 *     Makes each section as publish does, prints "ready existed=E" (E: how many existed),
 *     then updates each HZ times a second until a line or the end of standard input: the
 *     first data word is the time the update started (GetSystemTimePreciseAsFileTime, 100 ns
 *     units since 1601), every other word the begin counter it took. Prints "published N".
 *   wine_game read NAME SNAPSHOTS
 *     OpenFileMappingW(NAME) (made by wsm-bridge --expose), prints "opened" once it has a
 *     view (which then holds the section), then takes SNAPSHOTS consistent copies (counters equal and unchanged around the copy), and more until the values
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

/* A section of the game: its counters and data words, mapped whole. */
struct Section {
    struct Header *header;
    unsigned long long *words;
    size_t count;
};

/* CreateFileMappingW(INVALID_HANDLE_VALUE, ..., name) mapped whole; 1 if it existed, 0 if
   made, -1 on failure (said). */
static int make_section(const wchar_t *name, unsigned long long bytes, struct Section *section)
{
    HANDLE mapping = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE,
                                        (DWORD)(bytes >> 32), (DWORD)bytes, name);
    if (mapping == NULL) {
        fprintf(stderr, "wine_game: CreateFileMappingW failed: %lu\n", GetLastError());
        return -1;
    }
    int existed = GetLastError() == ERROR_ALREADY_EXISTS;
    unsigned char *view = MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, (SIZE_T)bytes);
    if (view == NULL) {
        fprintf(stderr, "wine_game: MapViewOfFile failed: %lu\n", GetLastError());
        return -1;
    }
    /* The process keeps its handle and view until it exits, as games do. */
    section->header = (struct Header *)view;
    section->words = (unsigned long long *)(view + sizeof *section->header);
    section->count = (size_t)((bytes - sizeof *section->header) / sizeof *section->words);
    return existed;
}

/* One update, rFactor 2's way: every data word takes the begin counter, but the first takes
   `stamp` if there is one; all inside the counters, so a copy holds them together. */
static void update(struct Section *section, const ULONGLONG *stamp)
{
    unsigned long long version = (ULONG)InterlockedIncrement(&section->header->begin);
    size_t first = 0;
    if (stamp != NULL)
        section->words[first++] = *stamp;
    for (size_t word = first; word < section->count; word++)
        section->words[word] = version;
    InterlockedIncrement(&section->header->end);
}

/* Says "ready existed=E" and starts waiting for the line that stops the updates. */
static int announce(int existed)
{
    printf("ready existed=%d\n", existed);
    fflush(stdout);
    HANDLE waiter = CreateThread(NULL, 0, wait_for_stdin_line, NULL, 0, NULL);
    if (waiter == NULL) {
        fprintf(stderr, "wine_game: CreateThread failed: %lu\n", GetLastError());
        return 2;
    }
    return 0;
}

static int publish(const wchar_t *name, unsigned long long bytes)
{
    struct Section section;
    int existed = make_section(name, bytes, &section);
    if (existed < 0)
        return 2;
    if (announce(existed) != 0)
        return 2;
    unsigned long long updates = 0;
    while (!stop_publishing) {
        update(&section, NULL);
        updates++;
    }
    printf("published %llu\n", updates);
    fflush(stdout);
    return 0;
}

#define MAX_PACED 32

/* NAME=BYTES@HZ arguments: sections updated HZ times a second, the first data word the
   update's start time. */
static int paced(int count, wchar_t **specs)
{
    struct Section sections[MAX_PACED];
    ULONGLONG period[MAX_PACED], due[MAX_PACED];
    int existed = 0;
    if (count > MAX_PACED) {
        fprintf(stderr, "wine_game: at most %d sections\n", MAX_PACED);
        return 1;
    }
    for (int at = 0; at < count; at++) {
        wchar_t *equals = wcsrchr(specs[at], L'='), *rate = wcsrchr(specs[at], L'@');
        if (equals == NULL || rate == NULL || rate < equals) {
            fprintf(stderr, "wine_game: %ls is not NAME=BYTES@HZ\n", specs[at]);
            return 1;
        }
        *equals = 0;
        unsigned long long bytes = _wcstoui64(equals + 1, NULL, 10);
        unsigned long long hz = _wcstoui64(rate + 1, NULL, 10);
        if (bytes < sizeof(struct Header) + 16 || hz == 0 || hz > 1000) {
            fprintf(stderr, "wine_game: BYTES at least 24, HZ 1 to 1000\n");
            return 1;
        }
        int made = make_section(specs[at], bytes, &sections[at]);
        if (made < 0)
            return 2;
        existed += made;
        period[at] = 10000000 / hz;
        due[at] = 0;
    }
    if (announce(existed) != 0)
        return 2;
    unsigned long long updates = 0;
    while (!stop_publishing) {
        FILETIME now;
        GetSystemTimePreciseAsFileTime(&now);
        ULONGLONG stamp = (ULONGLONG)now.dwHighDateTime << 32 | now.dwLowDateTime;
        for (int at = 0; at < count; at++) {
            if (stamp < due[at])
                continue;
            /* From the update due, or from now after a stall: no burst of updates to catch up. */
            ULONGLONG from = due[at] == 0 || due[at] + period[at] <= stamp ? stamp : due[at];
            due[at] = from + period[at];
            update(&sections[at], &stamp);
            updates++;
        }
        Sleep(1);
    }
    printf("published %llu\n", updates);
    fflush(stdout);
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
    printf("opened\n");
    fflush(stdout);
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
    if (argc == 4 && wcscmp(argv[1], L"publish") == 0) {
        unsigned long long bytes = _wcstoui64(argv[3], NULL, 10);
        if (bytes < sizeof(struct Header) + 8) {
            fprintf(stderr, "wine_game: BYTES must be at least 16\n");
            return 1;
        }
        return publish(argv[2], bytes);
    }
    if (argc == 4 && wcscmp(argv[1], L"read") == 0)
        return read_snapshots(argv[2], _wtoi64(argv[3]));
    if (argc >= 3 && wcscmp(argv[1], L"paced") == 0)
        return paced(argc - 2, argv + 2);
    fprintf(stderr, "usage: wine_game publish NAME BYTES | wine_game read NAME SNAPSHOTS | "
                    "wine_game paced NAME=BYTES@HZ...\n");
    return 1;
}
