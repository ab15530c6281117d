//! `stress`: worker processes × threads issue random open/close/ioctl/mmap/munmap/read/write
//! on one device while a producer streams counter frames.
//!
//! Every call a worker thread makes goes through [`VirtualFd`] (the preload library's path)
//! on non-blocking fds, so every call must return promptly: a watchdog thread in each worker
//! fails the run (exit 3, naming the call) if one takes more than `--call-limit-ms`. The parent
//! also SIGKILLs a random worker now and then and starts a replacement. Afterwards: the daemon
//! must be alive, the producer must never have failed or stalled past the limit, and a fresh
//! consumer must receive exact, consecutive counter frames.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use loopcam_abi::*;
use loopcam_client::VirtualFd;
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::mm::ProtFlags;

use crate::common::*;

const OPS: [&str; 16] = [
    "open", "close", "fmt", "reqbufs", "mmap", "munmap", "qbuf", "dqbuf", "stream", "read",
    "write", "misc", "poll", "output", "touch", "event",
];

struct Slot {
    vfd: VirtualFd,
    maps: Vec<(usize, usize, bool)>,
}

/// One worker thread's loop. Returns (calls, errors returned by the device).
fn worker_thread(
    dev: &str,
    seed: u64,
    until: Instant,
    busy: &AtomicU64,
    op: &AtomicU64,
) -> (u64, u64) {
    let mut rng = Rng::new(seed);
    let mut slots: Vec<Slot> = Vec::new();
    let t0 = Instant::now();
    let (mut calls, mut errs) = (0u64, 0u64);
    let mut buf = vec![0u8; 800 * 600 * 2];
    while Instant::now() < until {
        let k = rng.below(OPS.len() as u64) as usize;
        op.store(k as u64, Ordering::Relaxed);
        busy.store(t0.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
        calls += 1;
        let ok = step(dev, k, &mut rng, &mut slots, &mut buf);
        busy.store(0, Ordering::Relaxed);
        if !ok {
            errs += 1;
        }
    }
    for s in &mut slots {
        for (a, l, _) in s.maps.drain(..) {
            let _ = s.vfd.munmap(a, l);
        }
    }
    (calls, errs)
}

fn cap(t: bool) -> u32 {
    if t {
        V4L2_BUF_TYPE_VIDEO_CAPTURE
    } else {
        V4L2_BUF_TYPE_VIDEO_OUTPUT
    }
}

/// One random operation; false when the device returned an error (expected often: the point
/// is that errors come back, promptly).
fn step(dev: &str, k: usize, rng: &mut Rng, slots: &mut Vec<Slot>, buf: &mut [u8]) -> bool {
    if k == 0 || slots.is_empty() {
        if slots.len() >= 3 {
            return true;
        }
        let write = rng.chance(25);
        return match VirtualFd::open(dev, true, write, true) {
            Ok(vfd) => {
                slots.push(Slot {
                    vfd,
                    maps: Vec::new(),
                });
                true
            }
            Err(_) => false,
        };
    }
    let i = rng.below(slots.len() as u64) as usize;
    let capture = rng.chance(85);
    if k == 1 {
        let mut s = slots.swap_remove(i);
        // Usually unmap first; sometimes leave the mappings to outlive the fd (allowed).
        if rng.chance(80) {
            for (a, l, _) in s.maps.drain(..) {
                let _ = s.vfd.munmap(a, l);
            }
        }
        return true;
    }
    let s = &mut slots[i];
    let r: Result<(), Errno> = match k {
        2 => {
            let mut f = v4l2_format {
                type_: cap(capture),
                ..Default::default()
            };
            let (w, h) =
                [(640, 480), (320, 240), (1, 1), (8192, 8192), (0, 0)][rng.below(5) as usize];
            f.set_pix(&v4l2_pix_format {
                width: w,
                height: h,
                pixelformat: if rng.chance(80) {
                    YUYV
                } else {
                    rng.next() as u32
                },
                ..Default::default()
            });
            let req = [VIDIOC_G_FMT, VIDIOC_TRY_FMT, VIDIOC_S_FMT][rng.below(3) as usize];
            s.vfd.xioctl(req, &mut f)
        }
        3 => {
            let mut r = v4l2_requestbuffers {
                count: rng.below(7) as u32,
                type_: cap(capture),
                memory: if rng.chance(90) {
                    V4L2_MEMORY_MMAP
                } else {
                    rng.below(6) as u32
                },
                ..Default::default()
            };
            s.vfd.xioctl(VIDIOC_REQBUFS, &mut r)
        }
        4 => {
            let mut b = v4l2_buffer {
                index: rng.below(6) as u32,
                type_: cap(capture),
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            match s.vfd.xioctl(VIDIOC_QUERYBUF, &mut b) {
                Ok(()) => {
                    let write = rng.chance(40);
                    let prot = if write {
                        ProtFlags::READ | ProtFlags::WRITE
                    } else {
                        ProtFlags::READ
                    };
                    let len = if rng.chance(90) {
                        b.length as usize
                    } else {
                        rng.below(1 << 22) as usize
                    };
                    let off = if rng.chance(90) {
                        b.m_offset() as u64
                    } else {
                        rng.next() & 0xffff_f000
                    };
                    match s.vfd.mmap(len, prot, rng.chance(95), off) {
                        Ok(p) => {
                            s.maps.push((p as usize, len, write));
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        5 => {
            if s.maps.is_empty() {
                Ok(())
            } else {
                let j = rng.below(s.maps.len() as u64) as usize;
                let (a, l, _) = s.maps.swap_remove(j);
                s.vfd.munmap(a, l)
            }
        }
        6 => {
            let mut b = v4l2_buffer {
                index: rng.below(6) as u32,
                type_: cap(capture),
                memory: if rng.chance(90) { V4L2_MEMORY_MMAP } else { 0 },
                bytesused: rng.below(1 << 20) as u32,
                ..Default::default()
            };
            s.vfd.xioctl(VIDIOC_QBUF, &mut b)
        }
        7 => {
            let mut b = v4l2_buffer {
                type_: cap(capture),
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            s.vfd.xioctl(VIDIOC_DQBUF, &mut b)
        }
        8 => {
            let mut t = cap(capture);
            let req = if rng.chance(60) {
                VIDIOC_STREAMON
            } else {
                VIDIOC_STREAMOFF
            };
            s.vfd.xioctl(req, &mut t)
        }
        9 => {
            let n = 1 + rng.below(buf.len() as u64) as usize;
            s.vfd.read(&mut buf[..n]).map(|_| ())
        }
        10 => {
            let n = 1 + rng.below(buf.len() as u64) as usize;
            s.vfd.write(&buf[..n]).map(|_| ())
        }
        11 => {
            let mut c = v4l2_capability::default();
            let _ = s.vfd.xioctl(VIDIOC_QUERYCAP, &mut c);
            let mut d = v4l2_fmtdesc {
                index: rng.below(4) as u32,
                type_: cap(capture),
                ..Default::default()
            };
            let _ = s.vfd.xioctl(VIDIOC_ENUM_FMT, &mut d);
            let mut p = v4l2_streamparm {
                type_: cap(capture),
                ..Default::default()
            };
            s.vfd.xioctl(VIDIOC_G_PARM, &mut p)
        }
        12 => {
            wait_ready(
                &s.vfd,
                PollFlags::IN | PollFlags::OUT | PollFlags::PRI,
                Duration::from_millis(rng.below(50)),
            );
            Ok(())
        }
        13 => {
            // Output side while another producer owns it: answers, never hangs.
            let mut p = v4l2_streamparm {
                type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
                ..Default::default()
            };
            s.vfd.xioctl(VIDIOC_S_PARM, &mut p)
        }
        14 => {
            // Touch mapped memory: read everywhere; write where mapped writable (a private
            // copy for capture buffers: must not reach anyone else, see `isolation`).
            if let Some(&(a, l, w)) = s.maps.get(rng.below(s.maps.len().max(1) as u64) as usize) {
                let off = rng.below(l.max(1) as u64) as usize;
                // SAFETY: (a, l) is a live mapping we made with VirtualFd::mmap and have not
                // unmapped; `off < l`. Volatile so the access really happens.
                unsafe {
                    let p = (a as *mut u8).add(off);
                    let v = std::ptr::read_volatile(p);
                    if w {
                        std::ptr::write_volatile(p, v ^ 0xff);
                    }
                }
            }
            Ok(())
        }
        _ => {
            let mut sub = v4l2_event_subscription {
                type_: V4L2_EVENT_SOURCE_CHANGE,
                ..Default::default()
            };
            let _ = s.vfd.xioctl(VIDIOC_SUBSCRIBE_EVENT, &mut sub);
            let mut e = v4l2_event::default();
            s.vfd.xioctl(VIDIOC_DQEVENT, &mut e)
        }
    };
    r.is_ok()
}

/// A worker process: `threads` threads until `secs` elapse, with a watchdog.
pub fn worker(dev: &str, secs: u64, threads: usize, seed: u64, limit_ms: u64) -> Result<bool> {
    let until = Instant::now() + Duration::from_secs(secs);
    let t0 = Instant::now();
    let state: Arc<Vec<(AtomicU64, AtomicU64)>> = Arc::new(
        (0..threads)
            .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
            .collect(),
    );
    let done = Arc::new(AtomicBool::new(false));
    {
        let (state, done) = (state.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let now = t0.elapsed().as_millis() as u64;
                for (i, (busy, op)) in state.iter().enumerate() {
                    let b = busy.load(Ordering::Relaxed);
                    if b != 0 && now.saturating_sub(b - 1) > limit_ms {
                        println!(
                            "STALL thread {i} in '{}' for {} ms",
                            OPS[op.load(Ordering::Relaxed) as usize],
                            now - (b - 1)
                        );
                        std::process::exit(3);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }
    let hs: Vec<_> = (0..threads)
        .map(|i| {
            let (state, dev) = (state.clone(), dev.to_string());
            std::thread::spawn(move || {
                let (b, o) = &state[i];
                worker_thread(&dev, seed ^ ((i as u64 + 1) << 32), until, b, o)
            })
        })
        .collect();
    let (mut calls, mut errs) = (0, 0);
    for h in hs {
        let (c, e) = h
            .join()
            .map_err(|_| anyhow::anyhow!("worker thread panicked"))?;
        calls += c;
        errs += e;
    }
    done.store(true, Ordering::Relaxed);
    println!("DONE calls {calls} errors {errs}");
    Ok(true)
}

pub struct StressArgs {
    pub device: String,
    pub daemon_pid: i32,
    pub secs: u64,
    pub procs: usize,
    pub threads: usize,
    pub seed: u64,
    pub limit_ms: u64,
    pub kill_every_ms: u64,
}

fn spawn_worker(a: &StressArgs, secs: u64, seed: u64) -> Result<Child> {
    Command::new(std::env::current_exe()?)
        .args(["stress-worker", &a.device])
        .args(["--secs", &secs.to_string()])
        .args(["--threads", &a.threads.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--call-limit-ms", &a.limit_ms.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .context("spawn worker")
}

pub fn run(a: StressArgs) -> Result<bool> {
    let mut ok = true;
    let mut rng = Rng::new(a.seed);
    let base = daemon_stats(a.daemon_pid)?;
    let prod = open_producer(&a.device, 640, 480, 30, Duration::from_secs(2))?;
    let ctl = Arc::new(ProducerCtl::default());
    let pth = {
        let ctl = ctl.clone();
        std::thread::spawn(move || run_producer(prod, 30, 0, 0, ctl))
    };
    std::thread::sleep(Duration::from_millis(300));
    let with_producer = daemon_stats(a.daemon_pid)?;
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(a.secs);
    let mut workers: Vec<Child> = Vec::new();
    for _ in 0..a.procs {
        workers.push(spawn_worker(&a, a.secs, rng.next())?);
    }
    let (mut kills, mut calls, mut errs, mut stalls) = (0u64, 0u64, 0u64, Vec::new());
    let mut peak = with_producer;
    let collect = |c: Child, calls: &mut u64, errs: &mut u64, stalls: &mut Vec<String>| {
        let out = c.wait_with_output();
        if let Ok(o) = out {
            for l in String::from_utf8_lossy(&o.stdout).lines() {
                if let Some(r) = l.strip_prefix("DONE calls ") {
                    let v: Vec<u64> = r
                        .split(" errors ")
                        .filter_map(|x| x.trim().parse().ok())
                        .collect();
                    *calls += v.first().copied().unwrap_or(0);
                    *errs += v.get(1).copied().unwrap_or(0);
                }
                if l.starts_with("STALL") {
                    stalls.push(l.to_string());
                }
            }
            if o.status.code() == Some(3) || (o.status.code().is_none() && !stalls.is_empty()) {
                return;
            }
            if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&o.status) {
                if sig != 9 {
                    stalls.push(format!("worker died of signal {sig}"));
                }
            } else if !o.status.success() {
                stalls.push(format!("worker exit {:?}", o.status.code()));
            }
        }
    };
    let mut next_kill = Instant::now() + Duration::from_millis(a.kill_every_ms);
    let mut respawned: Vec<Child> = Vec::new();
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        if let Ok(s) = daemon_stats(a.daemon_pid) {
            peak.fds = peak.fds.max(s.fds);
            peak.rss_kb = peak.rss_kb.max(s.rss_kb);
        }
        if !alive(a.daemon_pid) {
            break;
        }
        if ctl.error.lock().unwrap().is_some() {
            break;
        }
        // Finished or failed workers are collected at once (a stall exits with 3).
        let mut i = 0;
        while i < workers.len() {
            if matches!(workers[i].try_wait(), Ok(Some(_))) {
                let c = workers.swap_remove(i);
                collect(c, &mut calls, &mut errs, &mut stalls);
            } else {
                i += 1;
            }
        }
        if !stalls.is_empty() {
            break;
        }
        let left = end.saturating_duration_since(Instant::now()).as_secs();
        if a.kill_every_ms > 0 && Instant::now() >= next_kill && left >= 2 && !workers.is_empty() {
            let j = rng.below(workers.len() as u64) as usize;
            let mut c = workers.swap_remove(j);
            let _ = c.kill();
            let _ = c.wait();
            kills += 1;
            workers.push(spawn_worker(&a, left, rng.next())?);
            next_kill = Instant::now() + Duration::from_millis(a.kill_every_ms);
        }
    }
    respawned.append(&mut workers);
    for mut c in respawned {
        // Workers end by themselves at the deadline; allow the call limit on top.
        let lim = Instant::now() + Duration::from_millis(a.limit_ms + 3000);
        while Instant::now() < lim && matches!(c.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(c.try_wait(), Ok(None)) {
            let _ = c.kill();
            stalls.push("a worker did not finish at the deadline".into());
        }
        collect(c, &mut calls, &mut errs, &mut stalls);
    }
    let daemon_ok = alive(a.daemon_pid);
    let perr = ctl.error.lock().unwrap().clone();
    let pmax = ctl.max_call_ns.load(Ordering::Relaxed) as f64 / 1e6;
    let pframes = ctl.frames.load(Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    if !daemon_ok {
        ok = false;
        println!("FAIL stress: the daemon died");
    } else if !stalls.is_empty() {
        ok = false;
        println!("FAIL stress: {}", stalls.join("; "));
    } else if let Some(e) = perr {
        ok = false;
        println!("FAIL stress: producer: {e}");
    } else if pmax > a.limit_ms as f64 {
        ok = false;
        println!("FAIL stress: a producer call took {pmax:.0} ms");
    } else {
        println!(
            "PASS stress: {} procs x {} threads for {elapsed:.0}s: {calls} calls ({errs} returned errors), {kills} workers SIGKILLed, no call > {} ms, producer {pframes} frames (longest call {pmax:.1} ms), daemon peak {} fds {} KiB",
            a.procs, a.threads, a.limit_ms, peak.fds, peak.rss_kb
        );
    }
    if !daemon_ok {
        return Ok(false);
    }
    // Afterwards: a fresh consumer streams correctly.
    match fresh_consumer_check(&a.device, 60, Duration::from_secs(10)) {
        Ok(s) => println!("PASS stress-after: {s}"),
        Err(e) => {
            ok = false;
            println!("FAIL stress-after: {e:#}");
        }
    }
    ctl.stop.store(true, Ordering::Relaxed);
    let _ = pth.join();
    std::thread::sleep(Duration::from_millis(300));
    let after = daemon_stats(a.daemon_pid)?;
    println!(
        "INFO stress-resources: daemon before {} fds {} memfds {} KiB; with producer {} fds; after all clients left {} fds {} memfds {} KiB",
        base.fds, base.memfds, base.rss_kb, with_producer.fds, after.fds, after.memfds, after.rss_kb
    );
    Ok(ok)
}
