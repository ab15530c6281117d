//! A signal whose handler has SA_RESTART does not interrupt a blocking DQBUF: the kernel
//! restarts such a call (rules H21, K4), and a wait that watches for a predicted frame
//! (loopcam_client::cadence) must do the same although `ppoll()` itself is never restarted.
//! A binary of its own: whether a wait restarts depends on every handler of the process.

mod common;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use loopcam_abi::*;
use loopcam_client::cadence::SpinWindow;

static HANDLED: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_usr2(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_restarting_signal_does_not_interrupt_a_watched_wait() {
    // SAFETY: FFI edge: sigaction with a zeroed (valid) struct, an empty mask, SA_RESTART and
    // an async-signal-safe handler (one atomic add).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr2 as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut()), 0);
    }
    let (_d, mut p, mut c) = common::stream_pair("watched-restart");
    let tid = Arc::new(AtomicU64::new(0));
    let t = {
        let tid = tid.clone();
        std::thread::spawn(move || {
            // SAFETY: FFI edge: pthread_self has no preconditions.
            tid.store(unsafe { libc::pthread_self() } as u64, Ordering::SeqCst);
            let mut got = Vec::new();
            // Signals in the sleep before the window, then inside it.
            for (from_ms, until_ms) in [(400u64, 500u64), (0, 5_000)] {
                let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
                let now = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
                c.vfd().watch_next(SpinWindow {
                    from: now + from_ms * 1_000_000,
                    until: now + until_ms * 1_000_000,
                });
                let mut b = v4l2_buffer {
                    type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
                    memory: V4L2_MEMORY_MMAP,
                    ..Default::default()
                };
                let r = c.vfd().xioctl(VIDIOC_DQBUF, &mut b);
                got.push(r.map(|_| b.sequence));
                if r.is_ok() {
                    let mut q = v4l2_buffer {
                        index: b.index,
                        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
                        memory: V4L2_MEMORY_MMAP,
                        ..Default::default()
                    };
                    let _ = c.vfd().xioctl(VIDIOC_QBUF, &mut q);
                }
            }
            got
        })
    };
    while tid.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    for n in 0..2u8 {
        std::thread::sleep(Duration::from_millis(150));
        // SAFETY: FFI edge: the thread is alive (it waits for the frame published below).
        unsafe { libc::pthread_kill(tid.load(Ordering::SeqCst) as libc::pthread_t, libc::SIGUSR2) };
        std::thread::sleep(Duration::from_millis(150));
        let mut b = p.next_buffer().unwrap();
        b.data().fill(n);
        let len = b.data().len() as u32;
        b.publish(len).unwrap();
    }
    let got = t.join().unwrap();
    assert_eq!(got, vec![Ok(0), Ok(1)], "frames, not EINTR");
    assert_eq!(
        HANDLED.load(Ordering::SeqCst),
        2,
        "both signals were handled"
    );
}
