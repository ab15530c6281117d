#!/usr/bin/env bash
# v4l2-ctl through `loopcam run`: --list-devices, --all, --stream-mmap capture (fps printed, no
# dropped frames at 30 fps, every frame verified) and --stream-out-mmap as the producer.
. "$(dirname "$0")/lib.sh"
lc_require v4l2-ctl
lc_start_daemon

LABEL="loopcam v4l2ctl test"
lc_add_or_abort DEV -n "$LABEL"
lc_feed feed "$DEV" --pattern counter --format YUYV --size 640x480 --fps 30 ||
  lc_abort v4l2ctl-feed "loopcam feed did not start streaming on $DEV"

# --list-devices: the label, and the node under it.
out=$LC_TMP/list-devices.txt
timeout -k 5 20 "$LOOPCAM_BIN" run -- v4l2-ctl --list-devices >"$out" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  fail v4l2ctl-list-devices "exit $rc: $(head -n 5 "$out" | tr '\n' ' ')"
elif ! grep -q "^$LABEL (" "$out"; then
  fail v4l2ctl-list-devices "label '$LABEL' not listed: $(tr '\n' ' ' <"$out")"
elif ! grep -A3 "^$LABEL (" "$out" | grep -q "^[[:space:]]*$(basename "$DEV")\$\|^[[:space:]]*$DEV\$\|^[[:space:]]*/dev/$(basename "$DEV")\$"; then
  # (an unprivileged daemon's node is listed under its /dev/videoN name)
  fail v4l2ctl-list-devices "$DEV not listed under '$LABEL': $(tr '\n' ' ' <"$out")"
else
  ok v4l2ctl-list-devices
fi

# --all: driver, card, the producer's format and frame rate.
out=$LC_TMP/all.txt
timeout -k 5 20 "$LOOPCAM_BIN" run -- v4l2-ctl -d "$DEV" --all >"$out" 2>&1
rc=$?
problems=()
[ $rc -eq 0 ] || problems+=("exit $rc")
grep -q "Card type *: $LABEL\$" "$out" || problems+=("no 'Card type : $LABEL'")
grep -q "Driver name *: " "$out" || problems+=("no driver name")
grep -q "Width/Height *: 640/480" "$out" || problems+=("no 'Width/Height : 640/480'")
grep -q "Pixel Format *: 'YUYV'" "$out" || problems+=("no YUYV pixel format")
grep -q "Frames per second: 30.000" "$out" || problems+=("no 'Frames per second: 30.000'")
if [ ${#problems[@]} -eq 0 ]; then ok v4l2ctl-all; else
  fail v4l2ctl-all "$(IFS=';'; echo "${problems[*]}")"; lc_tail "$out" 20
fi

# --stream-mmap: 150 frames (5 s at 30 fps) to a file; v4l2-ctl's fps lines and drop report.
out=$LC_TMP/stream-mmap.txt
timeout -k 5 30 "$LOOPCAM_BIN" run -- v4l2-ctl -d "$DEV" --stream-mmap --stream-count 150 \
  --stream-to "$LC_TMP/mmap.raw" >"$out" 2>&1
rc=$?
fps=$(grep -o '[0-9.]* fps' "$out" | awk '{print $1}' | tr '\n' ' ')
if [ $rc -ne 0 ]; then
  fail v4l2ctl-stream-mmap-run "exit $rc: $(tail -n 5 "$out" | tr '\r\n' '  ')"
elif [ -z "$fps" ]; then
  fail v4l2ctl-stream-mmap-fps "no fps printed: $(tail -n 3 "$out" | tr '\r\n' '  ')"
elif ! awk -v l="$fps" 'BEGIN { n = split(l, a, " "); for (i = 1; i <= n; i++) if (a[i] < 27 || a[i] > 33) exit 1 }'; then
  fail v4l2ctl-stream-mmap-fps "fps outside 27..33 at a 30 fps producer: $fps"
else
  ok v4l2ctl-stream-mmap-fps "$fps"
fi
if grep -q 'dropped buffers' "$out"; then
  fail v4l2ctl-stream-mmap-drops "$(grep -o 'dropped buffers: [0-9]*' "$out" | tail -n 1)"
else
  ok v4l2ctl-stream-mmap-drops
fi
lc_check_counter_file v4l2ctl-stream-mmap-frames "$LC_TMP/mmap.raw" YUYV 640x480 150

# --stream-out-mmap as the producer: counter frames from stdin (paced at 30 fps by the source),
# consumed and verified by `loopcam dump`. A split device: v4l2-ctl gets the output-only node
# (on a node advertising capture and output, v4l2-ctl's streaming_set_out takes fd.g_type(), the
# *capture* type, and would stream as a consumer), the consumer the always-capture node, so it
# can start before the producer and see every frame.
lc_add_or_abort OUT -n "loopcam v4l2ctl out" --split --caps YUYV:640x480@30
CAP=${LC_ADDED[1]:-}
[ -n "$CAP" ] || lc_abort v4l2ctl-split "loopcam add --split printed one node"
lc_bg consumer "$LOOPCAM_BIN" dump "$CAP" --count 90 --duration 15 --verify --json
lc_wait_for 5 lc_has_readers "$OUT" 1 || info "consumer not streaming yet"
lc_counter_source src 640x480 30 90
timeout -k 5 30 "$LOOPCAM_BIN" run -- v4l2-ctl -d "$OUT" \
  --set-fmt-video-out=width=640,height=480,pixelformat=YUYV \
  --stream-out-mmap --stream-count 90 --stream-from - <"$LC_TMP/src.fifo" >"$LC_TMP/stream-out.txt" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  fail v4l2ctl-stream-out-mmap-run "exit $rc: $(tail -n 5 "$LC_TMP/stream-out.txt" | tr '\r\n' '  ')"
elif ! grep -q '>' "$LC_TMP/stream-out.txt"; then
  fail v4l2ctl-stream-out-mmap-run "no '>' progress printed: $(tail -n 3 "$LC_TMP/stream-out.txt" | tr '\r\n' '  ')"
else
  ok v4l2ctl-stream-out-mmap-run "$(grep -o '[0-9.]* fps' "$LC_TMP/stream-out.txt" | tail -n 1)"
fi
lc_wait consumer 20
lc_dump_check v4l2ctl-stream-out-mmap-frames "$LC_TMP/consumer.out" 90

lc_finish
