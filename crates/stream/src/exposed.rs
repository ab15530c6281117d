//! The exposed frame: one shared slot every HTTP client reads the latest JPEG from, fps
//! counters, and the clocks ustreamer's headers use.
//!
//! Slow clients skip frames by construction: there is no per-client queue. A client waits for
//! the slot's generation to move past the one it last sent, clones the `Arc<Frame>` and writes
//! it; whatever was published meanwhile is simply never seen by that client. A client that
//! reads nothing holds at most the one frame it is blocked writing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// CLOCK_MONOTONIC in seconds (the clock of V4L2 buffer timestamps and ustreamer's
/// `X-UStreamer-*-Time(stamp)` headers).
pub fn now_monotonic() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Wall-clock seconds since the epoch (ustreamer's `X-Timestamp`).
pub fn now_real() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One JPEG ready to send.
#[derive(Debug)]
pub struct Frame {
    /// The JPEG.
    pub jpeg: Vec<u8>,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// False for the NO SIGNAL picture.
    pub online: bool,
    /// When the device captured it (monotonic s).
    pub grab_ts: f64,
    /// When the dequeue happened (monotonic s).
    pub grab_end_ts: f64,
    /// Encoding start (monotonic s).
    pub encode_begin_ts: f64,
    /// Encoding end (monotonic s).
    pub encode_end_ts: f64,
}

/// The exposed frame with ustreamer's exposure bookkeeping.
#[derive(Clone, Debug)]
pub struct Exposed {
    /// The frame.
    pub frame: Arc<Frame>,
    /// Bumped for every frame actually exposed (not for dropped duplicates).
    pub gen: u64,
    /// Bumped for every publish attempt, exposed or dropped (wakes `dual_final_frames`).
    pub tick: u64,
    /// Identical frames dropped in a row (`X-UStreamer-Dropped`).
    pub dropped: u32,
    /// Exposure timing (monotonic s).
    pub expose_begin_ts: f64,
    /// Comparison done.
    pub expose_cmp_ts: f64,
    /// Exposed.
    pub expose_end_ts: f64,
}

/// The shared latest-frame slot.
pub struct Slot {
    state: Mutex<Exposed>,
    cv: Condvar,
}

/// What a waiting client gets.
pub enum Wait {
    /// A new frame (generation moved).
    Frame(Exposed),
    /// A duplicate was dropped (tick moved, generation did not).
    Dropped(Exposed),
    /// Nothing happened within the timeout.
    Timeout(Exposed),
    /// The server stops.
    Stop,
}

impl Slot {
    /// A slot showing `initial`.
    pub fn new(initial: Frame) -> Slot {
        let now = now_monotonic();
        Slot {
            state: Mutex::new(Exposed {
                frame: Arc::new(initial),
                gen: 1,
                tick: 1,
                dropped: 0,
                expose_begin_ts: now,
                expose_cmp_ts: now,
                expose_end_ts: now,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Exposed> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current frame.
    pub fn current(&self) -> Exposed {
        self.lock().clone()
    }

    /// Publishes a frame. With `drop_same > 0`, an online frame identical to the exposed one
    /// (same size and bytes) is dropped unless `drop_same` were dropped in a row already
    /// (ustreamer's `--drop-same-frames`). Returns true if the frame was exposed.
    pub fn publish(&self, frame: Arc<Frame>, drop_same: u32) -> bool {
        let begin = now_monotonic();
        let mut s = self.lock();
        s.tick += 1;
        if drop_same > 0 && frame.online && s.frame.online && s.dropped < drop_same {
            let same = s.frame.width == frame.width
                && s.frame.height == frame.height
                && s.frame.jpeg == frame.jpeg;
            let cmp = now_monotonic();
            if same {
                s.dropped += 1;
                s.expose_begin_ts = begin;
                s.expose_cmp_ts = cmp;
                s.expose_end_ts = cmp;
                drop(s);
                self.cv.notify_all();
                return false;
            }
            s.expose_cmp_ts = cmp;
        } else {
            s.expose_cmp_ts = begin;
        }
        s.frame = frame;
        s.gen += 1;
        s.dropped = 0;
        s.expose_begin_ts = begin;
        s.expose_end_ts = now_monotonic();
        drop(s);
        self.cv.notify_all();
        true
    }

    /// Waits until the generation moves past `gen` or the tick past `tick`, at most
    /// `timeout`, or until `stop` is set.
    pub fn wait(&self, gen: u64, tick: u64, timeout: Duration, stop: &AtomicBool) -> Wait {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if stop.load(Ordering::Relaxed) {
                return Wait::Stop;
            }
            if s.gen != gen {
                return Wait::Frame(s.clone());
            }
            if s.tick != tick {
                return Wait::Dropped(s.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Wait::Timeout(s.clone());
            }
            // Bounded waits so that `stop` is seen even if the notifier is gone.
            let step = (deadline - now).min(Duration::from_millis(250));
            s = self
                .cv
                .wait_timeout(s, step)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Wakes every waiter (on stop).
    pub fn wake_all(&self) {
        self.cv.notify_all();
    }
}

/// Events per whole second of CLOCK_MONOTONIC, as ustreamer's `fpsi` counters: the count of
/// the previous second is published when a new second starts; a reader sees it only while it
/// belongs to the current or the previous second (a stalled source reads 0).
#[derive(Default)]
pub struct Fps {
    state: Mutex<FpsState>,
}

#[derive(Default)]
struct FpsState {
    second: u64,
    accum: u32,
    last_second: u64,
    last: u32,
}

fn second_now() -> u64 {
    now_monotonic() as u64
}

impl Fps {
    /// Counts one event.
    pub fn bump(&self) {
        let now = second_now();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now != s.second {
            // The finished second's count is published only if it was the one just before.
            s.last = if s.second + 1 == now { s.accum } else { 0 };
            s.last_second = now.saturating_sub(1);
            s.second = now;
            s.accum = 0;
        }
        s.accum += 1;
    }

    /// Events in the last complete second (0 if stale).
    pub fn get(&self) -> u32 {
        let now = second_now();
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.second == now {
            if s.last_second + 1 == now {
                s.last
            } else {
                0
            }
        } else if s.second + 1 == now {
            // No event yet this second: the last complete one is `second`.
            s.accum
        } else {
            0
        }
    }
}
