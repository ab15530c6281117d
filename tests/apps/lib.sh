# shellcheck shell=bash
# Shared helpers for the real-application tests (tests/apps/*.sh, run by scripts/app-tests.sh).
#
# Source it first thing:   . "$(dirname "$0")/lib.sh"
#
# Every test script starts its own private daemon (socket in a temporary directory), creates its
# devices with `loopcam add`, runs the applications through `loopcam run -- APP ARGS` (the
# LD_PRELOAD library), checks what they produced or received, prints one line per check:
#     ok NAME
#     FAIL NAME: reason
# and ends with `lc_finish`, which exits 0 only if every check passed. Cleanup (background
# processes, the daemon, device nodes, the temporary directory) runs from an EXIT trap.
#
# Environment:
#   LOOPCAM_BIN   the loopcam binary (default: target/debug/loopcam in the repository)
#   LC_KEEP=1     keep the temporary directory (logs, captured frames) after the test
#   LC_VERBOSE=1  print the commands being run
#
# As root the daemon makes real character nodes /dev/videoN (what these tests use); otherwise the
# nodes live in $XDG_RUNTIME_DIR/loopcam (a private one is made in the temporary directory).

set -uo pipefail

LC_APPS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LC_REPO=$(cd "$LC_APPS_DIR/../.." && pwd)
LOOPCAM_BIN=${LOOPCAM_BIN:-$LC_REPO/target/debug/loopcam}
case "$LOOPCAM_BIN" in /*) ;; *) LOOPCAM_BIN=$PWD/$LOOPCAM_BIN ;; esac
export LOOPCAM_BIN
# Debian's python3 (python3-opencv, python3-numpy live there), not a pyenv shim.
LC_PY=${LC_PY:-/usr/bin/python3}
LC_NAME=$(basename "$0" .sh)

LC_FAILS=0
LC_CHECKS=0
LC_PIDS=()            # process-group leaders started with lc_bg
declare -A LC_PID_OF  # name -> pid
LC_NODES=()           # device nodes created through lc_add
LC_DAEMON_PID=

LC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/loopcam-app-$LC_NAME.XXXXXX") || { echo "FAIL $LC_NAME: mktemp"; exit 1; }
chmod 755 "$LC_TMP"

# ---------------------------------------------------------------------------------------------
# Results

ok() { LC_CHECKS=$((LC_CHECKS + 1)); echo "ok $1${2:+ ($2)}"; }
fail() { LC_CHECKS=$((LC_CHECKS + 1)); LC_FAILS=$((LC_FAILS + 1)); echo "FAIL $1: $2"; }
# check NAME REASON_IF_FALSE CMD... : ok if CMD succeeds, else FAIL with the reason.
check() { local n=$1 r=$2; shift 2; if "$@"; then ok "$n"; else fail "$n" "$r"; fi; }
info() { echo "  # $*"; }
vlog() { [ "${LC_VERBOSE:-0}" = 1 ] && echo "  + $*" >&2; return 0; }

# Prints the last N lines of a file, indented, for a FAIL's context.
lc_tail() { local f=$1 n=${2:-15}; [ -s "$f" ] && tail -n "$n" "$f" | sed 's/^/  | /'; return 0; }

# Ends the test: exit status 0 only if every check passed (and at least one ran).
lc_finish() {
  if [ "$LC_CHECKS" -eq 0 ]; then fail "$LC_NAME" "no check ran"; fi
  if [ "$LC_FAILS" -gt 0 ]; then exit 1; fi
  exit 0
}

# Aborts the whole script with one FAIL line (setup that everything else needs failed).
lc_abort() { fail "$1" "$2"; lc_finish; }

# lc_require CMD... : a missing tool is a failure, never a skip.
lc_require() {
  local c missing=()
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
  [ "${#missing[@]}" -eq 0 ] || lc_abort "$LC_NAME-tools" "missing ${missing[*]} (run scripts/install-test-deps.sh)"
  [ -x "$LOOPCAM_BIN" ] || lc_abort "$LC_NAME-tools" "no loopcam binary at $LOOPCAM_BIN (cargo build, or set LOOPCAM_BIN)"
}

# ---------------------------------------------------------------------------------------------
# Processes

# lc_bg NAME CMD... : starts CMD in the background in its own session/process group, stdout to
# $LC_TMP/NAME.out, stderr to $LC_TMP/NAME.err. Its pid is ${LC_PID_OF[NAME]}.
lc_bg() {
  local name=$1; shift
  vlog "[bg $name] $*"
  setsid "$@" >"$LC_TMP/$name.out" 2>"$LC_TMP/$name.err" </dev/null &
  local pid=$!
  LC_PIDS+=("$pid")
  LC_PID_OF[$name]=$pid
  lc_register_pid "$pid"
}

# scripts/app-tests.sh passes LC_PIDFILE: every session leader started here is listed there, so
# that it can clean up after a script killed before its own cleanup ran.
lc_register_pid() { [ -n "${LC_PIDFILE:-}" ] && echo "$1" >>"$LC_PIDFILE"; return 0; }

# lc_bg_in NAME INFILE CMD... : same, with stdin from INFILE (a fifo or file).
lc_bg_in() {
  local name=$1 in=$2; shift 2
  vlog "[bg $name] $* < $in"
  setsid "$@" >"$LC_TMP/$name.out" 2>"$LC_TMP/$name.err" <"$in" &
  local pid=$!
  LC_PIDS+=("$pid")
  LC_PID_OF[$name]=$pid
  lc_register_pid "$pid"
}

lc_alive() { local p=${LC_PID_OF[$1]:-}; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# lc_wait NAME [SECONDS] : waits for a background process to end; returns its exit status
# (124 if it had to be killed after SECONDS, default 60).
lc_wait() {
  local name=$1 limit=${2:-60} p=${LC_PID_OF[$1]:-} t=0
  [ -n "$p" ] || return 127
  while kill -0 "$p" 2>/dev/null; do
    if [ "$t" -ge $((limit * 10)) ]; then lc_stop "$name" KILL; wait "$p" 2>/dev/null; return 124; fi
    sleep 0.1; t=$((t + 1))
  done
  wait "$p" 2>/dev/null
}

# lc_stop NAME [SIGNAL] : signals the process group (default TERM), waits up to 5 s, then KILLs.
# Returns the process's exit status.
lc_stop() {
  local name=$1 sig=${2:-TERM} p=${LC_PID_OF[$1]:-} t=0
  [ -n "$p" ] || return 0
  kill -"$sig" -- "-$p" 2>/dev/null || kill -"$sig" "$p" 2>/dev/null
  while kill -0 "$p" 2>/dev/null && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
  if kill -0 "$p" 2>/dev/null; then kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; fi
  wait "$p" 2>/dev/null
}

# lc_sleep SECONDS : a sleep that a signal interrupts (bash runs traps only between foreground
# commands; `wait` returns at once on a trapped signal).
lc_sleep() { sleep "$1" & wait $!; }

# lc_wait_for SECONDS CMD... : retries CMD every 0.1 s until it succeeds or time runs out.
lc_wait_for() {
  local limit=$1 t=0; shift
  until "$@"; do
    [ "$t" -ge $((limit * 10)) ] && return 1
    sleep 0.1; t=$((t + 1))
  done
}

# A free TCP port on 127.0.0.1.
lc_free_port() {
  "$LC_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------------------------
# Cleanup

lc_cleanup() {
  local p n i
  # Background processes, newest first.
  for ((i = ${#LC_PIDS[@]} - 1; i >= 0; i--)); do
    p=${LC_PIDS[$i]}
    kill -0 "$p" 2>/dev/null && kill -TERM -- "-$p" 2>/dev/null
  done
  for p in "${LC_PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL -- "-$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  lc_stop_daemon
  # Never leave device nodes behind. The daemon removes its nodes when it exits on SIGTERM; only
  # if it did not (crash, SIGKILL) are they removed here -- not after a clean exit, when the
  # number may already belong to another daemon's new device.
  if [ "$LC_DAEMON_CLEAN" != 1 ]; then
    for n in "${LC_NODES[@]}"; do
      case "$n" in
        /dev/video*) [ -c "$n" ] && [ "$(stat -c %t "$n" 2>/dev/null)" = 51 ] && rm -f "$n" && echo "  # removed leftover node $n" ;;
        "$LC_TMP"/*) rm -f "$n" ;;
      esac
    done
  fi
  if [ "${LC_KEEP:-0}" = 1 ]; then echo "  # kept $LC_TMP" >&2; else rm -rf "$LC_TMP"; fi
}
trap lc_cleanup EXIT
trap 'echo "FAIL $LC_NAME: interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# loopcam

lc() { vlog "loopcam $*"; "$LOOPCAM_BIN" "$@"; }

# lc_run CMD ARGS... : runs an application through the preload (`loopcam run -- CMD ARGS`).
lc_run() { vlog "loopcam run -- $*"; "$LOOPCAM_BIN" run -- "$@"; }

# lc_start_daemon [ARGS...] : a private daemon; exports LOOPCAM_SOCKET.
lc_start_daemon() {
  export LOOPCAM_SOCKET=$LC_TMP/loopcam.sock
  if [ "$(id -u)" != 0 ]; then
    # Unprivileged: nodes go to $XDG_RUNTIME_DIR/loopcam; give this test a private one.
    export XDG_RUNTIME_DIR=$LC_TMP/runtime
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
  fi
  vlog "loopcam daemon $*"
  RUST_LOG=${LC_DAEMON_LOG:-info} setsid "$LOOPCAM_BIN" daemon "$@" >"$LC_TMP/daemon.out" 2>"$LC_TMP/daemon.log" </dev/null &
  LC_DAEMON_PID=$!
  LC_DAEMON_CLEAN=0
  lc_register_pid "$LC_DAEMON_PID"
  if ! lc_wait_for 10 test -S "$LOOPCAM_SOCKET"; then
    lc_tail "$LC_TMP/daemon.log"
    lc_abort "$LC_NAME-daemon" "daemon did not create its socket within 10 s"
  fi
}

LC_DAEMON_CLEAN=1
lc_stop_daemon() {
  local p=$LC_DAEMON_PID t=0 rc
  [ -n "$p" ] || return 0
  LC_DAEMON_PID=
  kill -TERM "$p" 2>/dev/null
  while kill -0 "$p" 2>/dev/null && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
  if kill -0 "$p" 2>/dev/null; then
    echo "  # daemon did not stop within 5 s of SIGTERM; killing it"
    kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null
  fi
  wait "$p" 2>/dev/null
  rc=$?
  LC_DAEMON_CLEAN=1
  if [ $rc -ne 0 ]; then
    LC_DAEMON_CLEAN=0
    echo "  # daemon exit status $rc; its log ends:"; lc_tail "$LC_TMP/daemon.log" 5
  fi
  return 0
}

# lc_add [ADD ARGS...] : creates a device, prints its node path(s) (one per line).
lc_add() {
  local out
  if ! out=$(lc add "$@" 2>"$LC_TMP/add.err"); then
    cat "$LC_TMP/add.err" >&2
    return 1
  fi
  local n
  while read -r n; do [ -n "$n" ] && LC_NODES+=("$n"); done <<<"$out"
  printf '%s\n' "$out"
}

# lc_add_or_abort VAR [ADD ARGS...] : lc_add into variable VAR (first node), abort on failure.
# All the nodes printed (two for --split: output, then capture) are in LC_ADDED.
lc_add_or_abort() {
  local __var=$1 __out; shift
  __out=$(lc_add "$@" 2>&1) || lc_abort "$LC_NAME-add" "loopcam add $* failed: $__out"
  # lc_add ran in a subshell: record the nodes here too.
  LC_ADDED=()
  local n; while read -r n; do case "$n" in /*) LC_NODES+=("$n"); LC_ADDED+=("$n") ;; esac; done <<<"$__out"
  printf -v "$__var" '%s' "${LC_ADDED[0]:-}"
}

# lc_feed NAME DEV [FEED ARGS...] : `loopcam feed DEV ARGS` in the background, then waits until
# the device reports a streaming producer (max 10 s).
lc_feed() {
  local name=$1 dev=$2; shift 2
  lc_bg "$name" "$LOOPCAM_BIN" feed "$dev" "$@"
  if ! lc_wait_for 10 lc_is_streaming "$dev"; then
    lc_tail "$LC_TMP/$name.err"
    return 1
  fi
}

lc_is_streaming() { [ "$(lc_query "$1" streaming)" = true ]; }
# lc_has_readers DEV N : at least N streaming consumers (use with lc_wait_for).
lc_has_readers() { local r; r=$(lc_query "$1" readers) && [ "${r:-0}" -ge "$2" ]; }

# lc_query DEV KEY : one field of `loopcam query DEV --json`.
lc_query() {
  lc query "$1" --json 2>/dev/null | lc_json_get "$2"
}

# lc_json_get KEY [FILE] : reads the last JSON object of FILE (or stdin), prints KEY
# (dotted path, e.g. result.source.resolution.width). Booleans print as true/false.
lc_json_get() {
  "$LC_PY" -c "$LC_JSON_GET_PY" "$1" "${2:-/dev/stdin}"
}
LC_JSON_GET_PY='
import json, sys
key, path = sys.argv[1], sys.argv[2]
text = open(path, errors="replace").read()
obj = None
try:
    obj = json.loads(text)
except ValueError:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line); break
            except ValueError:
                pass
if obj is None:
    sys.exit(1)
for k in key.split("."):
    if isinstance(obj, list):
        obj = obj[int(k)]
    elif isinstance(obj, dict) and k in obj:
        obj = obj[k]
    else:
        sys.exit(1)
print(json.dumps(obj) if isinstance(obj, (bool, list, dict)) or obj is None else obj)
'

# ---------------------------------------------------------------------------------------------
# Frame sources and verification

# Bytes per YUYV frame.
lc_yuyv_size() { local w=${1%x*} h=${1#*x}; echo $((w * h * 2)); }

# lc_counter_source NAME SIZE FPS COUNT : a stream of COUNT raw YUYV `counter` frames of SIZE,
# paced at FPS, on the named fifo $LC_TMP/NAME.fifo (read it as an application's stdin). It
# comes from a helper device fed and dumped natively (no preload involved):
#   loopcam feed HELPER --pattern counter ... ; loopcam dump HELPER --count COUNT --output -
lc_counter_source() {
  local name=$1 size=$2 fps=$3 count=$4 helper
  lc_add_or_abort helper -n "helper-$name" --caps "YUYV:$size@$fps"
  mkfifo "$LC_TMP/$name.fifo"
  lc_feed "$name-feed" "$helper" --pattern counter --format YUYV --size "$size" --fps "$fps" ||
    lc_abort "$name-source" "helper feed did not start"
  # dump blocks opening the fifo until the reader (the application) opens it.
  lc_bg "$name-dump" bash -c 'exec "$1" dump "$2" --count "$3" --buffers 8 --output - >"$4"' _ \
    "$LOOPCAM_BIN" "$helper" "$count" "$LC_TMP/$name.fifo"
}

# lc_verify FILE|- FORMAT SIZE : runs `loopcam verify`; sets LC_V_{FRAMES,CORRUPT,OOO,FIRST,LAST}
# and LC_V_OUT (its output). Returns its exit status.
lc_verify() {
  local file=$1 fmt=$2 size=$3 rc
  LC_V_OUT=$("$LOOPCAM_BIN" verify --format "$fmt" --size "$size" "$file" 2>&1)
  rc=$?
  LC_V_FRAMES=$(sed -n 's/.*frames=\([0-9]*\).*/\1/p' <<<"$LC_V_OUT" | tail -n 1)
  LC_V_CORRUPT=$(sed -n 's/.*corrupt=\([0-9]*\).*/\1/p' <<<"$LC_V_OUT" | tail -n 1)
  LC_V_OOO=$(sed -n 's/.*out_of_order=\([0-9]*\).*/\1/p' <<<"$LC_V_OUT" | tail -n 1)
  LC_V_FIRST=$(sed -n 's/.*first=\([0-9]*\).*/\1/p' <<<"$LC_V_OUT" | tail -n 1)
  LC_V_LAST=$(sed -n 's/.*last=\([0-9]*\).*/\1/p' <<<"$LC_V_OUT" | tail -n 1)
  return $rc
}

# lc_check_counter_file NAME FILE FORMAT SIZE MIN_FRAMES [gaps-ok] : one check line: the file
# holds >= MIN_FRAMES counter frames, none corrupt, strictly increasing and (unless gaps-ok)
# consecutive.
lc_check_counter_file() {
  local name=$1 file=$2 fmt=$3 size=$4 min=$5 gaps=${6:-}
  if [ ! -e "$file" ]; then fail "$name" "no output file $file"; return 1; fi
  lc_verify "$file" "$fmt" "$size"
  local rc=$?
  local f=${LC_V_FRAMES:-} c=${LC_V_CORRUPT:-} o=${LC_V_OOO:-} a=${LC_V_FIRST:-} b=${LC_V_LAST:-}
  local summary="frames=$f corrupt=$c out_of_order=$o first=$a last=$b"
  if [ -z "$f" ] || [ -z "$c" ] || [ -z "$o" ]; then
    fail "$name" "loopcam verify gave no summary (exit $rc): $(tail -n 3 <<<"$LC_V_OUT" | tr '\n' ' ')"
    return 1
  fi
  if [ "$c" != 0 ] || [ "$o" != 0 ] || [ "$rc" != 0 ]; then
    fail "$name" "$summary (verify exit $rc): $(grep -v 'frames=' <<<"$LC_V_OUT" | head -n 3 | tr '\n' ' ')"
    return 1
  fi
  if [ "$f" -lt "$min" ]; then fail "$name" "only $f frames, expected >= $min ($summary)"; return 1; fi
  if [ "$gaps" != gaps-ok ] && [ -n "$a" ] && [ -n "$b" ] && [ $((b - a + 1)) -ne "$f" ]; then
    fail "$name" "frames missing: $f frames span counter $a..$b ($((b - a + 1 - f)) dropped)"
    return 1
  fi
  ok "$name" "$summary"
}

# lc_dump_check NAME JSONFILE MIN_FRAMES [drops-ok] : checks a `loopcam dump --verify --json`
# summary written to JSONFILE.
lc_dump_check() {
  local name=$1 file=$2 min=$3 dropsok=${4:-}
  local f c o d
  f=$(lc_json_get frames "$file") || { fail "$name" "no dump summary: $(tail -n 2 "${file%.out}.err" 2>/dev/null | tr '\n' ' ')"; return 1; }
  c=$(lc_json_get corrupt "$file"); o=$(lc_json_get out_of_order "$file"); d=$(lc_json_get drops "$file")
  local summary="frames=$f drops=$d corrupt=$c out_of_order=$o"
  if [ "$c" != 0 ] || [ "$o" != 0 ]; then
    fail "$name" "$summary: $(grep -v '^dump:' "${file%.out}.err" 2>/dev/null | head -n 2 | tr '\n' ' ')"; return 1
  fi
  if [ "$f" -lt "$min" ]; then fail "$name" "only $f frames, expected >= $min ($summary)"; return 1; fi
  if [ "$dropsok" != drops-ok ] && [ "$d" != 0 ]; then fail "$name" "$summary: frames dropped"; return 1; fi
  ok "$name" "$summary"
}
