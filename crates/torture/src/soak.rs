//! `soak`: a 30 fps counter producer that changes format every `--change-every` seconds, and
//! consumers that join and leave, for `--duration` seconds.
//!
//! Checks (all must hold):
//! * every consumer frame is an exact counter frame of the consumer's format (so no torn frame
//!   and no frame of the wrong size after a format change);
//! * "every frame it had a buffer queued for": for every frame `p` the producer published while
//!   a consumer session was streaming in the same format (between its STREAMON and the start of
//!   its final drain) and that the session did not receive, we count the session's buffers that
//!   were certainly NOT available to the device over p's whole QBUF interval
//!   `[before, after]`: buffers the application held (dequeued before `after`, re-queued after
//!   `before`) plus buffers already filled with an earlier frame and not yet dequeued
//!   (published before `after`, dequeued after `before`). If fewer than all of its buffers are
//!   accounted for, the session had a buffer queued and the frame was lost: a violation;
//! * every session that was streaming across a completed format change received
//!   V4L2_EVENT_SOURCE_CHANGE;
//! * the daemon's RSS stays within ±10% of its level in the first format period;
//! * the producer never fails and the daemon stays alive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use rustix::event::PollFlags;
use rustix::mm::ProtFlags;

use crate::common::*;

const SIZES: [(u32, u32); 4] = [(640, 480), (320, 240), (800, 600), (352, 288)];

struct Rx {
    n: u64,
    dq: Instant,
    rq: Instant,
}

struct Session {
    fmt: u64,
    ready: Instant,
    end: Instant,
    nbufs: usize,
    frames: Vec<Rx>,
    /// When the consumer closed the device.
    closed: Instant,
    got_event: bool,
}

#[derive(Default)]
struct Shared {
    /// Even: stable format `gen / 2`; odd: a change is in progress.
    gen: AtomicU64,
    end: AtomicBool,
    sessions: Mutex<Vec<Session>>,
    /// Format changes: (old producer about to stop, new format set and streaming).
    changes: Mutex<Vec<(Instant, Instant)>>,
    errors: Mutex<Vec<String>>,
}

pub struct SoakArgs {
    pub device: String,
    pub duration: u64,
    pub change_every: u64,
    pub consumers: usize,
    pub fps: u32,
    pub daemon_pid: i32,
    pub seed: u64,
}

pub fn run(a: SoakArgs) -> Result<bool> {
    let sh = Arc::new(Shared::default());
    let t_start = Instant::now();
    let total = Duration::from_secs(a.duration);
    let mut ok = true;

    // RSS sampler.
    let samples = Arc::new(Mutex::new(Vec::<(f64, Stats)>::new()));
    let sampler = {
        let (sh, samples, pid) = (sh.clone(), samples.clone(), a.daemon_pid);
        std::thread::spawn(move || {
            while !sh.end.load(Ordering::Relaxed) {
                if let Ok(s) = daemon_stats(pid) {
                    samples
                        .lock()
                        .unwrap()
                        .push((t_start.elapsed().as_secs_f64(), s));
                }
                std::thread::sleep(Duration::from_millis(1000));
            }
        })
    };

    let consumers: Vec<_> = (0..a.consumers)
        .map(|i| {
            let (sh, dev) = (sh.clone(), a.device.clone());
            let seed = a.seed ^ ((i as u64 + 1) * 0x1234_5678);
            let stay = (a.duration / 6).clamp(3, 15);
            std::thread::spawn(move || consumer_slot(&dev, sh, seed, stay))
        })
        .collect();

    // Producer: one format per period.
    let mut plog: Vec<Published> = Vec::new();
    let mut n = 0u64;
    let mut k = 0u64;
    let mut prod_err = None;
    let mut max_call = 0u64;
    let mut frames = 0u64;
    while t_start.elapsed() < total {
        let (w, h) = SIZES[(k % SIZES.len() as u64) as usize];
        let p = match open_producer(&a.device, w, h, a.fps, Duration::from_secs(2)) {
            Ok(p) => p,
            Err(e) => {
                prod_err = Some(format!("format {k} ({w}x{h}): {e}"));
                break;
            }
        };
        if k > 0 {
            sh.gen.fetch_add(1, Ordering::SeqCst); // even: format k is in force
            if let Some(c) = sh.changes.lock().unwrap().last_mut() {
                c.1 = Instant::now();
            }
        }
        let ctl = Arc::new(ProducerCtl::default());
        ctl.keep_log.store(true, Ordering::Relaxed);
        let th = {
            let ctl = ctl.clone();
            let fps = a.fps;
            std::thread::spawn(move || run_producer(p, fps, n, k, ctl))
        };
        let period_end = (Duration::from_secs(a.change_every * (k + 1))).min(total);
        while t_start.elapsed() < period_end && ctl.error.lock().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Odd from before the old producer goes until the new format is set: a consumer that
        // sets up meanwhile is not a clean session.
        sh.gen.fetch_add(1, Ordering::SeqCst);
        let now = Instant::now();
        sh.changes.lock().unwrap().push((now, now));
        ctl.stop.store(true, Ordering::Relaxed);
        n = th.join().expect("producer thread");
        plog.extend(ctl.log.lock().unwrap().drain(..));
        frames += ctl.frames.load(Ordering::Relaxed);
        max_call = max_call.max(ctl.max_call_ns.load(Ordering::Relaxed));
        if let Some(e) = ctl.error.lock().unwrap().take() {
            prod_err = Some(e);
            break;
        }
        k += 1;
    }
    sh.end.store(true, Ordering::SeqCst);
    for c in consumers {
        let _ = c.join();
    }
    let _ = sampler.join();
    let changes = k.saturating_sub(1);

    // Producer.
    match &prod_err {
        Some(e) => {
            ok = false;
            println!("FAIL soak-producer: {e}");
        }
        None => println!(
            "PASS soak-producer: {frames} frames, {} formats, {changes} changes, longest call {:.1} ms",
            k,
            max_call as f64 / 1e6
        ),
    }

    // Consumers: errors, lost frames, events.
    let errors = sh.errors.lock().unwrap().clone();
    let sessions = std::mem::take(&mut *sh.sessions.lock().unwrap());
    let by_n: HashMap<u64, Published> = plog.iter().map(|p| (p.n, *p)).collect();
    let mut expected = 0u64;
    let mut received = 0u64;
    let mut excused = 0u64;
    let mut lost = Vec::new();
    let changes_done: Vec<(Instant, Instant)> = sh
        .changes
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|(a, b)| b > a)
        .collect();
    let mut spanning = 0;
    let mut events = 0;
    for s in &sessions {
        let got: HashMap<u64, &Rx> = s.frames.iter().map(|r| (r.n, r)).collect();
        received += s.frames.len() as u64;
        // SOURCE_CHANGE is owed to a session that was streaming when a change started and
        // still open when it completed; a session that got it early (the event is queued
        // during the new producer's S_FMT, before its setup completes) also counts.
        let spanned = changes_done
            .iter()
            .any(|(start, done)| s.ready < *start && s.closed > *done);
        if spanned || s.got_event {
            spanning += 1;
            events += s.got_event as u32;
        }
        for p in plog
            .iter()
            .filter(|p| p.fmt == s.fmt && p.before >= s.ready && p.after <= s.end)
        {
            expected += 1;
            if got.contains_key(&p.n) {
                continue;
            }
            let held = s
                .frames
                .iter()
                .filter(|r| r.dq < p.after && r.rq > p.before)
                .count();
            let pending = s
                .frames
                .iter()
                .filter(|r| by_n.get(&r.n).is_some_and(|q| q.before < p.after) && r.dq > p.before)
                .count();
            if held + pending >= s.nbufs {
                excused += 1;
            } else {
                lost.push(format!(
                    "frame {} (format {}) lost with {} of {} buffers queued",
                    p.n,
                    p.fmt,
                    s.nbufs - held - pending,
                    s.nbufs
                ));
            }
        }
    }
    if errors.is_empty() && lost.is_empty() && !sessions.is_empty() {
        println!(
            "PASS soak-frames: {} sessions, {received} frames received and verified, {expected} frames expected, 0 lost, {excused} missed with no buffer queued",
            sessions.len()
        );
    } else {
        ok = false;
        let mut why: Vec<String> = errors.iter().take(3).cloned().collect();
        why.extend(lost.iter().take(3).cloned());
        println!(
            "FAIL soak-frames: {} errors, {} lost of {expected} expected ({} sessions): {}",
            errors.len(),
            lost.len(),
            sessions.len(),
            why.join("; ")
        );
    }
    if changes > 0 && events == 0 {
        ok = false;
        println!("FAIL soak-source-change: {changes} changes but no session received SOURCE_CHANGE ({spanning} were owed one)");
    } else if events == spanning {
        println!("PASS soak-source-change: {changes} changes, {spanning} sessions streamed across a change, all got SOURCE_CHANGE");
    } else {
        ok = false;
        println!(
            "FAIL soak-source-change: {spanning} sessions streamed across a change, only {events} got SOURCE_CHANGE"
        );
    }

    // RSS: baseline = median of the first period's samples after a 5 s warm-up.
    let samples = samples.lock().unwrap().clone();
    let first_end = a.change_every.min(a.duration) as f64;
    let mut base: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= 5.0_f64.min(first_end / 2.0) && *t <= first_end)
        .map(|(_, s)| s.rss_kb)
        .collect();
    base.sort_unstable();
    let alive_end = alive(a.daemon_pid);
    if base.is_empty() || !alive_end {
        ok = false;
        println!(
            "FAIL soak-rss: daemon alive {alive_end}, {} samples",
            samples.len()
        );
    } else {
        let b = base[base.len() / 2];
        let later: Vec<u64> = samples
            .iter()
            .filter(|(t, _)| *t > first_end)
            .map(|(_, s)| s.rss_kb)
            .collect();
        let lo = later.iter().copied().min().unwrap_or(b);
        let hi = later.iter().copied().max().unwrap_or(b);
        let fds: Vec<usize> = samples.iter().map(|(_, s)| s.fds).collect();
        let figures = format!(
            "baseline {b} KiB, later min {lo} max {hi} KiB ({:+.1}%..{:+.1}%), {} samples, daemon fds {}..{}",
            (lo as f64 / b as f64 - 1.0) * 100.0,
            (hi as f64 / b as f64 - 1.0) * 100.0,
            samples.len(),
            fds.iter().min().unwrap_or(&0),
            fds.iter().max().unwrap_or(&0)
        );
        if lo as f64 >= b as f64 * 0.9 && hi as f64 <= b as f64 * 1.1 {
            println!("PASS soak-rss: {figures}");
        } else {
            ok = false;
            println!("FAIL soak-rss: {figures}");
        }
    }
    Ok(ok)
}

fn consumer_slot(dev: &str, sh: Arc<Shared>, seed: u64, stay_max: u64) {
    let mut rng = Rng::new(seed);
    let err = |m: String| sh.errors.lock().unwrap().push(m);
    while !sh.end.load(Ordering::SeqCst) {
        let g0 = sh.gen.load(Ordering::SeqCst);
        if g0 % 2 == 1 {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let mut q = match CaptureQueue::open(dev, 4, ProtFlags::READ, true) {
            Ok(q) => q,
            Err(e) => {
                if sh.gen.load(Ordering::SeqCst) == g0 {
                    err(format!("consumer setup: {e:#}"));
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if sh.gen.load(Ordering::SeqCst) != g0 {
            continue; // raced with a format change: not a clean session
        }
        let fmt = g0 / 2;
        let (w, h) = SIZES[(fmt % SIZES.len() as u64) as usize];
        if (q.layout.width, q.layout.height) != (w, h) {
            err(format!(
                "session in format {fmt} got {}x{}, expected {w}x{h}",
                q.layout.width, q.layout.height
            ));
        }
        let ready = Instant::now();
        let leave = ready + Duration::from_millis(1000 + rng.below(stay_max * 1000));
        let mut frames = Vec::new();
        let mut got_event = false;
        let nbufs = q.bufs.len();
        let mut rec: Option<Session> = None;
        'session: loop {
            let stop = sh.end.load(Ordering::SeqCst) || Instant::now() >= leave;
            if !stop {
                wait_ready(
                    &q.vfd,
                    PollFlags::IN | PollFlags::PRI,
                    Duration::from_millis(100),
                );
            }
            if q.source_change() {
                got_event = true;
            }
            let drain_start = Instant::now();
            loop {
                match q.dqbuf() {
                    Ok(Some(g)) => {
                        let dq = Instant::now();
                        match q.verify(&g) {
                            Ok(n) => {
                                if !stop && !got_event {
                                    if let Err(e) = q.qbuf(g.index) {
                                        err(format!("QBUF: {e}"));
                                    }
                                }
                                frames.push(Rx {
                                    n,
                                    dq,
                                    rq: Instant::now(),
                                });
                            }
                            Err(e) => {
                                err(format!("format {fmt} session frame: {e}"));
                                break 'session;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        err(format!("DQBUF: {e}"));
                        break 'session;
                    }
                }
            }
            if stop || got_event {
                // Held drained frames count as held until the end.
                let end = drain_start;
                let now = Instant::now();
                for f in frames.iter_mut().filter(|f| f.dq >= drain_start) {
                    f.rq = now;
                }
                if !got_event && q.source_change() {
                    got_event = true;
                }
                rec = Some(Session {
                    fmt,
                    ready,
                    end,
                    nbufs,
                    frames,
                    closed: Instant::now(),
                    got_event,
                });
                break;
            }
        }
        drop(q);
        if let Some(mut r) = rec {
            r.closed = Instant::now();
            sh.sessions.lock().unwrap().push(r);
        }
        if !got_event {
            std::thread::sleep(Duration::from_millis(rng.below(1500)));
        }
    }
}
