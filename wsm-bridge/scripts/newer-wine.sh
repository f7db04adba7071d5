#!/bin/bash
# wsm-bridge on a newer Wine, by hand (not part of `cargo xtask test`: it needs a 1.5 GB chroot
# fetched from Debian's mirror). Run as root from the repository, after `cargo xtask
# bridge-release` and `cargo xtask test --step "C peers"`, with a Debian trixie chroot (Wine
# 10.0) made once with:
#   debootstrap --variant=minbase --arch=amd64 trixie "$WSM_WINE_CHROOT" http://deb.debian.org/debian
#   chroot "$WSM_WINE_CHROOT" apt-get install --no-install-recommends -y wine64
#   chroot "$WSM_WINE_CHROOT" useradd -m -u 1500 gamer
# It checks that the release bridge runs with and without its shim DLL, that a native reader
# sees a Windows game's writes through the bridge, and how Wine backs a game's own section.
# Wine runs inside the chroot as user gamer (uid 1500); the native readers run outside it,
# on the host, as the same uid (setpriv), and read /dev/shm (bind-mounted) or /proc/<pid>/fd.
# Prints the findings; exits 0 even when a check fails (each result is printed as PASS/FAIL).
set -u
REPO=$(git rev-parse --show-toplevel)
ROOT=${WSM_WINE_CHROOT:-$REPO/target/wine-chroot}
RUN=$REPO/target/newer-wine      # the same path inside the chroot (the repository is bound)
REL=$(ls -d "$REPO"/target/bridge-release/wsm-bridge-*-x86_64 | head -1)
GAME=$REPO/target/c-peers/wine_game.exe
GUID=1500
PREFIX=/home/gamer/prefix-run    # inside the chroot; made fresh each run
W=/usr/lib/wine/wine64           # Debian's wine64 package has no /usr/bin/wine wrapper
PY=/usr/bin/python3

[ -x "$ROOT/$W" ] || { echo "no chroot with wine64 at $ROOT"; exit 1; }
[ -f "$REL/wsm-bridge.exe" ] || { echo "no release folder (cargo xtask bridge-release)"; exit 1; }
[ -f "$GAME" ] || { echo "no $GAME"; exit 1; }

MOUNTED=()
for d in proc dev dev/shm "${REPO#/}"; do
    if ! mountpoint -q "$ROOT/$d"; then
        mkdir -p "$ROOT/$d" && mount --bind "/$d" "$ROOT/$d" && MOUNTED=("$ROOT/$d" "${MOUNTED[@]}")
    fi
done
cleanup() {
    # our wineserver (the one whose root is the chroot) and everything of the prefix
    chroot "$ROOT" su gamer -c "WINEPREFIX=$PREFIX /usr/lib/wine/wineserver -k" 2>/dev/null
    sleep 1
    for m in "${MOUNTED[@]}"; do umount "$m"; done
}
trap cleanup EXIT

rm -rf "$RUN"; mkdir -p "$RUN"; chown $GUID:$GUID "$RUN"
# wine inside the chroot, as gamer, in the prefix
inwine() { chroot "$ROOT" su gamer -c "export WINEPREFIX=$PREFIX WINEDEBUG=${WDBG:--all} XDG_RUNTIME_DIR=/tmp WINEDLLOVERRIDES='${WOVR:-mscoree,mshtml=}'; cd $RUN; nice $*"; }
# a process of ours: its root is the chroot
ourpid() { # pattern
    for p in $(pgrep -f "$1"); do
        [ "$(readlink /proc/$p/root)" = "$ROOT" ] && { echo $p; return; }
    done
}
waitfor() { # file pattern seconds
    for _ in $(seq $(( $3 * 5 ))); do grep -qs "$2" "$1" && return 0; sleep 0.2; done; return 1
}
# native reader as the same uid: path [path...] -> counters twice, 1 s apart
READER='
import sys, struct, time
def snap(p):
    with open(p, "rb") as f:
        b = f.read(4096)
    begin, end = struct.unpack_from("<ii", b, 0)
    w = struct.unpack_from("<Q", b, 8)[0]
    return begin, end, w
for p in sys.argv[1:]:
    try:
        a = snap(p); time.sleep(1); b = snap(p)
    except OSError as e:
        print(f"  {p}: cannot read: {e}"); continue
    ok = b[0] > a[0] and b[1] > a[1]
    print(f"  {p}: begin/end/word0 {a} -> {b} 1 s later: " + ("PASS advancing" if ok else "FAIL not advancing"))
'
native() { setpriv --reuid=$GUID --regid=$GUID --clear-groups $PY -c "$READER" "$@"; }

echo "== Wine in the chroot"
chroot "$ROOT" sh -c ". /etc/os-release; echo \"\$PRETTY_NAME\"; dpkg-query -W wine64"
inwine $W --version

echo "== fresh prefix: wineboot -u"
chroot "$ROOT" rm -rf "$PREFIX"
inwine $W wineboot -u 2>&1 | grep -v XDG_RUNTIME_DIR | sed 's/^/  /'
inwine /usr/lib/wine/wineserver -w
inwine /usr/lib/wine/wineserver -p "</dev/null >/dev/null 2>&1"   # persistent until cleanup's -k
echo "  prefix's own bcryptprimitives.dll: $(ls $ROOT$PREFIX/drive_c/windows/system32/bcryptprimitives.dll 2>&1)"

echo "== step 2a: wsm-bridge.exe --version"
mkdir -p "$RUN/noshim"; cp "$REL/wsm-bridge.exe" "$RUN/noshim/"
echo "-- exe alone (no shim DLL beside it):"
WDBG=+loaddll inwine $W $RUN/noshim/wsm-bridge.exe --version > $RUN/v1.txt 2>&1; rc=$?
grep -v '^[0-9a-f]*:trace' $RUN/v1.txt | sed 's/^/  /'; echo "  exit $rc"
grep -i 'bcryptprimitives' $RUN/v1.txt | sed 's/^[0-9a-f]*:trace:loaddll:build_module /  /'
echo "-- release folder (shim DLL beside the exe), default load order:"
WDBG=+loaddll inwine $W $REL/wsm-bridge.exe --version > $RUN/v2.txt 2>&1; rc=$?
grep -v '^[0-9a-f]*:trace' $RUN/v2.txt | sed 's/^/  /'; echo "  exit $rc"
grep -i 'bcryptprimitives' $RUN/v2.txt | sed 's/^[0-9a-f]*:trace:loaddll:build_module /  /'
echo "-- release folder, shim forced (WINEDLLOVERRIDES=bcryptprimitives=n):"
WOVR='bcryptprimitives=n' WDBG=+loaddll inwine $W $REL/wsm-bridge.exe --version > $RUN/v3.txt 2>&1; rc=$?
grep -v '^[0-9a-f]*:trace' $RUN/v3.txt | sed 's/^/  /'; echo "  exit $rc"
grep -i 'bcryptprimitives' $RUN/v3.txt | sed 's/^[0-9a-f]*:trace:loaddll:build_module /  /'

bridge_test() { # label exe-path
    echo "-- bridge from $2"
    local N=newwine_test
    rm -f /dev/shm/$N
    mkfifo $RUN/bin $RUN/gin; chown $GUID:$GUID $RUN/bin $RUN/gin
    inwine $W "$2" "'Local\\$N=4096'" < $RUN/bin > $RUN/bridge.out 2>&1 &
    exec 7> $RUN/bin                      # holds the bridge's standard input open
    if waitfor $RUN/bridge.out ready 60; then echo "  bridge: ready"; else
        echo "  FAIL bridge not ready:"; sed 's/^/    /' $RUN/bridge.out; exec 7>&-; wait; rm -f $RUN/bin $RUN/gin; return; fi
    ls -l /dev/shm/$N 2>&1 | sed 's/^/  /'
    inwine $W $GAME publish "'Local\\$N'" 4096 < $RUN/gin > $RUN/game.out 2>&1 &
    exec 8> $RUN/gin
    waitfor $RUN/game.out ready 60; echo "  game: $(head -1 $RUN/game.out)"
    sleep 1
    echo "  native reader (host, uid $GUID) of /dev/shm/$N:"
    native /dev/shm/$N
    echo "  od of the first 16 bytes:"; od -A d -t u4 -N 16 /dev/shm/$N | sed 's/^/    /'
    echo x >&8; exec 8>&-; sleep 2; echo "  game: $(tail -1 $RUN/game.out)"
    exec 7>&-; wait
    echo "  bridge output:"; sed 's/^/    /' $RUN/bridge.out
    [ -e /dev/shm/$N ] && echo "  /dev/shm/$N still there after the bridge ended" || echo "  /dev/shm/$N removed after the bridge ended"
    rm -f $RUN/bin $RUN/gin
}
echo "== step 2b: wsm-bridge.exe 'Local\\newwine_test=4096' + wine_game.exe publish"
bridge_test noshim $RUN/noshim/wsm-bridge.exe
bridge_test release $REL/wsm-bridge.exe

echo "== step 3: the game's own anonymous named section (no bridge): Local\\anon_test"
mkfifo $RUN/gin; chown $GUID:$GUID $RUN/gin
inwine $W $GAME publish "'Local\\anon_test'" 8192 < $RUN/gin > $RUN/anon.out 2>&1 &
exec 8> $RUN/gin
waitfor $RUN/anon.out ready 60; echo "  game: $(head -1 $RUN/anon.out)"; sleep 1
WS=$(ourpid 'wineserver'); GP=$(ourpid 'wine_game.exe publish Local.anon_test')
echo "  wineserver pid $WS ($(readlink /proc/$WS/exe)), wine_game pid $GP"
echo "  /dev/shm has anon_test: $(ls /dev/shm | grep -c anon_test)"
echo "  wineserver fds that are files (not sockets, pipes, anon_inode, /dev, dll/exe/sys/nls):"
for f in /proc/$WS/fd/*; do
    t=$(readlink $f); case "$t" in socket:*|pipe:*|anon_inode:*|/dev/*|*.dll|*.exe|*.sys|*.nls) ;;
        *deleted*|*memfd:*) echo "    $f -> $t ($(stat -L -c %s $f) bytes)";; *) echo "    $f -> $t";; esac
done
echo "  wine_game's shared (s) mappings of 8192 bytes, and every memfd/tmpmap/deleted line:"
$PY - /proc/$GP/maps <<'PYEOF'
import sys
for l in open(sys.argv[1]):
    f = l.split(); a, b = (int(x, 16) for x in f[0].split("-"))
    if (f[1].endswith("s") and b - a == 8192) or any(k in l for k in ("memfd", "tmpmap", "deleted")):
        print("    " + l.rstrip())
PYEOF
echo "  wine_game fds that are files:"
for f in /proc/$GP/fd/*; do
    t=$(readlink $f); case "$t" in socket:*|pipe:*|anon_inode:*|/dev/*) ;;
        *deleted*|*memfd:*) echo "    $f -> $t ($(stat -L -c %s $f) bytes)";; *) echo "    $f -> $t";; esac
done
# candidates: the wineserver's fds that are memfd/tmpmap/deleted files of 8192 bytes
CANDS=()
for f in /proc/$WS/fd/* /proc/$GP/fd/*; do
    t=$(readlink $f)
    case "$t" in *memfd:*|*tmpmap*|*deleted*)
        [ "$(stat -L -c %s $f 2>/dev/null)" = 8192 ] && CANDS+=("$f");;
    esac
done
echo "  8192-byte candidates: ${CANDS[*]:-none}"
if [ ${#CANDS[@]} -gt 0 ]; then
    echo "  native reader (host, uid $GUID) through /proc/<pid>/fd/N:"
    native "${CANDS[@]}"
    echo "  native reader as root, same paths:"
    $PY -c "$READER" "${CANDS[@]}"
fi
echo "  /proc/$GP/map_files/<range> of that mapping (needs CAP_SYS_ADMIN) as uid $GUID:"
M=$($PY -c 'import sys
for l in open(sys.argv[1]):
    f = l.split(); a, b = (int(x, 16) for x in f[0].split("-"))
    if f[1] == "rw-s" and b - a == 8192 and "tmpmap" in l: print(f[0]); break' /proc/$GP/maps)
[ -n "$M" ] && native /proc/$GP/map_files/$M
echo x >&8; exec 8>&-; sleep 2; echo "  game: $(tail -1 $RUN/anon.out)"
wait
rm -f $RUN/gin
echo "== done"
