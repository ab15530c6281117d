#!/usr/bin/env bash
# Chromium (Debian's, headless) started through `loopcam run`: a local page's getUserMedia opens
# the loopcam camera, enumerateDevices lists it by its label, and the video drawn into a canvas
# has the producer's colour: first a solid colour A, then, after the producer is replaced by
# one of colour B, colour B (so the page shows live frames, not a stale one).
. "$(dirname "$0")/lib.sh"
lc_require chromium "$LC_PY"
lc_start_daemon

LABEL="Loopcam Chromium Test"
A=C03020 B=2060C0 TOL=24
# Exclusive caps: with a producer streaming the node is capture-only, as Chromium requires.
lc_add_or_abort DEV -n "$LABEL" -x 1
lc_feed feedA "$DEV" --pattern "solid:$A" --format YUYV --size 640x480 --fps 30 ||
  lc_abort chromium-feed "loopcam feed did not start on $DEV"

PORT=$(lc_free_port)
RESULTS=$LC_TMP/results.jsonl
: >"$RESULTS"
lc_bg server "$LC_PY" "$LC_APPS_DIR/chromium_page.py" "$PORT" "$RESULTS"
lc_wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$PORT/" || lc_abort chromium-server "the page server did not start"

mkdir -p "$LC_TMP/profile" "$LC_TMP/home"
# HOME: Chromium writes caches there (and may not be able to in the unprivileged run).
lc_bg chromium env HOME="$LC_TMP/home" "$LOOPCAM_BIN" run -- chromium --headless --no-sandbox --disable-gpu \
  --disable-quic --no-first-run --disable-background-networking --disable-component-update \
  --disable-sync --disable-dev-shm-usage --user-data-dir="$LC_TMP/profile" \
  --use-fake-ui-for-media-stream --autoplay-policy=no-user-gesture-required \
  "http://127.0.0.1:$PORT/"

# results.jsonl queries.
rq() { # WHAT [ARGS]
  "$LC_PY" - "$RESULTS" "$@" <<'PY'
import json, sys
path, what = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in open(path) if l.strip()]
if what == "count":
    print(len(lines)); sys.exit(0)
if what == "error":
    e = [l["error"] for l in lines if l.get("kind") == "error"]
    print(e[0] if e else ""); sys.exit(0 if e else 1)
if what == "devices":
    d = [l for l in lines if l.get("kind") == "devices"]
    if not d: sys.exit(1)
    print(json.dumps({"devices": d[0]["devices"], "track": d[0]["track"], "settings": d[0].get("settings")}))
    sys.exit(0)
if what == "colour":  # colour RRGGBB TOL SKIP: a sample after the first SKIP lines, all points near
    rgb = [int(sys.argv[3][i:i + 2], 16) for i in (0, 2, 4)]
    tol, skip = int(sys.argv[4]), int(sys.argv[5])
    samples = [l for l in lines[skip:] if l.get("kind") == "sample"]
    for s in samples:
        if all(abs(p[k] - rgb[k]) <= tol for p in s["px"] for k in range(3)):
            print("%dx%d %s" % (s["w"], s["h"], s["px"][0])); sys.exit(0)
    last = samples[-1] if samples else None
    print("%d samples, last: %s" % (len(samples), last and ("%dx%d %s" % (last["w"], last["h"], last["px"])))); sys.exit(1)
PY
}

chromium_gone() { ! lc_alive chromium; }
rq_error() { rq error 2>/dev/null; }
# True once the result is there, or the page reported an error, or Chromium exited.
result_ready() { rq "$@" >/dev/null 2>&1 || [ -n "$(rq_error)" ] || chromium_gone; }
wait_result() { local limit=$1; shift; lc_wait_for "$limit" result_ready "$@"; }

# 1. enumerateDevices lists the camera by its label (after getUserMedia, so labels are shown).
wait_result 45 devices
if dev=$(rq devices); then
  if "$LC_PY" -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if any(sys.argv[2] in l for l in d["devices"]) else 1)' "$dev" "$LABEL"; then
    ok chromium-enumerate "$dev"
  else
    fail chromium-enumerate "label '$LABEL' not among the video inputs: $dev"
  fi
else
  err=$(rq_error)
  fail chromium-enumerate "no device list from the page${err:+: page error: $err}$(chromium_gone && echo "; chromium exited: $(grep -v '^$' "$LC_TMP/chromium.err" | grep -v dbus | tail -n 3 | tr '\n' ' ')")"
  grep -v dbus "$LC_TMP/chromium.err" | tail -n 10 | sed 's/^/  | /'
fi

# 2. The canvas shows colour A.
wait_result 20 colour $A $TOL 0
if m=$(rq colour $A $TOL 0); then ok chromium-colour-A "#$A: $m"; else
  fail chromium-colour-A "no canvas sample near #$A (±$TOL): $m $(rq_error)"
fi

# 3. Replace the producer: the canvas follows to colour B.
lc_stop feedA
skip=$(rq count)
lc_feed feedB "$DEV" --pattern "solid:$B" --format YUYV --size 640x480 --fps 30 ||
  fail chromium-feed-B "second producer did not start"
wait_result 20 colour $B $TOL "$skip"
if m=$(rq colour $B $TOL "$skip"); then ok chromium-colour-B "#$B: $m"; else
  fail chromium-colour-B "no canvas sample near #$B (±$TOL) after the producer switched: $m"
fi

lc_finish
