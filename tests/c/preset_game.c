/*
 * preset_game: a stand-in for a title's game or plugin in the wsm-bridge preset tests. Like
 * the real one, it knows nothing of win-shared-memory: for each NAME=BYTES (the title's real
 * name and the exact size of its structure) it calls CreateFileMappingW(INVALID_HANDLE_VALUE,
 * ..., BYTES, NAME) and maps BYTES bytes, as the games do, then writes a mark that only a
 * mapping of the whole structure can hold: the 4 bytes "wsmg" at offset 0 and the byte 0x5A
 * at offset BYTES - 1 (BYTES is at least 5; LMU's lock is 8).
 *
 * Usage:
 *   preset_game NAME=BYTES...
 *     prints "ready existed=E of N" (E: how many sections already existed, as when
 *     wsm-bridge made them), then holds every view until a line or the end of standard input.
 *
 * Exit codes: 0 ok, 1 bad command line, 2 Win32 failure (the message names the section).
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#define MAX_SECTIONS 64

static const char MARK[4] = {'w', 's', 'm', 'g'};

int wmain(int argc, wchar_t **argv)
{
    if (argc < 2 || argc - 1 > MAX_SECTIONS) {
        fprintf(stderr, "usage: preset_game NAME=BYTES... (at most %d)\n", MAX_SECTIONS);
        return 1;
    }
    int existed = 0;
    for (int i = 1; i < argc; i++) {
        wchar_t *equals = wcsrchr(argv[i], L'=');
        if (equals == NULL) {
            fwprintf(stderr, L"preset_game: %ls is not NAME=BYTES\n", argv[i]);
            return 1;
        }
        *equals = L'\0';
        wchar_t *end;
        unsigned long long bytes = wcstoull(equals + 1, &end, 10);
        if (*end != L'\0' || bytes <= sizeof MARK) {
            fwprintf(stderr, L"preset_game: %ls: bad size\n", argv[i]);
            return 1;
        }
        HANDLE mapping = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE,
                                            (DWORD)(bytes >> 32), (DWORD)bytes, argv[i]);
        if (mapping == NULL) {
            fwprintf(stderr, L"preset_game: CreateFileMappingW(%ls) failed: %lu\n", argv[i],
                     GetLastError());
            return 2;
        }
        existed += GetLastError() == ERROR_ALREADY_EXISTS;
        unsigned char *view = MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, (SIZE_T)bytes);
        if (view == NULL) {
            fwprintf(stderr, L"preset_game: MapViewOfFile(%ls, %llu bytes) failed: %lu\n",
                     argv[i], bytes, GetLastError());
            return 2;
        }
        memcpy(view, MARK, sizeof MARK);
        view[bytes - 1] = 0x5A;
    }
    printf("ready existed=%d of %d\n", existed, argc - 1);
    fflush(stdout);
    char line[64];
    fgets(line, sizeof line, stdin);
    return 0;
}
