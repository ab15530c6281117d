#!/usr/bin/env bash
# USERPTR capture (v4l2-ctl --stream-user) and read() capture (read_frames.py, one read() per
# frame) deliver the same frames as MMAP capture (v4l2-ctl --stream-mmap): the three run at once
# on one device; each file must hold consecutive, intact counter frames, and the frames the
# three have in common must be byte-identical.
. "$(dirname "$0")/lib.sh"
lc_require v4l2-ctl "$LC_PY"
lc_start_daemon

SIZE=640x480 N=90
FRAME=$(lc_yuyv_size $SIZE)
lc_add_or_abort DEV -n "loopcam userptr read"
lc_feed feed "$DEV" --pattern counter --format YUYV --size "$SIZE" --fps 30 ||
  lc_abort userptr-feed "loopcam feed did not start on $DEV"

lc_bg mmap "$LOOPCAM_BIN" run -- v4l2-ctl -d "$DEV" --stream-mmap --stream-count $N --stream-to "$LC_TMP/mmap.raw"
lc_bg user "$LOOPCAM_BIN" run -- v4l2-ctl -d "$DEV" --stream-user --stream-count $N --stream-to "$LC_TMP/user.raw"
lc_bg read "$LOOPCAM_BIN" run -- "$LC_PY" "$LC_APPS_DIR/read_frames.py" "$DEV" $N "$LC_TMP/read.raw"

declare -A FIRST LAST
for m in mmap user read; do
  lc_wait "$m" 30
  rc=$?
  if [ $rc -ne 0 ]; then
    fail "capture-$m-run" "exit $rc: $(grep -v '^$' "$LC_TMP/$m.err" "$LC_TMP/$m.out" | tail -n 4 | tr '\r\n' '  ')"
    continue
  fi
  if lc_check_counter_file "capture-$m-frames" "$LC_TMP/$m.raw" YUYV "$SIZE" $N; then
    FIRST[$m]=$LC_V_FIRST LAST[$m]=$LC_V_LAST
  fi
done

# The common frames, byte for byte.
if [ ${#FIRST[@]} -eq 3 ]; then
  out=$("$LC_PY" - "$FRAME" "$LC_TMP" "${FIRST[mmap]}" "${FIRST[user]}" "${FIRST[read]}" "${LAST[mmap]}" "${LAST[user]}" "${LAST[read]}" <<'PY'
import sys
size, d = int(sys.argv[1]), sys.argv[2]
first = dict(zip(("mmap", "user", "read"), map(int, sys.argv[3:6])))
last = dict(zip(("mmap", "user", "read"), map(int, sys.argv[6:9])))
lo, hi = max(first.values()), min(last.values())
if hi - lo + 1 < 30:
    print("only %d common frames (%s..%s)" % (max(0, hi - lo + 1), first, last)); sys.exit(1)
files = {m: open("%s/%s.raw" % (d, m), "rb") for m in first}
for n in range(lo, hi + 1):
    frames = {}
    for m, f in files.items():
        f.seek((n - first[m]) * size)
        frames[m] = f.read(size)
    if not (frames["mmap"] == frames["user"] == frames["read"]):
        print("frame %d differs between mmap, userptr and read()" % n); sys.exit(1)
print("%d common frames %d..%d identical" % (hi - lo + 1, lo, hi))
PY
)
  if [ $? -eq 0 ]; then ok capture-same-frames "$out"; else fail capture-same-frames "$out"; fi
else
  fail capture-same-frames "not all three captures succeeded"
fi

lc_finish
