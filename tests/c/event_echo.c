/*
 * event_echo: a Windows program of the prefix that answers one named event with another, for
 * the tests of wsm-bridge's event forwarding. Like a game it knows nothing of
 * win-shared-memory: plain OpenEventW, WaitForSingleObject and SetEvent.
 *
 * Usage:
 *   event_echo IN OUT COUNT [pulse]
 *     opens the events IN and OUT (made by wsm-bridge), prints "ready", then COUNT times waits
 *     for IN (10 s at most) and sets OUT (pulses it with "pulse", as iRacing does its
 *     manual-reset data-valid event); prints "echoed N" and exits.
 *
 * Exit codes: 0 ok, 1 bad command line, 2 Win32 failure, 3 IN was not set within 10 s.
 */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv)
{
    if (argc != 4 && !(argc == 5 && wcscmp(argv[4], L"pulse") == 0)) {
        fprintf(stderr, "usage: event_echo IN OUT COUNT [pulse]\n");
        return 1;
    }
    BOOL pulse = argc == 5;
    long count = wcstol(argv[3], NULL, 10);
    HANDLE in = OpenEventW(SYNCHRONIZE, FALSE, argv[1]);
    HANDLE out = OpenEventW(EVENT_MODIFY_STATE, FALSE, argv[2]);
    if (in == NULL || out == NULL) {
        fprintf(stderr, "event_echo: OpenEventW failed: %lu\n", GetLastError());
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    long echoed = 0;
    while (echoed < count) {
        DWORD waited = WaitForSingleObject(in, 10000);
        if (waited == WAIT_TIMEOUT) {
            printf("echoed %ld\n", echoed);
            return 3;
        }
        if (waited != WAIT_OBJECT_0 || !(pulse ? PulseEvent(out) : SetEvent(out))) {
            fprintf(stderr, "event_echo: wait or set failed: %lu\n", GetLastError());
            return 2;
        }
        echoed++;
    }
    printf("echoed %ld\n", echoed);
    return 0;
}
