//! A blocking DQBUF is parked in the daemon and answered with the frame (`Request::Ioctl {
//! wait: true }`); a signal interrupts it with EINTR like a blocking V4L2 call (rules H21, K4),
//! and a signal racing with the frame never loses the frame nor desynchronises the connection.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loopcam_abi::*;
use loopcam_client::cadence::{SpinWindow, WaitStats};
use loopcam_client::{Consumer, Producer};

extern "C" fn on_usr1(_: libc::c_int) {}

/// SIGUSR1 with a no-op handler and no SA_RESTART: blocking calls return EINTR.
fn install_usr1() {
    // SAFETY: FFI edge: sigaction with a zeroed (valid) struct, an empty mask and a handler
    // that does nothing (async-signal-safe).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

fn signal_thread(tid: u64) {
    // SAFETY: FFI edge: `tid` is the pthread_t of a thread that is still running (it waits
    // for this signal or for a frame and is joined afterwards).
    unsafe { libc::pthread_kill(tid as libc::pthread_t, libc::SIGUSR1) };
}

fn dqbuf(c: &mut Consumer) -> Result<v4l2_buffer, rustix::io::Errno> {
    let mut b = v4l2_buffer {
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    c.vfd().xioctl(VIDIOC_DQBUF, &mut b).map(|_| b)
}

fn qbuf(c: &mut Consumer, index: u32) {
    let mut b = v4l2_buffer {
        index,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    c.vfd().xioctl(VIDIOC_QBUF, &mut b).unwrap();
}

fn publish(p: &mut Producer, n: u8) {
    let mut b = p.next_buffer().unwrap();
    b.data().fill(n);
    let len = b.data().len() as u32;
    b.publish(len).unwrap();
}

/// A daemon, a device, a streaming producer and consumer (2 buffers each), SIGUSR1 installed.
fn setup(name: &str) -> (common::TestDaemon, Producer, Consumer) {
    install_usr1();
    common::stream_pair(name)
}

#[test]
fn a_signal_interrupts_a_parked_dqbuf_with_eintr_and_the_buffer_stays_queued() {
    let (_d, mut p, mut c) = setup("parked-eintr");
    let tid = Arc::new(AtomicU64::new(0));
    let t = {
        let tid = tid.clone();
        std::thread::spawn(move || {
            // SAFETY: FFI edge: pthread_self has no preconditions.
            tid.store(unsafe { libc::pthread_self() } as u64, Ordering::SeqCst);
            let t0 = Instant::now();
            let first = dqbuf(&mut c);
            (first, t0.elapsed(), c)
        })
    };
    while tid.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(300)); // parked by now
    signal_thread(tid.load(Ordering::SeqCst));
    let (first, waited, mut c) = t.join().unwrap();
    assert_eq!(first.err(), Some(rustix::io::Errno::INTR), "EINTR");
    assert!(waited < Duration::from_secs(2), "interrupted promptly");
    // The connection is in step and the buffers are still queued: a frame arrives.
    publish(&mut p, 7);
    let b = dqbuf(&mut c).unwrap();
    assert_eq!(b.sequence, 0);
}

#[test]
fn signals_racing_with_frames_lose_no_frame() {
    let (_d, mut p, mut c) = setup("parked-race");
    const N: u32 = 40;
    let tid = Arc::new(AtomicU64::new(0));
    let got = Arc::new(AtomicU64::new(0));
    let t = {
        let (tid, got) = (tid.clone(), got.clone());
        std::thread::spawn(move || {
            // SAFETY: FFI edge: pthread_self has no preconditions.
            tid.store(unsafe { libc::pthread_self() } as u64, Ordering::SeqCst);
            let (mut seqs, mut eintr) = (Vec::new(), 0u32);
            while seqs.len() < N as usize {
                match dqbuf(&mut c) {
                    Ok(b) => {
                        seqs.push(b.sequence);
                        qbuf(&mut c, b.index);
                        got.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(rustix::io::Errno::INTR) => eintr += 1,
                    Err(e) => panic!("DQBUF failed: {e}"),
                }
            }
            (seqs, eintr)
        })
    };
    while tid.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    for n in 0..N {
        // The consumer took the previous frame and is (about to be) parked again: race a frame
        // with a signal, alternating which goes first.
        let t0 = Instant::now();
        while got.load(Ordering::SeqCst) < u64::from(n) && t0.elapsed() < Duration::from_secs(5) {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(2));
        if n % 2 == 0 {
            signal_thread(tid.load(Ordering::SeqCst));
            publish(&mut p, n as u8);
        } else {
            publish(&mut p, n as u8);
            signal_thread(tid.load(Ordering::SeqCst));
        }
    }
    let (seqs, eintr) = t.join().unwrap();
    let want: Vec<u32> = (0..N).collect();
    assert_eq!(
        seqs, want,
        "every frame, in order ({eintr} EINTRs on the way)"
    );
    eprintln!("{N} frames, {eintr} calls interrupted");
}

fn window(from_ms: u64, until_ms: u64) -> SpinWindow {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
    SpinWindow {
        from: now + from_ms * 1_000_000,
        until: now + until_ms * 1_000_000,
    }
}

/// A blocking DQBUF waiting through a window (loopcam_client::cadence) is still interrupted by
/// a signal without SA_RESTART, whether it sleeps before the window or polls inside it.
#[test]
fn a_signal_interrupts_a_watched_wait_with_eintr_in_both_phases() {
    let (_d, mut p, c) = setup("watched-eintr");
    let mut c = Some(c);
    // (window opens after, window closes after): sleeping, then polling, at the signal.
    for (from, until) in [(2_000, 2_100), (0, 3_000)] {
        let tid = Arc::new(AtomicU64::new(0));
        let mut cc = c.take().unwrap();
        let t = {
            let tid = tid.clone();
            std::thread::spawn(move || {
                // SAFETY: FFI edge: pthread_self has no preconditions.
                tid.store(unsafe { libc::pthread_self() } as u64, Ordering::SeqCst);
                cc.vfd().watch_next(window(from, until));
                let t0 = Instant::now();
                let r = dqbuf(&mut cc);
                (r, t0.elapsed(), cc)
            })
        };
        while tid.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(300));
        signal_thread(tid.load(Ordering::SeqCst));
        let (r, waited, cc) = t.join().unwrap();
        assert_eq!(
            r.err(),
            Some(rustix::io::Errno::INTR),
            "window {from}..{until} ms"
        );
        assert!(
            waited < Duration::from_millis(1_500),
            "interrupted promptly"
        );
        c = Some(cc);
    }
    // In step, buffers still queued.
    let mut c = c.unwrap();
    publish(&mut p, 1);
    assert_eq!(dqbuf(&mut c).unwrap().sequence, 0);
}

/// The answer is taken whenever it comes: before the window (early), inside it (while
/// polling) or after it (by the blocking wait), and each is counted as such.
#[test]
fn a_watched_wait_takes_the_frame_before_inside_and_after_its_window() {
    let (_d, mut p, mut c) = setup("watched-arrivals");
    // Early: the frame is there before the window opens.
    publish(&mut p, 1);
    c.vfd().watch_next(window(5_000, 5_100));
    let t0 = Instant::now();
    let b = dqbuf(&mut c).unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "not held until the window"
    );
    qbuf(&mut c, b.index);
    assert_eq!(c.vfd().wait_stats().early, 1);
    // Inside: published while the consumer polls.
    c.vfd().watch_next(window(0, 5_000));
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        publish(&mut p, 2);
        p
    });
    let b = dqbuf(&mut c).unwrap();
    assert_eq!(b.sequence, 1);
    qbuf(&mut c, b.index);
    let mut p = t.join().unwrap();
    assert_eq!(c.vfd().wait_stats().hits, 1);
    // After: the window closes long before the frame.
    c.vfd().watch_next(window(0, 10));
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        publish(&mut p, 3);
        p
    });
    let b = dqbuf(&mut c).unwrap();
    assert_eq!(b.sequence, 2);
    let _p = t.join().unwrap();
    assert_eq!(
        c.vfd().wait_stats(),
        WaitStats {
            hits: 1,
            early: 1,
            late: 1
        }
    );
}
