#!/usr/bin/env bash
# GStreamer through `loopcam run`:
#  * v4l2sink (MMAP output) as the producer of counter frames, checked by `loopcam dump --verify`;
#  * v4l2src as a consumer (default io-mode), its frames written to a file and verified;
#  * two v4l2src readers at once: one stopped after 2 s (GStreamer's stop does STREAMOFF and
#    REQBUFS(0)), the other keeps receiving every frame for 10 s.
. "$(dirname "$0")/lib.sh"
lc_require gst-launch-1.0 gst-inspect-1.0
for el in v4l2src v4l2sink rawvideoparse fdsrc filesink; do
  gst-inspect-1.0 "$el" >/dev/null 2>&1 || lc_abort gstreamer-tools "GStreamer element $el missing (run scripts/install-test-deps.sh)"
done
lc_start_daemon
SIZE=640x480
# The gist of a gst-launch failure: its ERROR line and the debug info's last line.
gst_err() { { grep -a -m1 '^ERROR' "$1"; grep -a -v '^$' "$1" | grep -av '^loopcam:' | tail -n 3; } | tr '\n' ' '; }
CAPS="video/x-raw,format=YUY2,width=640,height=480"

# --- v4l2sink as the producer --------------------------------------------------------------
N=150
lc_add_or_abort OUT -n "loopcam gst out" --caps "YUYV:$SIZE@30"
lc_bg consumer "$LOOPCAM_BIN" dump "$OUT" --count "$N" --duration 20 --buffers 8 --verify --json
lc_wait_for 5 lc_has_readers "$OUT" 1 || info "consumer not streaming yet"
lc_counter_source src "$SIZE" 30 "$N"
# colorimetry: without it the caps are not a subset of v4l2sink's (which list colorimetries),
# and GStreamer refuses them before it touches the device. show-preroll-frame=false: by default
# a video sink renders the preroll buffer, then renders it again when playing (a duplicate).
timeout -k 5 40 "$LOOPCAM_BIN" run -- gst-launch-1.0 -q fdsrc fd=0 blocksize="$(lc_yuyv_size $SIZE)" ! \
  rawvideoparse format=yuy2 width=640 height=480 framerate=30/1 colorimetry=bt601 ! \
  v4l2sink device="$OUT" io-mode=mmap show-preroll-frame=false <"$LC_TMP/src.fifo" >"$LC_TMP/v4l2sink.txt" 2>&1
rc=$?
if [ $rc -ne 0 ]; then fail gst-v4l2sink-run "exit $rc: $(gst_err "$LC_TMP/v4l2sink.txt")"; else ok gst-v4l2sink-run; fi
lc_wait consumer 10
lc_dump_check gst-v4l2sink-frames "$LC_TMP/consumer.out" "$N"
lc_stop src-feed

# --- v4l2src as a consumer -----------------------------------------------------------------
lc_add_or_abort DEV -n "loopcam gst in"
lc_feed feed "$DEV" --pattern counter --format YUYV --size "$SIZE" --fps 30 ||
  lc_abort gst-feed "loopcam feed did not start on $DEV"
timeout -k 5 40 "$LOOPCAM_BIN" run -- gst-launch-1.0 -q v4l2src device="$DEV" num-buffers="$N" ! "$CAPS" ! \
  filesink location="$LC_TMP/v4l2src.raw" >"$LC_TMP/v4l2src.txt" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  fail gst-v4l2src "exit $rc: $(gst_err "$LC_TMP/v4l2src.txt")"
else
  lc_check_counter_file gst-v4l2src "$LC_TMP/v4l2src.raw" YUYV "$SIZE" "$N"
fi

# --- two readers; one stops after 2 s ------------------------------------------------------
# A runs until interrupted (gst-launch -e: EOS, then the pipeline goes to NULL: STREAMOFF,
# REQBUFS(0)); LOOPCAM_TRACE logs its ioctls so the REQBUFS(0) on stop can be seen.
lc_bg readerA env LOOPCAM_TRACE=1 "$LOOPCAM_BIN" run -- gst-launch-1.0 -e v4l2src device="$DEV" ! "$CAPS" ! \
  filesink location="$LC_TMP/readerA.raw"
lc_bg readerB "$LOOPCAM_BIN" run -- gst-launch-1.0 -q v4l2src device="$DEV" num-buffers=300 ! "$CAPS" ! \
  filesink location="$LC_TMP/readerB.raw"
if lc_wait_for 10 lc_has_readers "$DEV" 2; then ok gst-two-readers-streaming; else
  fail gst-two-readers-streaming "the device never had 2 streaming readers (readers=$(lc_query "$DEV" readers))"
fi
lc_sleep 2
# SIGINT to gst-launch itself (not its group: `loopcam run` execs it, so the pid is gst-launch).
kill -INT "${LC_PID_OF[readerA]}" 2>/dev/null
lc_wait readerA 10
rcA=$?
if [ $rcA -eq 124 ]; then fail gst-reader-stop "reader A did not stop within 10 s of SIGINT"; else
  # The trace: STREAMOFF then a successful REQBUFS (GStreamer frees its buffers with count 0).
  if awk '/VIDIOC_STREAMOFF/ { off = 1 } off && /VIDIOC_REQBUFS/ && /-> None/ { found = 1 } END { exit !found }' "$LC_TMP/readerA.err"; then
    ok gst-reader-stop "exit $rcA; STREAMOFF and REQBUFS(0) seen"
  else
    fail gst-reader-stop "exit $rcA; no successful REQBUFS after STREAMOFF in its trace: $(grep -E 'STREAMOFF|REQBUFS' "$LC_TMP/readerA.err" | tail -n 4 | tr '\n' ' ')"
  fi
fi
if lc_alive readerB; then
  r=$(lc_query "$DEV" readers)
  if [ "$r" = 1 ]; then ok gst-reader-stop-leaves-one; else fail gst-reader-stop-leaves-one "readers=$r after A stopped, expected 1"; fi
else
  fail gst-reader-stop-leaves-one "reader B ended before A was stopped: $(gst_err "$LC_TMP/readerB.err")"
fi
lc_check_counter_file gst-reader-A-frames "$LC_TMP/readerA.raw" YUYV "$SIZE" 30
lc_wait readerB 20
rcB=$?
if [ $rcB -ne 0 ]; then fail gst-reader-B "exit $rcB: $(gst_err "$LC_TMP/readerB.err")"; fi
# 300 consecutive frames = B received every frame for 10 s, before and after A stopped.
lc_check_counter_file gst-reader-B-frames "$LC_TMP/readerB.raw" YUYV "$SIZE" 300

lc_finish
