#!/usr/bin/env bash
# Reliability checks (issue 7): stress, kill, soak, isolation, daemon failure. Each check runs
# against its own private daemon (private socket and --node-dir: nothing is created in /dev)
# and prints one line `PASS name: figures` or `FAIL name: reason`; the last line is
# `reliability: N passed, N failed`. See docs/RELIABILITY.md.
#
# Usage: scripts/reliability.sh [--quick] [--no-build] [--soak SECS] [--only NAME...]
#   --quick      CI mode (about 3-4 minutes): stress 60 s, kill 200 rounds, soak 60 s with a
#                format change every 20 s, isolation, daemon failure.
#   (default)    full mode: as quick, but a 600 s soak with a format change every 120 s.
#   --soak SECS  soak duration (format change every SECS/5 s); any length, e.g. 3600.
#   --only NAME  run only these steps (stress, kill, soak, isolation, preload-stress,
#                daemon-failure).
#   --no-build   use the existing target/debug binaries.
# Requires v4l2-ctl, ffmpeg and gst-launch-1.0 (scripts/install-test-deps.sh) for the
# daemon-failure step; a missing tool is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

quick=0
build=1
soak_secs=600
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; soak_secs=60 ;;
    --no-build) build=0 ;;
    --soak) soak_secs=$2; shift ;;
    --only) only+=("$2"); shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
change_every=$(( soak_secs / 5 ))
[ "$quick" = 1 ] && change_every=20
[ "$change_every" -lt 5 ] && change_every=5

BIN=$ROOT/target/debug/loopcam
TORTURE=$ROOT/target/debug/loopcam-torture
if [ "$build" = 1 ]; then
  cargo build -p loopcam -p loopcam-preload -p loopcam-torture >&2 || { echo "FAIL build: cargo build failed"; echo "reliability: 0 passed, 1 failed"; exit 1; }
fi

WORK=$(mktemp -d /tmp/loopcam-reliability.XXXXXX)
passed=0
failed=0
PIDS=()
DAEMON_PID=

result() { # "PASS name: ..." or "FAIL name: ..."
  echo "$1"
  case "$1" in
    PASS*) passed=$((passed + 1)) ;;
    FAIL*) failed=$((failed + 1)) ;;
  esac
}

cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  if [ -n "$DAEMON_PID" ]; then kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_daemon NAME [daemon args...]: a private daemon; sets DIR, DAEMON_PID, LOOPCAM_SOCKET.
start_daemon() {
  DIR=$WORK/$1; shift
  mkdir -p "$DIR"
  export LOOPCAM_SOCKET=$DIR/sock
  "$BIN" daemon --node-dir "$DIR/dev" "$@" >>"$DIR/daemon.log" 2>&1 &
  DAEMON_PID=$!
  # Ready when it answers (a socket file may be left over by a killed daemon).
  for _ in $(seq 100); do
    kill -0 "$DAEMON_PID" 2>/dev/null || { wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=; return 1; }
    "$BIN" list >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

# stop_daemon NAME: SIGTERM (removes its nodes); reports a daemon that died on its own.
stop_daemon() {
  if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
    result "FAIL $1-daemon: the daemon died during the check: $(tail -n 3 "$DIR/daemon.log" | tr '\n' ' ')"
  fi
  kill -TERM "$DAEMON_PID" 2>/dev/null
  wait "$DAEMON_PID" 2>/dev/null
  DAEMON_PID=
}

want() {
  [ ${#only[@]} -eq 0 ] && return 0
  for o in "${only[@]}"; do [ "$o" = "$1" ] && return 0; done
  return 1
}

# torture NAME LIMIT_SECS ARGS...: runs a loopcam-torture subcommand on a fresh daemon with
# two devices ($DEV, $DEV2 substituted), with a hard time limit.
torture() {
  local name=$1 limit=$2; shift 2
  start_daemon "$name" || { result "FAIL $name: daemon did not start"; return; }
  local dev dev2 args=()
  dev=$("$BIN" add) && dev2=$("$BIN" add) || { result "FAIL $name: loopcam add failed"; stop_daemon "$name"; return; }
  for a in "$@"; do
    a=${a//@DEV2@/$dev2}; a=${a//@DEV@/$dev}; a=${a//@PID@/$DAEMON_PID}
    args+=("$a")
  done
  local t0=$SECONDS
  timeout -s KILL "$limit" "$TORTURE" "${args[@]}" >"$DIR/out.txt" 2>"$DIR/err.txt"
  local rc=$?
  grep -E '^(PASS|FAIL) ' "$DIR/out.txt" | while IFS= read -r l; do echo "$l"; done
  passed=$((passed + $(grep -c '^PASS ' "$DIR/out.txt")))
  failed=$((failed + $(grep -c '^FAIL ' "$DIR/out.txt")))
  grep -E '^INFO ' "$DIR/out.txt"
  if [ "$rc" = 137 ]; then
    result "FAIL $name: no result within ${limit}s (hang)"
  elif ! grep -qE '^(PASS|FAIL) ' "$DIR/out.txt"; then
    result "FAIL $name: exit $rc without a result: $(tail -n 3 "$DIR/err.txt" | tr '\n' ' ')"
  fi
  echo "# $name: $((SECONDS - t0)) s ($(head -n 1 "$DIR/err.txt"))"
  stop_daemon "$name"
}

want stress && torture stress 180 stress @DEV@ --daemon-pid @PID@ --secs 60
want kill && torture kill 300 kill @DEV@ --daemon-pid @PID@ --rounds 200
want soak && torture soak $((soak_secs + 120)) soak @DEV@ --daemon-pid @PID@ --duration "$soak_secs" --change-every "$change_every"
want isolation && torture isolation 60 isolation @DEV@ @DEV2@ --secs 3

# --- preload stress: the same kind of random calls from a C program (threads sharing dup()ed
# fds) through the preload library, while `loopcam feed` streams; then a fresh consumer.
preload_stress() {
  local name=preload-stress t0=$SECONDS secs=30
  command -v cc >/dev/null || { result "FAIL $name: no C compiler (cc)"; return; }
  start_daemon "$name" || { result "FAIL $name: daemon did not start"; return; }
  local dev
  dev=$("$BIN" add)
  cc -O2 -Wall -pthread -o "$DIR/preload_stress" "$ROOT/scripts/reliability/preload_stress.c" 2>"$DIR/cc.log" || { result "FAIL $name: compile: $(tail -n 2 "$DIR/cc.log")"; stop_daemon "$name"; return; }
  "$BIN" feed "$dev" --pattern counter >"$DIR/feed.log" 2>&1 &
  local fp=$!; PIDS+=($fp)
  sleep 0.3
  local ps=() i
  for i in 1 2; do
    timeout -s KILL $((secs + 10)) "$BIN" run -- "$DIR/preload_stress" "$dev" "$secs" >"$DIR/ps$i.out" 2>&1 &
    ps+=($!)
  done
  local bad=() calls=0 errs=0
  for i in "${!ps[@]}"; do
    wait "${ps[$i]}"; local rc=$?
    local out=$DIR/ps$((i + 1)).out
    if [ "$rc" != 0 ]; then
      bad+=("process $((i + 1)) exit $rc: $(tail -n 2 "$out" | tr '\n' ' ')")
    else
      calls=$((calls + $(awk '/^DONE/ {print $3}' "$out")))
      errs=$((errs + $(awk '/^DONE/ {print $5}' "$out")))
    fi
  done
  local js
  js=$(timeout 20 "$BIN" dump "$dev" --count 60 --verify --json 2>"$DIR/dump.log" | grep '^{' | tail -n 1)
  kill "$fp" 2>/dev/null; wait "$fp" 2>/dev/null
  if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
    result "FAIL $name: the daemon died"
  elif [ ${#bad[@]} -gt 0 ]; then
    result "FAIL $name: ${bad[*]}"
  elif ! grep -q '"frames":60' <<<"$js" || ! grep -q '"corrupt":0' <<<"$js"; then
    result "FAIL $name: fresh consumer afterwards: $js $(tail -n 1 "$DIR/dump.log")"
  else
    result "PASS $name: 2 processes x 6 threads for ${secs}s under the preload: $calls calls ($errs returned errors), no call > 2000 ms, no crash; then dump --verify 60 frames exact"
  fi
  stop_daemon "$name"
  echo "# $name: $((SECONDS - t0)) s"
}
want preload-stress && preload_stress

# --- daemon failure: real applications under the preload library when the daemon is
# SIGKILLed; then a restart with the same persistent configuration.
daemon_failure() {
  local name=daemon-failure t0=$SECONDS
  for tool in v4l2-ctl ffmpeg gst-launch-1.0; do
    command -v "$tool" >/dev/null || { result "FAIL $name: $tool is not installed (scripts/install-test-deps.sh)"; return; }
  done
  mkdir -p "$WORK/$name"
  local cfg=$WORK/$name/devices.toml
  cat >"$cfg" <<'EOF'
[[device]]
number = 10
label = "Reliability Cam"

[[device]]
number = 11
label = "Reliability Out"

[[device]]
number = 12
label = "Reliability Idle"
EOF
  start_daemon "$name" --config "$cfg" || { result "FAIL $name: daemon did not start"; return; }
  local d=$DIR/dev apps=() names=() logs=()
  "$BIN" feed "$d/video10" --pattern counter >"$DIR/feed.log" 2>&1 &
  PIDS+=($!); apps+=($!); names+=("loopcam-feed(producer)"); logs+=(feed.log)
  sleep 0.3
  "$BIN" run -- v4l2-ctl -d "$d/video10" --stream-mmap --stream-count=1000000 >/dev/null 2>"$DIR/v4l2ctl.log" &
  PIDS+=($!); apps+=($!); names+=("v4l2-ctl--stream-mmap"); logs+=(v4l2ctl.log)
  "$BIN" run -- ffmpeg -nostdin -hide_banner -f v4l2 -i "$d/video10" -f null - >/dev/null 2>"$DIR/ffmpeg-in.log" &
  PIDS+=($!); apps+=($!); names+=("ffmpeg-v4l2-input"); logs+=(ffmpeg-in.log)
  "$BIN" run -- gst-launch-1.0 v4l2src device="$d/video10" ! fakesink >"$DIR/gst.log" 2>&1 &
  PIDS+=($!); apps+=($!); names+=("gst-v4l2src"); logs+=(gst.log)
  "$BIN" run -- ffmpeg -nostdin -hide_banner -re -f lavfi -i testsrc=size=640x480:rate=30 -pix_fmt yuyv422 -f v4l2 "$d/video11" >/dev/null 2>"$DIR/ffmpeg-out.log" &
  PIDS+=($!); apps+=($!); names+=("ffmpeg-v4l2-output"); logs+=(ffmpeg-out.log)
  # Blocked in DQBUF on a device without a producer when the daemon dies.
  "$BIN" run -- v4l2-ctl -d "$d/video12" --stream-mmap --stream-count=10 >/dev/null 2>"$DIR/v4l2ctl-idle.log" &
  PIDS+=($!); apps+=($!); names+=("v4l2-ctl-waiting"); logs+=(v4l2ctl-idle.log)
  # An app holding mapped buffers that outlives the daemon, and opens again after the restart.
  mkfifo "$DIR/reopen.in"
  "$BIN" run -- python3 "$ROOT/scripts/reliability/reopen.py" "$d/video12" <"$DIR/reopen.in" >"$DIR/reopen.log" 2>&1 &
  local reopen=$!; PIDS+=($reopen)
  exec 7>"$DIR/reopen.in"
  sleep 3
  local q10 q11
  q10=$("$BIN" query 10 --json | tr -d ' \n')
  q11=$("$BIN" query 11 --json | tr -d ' \n')
  case "$q10$q11" in
    *'"readers":3'*'"producer":true'*) ;;
    *) result "FAIL $name: setup: apps not streaming before the kill: $q10 $q11"; stop_daemon "$name"; return ;;
  esac
  local i bad=() figures=()
  for i in "${!apps[@]}"; do
    kill -0 "${apps[$i]}" 2>/dev/null || bad+=("${names[$i]} exited before the kill")
  done
  grep -q '^mapped 2 buffers' "$DIR/reopen.log" || bad+=("reopen.py setup: $(tr '\n' ' ' <"$DIR/reopen.log")")
  kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
  local tk=$(date +%s%N)
  echo killed >&7
  for i in "${!apps[@]}"; do
    local p=${apps[$i]} n=0
    while kill -0 "$p" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
    if kill -0 "$p" 2>/dev/null; then
      bad+=("${names[$i]} still running 5 s after the daemon died")
      kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
      continue
    fi
    wait "$p"; local rc=$?
    local ms=$(( ($(date +%s%N) - tk) / 1000000 ))
    # 128+N: killed by signal N (SIGSEGV 11, SIGABRT 6, SIGBUS 7, SIGILL 4, SIGFPE 8).
    case $rc in
      132|134|135|136|139) bad+=("${names[$i]} crashed (exit $rc)") ;;
      *)
        # Each application must have been told: ENODEV or EIO from an ioctl (gst reports the
        # failed DQBUF as flow error -5), or POLLERR from poll(): the kernel's v4l2_poll()
        # returns EPOLLERR|EPOLLHUP|EPOLLPRI for an unregistered device, and the signal socket
        # shows POLLERR (ECONNRESET) when the daemon dies with POLLOUT cleared; gst reports it
        # as "poll error 1" (with a stale errno, a gst quirk).
        local e
        e=$(grep -Eo 'No such device|Input/output error|ENODEV|EIO|error \(-5\)|poll error 1' "$DIR/${logs[$i]}" | head -n 1)
        if [ -z "$e" ]; then
          bad+=("${names[$i]} exit $rc without reporting ENODEV/EIO: $( { grep -iE 'error|fail' "$DIR/${logs[$i]}" || tail -n 3 "$DIR/${logs[$i]}"; } | head -n 6 | tr '\n' ' ')")
        else
          figures+=("${names[$i]} exit $rc in <=${ms} ms ($e)")
        fi
        ;;
    esac
  done
  sleep 0.5
  if ! grep -q '^ok: old fd QUERYCAP' "$DIR/reopen.log" || ! grep -q '^ok: mappings still readable' "$DIR/reopen.log" || ! kill -0 "$reopen" 2>/dev/null; then
    bad+=("app holding mappings: $(tr '\n' ' ' <"$DIR/reopen.log")")
  fi
  if [ ${#bad[@]} -gt 0 ]; then
    result "FAIL $name: ${bad[*]}"
  else
    result "PASS $name: daemon SIGKILLed under 6 streaming/waiting apps; all exited with an error: $(IFS=,; echo "${figures[*]}"); an app holding 2 mapped buffers got $(grep -o 'QUERYCAP -> [A-Z]*' "$DIR/reopen.log") on its fd, its mappings stayed readable, munmap/close fine"
  fi
  # Restart with the same configuration: the devices come back and stream.
  local diag=0
  if ! start_daemon "$name" --config "$cfg"; then
    result "FAIL $name-restart: the daemon does not restart with the same config after kill -9: $(grep -v '^$' "$DIR/daemon.log" | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g') (stale nodes left: $(ls "$d" 2>/dev/null | tr '\n' ' '))"
    # Diagnostic only (not counted): does the restart work once the stale nodes are removed?
    rm -f "$d"/video*
    if start_daemon "$name" --config "$cfg"; then
      echo "INFO $name-restart: after removing the stale node files by hand the daemon restarts; checking the stream anyway"
    else
      echo "INFO $name-restart: the daemon does not restart even without the stale nodes"
      return
    fi
    diag=1
  fi
  local list
  list=$("$BIN" list 2>&1)
  if ! { grep -q "video10 (Reliability Cam)" <<<"$list" && grep -q "video11 (Reliability Out)" <<<"$list" && grep -q "video12 (Reliability Idle)" <<<"$list"; }; then
    result "FAIL $name-restart: configured devices missing: $(tr '\n' ' ' <<<"$list")"
    stop_daemon "$name"; return
  fi
  "$BIN" feed "$d/video10" --pattern counter --count 150 >"$DIR/feed2.log" 2>&1 &
  local fp=$!; PIDS+=($fp)
  sleep 0.3
  local out vrc
  out=$(timeout 20 "$BIN" dump "$d/video10" --count 60 --verify --json 2>"$DIR/dump2.log" | grep '^{' | tail -n 1)
  timeout 20 "$BIN" run -- v4l2-ctl -d "$d/video10" --stream-mmap --stream-count=30 >/dev/null 2>"$DIR/v4l2ctl2.log"
  vrc=$?
  kill "$fp" 2>/dev/null; wait "$fp" 2>/dev/null
  # The app that outlived the daemon opens the device again in the same process.
  echo restarted >&7; exec 7>&-
  local n=0 rrc
  while kill -0 "$reopen" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
  kill -KILL "$reopen" 2>/dev/null; wait "$reopen"; rrc=$?
  if [ "$diag" = 1 ]; then
    echo "INFO $name-restart: (after manual cleanup) dump: $out; v4l2-ctl under the preload exit $vrc; same-process reopen exit $rrc: $(tail -n 1 "$DIR/reopen.log")"
  elif grep -q '"frames":60' <<<"$out" && grep -q '"corrupt":0' <<<"$out" && [ "$vrc" = 0 ] && [ "$rrc" = 0 ]; then
    result "PASS $name-restart: devices 10, 11, 12 recreated from the config; a fresh producer streamed to dump --verify (60 frames exact) and to v4l2-ctl under the preload (30 frames, exit 0); the app that outlived the daemon reopened the device"
  else
    result "FAIL $name-restart: after restart: dump $out; v4l2-ctl exit $vrc; same-process reopen exit $rrc $(tail -n 2 "$DIR/dump2.log" "$DIR/v4l2ctl2.log" "$DIR/reopen.log" | tr '\n' ' ')"
  fi
  stop_daemon "$name"
  echo "# $name: $((SECONDS - t0)) s"
}
want daemon-failure && daemon_failure

echo "reliability: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
