#!/usr/bin/env bash
# ffmpeg through `loopcam run`, at 640x480 and 1920x1080 YUYV, 300 frames each way:
#  * consumer: `-f v4l2 -i DEV` (MMAP), fed by `loopcam feed --pattern counter` at 30 fps; its
#    raw output is checked by `loopcam verify` (order, every byte, no frame missing);
#  * producer: `-f v4l2 DEV` (write()), its input a stream of counter frames paced at 30 fps;
#    `loopcam dump --verify` consumes and checks them.
. "$(dirname "$0")/lib.sh"
lc_require ffmpeg
lc_start_daemon

N=300

# Checks the output of `loopcam verify` saved from a pipeline.
check_verify_output() { # NAME VERIFY_OUTPUT_FILE MIN
  local name=$1 f=$2 min=$3
  LC_V_OUT=$(cat "$f")
  local line; line=$(grep 'frames=' "$f" | tail -n 1)
  local fr c o a b
  fr=$(sed -n 's/.*frames=\([0-9]*\).*/\1/p' <<<"$line"); c=$(sed -n 's/.*corrupt=\([0-9]*\).*/\1/p' <<<"$line")
  o=$(sed -n 's/.*out_of_order=\([0-9]*\).*/\1/p' <<<"$line"); a=$(sed -n 's/.*first=\([0-9]*\).*/\1/p' <<<"$line")
  b=$(sed -n 's/.*last=\([0-9]*\).*/\1/p' <<<"$line")
  if [ -z "$fr" ]; then fail "$name" "no verify summary: $(tr '\n' ' ' <"$f")"; return 1; fi
  if [ "$c" != 0 ] || [ "$o" != 0 ]; then fail "$name" "$line: $(grep -v 'frames=' "$f" | head -n 2 | tr '\n' ' ')"; return 1; fi
  if [ "$fr" -lt "$min" ]; then fail "$name" "only $fr frames, expected $min ($line)"; return 1; fi
  if [ -n "$a" ] && [ -n "$b" ] && [ $((b - a + 1)) -ne "$fr" ]; then
    fail "$name" "frames missing: $fr frames span counter $a..$b ($((b - a + 1 - fr)) dropped)"; return 1
  fi
  ok "$name" "$line"
}

consumer() { # SIZE
  local size=$1 name=ffmpeg-consumer-$1 dev
  lc_add_or_abort dev -n "loopcam ffmpeg in $size"
  lc_feed "feed-$size" "$dev" --pattern counter --format YUYV --size "$size" --fps 30 ||
    { fail "$name" "loopcam feed did not start on $dev"; return; }
  timeout -k 5 60 "$LOOPCAM_BIN" run -- ffmpeg -hide_banner -nostdin -loglevel error \
    -f v4l2 -input_format yuyv422 -video_size "$size" -i "$dev" \
    -frames:v "$N" -c:v copy -f rawvideo - 2>"$LC_TMP/$name.err" |
    "$LOOPCAM_BIN" verify --format YUYV --size "$size" - >"$LC_TMP/$name.verify" 2>&1
  local st=("${PIPESTATUS[@]}")
  if [ "${st[0]}" -ne 0 ]; then
    fail "$name" "ffmpeg exit ${st[0]}: $(tail -n 5 "$LC_TMP/$name.err" | tr '\n' ' ')"
  else
    check_verify_output "$name" "$LC_TMP/$name.verify" "$N"
  fi
  lc_stop "feed-$size"
}

producer() { # SIZE
  local size=$1 name=ffmpeg-producer-$1 dev
  lc_add_or_abort dev -n "loopcam ffmpeg out $size" --caps "YUYV:$size@30"
  lc_bg "consumer-$size" "$LOOPCAM_BIN" dump "$dev" --count "$N" --duration 40 --buffers 8 --verify --json
  lc_wait_for 5 lc_has_readers "$dev" 1 || info "consumer not streaming yet"
  lc_counter_source "src-$size" "$size" 30 "$N"
  timeout -k 5 60 "$LOOPCAM_BIN" run -- ffmpeg -hide_banner -nostdin -loglevel error \
    -f rawvideo -pix_fmt yuyv422 -video_size "$size" -framerate 30 -i - \
    -c:v copy -f v4l2 "$dev" <"$LC_TMP/src-$size.fifo" 2>"$LC_TMP/$name.err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    fail "$name-run" "ffmpeg exit $rc: $(tail -n 5 "$LC_TMP/$name.err" | tr '\n' ' ')"
  else
    ok "$name-run"
  fi
  lc_wait "consumer-$size" 10
  lc_dump_check "$name-frames" "$LC_TMP/consumer-$size.out" "$N"
  lc_stop "src-$size-feed"
}

consumer 640x480
consumer 1920x1080
producer 640x480
producer 1920x1080

lc_finish
