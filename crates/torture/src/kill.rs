//! `kill`: rounds of SIGKILL at chosen moments of producer and consumer life cycles.
//!
//! A victim process (`victim` subcommand) runs a producer or consumer life cycle in a loop and
//! prints the name of each phase on stdout just before entering it (`reqbufs` is printed right
//! before the REQBUFS call, `write` right before write(), `holding` while it holds dequeued
//! buffers, ...). Each round picks a victim kind and a target phase, and sends SIGKILL after a
//! random 0..2 ms delay once the victim announces that phase, so the kill lands just before,
//! inside or just after the call.
//!
//! Meanwhile a well-behaved consumer in this process verifies every frame byte for byte (counter
//! pattern) and must never wait more than 1 s for a frame while the long-lived producer runs.
//! Producer rounds stop the long-lived producer first (one producer at a time); after the kill
//! it must get the device back within 1 s.
//!
//! Leak check: the daemon's fd count, memfd count and RSS with no client connected are taken
//! after a warm-up session (same producer and consumer as the run) and again at the end.
//! Non-memfd fds must be equal (a leaked opener shows as an extra signal socket); memfds (frame
//! blocks) must not exceed what an idle device keeps by design (see `IDLE_BLOCKS_MAX`); RSS may
//! grow by at most 10% (allocator noise; the daemon does not map frame memory, so a leaked
//! block shows in the memfd count, and a leaked opener's bookkeeping in the fd count).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use loopcam_abi::*;
use loopcam_client::VirtualFd;
use loopcam_media::{render, Pattern};
use rustix::event::PollFlags;
use rustix::mm::ProtFlags;

use crate::common::*;

/// Frame blocks an idle device may keep: the pool's free list (4) and the last frame.
const IDLE_BLOCKS_MAX: usize = 5;

const PRODUCER_PHASES: [&str; 8] = [
    "open", "s_fmt", "reqbufs", "mmap", "streamon", "filling", "queued", "write",
];
const CONSUMER_PHASES: [&str; 7] = [
    "open", "reqbufs", "mmap", "streamon", "dqbuf", "holding", "read",
];

fn phase(p: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{p}");
    let _ = o.flush();
}

/// The victim process: a life cycle in a loop until killed.
pub fn victim(kind: &str, dev: &str, seed: u64, base: u64) -> Result<bool> {
    let mut rng = Rng::new(seed);
    let l = layout_of(YUYV, 640, 480)?;
    let mut n = base;
    let mut frame = vec![0u8; l.sizeimage];
    loop {
        phase("open");
        let producer = kind == "producer";
        let mut v = VirtualFd::open(dev, true, producer, false).context("victim open")?;
        let t = if producer {
            V4L2_BUF_TYPE_VIDEO_OUTPUT
        } else {
            V4L2_BUF_TYPE_VIDEO_CAPTURE
        };
        if producer {
            phase("s_fmt");
            let mut f = v4l2_format {
                type_: t,
                ..Default::default()
            };
            f.set_pix(&v4l2_pix_format {
                width: 640,
                height: 480,
                pixelformat: YUYV,
                field: V4L2_FIELD_NONE,
                ..Default::default()
            });
            v.xioctl(VIDIOC_S_FMT, &mut f)
                .map_err(|e| anyhow!("S_FMT {e}"))?;
            if rng.chance(35) {
                // OBS style: write() claims and streams implicitly.
                for _ in 0..1 + rng.below(10) {
                    render(&Pattern::Counter, &l, n, &mut frame).map_err(|e| anyhow!("{e}"))?;
                    n += 1;
                    phase("write");
                    v.write(&frame).map_err(|e| anyhow!("write {e}"))?;
                    std::thread::sleep(Duration::from_millis(rng.below(40)));
                }
                continue;
            }
        }
        phase("reqbufs");
        let mut r = v4l2_requestbuffers {
            count: 1 + rng.below(8) as u32,
            type_: t,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        v.xioctl(VIDIOC_REQBUFS, &mut r)
            .map_err(|e| anyhow!("REQBUFS {e}"))?;
        phase("mmap");
        let prot = if producer {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        let mut bufs = Vec::new();
        for i in 0..r.count {
            let mut b = v4l2_buffer {
                index: i,
                type_: t,
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            v.xioctl(VIDIOC_QUERYBUF, &mut b)
                .map_err(|e| anyhow!("QUERYBUF {e}"))?;
            let p = v
                .mmap(b.length as usize, prot, true, b.m_offset().into())
                .map_err(|e| anyhow!("mmap {e}"))?;
            bufs.push((p, b.length as usize));
        }
        let qbuf = |v: &mut VirtualFd, i: u32, used: u32| {
            let mut b = v4l2_buffer {
                index: i,
                type_: t,
                memory: V4L2_MEMORY_MMAP,
                bytesused: used,
                field: V4L2_FIELD_NONE,
                ..Default::default()
            };
            v.xioctl(VIDIOC_QBUF, &mut b)
        };
        let dqbuf = |v: &mut VirtualFd| {
            let mut b = v4l2_buffer {
                type_: t,
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            v.xioctl(VIDIOC_DQBUF, &mut b).map(|_| b.index)
        };
        if !producer {
            if rng.chance(25) {
                // read() consumer instead of streaming I/O.
                drop(bufs);
                drop(v);
                let mut v = VirtualFd::open(dev, true, false, false).context("victim open")?;
                for _ in 0..1 + rng.below(10) {
                    phase("read");
                    v.read(&mut frame).map_err(|e| anyhow!("read {e}"))?;
                }
                continue;
            }
            for i in 0..r.count {
                qbuf(&mut v, i, 0).map_err(|e| anyhow!("QBUF {e}"))?;
            }
        }
        phase("streamon");
        let mut tt = t;
        v.xioctl(VIDIOC_STREAMON, &mut tt)
            .map_err(|e| anyhow!("STREAMON {e}"))?;
        let mut fresh: Vec<u32> = (0..r.count).rev().collect();
        let mut held = Vec::new();
        for _ in 0..1 + rng.below(12) {
            if producer {
                let i = match fresh.pop() {
                    Some(i) => i,
                    None => {
                        if !wait_ready(&v, PollFlags::OUT, Duration::from_secs(2)) {
                            bail!("producer victim: no buffer back within 2 s");
                        }
                        dqbuf(&mut v).map_err(|e| anyhow!("DQBUF {e}"))?
                    }
                };
                phase("filling");
                let (p, len) = bufs[i as usize];
                // SAFETY: our live RW mapping of buffer `i`, which is dequeued (ours).
                let dst = unsafe { std::slice::from_raw_parts_mut(p, len) };
                render(&Pattern::Counter, &l, n, &mut dst[..l.sizeimage])
                    .map_err(|e| anyhow!("{e}"))?;
                n += 1;
                std::thread::sleep(Duration::from_millis(rng.below(20)));
                qbuf(&mut v, i, l.sizeimage as u32).map_err(|e| anyhow!("QBUF {e}"))?;
                phase("queued");
                std::thread::sleep(Duration::from_millis(rng.below(30)));
            } else {
                phase("dqbuf");
                let i = dqbuf(&mut v).map_err(|e| anyhow!("DQBUF {e}"))?;
                held.push(i);
                phase("holding");
                std::thread::sleep(Duration::from_millis(rng.below(60)));
                // Keep some buffers held across the next DQBUF (never all: DQBUF would block).
                while held.len() >= r.count.max(2) as usize - 1
                    || (rng.chance(60) && !held.is_empty())
                {
                    let j = held.remove(0);
                    qbuf(&mut v, j, 0).map_err(|e| anyhow!("QBUF {e}"))?;
                }
            }
        }
        // Orderly end of this cycle (REQBUFS(0) sometimes, close always).
        if rng.chance(50) {
            let mut tt = t;
            let _ = v.xioctl(VIDIOC_STREAMOFF, &mut tt);
        }
        for (p, len) in bufs {
            let _ = v.munmap(p as usize, len);
        }
    }
}

#[derive(Default)]
struct Healthy {
    stop: AtomicBool,
    frames: AtomicU64,
    error: Mutex<Option<String>>,
    /// ns since t0 from which the long-lived producer has been running (0: not running).
    producer_since: AtomicU64,
    last_frame: AtomicU64,
    max_gap_ns: AtomicU64,
    reopens: AtomicU64,
}

fn healthy_consumer(dev: String, h: Arc<Healthy>, t0: Instant) {
    let fail = |m: String| {
        h.error.lock().unwrap().get_or_insert(m);
    };
    let mut q = match CaptureQueue::open(&dev, 4, ProtFlags::READ, true) {
        Ok(q) => q,
        Err(e) => return fail(format!("healthy consumer open: {e:#}")),
    };
    let now_ns = || t0.elapsed().as_nanos() as u64;
    h.last_frame.store(now_ns(), Ordering::SeqCst);
    let mut last_seq: Option<u32> = None;
    while !h.stop.load(Ordering::SeqCst) {
        wait_ready(
            &q.vfd,
            PollFlags::IN | PollFlags::PRI,
            Duration::from_millis(50),
        );
        if q.source_change() {
            h.reopens.fetch_add(1, Ordering::SeqCst);
            drop(q);
            q = match CaptureQueue::open(&dev, 4, ProtFlags::READ, true) {
                Ok(q) => q,
                Err(e) => return fail(format!("healthy consumer reopen: {e:#}")),
            };
            last_seq = None;
        }
        loop {
            match q.dqbuf() {
                Ok(Some(g)) => {
                    if let Err(e) = q.verify(&g) {
                        return fail(format!("corrupt frame: {e}"));
                    }
                    if let Some(s) = last_seq {
                        if g.sequence <= s {
                            return fail(format!("sequence {} after {s}", g.sequence));
                        }
                    }
                    last_seq = Some(g.sequence);
                    if let Err(e) = q.qbuf(g.index) {
                        return fail(format!("QBUF: {e}"));
                    }
                    h.frames.fetch_add(1, Ordering::SeqCst);
                    h.last_frame.store(now_ns(), Ordering::SeqCst);
                }
                Ok(None) => break,
                Err(e) => return fail(format!("DQBUF: {e}")),
            }
        }
        // Stall: no frame for > 1 s while the long-lived producer ran the whole second.
        let since = h.producer_since.load(Ordering::SeqCst);
        if since != 0 {
            let now = now_ns();
            let gap = now.saturating_sub(h.last_frame.load(Ordering::SeqCst).max(since));
            h.max_gap_ns.fetch_max(gap, Ordering::SeqCst);
            if gap > 1_000_000_000 {
                return fail(format!("no frame for {} ms", gap / 1_000_000));
            }
        }
    }
}

pub struct KillArgs {
    pub device: String,
    pub daemon_pid: i32,
    pub rounds: u64,
    pub seed: u64,
}

fn idle_stats(pid: i32) -> Result<Stats> {
    // The daemon handles hang-ups asynchronously: give it a moment, take the last reading.
    std::thread::sleep(Duration::from_millis(500));
    daemon_stats(pid)
}

pub fn run(a: KillArgs) -> Result<bool> {
    let mut rng = Rng::new(a.seed);
    let t0 = Instant::now();
    let dev = a.device.clone();
    // Warm-up session, then the idle baseline.
    {
        let p = open_producer(&dev, 640, 480, 30, Duration::from_secs(1))?;
        let ctl = Arc::new(ProducerCtl::default());
        let th = {
            let ctl = ctl.clone();
            std::thread::spawn(move || run_producer(p, 30, 0, 0, ctl))
        };
        fresh_consumer_check(&dev, 10, Duration::from_secs(5))?;
        ctl.stop.store(true, Ordering::SeqCst);
        let _ = th.join();
    }
    let base = idle_stats(a.daemon_pid)?;

    let h = Arc::new(Healthy::default());
    let mut n = 0u64;
    let start_producer =
        |n: u64, patience: Duration| -> Result<(Arc<ProducerCtl>, std::thread::JoinHandle<u64>)> {
            let p = open_producer(&dev, 640, 480, 30, patience)?;
            let ctl = Arc::new(ProducerCtl::default());
            let c2 = ctl.clone();
            Ok((
                ctl,
                std::thread::spawn(move || run_producer(p, 30, n, 0, c2)),
            ))
        };
    let (mut pctl, pth0) = start_producer(n, Duration::from_secs(1))?;
    let mut pth = Some(pth0);
    h.producer_since
        .store(t0.elapsed().as_nanos() as u64, Ordering::SeqCst);
    let hth = {
        let (h, dev) = (h.clone(), dev.clone());
        std::thread::spawn(move || healthy_consumer(dev, h, t0))
    };

    let mut fail: Option<String> = None;
    let mut hits = std::collections::BTreeMap::<String, u64>::new();
    let mut max_reacquire = Duration::ZERO;
    let mut per_round: Vec<Stats> = Vec::new();
    for round in 0..a.rounds {
        let producer = rng.chance(35);
        let phases: &[&str] = if producer {
            &PRODUCER_PHASES
        } else {
            &CONSUMER_PHASES
        };
        let target = phases[rng.below(phases.len() as u64) as usize];
        if producer {
            h.producer_since.store(0, Ordering::SeqCst);
            pctl.stop.store(true, Ordering::SeqCst);
            if let Some(t) = pth.take() {
                n = t.join().map_err(|_| anyhow!("producer thread panicked"))?;
            }
            if let Some(e) = pctl.error.lock().unwrap().take() {
                fail = Some(format!("round {round}: long-lived producer: {e}"));
                break;
            }
        }
        let kind = if producer { "producer" } else { "consumer" };
        let mut child = Command::new(std::env::current_exe()?)
            .args(["victim", kind, &dev])
            .args(["--seed", &rng.next().to_string()])
            .args(["--base", &(1_000_000_000 + round * 100_000).to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let out = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut reached = false;
        while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if l == target {
                reached = true;
                break;
            }
        }
        if reached {
            std::thread::sleep(Duration::from_micros(rng.below(2000)));
        }
        let _ = child.kill();
        let st = child.wait()?;
        if !reached {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            fail = Some(format!(
                "round {round}: {kind} victim never reached '{target}' within 5 s ({st}): {}",
                err.trim()
            ));
            break;
        }
        *hits.entry(format!("{kind}:{target}")).or_default() += 1;
        if producer {
            let t = Instant::now();
            match start_producer(n, Duration::from_secs(1)) {
                Ok((c, th)) => {
                    pctl = c;
                    pth = Some(th);
                }
                Err(e) => {
                    fail = Some(format!(
                        "round {round}: device not usable 1 s after killing a producer in '{target}': {e:#}"
                    ));
                    break;
                }
            }
            max_reacquire = max_reacquire.max(t.elapsed());
            h.producer_since
                .store(t0.elapsed().as_nanos() as u64, Ordering::SeqCst);
        }
        if let Some(e) = h.error.lock().unwrap().clone() {
            fail = Some(format!(
                "round {round} ({kind} killed in '{target}'): healthy consumer: {e}"
            ));
            break;
        }
        if !alive(a.daemon_pid) {
            fail = Some(format!("round {round}: daemon died"));
            break;
        }
        per_round.push(daemon_stats(a.daemon_pid)?);
    }
    // Let the healthy consumer see a few more frames, then stop everything.
    std::thread::sleep(Duration::from_millis(300));
    h.stop.store(true, Ordering::SeqCst);
    let _ = hth.join();
    pctl.stop.store(true, Ordering::SeqCst);
    if let Some(t) = pth.take() {
        let _ = t.join();
    }
    if fail.is_none() {
        if let Some(e) = h.error.lock().unwrap().clone() {
            fail = Some(format!("healthy consumer: {e}"));
        }
    }
    let mut ok = true;
    let frames = h.frames.load(Ordering::SeqCst);
    let gap = h.max_gap_ns.load(Ordering::SeqCst) as f64 / 1e6;
    let phases: Vec<String> = hits.iter().map(|(k, v)| format!("{k}={v}")).collect();
    match fail {
        Some(e) => {
            ok = false;
            println!("FAIL kill: {e}");
        }
        None => println!(
            "PASS kill: {} rounds in {:.0}s; healthy consumer {frames} frames verified, longest wait {gap:.0} ms (limit 1000), {} SOURCE_CHANGE reopens; producer re-acquired within {:.0} ms; kills by phase: {}",
            a.rounds,
            t0.elapsed().as_secs_f64(),
            h.reopens.load(Ordering::SeqCst),
            max_reacquire.as_secs_f64() * 1e3,
            phases.join(" ")
        ),
    }
    if !alive(a.daemon_pid) {
        println!("FAIL kill-leaks: daemon died");
        return Ok(false);
    }
    let end = idle_stats(a.daemon_pid)?;
    let fds_max = per_round.iter().map(|s| s.fds).max().unwrap_or(0);
    let rss_max = per_round.iter().map(|s| s.rss_kb).max().unwrap_or(0);
    let figures = format!(
        "idle daemon before {} fds ({} memfds) {} KiB, after {} fds ({} memfds) {} KiB ({:+.1}%); during rounds max {fds_max} fds {rss_max} KiB",
        base.fds,
        base.memfds,
        base.rss_kb,
        end.fds,
        end.memfds,
        end.rss_kb,
        (end.rss_kb as f64 / base.rss_kb as f64 - 1.0) * 100.0
    );
    // Non-memfd fds (listening socket, epoll, timers, signal sockets of openers) must be
    // exactly back. memfds are frame blocks: an idle device keeps at most the pool's free list
    // (FREE_KEEP = 4 blocks, crates/core/src/pool.rs) plus its last frame, by design; which of
    // them exist depends on the last producer's history, so the bound, not equality, is checked.
    // A leak of one block per round would exceed it many times over.
    if end.fds - end.memfds == base.fds - base.memfds
        && end.memfds <= IDLE_BLOCKS_MAX
        && end.rss_kb as f64 <= base.rss_kb as f64 * 1.10
    {
        println!("PASS kill-leaks: {figures}");
    } else {
        ok = false;
        println!("FAIL kill-leaks: {figures}");
    }
    Ok(ok)
}
