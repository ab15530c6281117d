#!/usr/bin/env bash
# The viewer page of `loopcam stream` in Debian's headless Chromium: a screenshot of `/` must
# show the live test pattern (the eight colour bars, in order, checked pixel by pixel), at a
# desktop window size and at a phone's (390x844, where the picture must fit the width).
# Then the producer stops: the page must show the NO SIGNAL picture instead of the bars.
. "$(dirname "$0")/lib.sh"
lc_require chromium curl "$LC_PY"
lc_start_daemon

lc_add_or_abort DEV -n "stream-viewer"
lc_feed feed "$DEV" --pattern bars --format YUYV --size 640x480 --fps 30 ||
  lc_abort stream-chromium-feed "loopcam feed did not start on $DEV"
PORT=$(lc_free_port)
URL="http://127.0.0.1:$PORT/"
lc_bg lstream "$LOOPCAM_BIN" stream --device "$DEV" --port "$PORT"
online() { [ "$(curl -sf -m 2 "${URL}state" | lc_json_get result.source.online)" = "$1" ]; }
lc_wait_for 15 online true || { lc_tail "$LC_TMP/lstream.err"; lc_abort stream-chromium-online "loopcam stream did not come online"; }

mkdir -p "$LC_TMP/home"
shot() { # NAME WIDTH HEIGHT
  rm -rf "$LC_TMP/profile-$1"
  HOME="$LC_TMP/home" timeout 60 chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$LC_TMP/profile-$1" \
    --window-size="$2,$3" --virtual-time-budget=4000 --screenshot="$LC_TMP/$1.png" "$URL" \
    >"$LC_TMP/chromium-$1.out" 2>&1
}

# Reads a PNG (stdlib only: zlib + the five row filters) and reports where each colour bar is.
# Bars are the producer's 75% bars; the streamer keeps V4L2's limited-range samples, so each
# channel is 16 + v*219/255 (180 or 16) give or take JPEG and scaling.
ANALYSE='
import json, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
i, idat, w = 8, b"", 0
while i < len(data):
    n, t = struct.unpack(">I4s", data[i:i + 8]); body = data[i + 8:i + 8 + n]; i += 12 + n
    if t == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), "PNG type %d/%d" % (depth, ctype)
        bpp = 3 if ctype == 2 else 4
    elif t == b"IDAT":
        idat += body
raw = zlib.decompress(idat)
stride = w * bpp
rows, prev, o = [], bytearray(stride), 0
for y in range(h):
    f = raw[o]; line = bytearray(raw[o + 1:o + 1 + stride]); o += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
hi, lo = 180, 16
bars = {"white": (hi, hi, hi), "yellow": (hi, hi, lo), "cyan": (lo, hi, hi), "green": (lo, hi, lo),
        "magenta": (hi, lo, hi), "red": (hi, lo, lo), "blue": (lo, lo, hi)}
found = {}
for name, col in bars.items():
    xs = []
    for y in range(0, h, 2):
        r = rows[y]
        for x in range(0, w, 2):
            p = r[x * bpp:x * bpp + 3]
            if all(abs(p[k] - col[k]) <= 30 for k in range(3)):
                xs.append(x)
    found[name] = {"share": round(len(xs) * 4 / (w * h), 4),
                   "x": round(sum(xs) / len(xs)) if xs else None,
                   "xmin": min(xs) if xs else None, "xmax": max(xs) if xs else None}
print(json.dumps({"size": [w, h], "bars": found}))
'

check_bars() { # NAME WIDTH : the seven coloured bars are visible, left to right, inside WIDTH
  local name=$1 width=$2
  "$LC_PY" -c "$ANALYSE" "$LC_TMP/$name.png" >"$LC_TMP/$name.json" 2>"$LC_TMP/$name-analyse.err" ||
    { fail "$name-pixels" "cannot read the screenshot: $(tail -n 1 "$LC_TMP/$name-analyse.err")"; return; }
  local verdict
  verdict=$("$LC_PY" - "$LC_TMP/$name.json" "$width" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); width = int(sys.argv[2])
order = ["white", "yellow", "cyan", "green", "magenta", "red", "blue"]
b = r["bars"]
missing = [n for n in order if b[n]["share"] < 0.01]
if missing:
    print("FAIL bars not visible: %s (%s)" % (missing, {n: b[n]["share"] for n in order})); sys.exit()
xs = [b[n]["x"] for n in order]
if xs != sorted(xs):
    print("FAIL bars out of order: %s" % dict(zip(order, xs))); sys.exit()
if b["white"]["xmin"] < 0 or b["blue"]["xmax"] >= width:
    print("FAIL picture wider than the window"); sys.exit()
print("ok bars left to right at x=%s, %.0f%% of the window" % (xs, 100 * sum(b[n]["share"] for n in order)))
PY
)
  case "$verdict" in
    ok*) ok "$name-pixels" "${verdict#ok }" ;;
    *) fail "$name-pixels" "${verdict#FAIL }" ;;
  esac
}

shot desktop 800 600
check "desktop-screenshot" "chromium wrote no screenshot: $(tail -n 2 "$LC_TMP/chromium-desktop.out" | tr '\n' ' ')" test -s "$LC_TMP/desktop.png"
[ -s "$LC_TMP/desktop.png" ] && check_bars desktop 800
shot phone 390 844
check "phone-screenshot" "chromium wrote no screenshot" test -s "$LC_TMP/phone.png"
[ -s "$LC_TMP/phone.png" ] && check_bars phone 390

# The viewer asked for the stream with Chromium's workaround and was counted as a client.
if grep -q "advance_headers=1" <(curl -s "$URL"); then ok viewer-advance-headers; else fail viewer-advance-headers "the page does not request advance_headers for Chromium"; fi

# No producer: NO SIGNAL (dark picture, no bars).
lc_stop feed TERM
lc_wait_for 10 online false || fail stream-chromium-offline "/state still online 10 s after the producer stopped"
shot nosignal 800 600
if [ -s "$LC_TMP/nosignal.png" ] && "$LC_PY" -c "$ANALYSE" "$LC_TMP/nosignal.png" >"$LC_TMP/nosignal.json"; then
  share=$("$LC_PY" -c 'import json,sys; b=json.load(open(sys.argv[1]))["bars"]; print(sum(v["share"] for k,v in b.items() if k!="white"))' "$LC_TMP/nosignal.json")
  check nosignal-pixels "colour bars still visible (share $share)" "$LC_PY" -c "import sys; sys.exit(0 if $share < 0.01 else 1)"
else
  fail nosignal-pixels "no screenshot"
fi
lines=$(wc -l <"$LC_TMP/lstream.err")
check stream-log-calm "$lines log lines" test "$lines" -lt 20
lc_finish
