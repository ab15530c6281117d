#!/usr/bin/env bash
# The real-application tests: runs every tests/apps/*.sh (v4l2-ctl, v4l2-compliance, ffmpeg,
# GStreamer, ustreamer, OpenCV, Chromium, USERPTR/read() capture, the seed-003 poll scenario),
# each against its own daemon and devices, the applications started through `loopcam run`.
# Each script prints `ok NAME` / `FAIL NAME: reason` per check; this prints them, a result line
# per script, and ends with `app tests: N passed, N failed` (checks), exiting non-zero on any
# failure.
#
# Usage: scripts/app-tests.sh [--install-deps] [--as-user USER] [--no-build] [--timeout SECONDS] [NAME...]
#   NAME          only these scripts (e.g. ffmpeg gstreamer); default: all
#   --as-user U   run the daemon and the applications as the unprivileged user U (needs root;
#                 the binaries and test files are staged in a world-readable directory)
#   --install-deps  run scripts/install-test-deps.sh first (apt-get; needs root)
#   --no-build    do not run cargo build (also implied by setting LOOPCAM_BIN)
#   --timeout S   per-script time limit (default 240)
# Tools are installed by scripts/install-test-deps.sh; a missing tool fails its test.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
APPS=$ROOT/tests/apps

AS_USER='' BUILD=1 LIMIT=240 ONLY=() INSTALL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --as-user) AS_USER=${2:?--as-user needs a user name}; shift 2 ;;
    --as-user=*) AS_USER=${1#*=}; shift ;;
    --no-build) BUILD=0; shift ;;
    --install-deps) INSTALL=1; shift ;;
    --timeout) LIMIT=${2:?--timeout needs seconds}; shift 2 ;;
    --timeout=*) LIMIT=${1#*=}; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "app-tests: unknown option $1" >&2; exit 2 ;;
    *) ONLY+=("${1%.sh}"); shift ;;
  esac
done

if [ $INSTALL = 1 ]; then
  "$ROOT/scripts/install-test-deps.sh" || { echo "app tests: 0 passed, 1 failed"; exit 1; }
fi
if [ -n "${LOOPCAM_BIN:-}" ]; then BUILD=0; fi
if [ $BUILD = 1 ]; then
  echo "== cargo build -p loopcam -p loopcam-preload"
  (cd "$ROOT" && cargo build -q -p loopcam -p loopcam-preload) || { echo "app tests: 0 passed, 1 failed"; exit 1; }
fi
BIN=${LOOPCAM_BIN:-$ROOT/target/debug/loopcam}
case "$BIN" in /*) ;; *) BIN=$PWD/$BIN ;; esac

scripts=()
for s in "$APPS"/*.sh; do
  n=$(basename "$s" .sh)
  [ "$n" = lib ] && continue
  if [ ${#ONLY[@]} -gt 0 ]; then
    keep=0; for o in "${ONLY[@]}"; do [ "$o" = "$n" ] && keep=1; done
    [ $keep = 1 ] || continue
  fi
  scripts+=("$n")
done
[ ${#scripts[@]} -gt 0 ] || { echo "app-tests: no test scripts selected" >&2; exit 2; }

LOG=$(mktemp -d "${TMPDIR:-/tmp}/loopcam-app-tests.XXXXXX")
chmod 755 "$LOG"
cleanup() { rm -rf "$LOG"; }
trap cleanup EXIT

# How a script is started: directly, or as AS_USER with a staged copy of everything it needs.
RUNNER=()
RUN_APPS=$APPS
export LOOPCAM_BIN=$BIN
if [ -n "$AS_USER" ] && [ "$AS_USER" = "$(id -un)" ] && [ "$(id -u)" != 0 ]; then
  AS_USER=''  # already that (unprivileged) user
  echo "== running as $(id -un) (uid $(id -u))"
elif [ -n "$AS_USER" ]; then
  [ "$(id -u)" = 0 ] || { echo "app-tests: --as-user needs root" >&2; exit 2; }
  id "$AS_USER" >/dev/null 2>&1 || { echo "app-tests: no user $AS_USER" >&2; exit 2; }
  group=$(id -gn "$AS_USER")
  STAGE=$LOG/stage
  mkdir -p "$STAGE/bin" "$STAGE/tests" "$STAGE/home"
  cp "$BIN" "$STAGE/bin/loopcam"
  lib=${LOOPCAM_PRELOAD:-$(dirname "$BIN")/libloopcam_preload.so}
  if [ -f "$lib" ]; then cp "$lib" "$STAGE/bin/"; else echo "app-tests: no preload library at $lib" >&2; fi
  cp -r "$APPS" "$STAGE/tests/apps"
  chmod -R a+rX "$STAGE"
  chown "$AS_USER:$group" "$STAGE/home"
  RUN_APPS=$STAGE/tests/apps
  RUNNER=(setpriv --reuid="$AS_USER" --regid="$group" --clear-groups
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$STAGE/home" USER="$AS_USER" LANG=C.UTF-8
    TMPDIR=/tmp LOOPCAM_BIN="$STAGE/bin/loopcam" LC_KEEP="${LC_KEEP:-0}" LC_VERBOSE="${LC_VERBOSE:-0}")
  echo "== running as $AS_USER:$group (uid $(id -u "$AS_USER")), binaries staged in $STAGE"
fi

# Ends what a script left running (it was killed before its cleanup ran): the daemons and
# background processes it listed in its pid file, each the leader of its own session. A daemon
# stopped with SIGTERM removes its device nodes.
reap() {
  local p left=()
  while read -r p; do
    [ -n "$p" ] || continue
    # Still the same process: alive and still a session leader.
    if [ "$(ps -o sid= -p "$p" 2>/dev/null | tr -d ' ')" = "$p" ]; then left+=("$p"); fi
  done <"$1"
  [ ${#left[@]} -gt 0 ] || return 0
  echo "  # left running by the script, stopping: ${left[*]}"
  for p in "${left[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do
    local alive=0
    for p in "${left[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 1 ] || return 0
    sleep 0.2
  done
  for p in "${left[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
}

passed=0 failed=0 bad_scripts=()
t_all=$SECONDS
for n in "${scripts[@]}"; do
  echo "== $n"
  out=$LOG/$n.out
  pidfile=$LOG/$n.pids
  : >"$pidfile"; chmod 666 "$pidfile"
  t0=$SECONDS
  "${RUNNER[@]}" env LC_PIDFILE="$pidfile" timeout -k 10 "$LIMIT" bash "$RUN_APPS/$n.sh" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  reap "$pidfile"
  ok_n=$(grep -c '^ok ' "$out")
  fail_n=$(grep -c '^FAIL ' "$out")
  if [ "$rc" -ne 0 ] && [ "$fail_n" -eq 0 ]; then
    # Died, or timed out, without reporting a failure: that is one.
    if [ "$rc" -eq 124 ]; then echo "FAIL $n: timed out after $LIMIT s"; else echo "FAIL $n: exit status $rc"; fi
    fail_n=1
  fi
  if [ "$rc" -eq 0 ] && [ "$fail_n" -gt 0 ]; then
    echo "FAIL $n: reported failures but exited 0"
  fi
  passed=$((passed + ok_n))
  failed=$((failed + fail_n))
  if [ "$rc" -eq 0 ] && [ "$fail_n" -eq 0 ]; then
    echo "-- $n: PASS ($ok_n checks, $((SECONDS - t0)) s)"
  else
    echo "-- $n: FAIL ($fail_n of $((ok_n + fail_n)) checks failed, exit $rc, $((SECONDS - t0)) s)"
    bad_scripts+=("$n")
  fi
done

echo
[ ${#bad_scripts[@]} -eq 0 ] || echo "failed scripts: ${bad_scripts[*]}"
echo "total time $((SECONDS - t_all)) s${AS_USER:+, as $AS_USER}"
echo "app tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
