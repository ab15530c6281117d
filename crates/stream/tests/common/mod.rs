//! Test helpers: an embedded daemon, a producer thread drawing test patterns, and small HTTP
//! and multipart clients.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loopcam_client::{Manager, Producer};
use loopcam_daemon::{Daemon, DaemonOptions, NodeDir, StopHandle};
use loopcam_media::{layout, render, Pattern};
use loopcam_proto::DeviceSpec;

/// Clients find the daemon through the process environment, so tests in one binary run one
/// daemon at a time (and timing-sensitive tests do not overlap).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct TestDaemon {
    _serial: std::sync::MutexGuard<'static, ()>,
    pub dir: PathBuf,
    pub socket: PathBuf,
    stop: StopHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestDaemon {
    pub fn start(name: &str) -> TestDaemon {
        TestDaemon::start_in(name, "dev")
    }

    /// With the nodes in `<dir>/<nodes>/` (`loopcam` makes `dir` usable as the
    /// `$XDG_RUNTIME_DIR` of a process that finds nodes through the preload library).
    pub fn start_in(name: &str, nodes: &str) -> TestDaemon {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir =
            std::env::temp_dir().join(format!("loopcam-stream-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("loopcam.sock");
        let opts = DaemonOptions {
            socket: socket.clone(),
            node_dir: NodeDir::Dir(dir.join(nodes)),
            ..DaemonOptions::for_user()
        };
        let d = Daemon::bind(&opts).expect("bind");
        let stop = d.stop_handle();
        let thread = std::thread::spawn(move || d.run().expect("daemon run"));
        std::env::set_var("LOOPCAM_SOCKET", &socket);
        TestDaemon {
            _serial: serial,
            dir,
            socket,
            stop,
            thread: Some(thread),
        }
    }

    /// Creates a device; returns its node.
    pub fn add_device(&self) -> String {
        Manager::connect()
            .unwrap()
            .add(DeviceSpec::default())
            .unwrap()
            .nodes[0]
            .clone()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A producer thread: `pattern` frames (raw `fourcc`) at `fps`, or pre-encoded JPEGs.
pub struct Feeder {
    stop: Arc<AtomicBool>,
    pub frames: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

pub enum Content {
    Pattern(Pattern),
    /// JPEG frames cycled through (MJPG devices).
    Jpegs(Vec<Vec<u8>>),
}

impl Feeder {
    pub fn start(device: &str, fourcc: u32, w: u32, h: u32, fps: u32, content: Content) -> Feeder {
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(AtomicU64::new(0));
        let mut p = Producer::open(device, fourcc, w, h, fps, 4).expect("producer");
        let (s2, f2) = (stop.clone(), frames.clone());
        let thread = std::thread::spawn(move || {
            let l = layout(fourcc, w, h).unwrap();
            let period = Duration::from_secs_f64(1.0 / f64::from(fps));
            let start = Instant::now();
            let mut n = 0u64;
            while !s2.load(Ordering::Relaxed) {
                let mut b = match p.next_buffer() {
                    Ok(b) => b,
                    Err(_) => return,
                };
                let used = match &content {
                    Content::Pattern(pat) => {
                        render(pat, &l, n, b.data()).unwrap();
                        l.sizeimage
                    }
                    Content::Jpegs(js) => {
                        let j = &js[n as usize % js.len()];
                        b.data()[..j.len()].copy_from_slice(j);
                        j.len()
                    }
                };
                if b.publish(used as u32).is_err() {
                    return;
                }
                n += 1;
                f2.store(n, Ordering::Relaxed);
                let next = start + period * n as u32;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
            }
        });
        Feeder {
            stop,
            frames,
            thread: Some(thread),
        }
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `host:port` of an `http://host:port/` URL.
pub fn addr(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

pub struct Response {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

fn read_head(r: &mut impl BufRead) -> (String, Vec<(String, String)>) {
    let mut status = String::new();
    r.read_line(&mut status).expect("status line");
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).expect("header line");
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').expect("header");
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    (status.trim_end().to_string(), headers)
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn request(url: &str, method: &str, path: &str) -> Response {
    let mut s = TcpStream::connect(addr(url)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let (status_line, headers) = read_head(&mut r);
    let mut body = Vec::new();
    r.read_to_end(&mut body).expect("body");
    Response {
        status_line,
        headers,
        body,
    }
}

pub fn get(url: &str, path: &str) -> Response {
    request(url, "GET", path)
}

pub fn state(url: &str) -> serde_json::Value {
    get(url, "/state").json()
}

/// Waits until `/state` says online.
pub fn wait_online(url: &str, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if state(url)["result"]["source"]["online"] == true {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the streamer did not come online within {secs} s: {}",
        state(url)
    );
}

/// A `/stream` reader.
pub struct Mjpeg {
    r: BufReader<TcpStream>,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
}

pub struct Part {
    pub headers: Vec<(String, String)>,
    pub data: Vec<u8>,
}

impl Part {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Mjpeg {
    pub fn open(url: &str, query: &str) -> Mjpeg {
        let mut s = TcpStream::connect(addr(url)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /stream{query} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut r = BufReader::with_capacity(256 * 1024, s);
        let (status_line, headers) = read_head(&mut r);
        let mut b = String::new();
        r.read_line(&mut b).unwrap();
        assert_eq!(b, "--boundarydonotcross\r\n", "first boundary");
        Mjpeg {
            r,
            status_line,
            headers,
        }
    }

    /// The next part (with Content-Length framing).
    pub fn next(&mut self) -> std::io::Result<Part> {
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            if self.r.read_line(&mut l)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("part header");
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("Content-Length");
        let mut data = vec![0; len];
        self.r.read_exact(&mut data)?;
        let mut tail = [0u8; 24];
        self.r.read_exact(&mut tail)?;
        assert_eq!(&tail, b"\r\n--boundarydonotcross\r\n", "part trailer");
        Ok(Part { headers, data })
    }
}

/// Reads `/stream` for `dur` after `warmup`; returns (parts, distinct consecutive parts).
pub fn count_distinct(url: &str, query: &str, warmup: Duration, dur: Duration) -> (u64, u64) {
    let mut m = Mjpeg::open(url, query);
    let t0 = Instant::now();
    while t0.elapsed() < warmup {
        m.next().unwrap();
    }
    let t1 = Instant::now();
    let (mut parts, mut distinct) = (0, 0);
    let mut prev: Vec<u8> = Vec::new();
    while t1.elapsed() < dur {
        let p = m.next().unwrap();
        parts += 1;
        if p.data != prev {
            distinct += 1;
        }
        prev = p.data;
    }
    (parts, distinct)
}

/// VmRSS of this process in KiB.
pub fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Decodes a JPEG: (width, height, RGB24 pixels).
pub fn decode(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut d = jpeg_decoder::Decoder::new(jpeg);
    let px = d.decode().expect("valid JPEG");
    let info = d.info().unwrap();
    let rgb = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => px,
        jpeg_decoder::PixelFormat::L8 => px.iter().flat_map(|&v| [v, v, v]).collect(),
        f => panic!("unexpected JPEG pixel format {f:?}"),
    };
    (u32::from(info.width), u32::from(info.height), rgb)
}

/// 75% colour bars as `Pattern::Bars` draws them, squeezed to BT.601 limited range (the
/// streamer stores V4L2's limited-range samples unchanged, as ustreamer does).
pub const BARS: [[u8; 3]; 8] = [
    [191, 191, 191],
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
    [0, 0, 0],
];

pub fn limited(c: [u8; 3]) -> [i32; 3] {
    c.map(|v| 16 + i32::from(v) * 219 / 255)
}

/// Checks the eight bars in the top part of a decoded frame, within `tol` per channel;
/// `full_range` for sources whose samples are not squeezed (RGB sources).
pub fn check_bars(w: u32, h: u32, rgb: &[u8], tol: i32, full_range: bool) -> Result<(), String> {
    for (i, bar) in BARS.iter().enumerate() {
        let x = (2 * i as u32 + 1) * w / 16;
        let y = h / 3;
        let o = ((y * w + x) * 3) as usize;
        let got = [rgb[o] as i32, rgb[o + 1] as i32, rgb[o + 2] as i32];
        let want = if full_range {
            bar.map(i32::from)
        } else {
            limited(*bar)
        };
        if got.iter().zip(want).any(|(g, w)| (g - w).abs() > tol) {
            return Err(format!("bar {i} at ({x},{y}): got {got:?}, want {want:?}"));
        }
    }
    Ok(())
}
