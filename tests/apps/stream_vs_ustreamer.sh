#!/usr/bin/env bash
# `loopcam stream` speaks ustreamer's HTTP API: one client (curl and a small Python multipart
# reader, below) runs against Debian's ustreamer (through `loopcam run`) and against
# `loopcam stream`, both reading the same loopcam device (640x480 YUYV colour bars, 30 fps), and
# the answers are compared: every header name and /state field ustreamer gives must be there
# with the same meaning (loopcam may add some), the /stream framing (status line, boundary,
# per-part headers, advance_headers) must match, and both must report the source alike.
. "$(dirname "$0")/lib.sh"
lc_require ustreamer curl "$LC_PY"
lc_start_daemon

W=640 H=480
lc_add_or_abort DEV -n "stream-compat"
lc_feed feed "$DEV" --pattern bars --format YUYV --size "${W}x${H}" --fps 30 ||
  lc_abort stream-compat-feed "loopcam feed did not start on $DEV"

UPORT=$(lc_free_port)
LPORT=$(lc_free_port)
lc_bg ustreamer "$LOOPCAM_BIN" run -- ustreamer --device "$DEV" --host 127.0.0.1 --port "$UPORT" \
  --resolution "${W}x${H}" --format YUYV
lc_bg lstream "$LOOPCAM_BIN" stream --device "$DEV" --host 127.0.0.1 --port "$LPORT" \
  --resolution "${W}x${H}" --format YUYV

online() { [ "$(curl -sf -m 2 "http://127.0.0.1:$1/state" | lc_json_get result.source.online)" = true ]; }
lc_wait_for 15 online "$UPORT" || { lc_tail "$LC_TMP/ustreamer.err"; lc_abort ustreamer-online "ustreamer did not come online"; }
lc_wait_for 15 online "$LPORT" || { lc_tail "$LC_TMP/lstream.err"; lc_abort lstream-online "loopcam stream did not come online"; }
sleep 2 # a full second of fps counters

# The client: prints one JSON document describing what it saw.
CLIENT='
import json, socket, sys, threading, time, urllib.request

port = int(sys.argv[1])
base = "http://127.0.0.1:%d" % port

def jpeg_size(d):
    if d[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(d):
        if d[i] != 0xFF:
            return None
        m = d[i + 1]
        if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
            i += 2; continue
        seg = int.from_bytes(d[i + 2:i + 4], "big")
        if m in (0xC0, 0xC1, 0xC2):
            return "%dx%d" % (int.from_bytes(d[i + 7:i + 9], "big"), int.from_bytes(d[i + 5:i + 7], "big"))
        i += 2 + seg
    return None

class Stream:
    """A raw /stream reader: status line, headers, then parts."""
    def __init__(self, query):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.sendall(("GET /stream%s HTTP/1.1\r\nHost: x\r\n\r\n" % query).encode())
        self.buf = b""
        head = self.until(b"\r\n\r\n").decode("latin1").split("\r\n")
        self.status = head[0]
        self.headers = [l.split(":", 1) for l in head[1:] if l]
    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += d
    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out
    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out
    def part(self):
        """Content-Length framing: boundary line, headers, data."""
        b = self.until(b"\r\n")
        if b.strip() == b"":
            b = self.until(b"\r\n")
        assert b == b"--boundarydonotcross\r\n", b
        hs = self.until(b"\r\n\r\n").decode("latin1").split("\r\n")
        hs = [l.split(":", 1) for l in hs if l]
        n = int(dict((k.lower(), v.strip()) for k, v in hs)["content-length"])
        return [k for k, _ in hs], self.take(n)

def keys(o, p=""):
    out = set()
    if isinstance(o, dict):
        for k, v in o.items():
            # client ids are random: one wildcard level
            kk = "*" if p.endswith("clients_stat") else k
            q = p + "." + kk if p else kk
            out.add(q); out |= keys(v, q)
    return out

res = {}
# /stream with a key and extra headers; kept open while /state is read.
st = Stream("?key=compat&extra_headers=1")
res["stream_status"] = st.status
res["stream_headers"] = sorted(k for k, _ in st.headers)
hv = dict((k.lower(), v.strip()) for k, v in st.headers)
res["stream_content_type"] = hv.get("content-type")
res["stream_cookie"] = hv.get("set-cookie", "").split("=", 1)[0] + "=" + ("compat/" if "=compat/" in hv.get("set-cookie", "") else "?")
parts, sizes, distinct, prev = 0, set(), 0, None
part_headers = set()
t0 = time.time()
stop = threading.Event()
def reader():
    global parts, distinct, prev
    while not stop.is_set():
        names, data = st.part()
        part_headers.update(names)
        sizes.add(jpeg_size(data))
        parts += 1
        if data != prev:
            distinct += 1
        prev = data
th = threading.Thread(target=reader, daemon=True); th.start()
time.sleep(2.5)
state = json.load(urllib.request.urlopen(base + "/state", timeout=5))
time.sleep(0.5)
stop.set(); th.join(5)
res["part_headers"] = sorted(part_headers)
res["part_sizes"] = sorted(s or "bad" for s in sizes)
res["stream_fps"] = round(distinct / (time.time() - t0), 1)
res["state_keys"] = sorted(keys(state))
r = state["result"]
res["state_values"] = {
    "ok": state["ok"],
    "resolution": "%dx%d" % (r["source"]["resolution"]["width"], r["source"]["resolution"]["height"]),
    "online": r["source"]["online"],
    "captured_fps_ok": 25 <= r["source"]["captured_fps"] <= 35,
    "clients": r["stream"]["clients"],
    "client_extra_headers": [c["extra_headers"] for c in r["stream"]["clients_stat"].values()],
    "encoder": r["encoder"]["type"],
}

# advance_headers: the JPEG is followed by the boundary and the next part headers at once.
a = Stream("?advance_headers=1")
first = a.until(b"\r\n\r\n")
data = a.until(b"\xff\xd9")
nxt = a.take(60)
res["advance_first"] = first.decode("latin1").split("X-Timestamp")[0]
res["advance_after_jpeg"] = nxt.decode("latin1").split("X-Timestamp")[0]
res["advance_has_length"] = b"Content-Length" in first

def req(path, method="GET"):
    rq = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(rq, timeout=5) as f:
            return f.status, dict(f.headers), f.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), b""

code, h, body = req("/snapshot")
res["snapshot_code"] = code
res["snapshot_headers"] = sorted(h)
res["snapshot_type"] = h.get("Content-Type")
res["snapshot_size"] = jpeg_size(body)
res["snapshot_online"] = h.get("X-UStreamer-Online")
code, h, body = req("/?action=snapshot")
res["action_snapshot"] = [code, h.get("Content-Type"), jpeg_size(body)]
res["not_found"] = req("/no-such-thing")[0]
res["head_state"] = req("/state", "HEAD")[0]
print(json.dumps(res))
'

"$LC_PY" -c "$CLIENT" "$UPORT" >"$LC_TMP/ustreamer.json" 2>"$LC_TMP/ustreamer-client.err" ||
  { lc_tail "$LC_TMP/ustreamer-client.err"; lc_abort client-ustreamer "the client failed against ustreamer"; }
"$LC_PY" -c "$CLIENT" "$LPORT" >"$LC_TMP/loopcam.json" 2>"$LC_TMP/loopcam-client.err" ||
  { lc_tail "$LC_TMP/loopcam-client.err"; lc_abort client-loopcam "the client failed against loopcam stream"; }

# Compare: prints "ok NAME (detail)" / "FAIL NAME: reason" lines.
"$LC_PY" - "$LC_TMP/ustreamer.json" "$LC_TMP/loopcam.json" "${W}x${H}" >"$LC_TMP/compare.out" <<'PY'
import json, sys
u, l = (json.load(open(p)) for p in sys.argv[1:3])
size = sys.argv[3]
ignore = {"date", "content-length", "connection"}  # transport details of each HTTP library
def names(xs):
    return {x.lower() for x in xs} - ignore
def check(name, cond, why, detail=""):
    print(("ok %s%s" % (name, " (%s)" % detail if detail else "")) if cond else "FAIL %s: %s" % (name, why))
for key in ("stream_headers", "part_headers", "snapshot_headers", "state_keys"):
    missing = sorted(names(u[key]) - names(l[key]))
    extra = sorted(names(l[key]) - names(u[key]))
    check("compat-" + key.replace("_", "-"), not missing, "missing in loopcam: %s" % missing,
          "%d of ustreamer's present%s" % (len(names(u[key])), "; loopcam adds %s" % extra if extra else ""))
for key in ("stream_status", "stream_content_type", "stream_cookie", "advance_first",
            "advance_after_jpeg", "advance_has_length", "snapshot_code", "snapshot_type",
            "not_found"):
    check("compat-" + key.replace("_", "-"), u[key] == l[key],
          "ustreamer %r, loopcam %r" % (u[key], l[key]), repr(l[key])[:60])
for who, r in (("ustreamer", u), ("loopcam", l)):
    sv = r["state_values"]
    check("%s-state-values" % who,
          sv["ok"] is True and sv["resolution"] == size and sv["online"] is True
          and sv["captured_fps_ok"] and sv["clients"] == 1 and sv["client_extra_headers"] == [True],
          "state %r" % sv, "%s online, 1 client" % sv["resolution"])
    check("%s-stream-frames" % who, r["part_sizes"] == [size] and r["stream_fps"] >= 20,
          "parts %r at %.1f distinct fps" % (r["part_sizes"], r["stream_fps"]),
          "%s JPEGs, %.1f distinct fps" % (size, r["stream_fps"]))
    check("%s-snapshot" % who, r["snapshot_size"] == size and r["snapshot_online"] == "true"
          and r["action_snapshot"] == [200, "image/jpeg", size],
          "snapshot %r, ?action=snapshot %r" % (r["snapshot_size"], r["action_snapshot"]))
check("compat-state-same-meaning", u["state_values"]["resolution"] == l["state_values"]["resolution"]
      and u["state_values"]["encoder"] == l["state_values"]["encoder"],
      "ustreamer %r, loopcam %r" % (u["state_values"], l["state_values"]))
PY
while IFS= read -r line; do
  case "$line" in
    ok\ *) rest=${line#ok }; ok "${rest%% (*}" "$(sed -n 's/^[^(]*(\(.*\))$/\1/p' <<<"$rest")" ;;
    FAIL\ *) rest=${line#FAIL }; fail "${rest%%:*}" "${rest#*: }" ;;
    *) info "$line" ;;
  esac
done <"$LC_TMP/compare.out"
[ -s "$LC_TMP/compare.out" ] || fail stream-compat-compare "the comparison printed nothing"

# Neither streamer floods its log while this ran.
for n in ustreamer lstream; do
  lines=$(wc -l <"$LC_TMP/$n.err")
  check "$n-log-calm" "$lines log lines" test "$lines" -lt 40
done
lc_finish
