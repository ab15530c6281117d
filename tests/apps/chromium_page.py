"""A local web server for the Chromium test: serves a page that opens the camera with
getUserMedia, lists the video inputs with enumerateDevices, then every 250 ms draws the video
into a canvas and posts the colours of five points; every report is appended to OUT as one
JSON line.

usage: chromium_page.py PORT OUT
"""
import http.server
import json
import sys
import threading

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>loopcam camera test</title></head>
<body>
<script>
const post = (o) => fetch('/result', {method: 'POST', body: JSON.stringify(o)});
(async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia(
      {video: {width: {ideal: 640}, height: {ideal: 480}}, audio: false});
    const devs = await navigator.mediaDevices.enumerateDevices();
    const track = stream.getVideoTracks()[0];
    await post({kind: 'devices',
                devices: devs.filter(d => d.kind === 'videoinput').map(d => d.label),
                track: track.label, settings: track.getSettings()});
    const v = document.createElement('video');
    v.muted = true; v.playsInline = true; v.srcObject = stream;
    document.body.appendChild(v);
    await v.play();
    const c = document.createElement('canvas');
    const ctx = c.getContext('2d', {willReadFrequently: true});
    const pts = [[0.5, 0.5], [0.1, 0.1], [0.9, 0.9], [0.1, 0.9], [0.9, 0.1]];
    for (let i = 0; i < 240; i++) {
      await new Promise(r => setTimeout(r, 250));
      if (!v.videoWidth) continue;
      c.width = v.videoWidth; c.height = v.videoHeight;
      ctx.drawImage(v, 0, 0);
      const px = pts.map(([x, y]) => Array.from(
        ctx.getImageData(Math.floor(x * c.width), Math.floor(y * c.height), 1, 1).data.slice(0, 3)));
      await post({kind: 'sample', t: performance.now(), w: c.width, h: c.height, px});
    }
  } catch (e) {
    await post({kind: 'error', error: e.name + ': ' + e.message});
  }
})();
</script>
</body></html>
"""

lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path not in ("/", "/index.html"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        try:
            obj = json.loads(body)
        except ValueError:
            obj = {"kind": "bad", "body": body.decode(errors="replace")}
        with lock, open(sys.argv[2], "a") as f:
            f.write(json.dumps(obj) + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("http: " + (fmt % args) + "\n")


if __name__ == "__main__":
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    srv.serve_forever()
