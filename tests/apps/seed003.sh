#!/usr/bin/env bash
# The seed-003 scenario through `loopcam run` (seed003.py, Python's select module: the libc
# epoll/select/poll calls): a consumer starts watching its fd while a frame is already ready,
# first for priority events only, then for input; 100 iterations of wait -> DQBUF -> QBUF must
# each get a frame within 1 s. With epoll level-triggered, epoll edge-triggered, select() and
# poll(). Readiness must also be exact (no wake-up without a frame to dequeue), and the frames
# must be intact and in order.
. "$(dirname "$0")/lib.sh"
lc_require "$LC_PY"
lc_start_daemon

SIZE=640x480 N=100
lc_add_or_abort DEV -n "loopcam seed003"
lc_feed feed "$DEV" --pattern counter --format YUYV --size "$SIZE" --fps 30 ||
  lc_abort seed003-feed "loopcam feed did not start on $DEV"

for mode in epoll-lt epoll-et select poll; do
  name=seed003-$mode
  timeout -k 5 $((N * 2 + 20)) "$LOOPCAM_BIN" run -- "$LC_PY" "$LC_APPS_DIR/seed003.py" "$DEV" "$mode" $N \
    "$LC_TMP/$mode.raw" >"$LC_TMP/$mode.txt" 2>&1
  rc=$?
  summary=$(grep '^mode=' "$LC_TMP/$mode.txt")
  if [ $rc -eq 0 ]; then ok "$name" "$summary"; else
    fail "$name" "exit $rc: ${summary:-$(tail -n 4 "$LC_TMP/$mode.txt" | tr '\n' ' ')}"
  fi
  spurious=$(sed -n 's/.*spurious_wakeups=\([0-9]*\).*/\1/p' <<<"$summary")
  if [ "${spurious:-x}" = 0 ]; then ok "$name-exact"; else
    fail "$name-exact" "${spurious:-?} wake-ups for input readiness where DQBUF then said EAGAIN"
  fi
  # Consumers may fall behind (gaps are fine here); order and content are not.
  lc_check_counter_file "$name-frames" "$LC_TMP/$mode.raw" YUYV "$SIZE" $N gaps-ok
done

lc_finish
