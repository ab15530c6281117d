//! A small HTTP/1.1 server on std::net with ustreamer's API (reference/clients.md §A.6, checked
//! against ustreamer 4.9 and 6.x): `/stream`, `/snapshot`, `/state`, `/?action=…`, and a
//! viewer page at `/`.
//!
//! One thread per connection: 100 viewers are 100 mostly sleeping threads. Requests on a
//! connection are served keep-alive until `/stream` (which keeps the connection, HTTP/1.0 style,
//! as ustreamer does) or `Connection: close`. Every write has `--server-timeout`; a client that
//! reads nothing blocks its own thread only, holding the one frame it is writing.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufRead, BufReader, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::event::{poll, PollFd, PollFlags};

use crate::exposed::{now_monotonic, now_real, Exposed, Fps, Wait};
use crate::log::Level;
use crate::Shared;

const BOUNDARY: &str = "boundarydonotcross";
const NO_CACHE: &str =
    "no-store, no-cache, must-revalidate, proxy-revalidate, pre-check=0, post-check=0, max-age=0";
const EXPIRES: &str = "Mon, 3 Jan 2000 12:34:56 GMT";
const VIEWER: &str = include_str!("viewer.html");
const MAX_HEAD: usize = 16 * 1024;
/// One thread per connection: refuse more than this many at once.
const MAX_CONNECTIONS: usize = 1024;

/// A listening socket.
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l) => l.as_fd(),
        }
    }

    fn accept(&self) -> io::Result<(Conn, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, a) = l.accept()?;
                s.set_nonblocking(false)?;
                Ok((Conn::Tcp(s), a.to_string()))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept()?;
                s.set_nonblocking(false)?;
                Ok((Conn::Unix(s), "unix".into()))
            }
        }
    }
}

/// A client connection.
pub(crate) enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
        })
    }

    pub(crate) fn shutdown(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Both),
            Conn::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }

    fn set_timeouts(&self, t: Duration) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Conn::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write_vectored(bufs),
            Conn::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// write_all over several slices with one writev per round (header, JPEG, boundary).
fn write_all_vectored(w: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Per-client statistics shown in `/state` (`clients_stat`).
pub(crate) struct ClientStat {
    pub key: String,
    pub extra_headers: bool,
    pub advance_headers: bool,
    pub dual_final_frames: bool,
    pub zero_data: bool,
    pub fps: Fps,
}

/// A random-looking 64-bit id (ustreamer shows client ids as hex).
fn new_id() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_u64(now_monotonic().to_bits());
    h.finish()
}

/// The accept loop; returns when `stop` is set.
pub(crate) fn serve(listener: Listener, shared: Arc<Shared>) {
    let mut accept_errors = crate::log::ErrorLog::new(shared.log.clone());
    while !shared.stopping() {
        let ready = {
            let mut fds = [PollFd::from_borrowed_fd(listener.fd(), PollFlags::IN)];
            let ts = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 200_000_000,
            };
            matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0)
        };
        if !ready {
            continue;
        }
        match listener.accept() {
            Ok((conn, peer)) => {
                if shared.conns().len() >= MAX_CONNECTIONS {
                    accept_errors.report(
                        Level::Warn,
                        "too-many-clients",
                        &format!("HTTP: {MAX_CONNECTIONS} connections open; refusing {peer}"),
                    );
                    continue;
                }
                let shared2 = shared.clone();
                let id = new_id();
                if let Ok(c) = conn.try_clone() {
                    shared.conns().insert(id, c);
                }
                let spawned = std::thread::Builder::new()
                    .name("http-client".into())
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        let _ = connection(conn, &peer, &shared2);
                        shared2.conns().remove(&id);
                    });
                if spawned.is_err() {
                    shared.conns().remove(&id);
                    accept_errors.report(
                        Level::Warn,
                        "thread",
                        "HTTP: cannot start a thread for a client",
                    );
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                accept_errors.report(Level::Warn, "accept", &format!("HTTP: accept: {e}"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    keep_alive: bool,
    headers: Vec<(String, String)>,
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// ustreamer's `uri_get_true`: 1, true, yes (any case).
    fn flag(&self, name: &str) -> bool {
        self.param(name).is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.starts_with('1') || v == "true" || v == "yes" || v == "on"
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one request head. `Ok(None)` on a clean close before any byte.
fn read_request(r: &mut BufReader<Conn>) -> io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let n = r
            .by_ref()
            .take((MAX_HEAD - head.len()) as u64 + 1)
            .read_until(b'\n', &mut head)?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            break;
        }
        // Tolerate stray empty lines before the request line (RFC 9112 §2.2).
        if head == b"\r\n" || head == b"\n" {
            head.clear();
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines();
    let line = lines.next().unwrap_or("");
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let version = parts.next().unwrap_or("HTTP/1.0").to_string();
    let mut headers = Vec::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    // Absolute-form targets (proxies) keep only the path.
    let target = match target.find("://") {
        Some(i) => target[i + 3..]
            .find('/')
            .map(|j| target[i + 3 + j..].to_string())
            .unwrap_or_else(|| "/".into()),
        None => target,
    };
    let (path, qs) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    let query = qs
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(kv), String::new()),
        })
        .collect();
    let mut req = Request {
        method,
        path: percent_decode(&path),
        query,
        keep_alive: false,
        headers,
    };
    let conn_hdr = req.header("Connection").map(|v| v.to_ascii_lowercase());
    req.keep_alive = if version == "HTTP/1.1" {
        !conn_hdr.as_deref().is_some_and(|v| v.contains("close"))
    } else {
        conn_hdr
            .as_deref()
            .is_some_and(|v| v.contains("keep-alive"))
    };
    Ok(Some(req))
}

/// IMF-fixdate for the Date header.
fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WD[days.rem_euclid(7) as usize],
        d,
        MO[(m - 1) as usize],
        y,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

struct Reply<'a> {
    status: &'a str,
    headers: Vec<(&'static str, String)>,
    body: &'a [u8],
}

fn cors(shared: &Shared, headers: &mut Vec<(&'static str, String)>) {
    if let Some(o) = &shared.cfg.allow_origin {
        headers.push(("Access-Control-Allow-Origin", o.clone()));
        headers.push(("Access-Control-Allow-Credentials", "true".into()));
    }
}

fn send(
    w: &mut Conn,
    shared: &Shared,
    head_only: bool,
    keep_alive: bool,
    mut r: Reply<'_>,
) -> io::Result<()> {
    cors(shared, &mut r.headers);
    let mut s = format!("HTTP/1.1 {}\r\n", r.status);
    for (k, v) in &r.headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str(&format!("Date: {}\r\n", http_date(SystemTime::now())));
    s.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    if !keep_alive {
        s.push_str("Connection: close\r\n");
    }
    s.push_str("\r\n");
    let body: &[u8] = if head_only { &[] } else { r.body };
    write_all_vectored(w, &mut [IoSlice::new(s.as_bytes()), IoSlice::new(body)])
}

fn error_page(code: u16, text: &str) -> (String, Vec<u8>) {
    (
        format!("{code} {text}"),
        format!(
            "<html><head><title>{code} {text}</title></head><body><h1>{text}</h1></body></html>"
        )
        .into_bytes(),
    )
}

fn connection(conn: Conn, peer: &str, shared: &Arc<Shared>) -> io::Result<()> {
    conn.set_timeouts(shared.cfg.server_timeout)?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::with_capacity(4096, conn);
    loop {
        let req = match read_request(&mut r) {
            Ok(Some(req)) => req,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let (status, body) = error_page(400, "Bad Request");
                let _ = send(
                    &mut w,
                    shared,
                    false,
                    false,
                    Reply {
                        status: &status,
                        headers: vec![("Content-Type", "text/html".into())],
                        body: &body,
                    },
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let head_only = req.method == "HEAD";
        let keep_alive = req.keep_alive;
        match req.method.as_str() {
            "GET" | "HEAD" => {}
            "OPTIONS" => {
                let mut headers = vec![("Allow", "GET, HEAD, OPTIONS".to_string())];
                if shared.cfg.allow_origin.is_some() {
                    headers.push(("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS".into()));
                    if let Some(h) = req.header("Access-Control-Request-Headers") {
                        headers.push(("Access-Control-Allow-Headers", h.to_string()));
                    }
                }
                send(
                    &mut w,
                    shared,
                    false,
                    keep_alive,
                    Reply {
                        status: "200 OK",
                        headers,
                        body: &[],
                    },
                )?;
                if keep_alive {
                    continue;
                }
                return Ok(());
            }
            _ => {
                let (status, body) = error_page(501, "Not Implemented");
                send(
                    &mut w,
                    shared,
                    false,
                    false,
                    Reply {
                        status: &status,
                        headers: vec![("Content-Type", "text/html".into())],
                        body: &body,
                    },
                )?;
                return Ok(());
            }
        }
        let action = if req.path == "/" {
            req.param("action")
        } else {
            None
        };
        let route = match (req.path.as_str(), action) {
            (_, Some("snapshot")) | ("/snapshot", _) => "snapshot",
            (_, Some("stream")) | ("/stream", _) => "stream",
            ("/state", _) => "state",
            ("/" | "/index.html", _) => "index",
            ("/favicon.ico", _) => "favicon",
            _ => "404",
        };
        match route {
            "stream" => {
                drop(r);
                return stream(w, shared, &req, head_only, peer);
            }
            "snapshot" => snapshot(&mut w, shared, head_only, keep_alive)?,
            "state" => {
                let body = state_json(shared).to_string().into_bytes();
                send(
                    &mut w,
                    shared,
                    head_only,
                    keep_alive,
                    Reply {
                        status: "200 OK",
                        headers: vec![
                            ("Content-Type", "application/json".into()),
                            ("Cache-Control", NO_CACHE.into()),
                        ],
                        body: &body,
                    },
                )?;
            }
            "index" => send(
                &mut w,
                shared,
                head_only,
                keep_alive,
                Reply {
                    status: "200 OK",
                    headers: vec![("Content-Type", "text/html; charset=utf-8".into())],
                    body: VIEWER.as_bytes(),
                },
            )?,
            "favicon" => send(
                &mut w,
                shared,
                head_only,
                keep_alive,
                Reply {
                    status: "204 No Content",
                    headers: vec![],
                    body: &[],
                },
            )?,
            _ => {
                let (status, body) = error_page(404, "Not Found");
                send(
                    &mut w,
                    shared,
                    head_only,
                    keep_alive,
                    Reply {
                        status: &status,
                        headers: vec![("Content-Type", "text/html".into())],
                        body: &body,
                    },
                )?;
            }
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

fn fmt_ts(t: f64) -> String {
    format!("{t:.6}")
}

/// `/state`: ustreamer's JSON (field names as in 4.9, plus 6.x's `instance_id` and the
/// per-client `key`).
pub(crate) fn state_json(shared: &Shared) -> serde_json::Value {
    let src = shared.source_info();
    let clients = shared.clients_snapshot();
    let mut stat = serde_json::Map::new();
    for (id, c) in &clients {
        stat.insert(
            format!("{id:x}"),
            serde_json::json!({
                "fps": c.fps.get(),
                "extra_headers": c.extra_headers,
                "advance_headers": c.advance_headers,
                "dual_final_frames": c.dual_final_frames,
                "zero_data": c.zero_data,
                "key": c.key,
            }),
        );
    }
    serde_json::json!({
        "ok": true,
        "result": {
            "instance_id": shared.cfg.instance_id,
            "encoder": {"type": src.encoder, "quality": shared.cfg.quality},
            "source": {
                "resolution": {"width": src.width, "height": src.height},
                "online": src.online,
                "desired_fps": shared.cfg.desired_fps,
                "captured_fps": shared.captured_fps.get(),
            },
            "stream": {
                "queued_fps": shared.queued_fps.get(),
                "clients": clients.len(),
                "clients_stat": stat,
            },
        }
    })
}

fn snapshot(
    w: &mut Conn,
    shared: &Arc<Shared>,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<()> {
    // A fresh frame: encoding only runs while someone watches, so register, then wait for the
    // next exposure (or a dropped duplicate, which means the exposed frame is current). While
    // the source is offline the NO SIGNAL picture is returned at once.
    let e0 = shared.slot.current();
    let e = if shared.source_info().online {
        let _w = shared.watch();
        shared.wake();
        let limit = shared
            .cfg
            .device_error_delay
            .mul_f64(3.0)
            .max(Duration::from_secs(1));
        match shared.slot.wait(e0.gen, e0.tick, limit, &shared.stop) {
            Wait::Frame(e) | Wait::Dropped(e) | Wait::Timeout(e) => e,
            Wait::Stop => return Ok(()),
        }
    } else {
        e0
    };
    let f = &e.frame;
    let now = now_monotonic();
    let headers = vec![
        ("Cache-Control", NO_CACHE.to_string()),
        ("Pragma", "no-cache".into()),
        ("Expires", EXPIRES.into()),
        ("X-Timestamp", fmt_ts(now_real())),
        ("X-UStreamer-Online", f.online.to_string()),
        ("X-UStreamer-Dropped", e.dropped.to_string()),
        ("X-UStreamer-Width", f.width.to_string()),
        ("X-UStreamer-Height", f.height.to_string()),
        ("X-UStreamer-Grab-Timestamp", fmt_ts(f.grab_ts)),
        ("X-UStreamer-Grab-Begin-Timestamp", fmt_ts(f.grab_ts)),
        ("X-UStreamer-Grab-End-Timestamp", fmt_ts(f.grab_end_ts)),
        (
            "X-UStreamer-Encode-Begin-Timestamp",
            fmt_ts(f.encode_begin_ts),
        ),
        ("X-UStreamer-Encode-End-Timestamp", fmt_ts(f.encode_end_ts)),
        (
            "X-UStreamer-Expose-Begin-Timestamp",
            fmt_ts(e.expose_begin_ts),
        ),
        ("X-UStreamer-Expose-Cmp-Timestamp", fmt_ts(e.expose_cmp_ts)),
        ("X-UStreamer-Expose-End-Timestamp", fmt_ts(e.expose_end_ts)),
        ("X-UStreamer-Send-Timestamp", fmt_ts(now)),
        ("Content-Type", "image/jpeg".into()),
    ];
    send(
        w,
        shared,
        head_only,
        keep_alive,
        Reply {
            status: "200 OK",
            headers,
            body: &f.jpeg,
        },
    )
}

/// Unregisters a stream client when its thread ends, however it ends.
struct ClientGuard<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for ClientGuard<'_> {
    fn drop(&mut self) {
        self.shared.remove_client(self.id);
    }
}

fn part_head(c: &ClientStat, e: &Exposed, len: usize) -> String {
    let f = &e.frame;
    let mut s = format!(
        "Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {}\r\n",
        if c.zero_data { 0 } else { len },
        fmt_ts(now_real())
    );
    if c.extra_headers {
        let now = now_monotonic();
        s.push_str(&format!(
            "X-UStreamer-Online: {}\r\n\
             X-UStreamer-Dropped: {}\r\n\
             X-UStreamer-Width: {}\r\n\
             X-UStreamer-Height: {}\r\n\
             X-UStreamer-Client-FPS: {}\r\n\
             X-UStreamer-Grab-Time: {}\r\n\
             X-UStreamer-Grab-Begin-Time: {}\r\n\
             X-UStreamer-Grab-End-Time: {}\r\n\
             X-UStreamer-Encode-Begin-Time: {}\r\n\
             X-UStreamer-Encode-End-Time: {}\r\n\
             X-UStreamer-Expose-Begin-Time: {}\r\n\
             X-UStreamer-Expose-Cmp-Time: {}\r\n\
             X-UStreamer-Expose-End-Time: {}\r\n\
             X-UStreamer-Send-Time: {}\r\n\
             X-UStreamer-Latency: {}\r\n",
            f.online,
            e.dropped,
            f.width,
            f.height,
            c.fps.get(),
            fmt_ts(f.grab_ts),
            fmt_ts(f.grab_ts),
            fmt_ts(f.grab_end_ts),
            fmt_ts(f.encode_begin_ts),
            fmt_ts(f.encode_end_ts),
            fmt_ts(e.expose_begin_ts),
            fmt_ts(e.expose_cmp_ts),
            fmt_ts(e.expose_end_ts),
            fmt_ts(now),
            fmt_ts((now - f.grab_ts).max(0.0)),
        ));
    }
    s.push_str("\r\n");
    s
}

fn advance_head() -> String {
    format!(
        "Content-Type: image/jpeg\r\nX-Timestamp: {}\r\n\r\n",
        fmt_ts(now_real())
    )
}

/// `/stream`: multipart/x-mixed-replace with ustreamer's boundary, headers and parameters.
fn stream(
    mut w: Conn,
    shared: &Arc<Shared>,
    req: &Request,
    head_only: bool,
    peer: &str,
) -> io::Result<()> {
    let client = Arc::new(ClientStat {
        key: req.param("key").unwrap_or("").to_string(),
        extra_headers: req.flag("extra_headers"),
        // advance_headers forces plain parts (no Content-Length, no X-UStreamer-*), as
        // ustreamer: the next part's headers go out right after the current JPEG.
        advance_headers: req.flag("advance_headers"),
        dual_final_frames: req.flag("dual_final_frames"),
        zero_data: req.flag("zero_data"),
        fps: Fps::default(),
    });
    let id = new_id();
    let mut head = String::from("HTTP/1.0 200 OK\r\n");
    if let Some(o) = &shared.cfg.allow_origin {
        head.push_str(&format!(
            "Access-Control-Allow-Origin: {o}\r\nAccess-Control-Allow-Credentials: true\r\n"
        ));
    }
    let cookie = if shared.cfg.instance_id.is_empty() {
        "stream_client".to_string()
    } else {
        format!("stream_client_{}", shared.cfg.instance_id)
    };
    head.push_str(&format!(
        "Cache-Control: {NO_CACHE}\r\n\
         Pragma: no-cache\r\n\
         Expires: {EXPIRES}\r\n\
         Set-Cookie: {cookie}={}/{id:x}; path=/; max-age=30\r\n\
         Content-Type: multipart/x-mixed-replace;boundary={BOUNDARY}\r\n\
         \r\n",
        if client.key.is_empty() {
            "0"
        } else {
            &client.key
        },
    ));
    if head_only {
        return w.write_all(head.as_bytes());
    }
    head.push_str(&format!("--{BOUNDARY}\r\n"));
    if client.advance_headers {
        head.push_str(&advance_head());
    }
    shared.add_client(id, client.clone());
    let _guard = ClientGuard { shared, id };
    shared.log.log(
        Level::Debug,
        &format!(
            "HTTP: stream client {peer} id={id:x}; {} clients",
            shared.stream_clients()
        ),
    );
    shared.wake();
    w.write_all(head.as_bytes())?;

    let drop_same = shared.cfg.drop_same_frames > 0;
    let mut first = true;
    let (mut gen, mut tick) = (0u64, 0u64);
    let mut updated_prev = false;
    loop {
        let ev = if first {
            first = false;
            let cur = shared.slot.current();
            // Encoding pauses while nobody watches, so the exposed frame may be stale (or the
            // start-up picture) although the source is live: wait briefly for a fresh one.
            let stale = !cur.frame.online || now_monotonic() - cur.expose_end_ts > 1.0;
            if stale && shared.source_info().online {
                let end = std::time::Instant::now() + Duration::from_secs(1);
                let mut tick = cur.tick;
                loop {
                    let left = end.saturating_duration_since(std::time::Instant::now());
                    match shared.slot.wait(cur.gen, tick, left, &shared.stop) {
                        Wait::Stop => return Ok(()),
                        Wait::Dropped(e) => tick = e.tick,
                        Wait::Frame(e) | Wait::Timeout(e) => break Wait::Frame(e),
                    }
                }
            } else {
                Wait::Frame(cur)
            }
        } else {
            // ustreamer re-sends the exposed frame after 1 s without a new one.
            shared
                .slot
                .wait(gen, tick, Duration::from_secs(1), &shared.stop)
        };
        let (e, send) = match ev {
            Wait::Stop => return Ok(()),
            Wait::Frame(e) | Wait::Timeout(e) => {
                updated_prev = true;
                (e, true)
            }
            Wait::Dropped(e) => {
                // dual_final_frames (WebKit): when a run of identical frames starts, send the
                // last real frame once more so that it is shown without delay.
                let dual = drop_same && client.dual_final_frames && updated_prev;
                updated_prev = false;
                (e, dual)
            }
        };
        gen = e.gen;
        tick = e.tick;
        if !send {
            continue;
        }
        client.fps.bump();
        let jpeg: &[u8] = if client.zero_data { &[] } else { &e.frame.jpeg };
        let head = if client.advance_headers {
            String::new()
        } else {
            part_head(&client, &e, e.frame.jpeg.len())
        };
        let mut tail = format!("\r\n--{BOUNDARY}\r\n");
        if client.advance_headers {
            tail.push_str(&advance_head());
        }
        write_all_vectored(
            &mut w,
            &mut [
                IoSlice::new(head.as_bytes()),
                IoSlice::new(jpeg),
                IoSlice::new(tail.as_bytes()),
            ],
        )?;
    }
}

/// Connection registry for shutting everything down on stop.
pub(crate) type Conns = HashMap<u64, Conn>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_453_195);
        assert_eq!(http_date(t), "Mon, 23 Nov 2026 16:59:55 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
