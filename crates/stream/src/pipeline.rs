//! The capture thread and the JPEG workers.
//!
//! One capture thread owns the device. It polls the device fd and an eventfd the workers (and
//! `stop`) signal, drains the device keeping only the newest frame (older ones go straight back,
//! like ustreamer's grab loop), and hands raw frames to N encoder workers round-robin: frame k
//! goes to worker k mod N, and waits (being replaced by newer frames) while that worker is busy.
//! Workers read the device buffer in place (zero copy) and send the JPEG back; the capture
//! thread re-queues the buffer and publishes results strictly in job order, so the output order
//! is the capture order. MJPG/JPEG frames skip the workers: validated, copied once, published.
//!
//! Buffer ownership is tracked here, independent of the device: a DQBUF that returns a buffer
//! the streamer holds (pending or being encoded) is a driver bug and fails the session
//! ([`CaptureError::BufferReused`]). Any session error shows the NO SIGNAL picture, is logged
//! through the rate limiter, and capture restarts after `--device-error-delay`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loopcam_abi::V4L2_BUF_FLAG_ERROR;
use rustix::event::{poll, PollFd, PollFlags};

use crate::capture::{
    BufferMemory, CaptureDevice, CaptureError, CaptureOpener, CaptureRequest, Dequeued,
    DeviceEvent, SourceFormat,
};
use crate::exposed::{now_monotonic, Frame};
use crate::jpeg::{jpeg_payload, JpegEncoder};
use crate::log::{ErrorLog, Level};
use crate::nosignal::NoSignal;
use crate::Shared;

struct Job {
    seq: u64,
    index: u32,
    mem: BufferMemory,
    len: usize,
    format: SourceFormat,
    grab_ts: f64,
    grab_end_ts: f64,
}

struct Done {
    seq: u64,
    worker: usize,
    index: u32,
    result: Result<Vec<u8>, String>,
    format: SourceFormat,
    grab_ts: f64,
    grab_end_ts: f64,
    begin: f64,
    end: f64,
}

/// The encoder threads (alive for the whole server; jobs reference the current session's
/// buffers).
struct Workers {
    txs: Vec<SyncSender<Job>>,
    busy: Vec<bool>,
    done: Arc<Mutex<Vec<Done>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    fn new(shared: &Arc<Shared>, n: usize) -> Workers {
        let done = Arc::new(Mutex::new(Vec::new()));
        let mut txs = Vec::new();
        let mut threads = Vec::new();
        for w in 0..n {
            let (tx, rx) = sync_channel::<Job>(1);
            let done = done.clone();
            let shared = shared.clone();
            let quality = shared.cfg.quality;
            let t = std::thread::Builder::new()
                .name(format!("jpeg-{w}"))
                .spawn(move || {
                    let mut enc = JpegEncoder::new(quality).ok();
                    while let Ok(job) = rx.recv() {
                        let begin = now_monotonic();
                        let result = match enc.as_mut() {
                            None => Err("libjpeg-turbo could not be initialised".to_string()),
                            Some(enc) => {
                                let r =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        // SAFETY: the capture thread holds this buffer for us
                                        // (dequeued, not queued back) until it receives this
                                        // job's `Done`, and keeps the device — hence the
                                        // mapping of `len ≤ mem.len` bytes — alive until every
                                        // worker is idle (Session's Drop).
                                        let data = unsafe {
                                            std::slice::from_raw_parts(job.mem.ptr, job.len)
                                        };
                                        enc.encode(&job.format, data)
                                    }));
                                match r {
                                    Ok(Ok(j)) => Ok(j),
                                    Ok(Err(e)) => Err(e.to_string()),
                                    Err(_) => Err("the encoder panicked".to_string()),
                                }
                            }
                        };
                        let end = now_monotonic();
                        done.lock().unwrap_or_else(|p| p.into_inner()).push(Done {
                            seq: job.seq,
                            worker: w,
                            index: job.index,
                            result,
                            format: job.format,
                            grab_ts: job.grab_ts,
                            grab_end_ts: job.grab_end_ts,
                            begin,
                            end,
                        });
                        shared.wake();
                    }
                })
                .expect("spawn encoder thread");
            txs.push(tx);
            threads.push(t);
        }
        Workers {
            busy: vec![false; n],
            txs,
            done,
            threads,
        }
    }

    fn take_done(&self) -> Vec<Done> {
        std::mem::take(&mut *self.done.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn any_busy(&self) -> bool {
        self.busy.iter().any(|b| *b)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.txs.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Limits encodes to `--desired-fps` by time (ustreamer skips encodes the same way).
struct Pacer {
    interval: Option<Duration>,
    next: Instant,
}

impl Pacer {
    fn new(fps: u32) -> Pacer {
        Pacer {
            interval: (fps > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(fps))),
            next: Instant::now(),
        }
    }

    fn ready(&self, now: Instant) -> bool {
        match self.interval {
            None => true,
            // A quarter interval of slack absorbs capture jitter.
            Some(i) => now + i / 4 >= self.next,
        }
    }

    fn taken(&mut self, now: Instant) {
        if let Some(i) = self.interval {
            self.next = if self.next + i < now {
                now + i
            } else {
                self.next + i
            };
        }
    }
}

struct Held {
    d: Dequeued,
    grab_end_ts: f64,
}

/// One open device. Dropping it waits for the workers to give back every buffer before the
/// device (and its mappings) goes away.
struct Session<'a> {
    shared: &'a Arc<Shared>,
    workers: &'a mut Workers,
    dev: Box<dyn CaptureDevice>,
    format: SourceFormat,
    n_workers: usize,
    held: Vec<bool>,
    queued: u32,
    pending: Option<Held>,
    seq_next: u64,
    publish_next: u64,
    reorder: BTreeMap<u64, Done>,
    last_activity: Instant,
    online: bool,
    online_since: Option<Instant>,
    pacer: Pacer,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let started = Instant::now();
        let mut warned = false;
        while self.workers.any_busy() {
            for d in self.workers.take_done() {
                self.workers.busy[d.worker] = false;
            }
            if !self.workers.any_busy() {
                break;
            }
            self.shared.wait_wake(Duration::from_millis(100));
            if !warned && started.elapsed() > Duration::from_secs(5) {
                warned = true;
                self.shared
                    .log
                    .log(Level::Warn, "capture: waiting for a JPEG worker to finish");
            }
        }
    }
}

impl Session<'_> {
    fn requeue(&mut self, index: u32) -> Result<(), CaptureError> {
        self.held[index as usize] = false;
        if self.queued == 0 {
            // The device could not deliver while it had no buffer: restart the timeout.
            self.last_activity = Instant::now();
        }
        self.queued += 1;
        self.dev.queue(index)
    }

    fn set_online(&mut self, on: bool) {
        if self.online != on {
            self.online = on;
            self.online_since = on.then(Instant::now);
            self.shared.set_online(on);
        }
    }

    fn publish(&self, frame: Frame) {
        let s = self.shared;
        if s.slot.publish(Arc::new(frame), s.cfg.drop_same_frames) && s.stream_clients() > 0 {
            s.queued_fps.bump();
        }
    }

    fn collect(&mut self, errlog: &mut ErrorLog) -> Result<(), CaptureError> {
        for d in self.workers.take_done() {
            self.workers.busy[d.worker] = false;
            self.requeue(d.index)?;
            self.reorder.insert(d.seq, d);
        }
        while let Some(d) = self.reorder.remove(&self.publish_next) {
            self.publish_next += 1;
            match d.result {
                Ok(jpeg) => self.publish(Frame {
                    jpeg,
                    width: d.format.width,
                    height: d.format.height,
                    online: true,
                    grab_ts: d.grab_ts,
                    grab_end_ts: d.grab_end_ts,
                    encode_begin_ts: d.begin,
                    encode_end_ts: d.end,
                }),
                Err(e) => errlog.report(Level::Warn, "encode", &format!("JPEG encoder: {e}")),
            }
        }
        Ok(())
    }

    /// Drains the device: newest frame kept as `pending`, older ones re-queued. Returns the
    /// number of buffers dequeued.
    fn drain(&mut self, errlog: &mut ErrorLog) -> Result<usize, CaptureError> {
        let n = self.held.len() as u32;
        let mut got = 0;
        for _ in 0..(2 * n + 2) {
            let Some(d) = self.dev.dequeue()? else {
                return Ok(got);
            };
            got += 1;
            if d.index >= n {
                return Err(CaptureError::BadIndex {
                    index: d.index,
                    count: n,
                });
            }
            if self.held[d.index as usize] {
                return Err(CaptureError::BufferReused(d.index));
            }
            self.held[d.index as usize] = true;
            self.queued = self.queued.saturating_sub(1);
            let now_ts = now_monotonic();
            self.last_activity = Instant::now();
            let mem_len = self.dev.memory(d.index).map(|m| m.len).unwrap_or(0);
            let used = (d.bytesused as usize).min(mem_len);
            let why = if d.flags & V4L2_BUF_FLAG_ERROR != 0 {
                Some("the device flagged the frame as corrupt")
            } else if used < self.shared.cfg.min_frame_size {
                Some("frame smaller than --min-frame-size")
            } else {
                None
            };
            if let Some(why) = why {
                errlog.report(
                    Level::Warn,
                    "broken-frame",
                    &format!("capture: dropped a frame of {used} bytes: {why}"),
                );
                self.requeue(d.index)?;
                continue;
            }
            self.shared.captured_fps.bump();
            self.set_online(true);
            let d = Dequeued {
                bytesused: used as u32,
                ..d
            };
            if let Some(old) = self.pending.replace(Held {
                d,
                grab_end_ts: now_ts,
            }) {
                self.requeue(old.d.index)?;
            }
        }
        Ok(got)
    }

    fn dispatch(&mut self, errlog: &mut ErrorLog) -> Result<(), CaptureError> {
        let Some(p) = self.pending.as_ref() else {
            return Ok(());
        };
        let now = Instant::now();
        if !self.pacer.ready(now) {
            return Ok(());
        }
        // The buffer's CLOCK_MONOTONIC timestamp; drivers stamping another clock (or none)
        // get the dequeue time instead, so latency headers stay meaningful.
        let grab_ts =
            p.d.timestamp
                .map(|t| t.as_secs_f64())
                .filter(|t| (p.grab_end_ts - t).abs() < 10.0)
                .unwrap_or(p.grab_end_ts);
        if self.format.is_jpeg() {
            let p = self.pending.take().expect("checked");
            let mem = self.dev.memory(p.d.index).expect("index checked");
            // SAFETY: we hold this buffer (dequeued, not queued back) and the device keeps the
            // mapping alive; `bytesused` was clamped to the mapping length.
            let data = unsafe { std::slice::from_raw_parts(mem.ptr, p.d.bytesused as usize) };
            let jpeg = jpeg_payload(data).map(|end| data[..end].to_vec());
            self.requeue(p.d.index)?;
            self.pacer.taken(now);
            match jpeg {
                Some(jpeg) => self.publish(Frame {
                    jpeg,
                    width: self.format.width,
                    height: self.format.height,
                    online: true,
                    grab_ts,
                    grab_end_ts: p.grab_end_ts,
                    encode_begin_ts: p.grab_end_ts,
                    encode_end_ts: now_monotonic(),
                }),
                None => errlog.report(
                    Level::Warn,
                    "broken-jpeg",
                    "capture: dropped a JPEG frame without SOI/EOI markers",
                ),
            }
            return Ok(());
        }
        if self.shared.watchers.load(Ordering::Relaxed) == 0 {
            // Nobody watches: do not encode (ustreamer does the same); the device keeps the
            // buffer cycling so that a new viewer gets a fresh frame at once.
            let p = self.pending.take().expect("checked");
            return self.requeue(p.d.index);
        }
        // Any idle worker takes the newest frame (strict turns would leave one worker idle
        // whenever the other's encode ran long); `collect` publishes results in `seq` order
        // through the reorder map, so the stream never goes backwards.
        let Some(w) = self.workers.busy[..self.n_workers].iter().position(|b| !b) else {
            return Ok(());
        };
        let p = self.pending.take().expect("checked");
        let mem = self.dev.memory(p.d.index).expect("index checked");
        let job = Job {
            seq: self.seq_next,
            index: p.d.index,
            mem,
            len: (p.d.bytesused as usize).min(mem.len),
            format: self.format,
            grab_ts,
            grab_end_ts: p.grab_end_ts,
        };
        self.workers.busy[w] = true;
        self.seq_next += 1;
        self.pacer.taken(now);
        if self.workers.txs[w].send(job).is_err() {
            return Err(CaptureError::Format("JPEG worker exited".into()));
        }
        Ok(())
    }
}

/// Everything the capture thread keeps across sessions.
pub(crate) struct Capture {
    shared: Arc<Shared>,
    opener: Arc<dyn CaptureOpener>,
    errlog: ErrorLog,
    nosignal: NoSignal,
    encoder: Option<JpegEncoder>,
    last_size: (u32, u32),
    logged_format: Option<SourceFormat>,
}

impl Capture {
    pub(crate) fn new(shared: Arc<Shared>, opener: Arc<dyn CaptureOpener>) -> Capture {
        let last_size = shared.cfg.resolution.unwrap_or((640, 480));
        Capture {
            errlog: ErrorLog::new(shared.log.clone()),
            encoder: JpegEncoder::new(shared.cfg.quality).ok(),
            shared,
            opener,
            nosignal: NoSignal::default(),
            last_size,
            logged_format: None,
        }
    }

    /// The NO SIGNAL frame at the last known size.
    pub(crate) fn nosignal_frame(&mut self, reason: &str) -> Option<Frame> {
        let enc = self.encoder.as_mut()?;
        Some(
            self.nosignal
                .frame(enc, self.last_size.0, self.last_size.1, reason),
        )
    }

    /// Runs until `stop`.
    pub(crate) fn run(mut self) {
        let mut workers = Workers::new(&self.shared, self.shared.cfg.workers.max(1));
        while !self.shared.stopping() {
            match self.session(&mut workers) {
                Ok(()) => break,
                Err(e) => {
                    self.shared.set_online(false);
                    let level = if e.is_quiet() {
                        Level::Info
                    } else if matches!(e, CaptureError::Timeout(_)) {
                        Level::Warn
                    } else {
                        Level::Error
                    };
                    let delay = self.shared.cfg.device_error_delay;
                    self.errlog.report(
                        level,
                        e.kind(),
                        &format!(
                            "capture {}: {e}; retrying every {:.1} s",
                            self.opener.describe(),
                            delay.as_secs_f64()
                        ),
                    );
                    if let Some(f) = self.nosignal_frame(e.banner()) {
                        self.shared.slot.publish(Arc::new(f), 0);
                    }
                    if !matches!(e, CaptureError::SourceChanged) {
                        self.shared.sleep(delay);
                    }
                }
            }
        }
        drop(workers);
    }

    fn session(&mut self, workers: &mut Workers) -> Result<(), CaptureError> {
        let cfg = &self.shared.cfg;
        let req = CaptureRequest {
            resolution: cfg.resolution,
            format: cfg.format,
            buffers: cfg.buffers,
            desired_fps: cfg.desired_fps,
        };
        let dev = self.opener.open(&req)?;
        let format = dev.format();
        let n = dev.buffer_count();
        self.last_size = (format.width, format.height);
        let n_workers = if format.is_jpeg() {
            1
        } else {
            workers.txs.len().min(n as usize).max(1)
        };
        self.shared.set_format(&format);
        if self.logged_format != Some(format) {
            self.logged_format = Some(format);
            let encoder = if format.is_jpeg() {
                "passed through (no re-encoding)".to_string()
            } else {
                format!(
                    "JPEG quality {}, {n_workers} worker{}",
                    cfg.quality,
                    if n_workers == 1 { "" } else { "s" }
                )
            };
            self.shared.log.log(
                Level::Info,
                &format!(
                    "capture {}: {} {}x{}, {n} buffers; {encoder}",
                    self.opener.describe(),
                    loopcam_media::fourcc_name(format.fourcc),
                    format.width,
                    format.height,
                ),
            );
        }
        let mut s = Session {
            shared: &self.shared,
            workers,
            dev,
            format,
            n_workers,
            held: vec![false; n as usize],
            queued: n,
            pending: None,
            seq_next: 0,
            publish_next: 0,
            reorder: BTreeMap::new(),
            last_activity: Instant::now(),
            online: false,
            online_since: None,
            pacer: Pacer::new(cfg.desired_fps),
        };
        let timeout = cfg.device_timeout;
        let persistent = cfg.persistent;
        let errlog = &mut self.errlog;
        let mut empty_wakeups = 0u32;
        loop {
            if s.shared.stopping() {
                return Ok(());
            }
            let now = Instant::now();
            let deadline = s.last_activity + timeout;
            let wait = deadline.saturating_duration_since(now);
            let (dev_ready, wake) = {
                let flags = PollFlags::IN | PollFlags::PRI;
                let watch_dev = s.queued > 0 || s.dev.has_events();
                let mut fds = vec![PollFd::new(&s.shared.wake, PollFlags::IN)];
                if watch_dev {
                    fds.push(PollFd::from_borrowed_fd(s.dev.fd(), flags));
                }
                let ts = rustix::time::Timespec {
                    tv_sec: wait.as_secs() as i64,
                    tv_nsec: i64::from(wait.subsec_nanos()),
                };
                match poll(&mut fds, Some(&ts)) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(CaptureError::ioctl("poll", e)),
                }
                let dev_ready = fds
                    .get(1)
                    .map(|f| f.revents())
                    .unwrap_or(PollFlags::empty());
                (dev_ready, !fds[0].revents().is_empty())
            };
            if wake {
                s.shared.clear_wake();
            }
            s.collect(errlog)?;
            if !dev_ready.is_empty() {
                let got = s.drain(errlog)?;
                // Events: on POLLPRI, and also when a readable fd gave no frame (loopcam's fds
                // show a pending event as readable too).
                let mut events = 0;
                if s.dev.has_events() && (dev_ready.contains(PollFlags::PRI) || got == 0) {
                    while let Some(ev) = s.dev.dequeue_event()? {
                        events += 1;
                        match ev {
                            DeviceEvent::SourceChange => return Err(CaptureError::SourceChanged),
                            DeviceEvent::Eos => return Err(CaptureError::Eos),
                            DeviceEvent::Other(_) => {}
                        }
                    }
                }
                if got == 0 && events == 0 {
                    // Readiness without a frame or an event. POLLERR/POLLHUP with nothing to
                    // dequeue is a device error (vb2 reports a stopped or failed queue that
                    // way); anything else is spurious — never spin on it.
                    if dev_ready.intersects(PollFlags::ERR | PollFlags::HUP) {
                        return Err(CaptureError::ioctl("poll", rustix::io::Errno::IO));
                    }
                    empty_wakeups += 1;
                    if empty_wakeups > 20 {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                } else {
                    empty_wakeups = 0;
                }
            }
            s.dispatch(errlog)?;
            if s.online {
                if let Some(since) = s.online_since {
                    if errlog.has_errors() && since.elapsed() >= Duration::from_secs(2) {
                        errlog.recovered("capture recovered");
                    }
                }
            }
            if s.last_activity.elapsed() >= timeout && s.queued > 0 {
                let e = CaptureError::Timeout(timeout.as_secs_f64());
                if !persistent {
                    return Err(e);
                }
                // --persistent: keep the device open and wait; show NO SIGNAL meanwhile.
                if s.online {
                    s.set_online(false);
                }
                errlog.report(
                    Level::Warn,
                    e.kind(),
                    &format!("capture {}: {e}; waiting", self.opener.describe()),
                );
                if let Some(enc) = self.encoder.as_mut() {
                    let f = self
                        .nosignal
                        .frame(enc, format.width, format.height, e.banner());
                    s.shared.slot.publish(Arc::new(f), 0);
                }
                s.last_activity = Instant::now();
            }
        }
    }
}
