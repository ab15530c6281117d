//! A blocking DQBUF is parked in the daemon and answered with the frame (`Request::Ioctl {
//! wait: true }`); a signal interrupts it with EINTR like a blocking V4L2 call (rules H21, K4),
//! and a signal racing with the frame never loses the frame nor desynchronises the connection.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loopcam_abi::*;
use loopcam_client::{Consumer, Manager, Producer};
use loopcam_proto::DeviceSpec;

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
    let d = common::TestDaemon::start(name);
    let path = Manager::connect()
        .unwrap()
        .add(DeviceSpec::default())
        .unwrap()
        .nodes[0]
        .clone();
    let p = Producer::open(&path, V4L2_PIX_FMT_YUYV, 160, 120, 30, 2).unwrap();
    let c = Consumer::open(&path, 2).unwrap();
    (d, p, c)
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
