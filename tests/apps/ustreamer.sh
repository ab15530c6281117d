#!/usr/bin/env bash
# ustreamer through `loopcam run`, on a device made the seed-000 way: `loopcam add -x 1`, then
# `set-caps` and `set-fps`, a 1280x720 YUYV producer at 30 fps. Twice, for 20 s each: with
# --workers=1 --buffers=2 (the flags under which ustreamer checks for a buffer handed out twice)
# and with default options. Checks: no "already used" line, fewer than 50 log lines, /state
# reports 1280x720 and online, /snapshot is a 1280x720 JPEG.
. "$(dirname "$0")/lib.sh"
lc_require ustreamer curl
lc_start_daemon

W=1280 H=720
lc_add_or_abort DEV -x 1
lc set-caps "$DEV" "YUYV:${W}x${H}@30/1" || lc_abort ustreamer-set-caps "loopcam set-caps failed"
lc set-fps "$DEV" 30 || lc_abort ustreamer-set-fps "loopcam set-fps failed"
lc_feed feed "$DEV" --pattern counter --format YUYV --size "${W}x${H}" --fps 30 ||
  lc_abort ustreamer-feed "loopcam feed did not start on $DEV"

# Prints "WxH" of a baseline/progressive JPEG, or an error.
jpeg_size() {
  "$LC_PY" - "$1" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
if d[:2] != b"\xff\xd8":
    print("not a JPEG (starts with %r)" % d[:8]); sys.exit(1)
i = 2
while i + 4 <= len(d):
    if d[i] != 0xFF:
        print("bad marker at %d" % i); sys.exit(1)
    m = d[i + 1]
    if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
        i += 2; continue
    seg = int.from_bytes(d[i + 2:i + 4], "big")
    if m in (0xC0, 0xC1, 0xC2):
        h = int.from_bytes(d[i + 5:i + 7], "big"); w = int.from_bytes(d[i + 7:i + 9], "big")
        print("%dx%d" % (w, h)); sys.exit(0)
    i += 2 + seg
print("no SOF marker"); sys.exit(1)
PY
}

variant() { # NAME USTREAMER_ARGS...
  local name=$1; shift
  local port; port=$(lc_free_port)
  lc_bg "$name" "$LOOPCAM_BIN" run -- ustreamer --device "$DEV" --host 127.0.0.1 --port "$port" "$@"
  local log=$LC_TMP/$name.err t0=$SECONDS
  if ! lc_wait_for 10 curl -sf -m 2 -o "$LC_TMP/$name-state.json" "http://127.0.0.1:$port/state"; then
    fail "$name-state" "no /state answer within 10 s"; lc_tail "$log"
  fi
  # Let it capture for a while, then ask for the state and a snapshot.
  lc_sleep 5
  curl -s -m 5 -o "$LC_TMP/$name-state.json" "http://127.0.0.1:$port/state"
  local w h online
  w=$(lc_json_get result.source.resolution.width "$LC_TMP/$name-state.json")
  h=$(lc_json_get result.source.resolution.height "$LC_TMP/$name-state.json")
  online=$(lc_json_get result.source.online "$LC_TMP/$name-state.json")
  if [ "$w" = "$W" ] && [ "$h" = "$H" ] && [ "$online" = true ]; then
    ok "$name-state" "${w}x${h} online, captured_fps=$(lc_json_get result.source.captured_fps "$LC_TMP/$name-state.json")"
  else
    fail "$name-state" "/state says ${w:-?}x${h:-?} online=${online:-?}, expected ${W}x${H} online: $(head -c 300 "$LC_TMP/$name-state.json")"
  fi
  local code
  code=$(curl -s -m 5 -o "$LC_TMP/$name-snapshot.jpg" -w '%{http_code} %{content_type}' "http://127.0.0.1:$port/snapshot")
  local sz; sz=$(jpeg_size "$LC_TMP/$name-snapshot.jpg" 2>&1)
  if [ "$code" = "200 image/jpeg" ] && [ "$sz" = "${W}x${H}" ]; then ok "$name-snapshot" "$sz JPEG"; else
    fail "$name-snapshot" "HTTP '$code', image: $sz"
  fi
  # The rest of the 20 s.
  local left=$((20 - (SECONDS - t0)))
  [ $left -gt 0 ] && lc_sleep "$left"
  if ! lc_alive "$name"; then fail "$name-alive" "ustreamer exited early: $(tail -n 3 "$log" | tr '\n' ' ')"; fi
  lc_stop "$name" TERM
  local used lines
  used=$(grep -c 'already used' "$log")
  lines=$(wc -l <"$log")
  if [ "$used" -eq 0 ]; then ok "$name-no-already-used"; else
    fail "$name-no-already-used" "$used lines, first: $(grep -m1 'already used' "$log")"
  fi
  if [ "$lines" -lt 50 ]; then ok "$name-log-lines" "$lines lines"; else
    fail "$name-log-lines" "$lines lines in 20 s; most frequent: $(sed 's/^-- [A-Z]* *\[[^]]*\] -- //; s/[0-9]\+/N/g' "$log" | sort | uniq -c | sort -rn | head -n 3 | tr -s ' \n' ' ')"
  fi
}

variant ustreamer-workers1 --workers=1 --buffers=2
variant ustreamer-default

lc_finish
