//! Shared pieces: a seeded RNG, daemon resource sampling, a counter-pattern producer and a
//! capture queue driven through [`VirtualFd`] (the path the preload library uses).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use loopcam_abi::*;
use loopcam_client::VirtualFd;
use loopcam_media::{layout, render, verify_counter, Layout, Pattern};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::mm::ProtFlags;

/// xorshift64*: deterministic from a seed, so a failing run can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A seed from the clock, printed by callers so a run can be replayed with `--seed`.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// Resources the daemon holds, from /proc.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Open fds.
    pub fds: usize,
    /// Of which memfds (frame memory).
    pub memfds: usize,
    /// VmRSS in KiB.
    pub rss_kb: u64,
}

pub fn daemon_stats(pid: i32) -> Result<Stats> {
    let mut s = Stats::default();
    let dir = format!("/proc/{pid}/fd");
    for e in std::fs::read_dir(&dir).with_context(|| dir.clone())? {
        let e = e?;
        s.fds += 1;
        if let Ok(t) = std::fs::read_link(e.path()) {
            if t.to_string_lossy().starts_with("/memfd:") {
                s.memfds += 1;
            }
        }
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for l in status.lines() {
        if let Some(v) = l.strip_prefix("VmRSS:") {
            s.rss_kb = v.trim().trim_end_matches("kB").trim().parse()?;
        }
    }
    Ok(s)
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}

pub fn layout_of(fourcc: u32, width: u32, height: u32) -> Result<Layout> {
    layout(fourcc, width, height).map_err(|e| anyhow!("{e}"))
}

pub const YUYV: u32 = loopcam_media::fourcc::YUYV;

/// Waits for `events` on the virtual fd's pollable fd; true if ready.
pub fn wait_ready(v: &VirtualFd, events: PollFlags, timeout: Duration) -> bool {
    let ts = rustix::time::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos() as i64,
    };
    let fd = v.fd();
    let mut p = [PollFd::new(&fd, events)];
    matches!(poll(&mut p, Some(&ts)), Ok(n) if n > 0) && p[0].revents().intersects(events)
}

/// One received capture frame.
#[derive(Clone, Copy, Debug)]
pub struct Got {
    pub index: u32,
    pub sequence: u32,
    pub bytesused: u32,
}

/// A capture queue on a virtual fd: MMAP buffers, non-blocking DQBUF.
pub struct CaptureQueue {
    pub vfd: VirtualFd,
    pub layout: Layout,
    pub bufs: Vec<(*mut u8, usize)>,
}

impl CaptureQueue {
    /// Opens `device`, optionally subscribes to SOURCE_CHANGE (before G_FMT, so a change after
    /// the format is read is always signalled), allocates `count` buffers mapped with `prot`,
    /// queues them all and starts streaming.
    pub fn open(device: &str, count: u32, prot: ProtFlags, events: bool) -> Result<CaptureQueue> {
        // PROT_WRITE of a shared mapping needs an fd opened for writing (VFS rule, G4).
        let rw = prot.contains(ProtFlags::WRITE);
        let mut vfd = VirtualFd::open(device, true, rw, true).context("open")?;
        if events {
            let mut s = v4l2_event_subscription {
                type_: V4L2_EVENT_SOURCE_CHANGE,
                ..Default::default()
            };
            vfd.xioctl(VIDIOC_SUBSCRIBE_EVENT, &mut s)
                .context("SUBSCRIBE_EVENT")?;
        }
        let mut f = v4l2_format {
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            ..Default::default()
        };
        vfd.xioctl(VIDIOC_G_FMT, &mut f).context("G_FMT")?;
        let p = f.pix();
        let layout = layout_of(p.pixelformat, p.width, p.height)?;
        let mut r = v4l2_requestbuffers {
            count,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        vfd.xioctl(VIDIOC_REQBUFS, &mut r).context("REQBUFS")?;
        let mut bufs = Vec::new();
        for i in 0..r.count {
            let mut b = v4l2_buffer {
                index: i,
                type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            vfd.xioctl(VIDIOC_QUERYBUF, &mut b).context("QUERYBUF")?;
            let ptr = vfd
                .mmap(b.length as usize, prot, true, b.m_offset().into())
                .context("mmap")?;
            bufs.push((ptr, b.length as usize));
        }
        let mut q = CaptureQueue { vfd, layout, bufs };
        for i in 0..r.count {
            q.qbuf(i).context("QBUF")?;
        }
        let mut t = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        q.vfd.xioctl(VIDIOC_STREAMON, &mut t).context("STREAMON")?;
        Ok(q)
    }

    pub fn qbuf(&mut self, index: u32) -> Result<(), Errno> {
        let mut b = v4l2_buffer {
            index,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        self.vfd.xioctl(VIDIOC_QBUF, &mut b)
    }

    /// Non-blocking DQBUF: `Ok(None)` on EAGAIN.
    pub fn dqbuf(&mut self) -> Result<Option<Got>, Errno> {
        let mut b = v4l2_buffer {
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        match self.vfd.xioctl(VIDIOC_DQBUF, &mut b) {
            Ok(()) => Ok(Some(Got {
                index: b.index,
                sequence: b.sequence,
                bytesused: b.bytesused,
            })),
            Err(Errno::AGAIN) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The payload of a dequeued buffer.
    pub fn data(&self, g: &Got) -> &[u8] {
        let (p, len) = self.bufs[g.index as usize];
        // SAFETY: `p` is a live mapping of `len` bytes made by our VirtualFd (never unmapped
        // while the queue exists); buffer `g.index` is dequeued, so the daemon does not swap it.
        unsafe { std::slice::from_raw_parts(p, len.min(g.bytesused as usize)) }
    }

    /// Checks a dequeued frame against the counter pattern; returns its number.
    pub fn verify(&self, g: &Got) -> Result<u64, String> {
        verify_counter(&self.layout, self.data(g))
    }

    /// A pending SOURCE_CHANGE (non-blocking DQEVENT).
    pub fn source_change(&mut self) -> bool {
        let mut found = false;
        loop {
            let mut e = v4l2_event::default();
            match self.vfd.xioctl(VIDIOC_DQEVENT, &mut e) {
                Ok(()) => found |= e.type_ == V4L2_EVENT_SOURCE_CHANGE,
                Err(_) => return found,
            }
        }
    }

    /// Unmaps everything (the queue is then unusable).
    pub fn unmap_all(&mut self) {
        for (p, len) in std::mem::take(&mut self.bufs) {
            let _ = self.vfd.munmap(p as usize, len);
        }
    }
}

impl Drop for CaptureQueue {
    fn drop(&mut self) {
        self.unmap_all();
    }
}

/// Opens an MMAP producer of counter frames, retrying EBUSY for up to `patience` (a killed
/// producer's claim is released when the daemon sees the hang-up).
pub fn open_producer(
    device: &str,
    w: u32,
    h: u32,
    fps: u32,
    patience: Duration,
) -> Result<loopcam_client::Producer> {
    let t0 = Instant::now();
    loop {
        match loopcam_client::Producer::open(device, YUYV, w, h, fps, 4) {
            Ok(p) => return Ok(p),
            Err(e) if t0.elapsed() < patience => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => bail!("producer open: {e}"),
        }
    }
}

/// One published frame, with the clock before and after QBUF (the daemon delivered it to
/// consumers somewhere in between).
#[derive(Clone, Copy, Debug)]
pub struct Published {
    pub n: u64,
    pub fmt: u64,
    pub before: Instant,
    pub after: Instant,
}

/// Control of a background counter producer.
#[derive(Default)]
pub struct ProducerCtl {
    pub stop: AtomicBool,
    pub frames: AtomicU64,
    pub error: Mutex<Option<String>>,
    /// Longest single call (ns).
    pub max_call_ns: AtomicU64,
    pub log: Mutex<Vec<Published>>,
    pub keep_log: AtomicBool,
}

/// Publishes counter frames `start..` at `fps` until stopped. Every frame's publish interval
/// is logged when `keep_log` is set.
pub fn run_producer(
    mut p: loopcam_client::Producer,
    fps: u32,
    start: u64,
    fmt: u64,
    ctl: Arc<ProducerCtl>,
) -> u64 {
    let f = p.format();
    let l = match layout_of(f.fourcc, f.width, f.height) {
        Ok(l) => l,
        Err(e) => {
            *ctl.error.lock().unwrap() = Some(e.to_string());
            return start;
        }
    };
    let period = Duration::from_secs_f64(1.0 / fps.max(1) as f64);
    let mut next = Instant::now();
    let mut n = start;
    while !ctl.stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let r = (|| -> Result<Published> {
            let mut fr = p.next_buffer().map_err(|e| anyhow!("next_buffer: {e}"))?;
            render(&Pattern::Counter, &l, n, &mut fr.data()[..l.sizeimage])
                .map_err(|e| anyhow!("{e}"))?;
            let before = Instant::now();
            fr.publish(l.sizeimage as u32)
                .map_err(|e| anyhow!("publish: {e}"))?;
            Ok(Published {
                n,
                fmt,
                before,
                after: Instant::now(),
            })
        })();
        ctl.max_call_ns
            .fetch_max(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match r {
            Ok(pb) => {
                if ctl.keep_log.load(Ordering::Relaxed) {
                    ctl.log.lock().unwrap().push(pb);
                }
                ctl.frames.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                *ctl.error.lock().unwrap() = Some(format!("frame {n}: {e}"));
                return n;
            }
        }
        n += 1;
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_millis(500) {
            next = now; // do not burst after a long stall
        }
    }
    n
}

/// Receives `frames` frames on a fresh consumer within `limit`; every frame must be an exact
/// counter frame with consecutive counter numbers and sequence numbers. Returns a summary.
pub fn fresh_consumer_check(device: &str, frames: usize, limit: Duration) -> Result<String> {
    let t0 = Instant::now();
    let mut q = CaptureQueue::open(device, 4, ProtFlags::READ, false)?;
    let mut got = 0usize;
    let mut last: Option<(u64, u32)> = None;
    let mut gaps = 0u64;
    while got < frames {
        if t0.elapsed() > limit {
            bail!("only {got} of {frames} frames within {limit:?}");
        }
        if !wait_ready(&q.vfd, PollFlags::IN, Duration::from_millis(200)) {
            continue;
        }
        let Some(g) = q.dqbuf().map_err(|e| anyhow!("DQBUF: {e}"))? else {
            continue;
        };
        let n = q
            .verify(&g)
            .map_err(|e| anyhow!("frame {got} corrupt: {e}"))?;
        if let Some((pn, ps)) = last {
            if n != pn + 1 || g.sequence != ps.wrapping_add(1) {
                gaps += 1;
            }
        }
        last = Some((n, g.sequence));
        q.qbuf(g.index).map_err(|e| anyhow!("QBUF: {e}"))?;
        got += 1;
    }
    // A consumer that re-queues at once with 4 buffers at 30 fps never lacks a buffer: any
    // gap is a lost frame. One gap is tolerated for a scheduling hiccup of >100 ms on a loaded
    // 2-core machine; it is reported.
    if gaps > 1 {
        bail!("{gaps} gaps in counter/sequence numbers over {frames} frames");
    }
    Ok(format!(
        "fresh consumer {frames} frames exact in {:.1}s, {gaps} gaps",
        t0.elapsed().as_secs_f64()
    ))
}
