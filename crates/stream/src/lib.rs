//! `loopcam-stream`: a ustreamer-compatible MJPEG HTTP streamer for any V4L2 capture device
//! (`loopcam stream`).
//!
//! ```text
//!   device ──▶ capture thread ──round robin──▶ JPEG workers (libjpeg-turbo, from YUV planes)
//!              (drain, keep newest)   ◀── JPEG, in order ──┘
//!                     │
//!                     ▼
//!          exposed slot: Arc<Frame> + generation + Condvar
//!                     │  (each client takes the newest; slow clients skip frames)
//!                     ▼
//!          HTTP threads: /stream /snapshot /state /  (ustreamer's API)
//! ```
//!
//! * Capture: [`capture::CaptureDevice`] is the one interface frames come through; a loopcam
//!   device is read with the native client, anything else with plain V4L2 ioctls
//!   ([`capture::Backend`]), and [`testing::FakeSource`] is a test double.
//! * MJPG/JPEG sources pass through untouched; raw ones are encoded by `--workers` threads.
//! * Device trouble shows a NO SIGNAL picture, is logged once and then counted (at most a line a
//!   second per kind of error, then less), and capture restarts after `--device-error-delay`.
//!
//! Embed it with [`serve`], which runs in background threads and returns a [`Handle`] with the
//! URL; `loopcam stream` is [`serve`] + [`Handle::wait`]:
//!
//! ```no_run
//! use loopcam_stream::{serve, Backend, Listen, Source, StreamOptions};
//! let viewer = serve(StreamOptions {
//!     source: Source::Device { path: "/dev/video0".into(), backend: Backend::Loopcam },
//!     listen: Listen::Tcp { host: "127.0.0.1".into(), port: 0 }, // 0: any free port
//!     resolution: None, // keep the producer's size and format
//!     format: None,
//!     ..StreamOptions::default()
//! })?;
//! println!("viewer: {}", viewer.url());
//! viewer.stop(); // or drop it
//! # Ok::<(), loopcam_stream::StreamError>(())
//! ```

#![warn(missing_docs)]

pub mod capture;
mod exposed;
mod http;
pub mod jpeg;
pub mod log;
mod nosignal;
mod pipeline;
pub mod testing;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loopcam_abi::V4L2_PIX_FMT_YUYV;
use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags};

pub use capture::{Backend, CaptureDevice, CaptureOpener, SourceFormat};
pub use log::{Level, LogSink};

use crate::capture::PathOpener;
use crate::exposed::{Fps, Slot};
use crate::http::{ClientStat, Conns, Listener};
use crate::log::Logger;

/// Where frames come from.
#[derive(Clone)]
pub enum Source {
    /// A V4L2 capture device path.
    Device {
        /// The path (`/dev/video0`).
        path: String,
        /// How to reach it.
        backend: Backend,
    },
    /// Any opener (tests, embedding).
    Custom(Arc<dyn CaptureOpener>),
}

/// Where the HTTP server listens.
#[derive(Clone, Debug)]
pub enum Listen {
    /// TCP (`--host`, `--port`; port 0 picks a free one).
    Tcp {
        /// Address or host name.
        host: String,
        /// Port.
        port: u16,
    },
    /// A UNIX socket (`--unix`), instead of TCP as in ustreamer.
    Unix {
        /// Socket path.
        path: PathBuf,
        /// Remove an existing file first (`--unix-rm`); a stale socket nobody listens on is
        /// removed anyway.
        remove: bool,
        /// Permissions (`--unix-mode`, octal).
        mode: Option<u32>,
    },
}

/// Streamer options; the defaults are ustreamer's.
#[derive(Clone)]
pub struct StreamOptions {
    /// The source.
    pub source: Source,
    /// The listening socket.
    pub listen: Listen,
    /// JPEG worker threads (ustreamer default: number of CPUs, at most 4).
    pub workers: usize,
    /// JPEG quality 1..=100 (80).
    pub quality: u8,
    /// Requested size (640x480; `None` keeps the device's).
    pub resolution: Option<(u32, u32)>,
    /// Requested pixel format (YUYV; `None` keeps the device's).
    pub format: Option<u32>,
    /// Encode at most this many frames per second (0: all).
    pub desired_fps: u32,
    /// Drop up to N identical frames in a row (0: off).
    pub drop_same_frames: u32,
    /// Device buffers (default workers + 1).
    pub buffers: Option<u32>,
    /// On a device timeout, keep the device open and show NO SIGNAL instead of reopening it.
    pub persistent: bool,
    /// No frame for this long is a device error (1 s).
    pub device_timeout: Duration,
    /// Wait this long before reopening after an error (1 s).
    pub device_error_delay: Duration,
    /// `Access-Control-Allow-Origin` value.
    pub allow_origin: Option<String>,
    /// Read/write timeout of HTTP connections (10 s).
    pub server_timeout: Duration,
    /// Frames with fewer bytes are dropped as garbage (128).
    pub min_frame_size: usize,
    /// `--instance-id`: shown in `/state` and appended to the stream cookie name.
    pub instance_id: String,
    /// Log sink (default: `tracing`).
    pub log: Option<LogSink>,
}

/// ustreamer's default worker count: the number of CPUs, at most 4.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            source: Source::Device {
                path: "/dev/video0".into(),
                backend: Backend::Auto,
            },
            listen: Listen::Tcp {
                host: "127.0.0.1".into(),
                port: 8080,
            },
            workers: default_workers(),
            quality: 80,
            resolution: Some((640, 480)),
            format: Some(V4L2_PIX_FMT_YUYV),
            desired_fps: 0,
            drop_same_frames: 0,
            buffers: None,
            persistent: false,
            device_timeout: Duration::from_secs(1),
            device_error_delay: Duration::from_secs(1),
            allow_origin: None,
            server_timeout: Duration::from_secs(10),
            min_frame_size: 128,
            instance_id: String::new(),
            log: None,
        }
    }
}

/// Errors starting the streamer.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Bad options.
    #[error("{0}")]
    Config(String),
    /// The listening socket.
    #[error("cannot listen on {what}: {err}")]
    Listen {
        /// Address.
        what: String,
        /// Cause.
        err: std::io::Error,
    },
    /// libjpeg-turbo.
    #[error("{0}")]
    Jpeg(#[from] jpeg::EncodeError),
    /// Threads or fds.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Resolved options the threads read.
pub(crate) struct Config {
    pub workers: usize,
    pub quality: u8,
    pub resolution: Option<(u32, u32)>,
    pub format: Option<u32>,
    pub desired_fps: u32,
    pub drop_same_frames: u32,
    pub buffers: u32,
    pub persistent: bool,
    pub device_timeout: Duration,
    pub device_error_delay: Duration,
    pub allow_origin: Option<String>,
    pub server_timeout: Duration,
    pub min_frame_size: usize,
    pub instance_id: String,
}

/// What `/state` says about the source.
#[derive(Clone, Debug)]
pub(crate) struct SourceInfo {
    pub online: bool,
    pub width: u32,
    pub height: u32,
    pub encoder: &'static str,
}

/// State shared by the capture thread, the workers and the HTTP threads.
pub(crate) struct Shared {
    pub cfg: Config,
    pub slot: Slot,
    pub log: Logger,
    pub captured_fps: Fps,
    pub queued_fps: Fps,
    pub stop: AtomicBool,
    /// Stream clients plus snapshot requests waiting: encoding runs only while > 0.
    pub watchers: AtomicUsize,
    /// eventfd: wakes the capture thread (worker results, new viewers, stop).
    pub wake: OwnedFd,
    source: Mutex<SourceInfo>,
    clients: Mutex<BTreeMap<u64, Arc<ClientStat>>>,
    conns: Mutex<Conns>,
}

/// Decrements the watcher count on drop.
pub(crate) struct WatchGuard<'a>(&'a Shared);

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn wake(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    pub fn clear_wake(&self) {
        let mut b = [0u8; 8];
        let _ = rustix::io::read(&self.wake, &mut b);
    }

    /// Waits for a wake-up, at most `t`.
    pub fn wait_wake(&self, t: Duration) {
        let mut fds = [PollFd::new(&self.wake, PollFlags::IN)];
        let ts = rustix::time::Timespec {
            tv_sec: t.as_secs() as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        };
        if matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0) {
            self.clear_wake();
        }
    }

    /// Sleeps `t` unless stopped first.
    pub fn sleep(&self, t: Duration) {
        let end = Instant::now() + t;
        while !self.stopping() {
            let now = Instant::now();
            if now >= end {
                return;
            }
            self.wait_wake(end - now);
        }
    }

    pub fn source_info(&self) -> SourceInfo {
        lock(&self.source).clone()
    }

    pub fn set_online(&self, on: bool) {
        lock(&self.source).online = on;
    }

    pub fn set_format(&self, f: &SourceFormat) {
        let mut s = lock(&self.source);
        s.width = f.width;
        s.height = f.height;
        // ustreamer's names: CPU (libjpeg) or HW (the camera's own JPEG).
        s.encoder = if f.is_jpeg() { "HW" } else { "CPU" };
    }

    pub fn watch(&self) -> WatchGuard<'_> {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        WatchGuard(self)
    }

    pub fn add_client(&self, id: u64, c: Arc<ClientStat>) {
        lock(&self.clients).insert(id, c);
        self.watchers.fetch_add(1, Ordering::Relaxed);
    }

    pub fn remove_client(&self, id: u64) {
        if lock(&self.clients).remove(&id).is_some() {
            self.watchers.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn stream_clients(&self) -> usize {
        lock(&self.clients).len()
    }

    pub fn clients_snapshot(&self) -> Vec<(u64, Arc<ClientStat>)> {
        lock(&self.clients)
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    pub fn conns(&self) -> MutexGuard<'_, Conns> {
        lock(&self.conns)
    }
}

/// A running streamer. Dropping it stops it.
pub struct Handle {
    url: String,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    unix_path: Option<PathBuf>,
}

/// Stops a running streamer from anywhere (e.g. a signal handler thread).
#[derive(Clone)]
pub struct Stopper(Arc<Shared>);

impl Stopper {
    /// Asks every thread to finish.
    pub fn stop(&self) {
        let s = &self.0;
        s.stop.store(true, Ordering::Relaxed);
        s.wake();
        s.slot.wake_all();
        for c in s.conns().values() {
            c.shutdown();
        }
    }
}

impl Handle {
    /// `http://HOST:PORT/` (the viewer), or `unix:PATH`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A stopper usable from other threads.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.shared.clone())
    }

    /// Stops and waits for every thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Waits until stopped (through a [`Stopper`]).
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stopper().stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(p) = self.unix_path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn bind(listen: &Listen) -> Result<(Listener, String, Option<PathBuf>), StreamError> {
    match listen {
        Listen::Tcp { host, port } => {
            let l = std::net::TcpListener::bind((host.as_str(), *port)).map_err(|err| {
                StreamError::Listen {
                    what: format!("{host}:{port}"),
                    err,
                }
            })?;
            l.set_nonblocking(true)?;
            let a = l.local_addr()?;
            let ip = match a.ip() {
                ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
                ip if ip.is_unspecified() => "[::1]".to_string(),
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                ip => ip.to_string(),
            };
            Ok((Listener::Tcp(l), format!("http://{ip}:{}/", a.port()), None))
        }
        Listen::Unix { path, remove, mode } => {
            use std::os::unix::fs::{FileTypeExt, PermissionsExt};
            if let Ok(md) = std::fs::symlink_metadata(path) {
                let stale = md.file_type().is_socket()
                    && std::os::unix::net::UnixStream::connect(path).is_err();
                if *remove || stale {
                    let _ = std::fs::remove_file(path);
                }
            }
            let l = std::os::unix::net::UnixListener::bind(path).map_err(|err| {
                StreamError::Listen {
                    what: path.display().to_string(),
                    err,
                }
            })?;
            l.set_nonblocking(true)?;
            if let Some(m) = mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*m))?;
            }
            Ok((
                Listener::Unix(l),
                format!("unix:{}", path.display()),
                Some(path.clone()),
            ))
        }
    }
}

/// Starts the streamer in background threads: binds the socket (errors are returned here),
/// starts capture and the HTTP server, and returns at once.
pub fn serve(opts: StreamOptions) -> Result<Handle, StreamError> {
    if !(1..=100).contains(&opts.quality) {
        return Err(StreamError::Config(format!(
            "--quality {} is out of range 1..100",
            opts.quality
        )));
    }
    let workers = opts.workers.clamp(1, 32);
    let buffers = opts.buffers.unwrap_or(workers as u32 + 1).clamp(1, 32);
    let cfg = Config {
        workers,
        quality: opts.quality,
        resolution: opts.resolution,
        format: opts.format,
        desired_fps: opts.desired_fps,
        drop_same_frames: opts.drop_same_frames,
        buffers,
        persistent: opts.persistent,
        device_timeout: opts.device_timeout.max(Duration::from_millis(10)),
        device_error_delay: opts.device_error_delay,
        allow_origin: opts.allow_origin.clone(),
        server_timeout: opts.server_timeout.max(Duration::from_millis(100)),
        min_frame_size: opts.min_frame_size,
        instance_id: opts.instance_id.clone(),
    };
    let opener: Arc<dyn CaptureOpener> = match &opts.source {
        Source::Device { path, backend } => Arc::new(PathOpener {
            path: path.clone(),
            backend: *backend,
        }),
        Source::Custom(o) => o.clone(),
    };
    let (listener, url, unix_path) = bind(&opts.listen)?;
    let (w, h) = cfg.resolution.unwrap_or((640, 480));
    let mut enc = jpeg::JpegEncoder::new(cfg.quality)?;
    let initial = nosignal::NoSignal::default().frame(&mut enc, w, h, "STARTING");
    let shared = Arc::new(Shared {
        slot: Slot::new(initial),
        log: Logger::new(opts.log.clone()),
        captured_fps: Fps::default(),
        queued_fps: Fps::default(),
        stop: AtomicBool::new(false),
        watchers: AtomicUsize::new(0),
        wake: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(std::io::Error::from)?,
        source: Mutex::new(SourceInfo {
            online: false,
            width: w,
            height: h,
            encoder: "CPU",
        }),
        clients: Mutex::new(BTreeMap::new()),
        conns: Mutex::new(Conns::new()),
        cfg,
    });
    let mut threads = Vec::new();
    let cap = pipeline::Capture::new(shared.clone(), opener);
    threads.push(
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || cap.run())?,
    );
    let s2 = shared.clone();
    threads.push(
        std::thread::Builder::new()
            .name("http".into())
            .spawn(move || http::serve(listener, s2))?,
    );
    shared
        .log
        .log(Level::Info, &format!("HTTP: listening on {url}"));
    Ok(Handle {
        url,
        shared,
        threads,
        unix_path,
    })
}

/// The `/state` document as `serve` would answer it (for embedding and tests).
pub fn state(handle: &Handle) -> serde_json::Value {
    http::state_json(&handle.shared)
}

#[cfg(test)]
mod tests {
    #[test]
    fn handles_can_move_between_threads() {
        fn send<T: Send>() {}
        fn sync<T: Send + Sync>() {}
        send::<super::Handle>();
        sync::<super::Stopper>();
        sync::<super::StreamOptions>();
    }
}
