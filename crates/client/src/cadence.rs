//! The producer's cadence, and the spin-before-sleep of a blocking capture DQBUF.
//!
//! Why: a consumer asleep in `recvmsg()` is woken by the daemon's `sendmsg()`. When its CPU is
//! idle that wake-up is an inter-processor interrupt plus the CPU leaving its idle state — on a
//! VM a trip through the hypervisor (benchmark row 5, docs/PERFORMANCE.md: p50 36 µs for a
//! consumer asleep against 16 µs for one awake when the frame comes in one run, 51 against 30
//! µs in another). A camera publishes frames at a steady rate, so the next
//! frame's time is predictable from the last ones: a blocking DQBUF sleeps until shortly
//! before it is due, then polls its socket without blocking through a short window around
//! that time, then sleeps as before.
//!
//! The window follows the measured jitter of the frame timestamps and is bounded: at most
//! [`MAX_WIDTH_NS`] and 1/16 of the frame interval, so the CPU it costs is at most 1/16 of
//! one core, and at 30 fps with a steady producer a fraction of a percent. It is not used while
//! the cadence is irregular (the window would exceed those bounds), for [`PAUSE_FRAMES`]
//! frames after a few windows that the frame missed, or when `LOOPCAM_SPIN=0`. What it
//! changes is only *when* the consumer looks for the answer; every answer is still the
//! daemon's, and a signal still interrupts the wait (EINTR) while it sleeps.

/// Frames remembered (timestamp and sequence number).
const SAMPLES: usize = 16;
/// Frames needed before predicting.
const MIN_SAMPLES: usize = 6;
/// The window opens this much before the earliest predicted time: the sleep before it may end
/// late by the timer slack (50 µs by default) plus the wake-up itself.
const LEAD_NS: u64 = 250_000;
/// ... and stays open this much after the latest.
const TAIL_NS: u64 = 100_000;
/// Upper bound of a window's width.
pub(crate) const MAX_WIDTH_NS: u64 = 600_000;
/// Consecutive missed windows that pause spinning.
const MAX_MISSES: u32 = 3;
/// Frames without spinning after [`MAX_MISSES`].
pub(crate) const PAUSE_FRAMES: u32 = 60;

/// CLOCK_MONOTONIC in ns (the clock of V4L2 buffer timestamps).
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// When to look for the next frame: sleep until `from`, poll without blocking until `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpinWindow {
    /// CLOCK_MONOTONIC ns.
    pub from: u64,
    /// CLOCK_MONOTONIC ns.
    pub until: u64,
}

/// How a parked DQBUF's answer came, relative to its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// No window was used.
    Unplanned,
    /// Before the window (the sleep before it was cut short).
    Early,
    /// Inside the window: taken while polling.
    Hit,
    /// After the window: taken by the blocking wait.
    Late,
}

/// How the blocking DQBUFs of one fd were answered relative to their windows (for tools and
/// benchmarks: `loopcam dump --json` prints them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitStats {
    /// Answers taken while polling inside the window.
    pub hits: u64,
    /// Answers that came before the window opened.
    pub early: u64,
    /// Answers that came after the window closed.
    pub late: u64,
}

impl WaitStats {
    fn count(&mut self, a: Arrival) {
        match a {
            Arrival::Hit => self.hits += 1,
            Arrival::Early => self.early += 1,
            Arrival::Late => self.late += 1,
            Arrival::Unplanned => {}
        }
    }
}

/// The cadence of one capture stream, learnt from the timestamps and sequence numbers of the
/// frames it dequeues.
///
/// The prediction is a least-squares line through the last [`SAMPLES`] (sequence, timestamp)
/// points: its slope is the frame interval (measured over many frames, so a late frame barely
/// moves it) and the spread of the points around it is the producer's jitter. A producer
/// paced to deadlines publishes each frame at its deadline or a little after, so the next
/// frame is expected between the line plus the smallest residual and the line plus the
/// largest but one (one outlier does not widen the window). Sequence numbers count the
/// frames this consumer missed, so a skipped frame does not disturb the line.
#[derive(Debug)]
pub(crate) struct Cadence {
    enabled: bool,
    /// (sequence, timestamp ns), oldest first.
    points: Vec<(u64, u64)>,
    misses: u32,
    pause: u32,
    stats: WaitStats,
}

impl Cadence {
    pub(crate) fn new(enabled: bool) -> Cadence {
        Cadence {
            enabled,
            points: Vec::with_capacity(SAMPLES),
            misses: 0,
            pause: 0,
            stats: WaitStats::default(),
        }
    }

    /// The counts so far.
    pub(crate) fn stats(&self) -> WaitStats {
        self.stats
    }

    /// From the environment: on unless `LOOPCAM_SPIN=0`.
    pub(crate) fn from_env() -> Cadence {
        Cadence::new(std::env::var_os("LOOPCAM_SPIN").is_none_or(|v| v != "0"))
    }

    /// A frame was dequeued with sequence number `seq`, timestamp `ts` (ns), and came as
    /// `arrival`.
    pub(crate) fn frame(&mut self, seq: u32, ts: u64, arrival: Arrival) {
        let seq = u64::from(seq);
        if let Some(&(s0, t0)) = self.points.last() {
            if seq <= s0 || ts <= t0 {
                // Sequence or time went backwards: a new stream; learn again.
                self.points.clear();
            }
        }
        if self.points.len() == SAMPLES {
            self.points.remove(0);
        }
        self.points.push((seq, ts));
        self.pause = self.pause.saturating_sub(1);
        self.stats.count(arrival);
        match arrival {
            Arrival::Hit | Arrival::Early => self.misses = 0,
            Arrival::Late => {
                self.misses += 1;
                if self.misses >= MAX_MISSES {
                    self.misses = 0;
                    self.pause = PAUSE_FRAMES;
                }
            }
            Arrival::Unplanned => {}
        }
    }

    /// The stream stopped (STREAMOFF, REQBUFS): its old cadence means nothing.
    pub(crate) fn forget(&mut self) {
        self.points.clear();
        self.misses = 0;
    }

    /// The window for the next frame, seen at `now` (ns), or `None` to simply sleep.
    pub(crate) fn plan(&self, now: u64) -> Option<SpinWindow> {
        if !self.enabled || self.pause > 0 || self.points.len() < MIN_SAMPLES {
            return None;
        }
        let (s0, t0) = self.points[0];
        let n = self.points.len() as f64;
        let xy: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|&(s, t)| ((s - s0) as f64, (t - t0) as f64))
            .collect();
        let mx = xy.iter().map(|p| p.0).sum::<f64>() / n;
        let my = xy.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx = xy.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum::<f64>();
        let sxy = xy.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>();
        let interval = sxy / sxx;
        if !interval.is_finite() || interval <= 0.0 {
            return None;
        }
        let mut res: Vec<f64> = xy
            .iter()
            .map(|&(x, y)| y - (my + interval * (x - mx)))
            .collect();
        res.sort_by(f64::total_cmp);
        let (lo, hi) = (res[0], res[res.len() - 2]);
        let x_next = xy.last()?.0 + 1.0;
        let line = t0 as f64 + my + interval * (x_next - mx);
        let from = ((line + lo) as u64).saturating_sub(LEAD_NS);
        let until = (line + hi) as u64 + TAIL_NS;
        if until - from > MAX_WIDTH_NS.min(interval as u64 / 16) {
            return None;
        }
        // Already overdue: the frame is there (the answer is immediate) or the producer is late
        // or gone — nothing to predict.
        if until <= now {
            return None;
        }
        Some(SpinWindow { from, until })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const US: u64 = 1_000;

    /// Frames `first..first+n` of a producer with `period`, each late by `late(i)`.
    fn feed(c: &mut Cadence, first: u32, n: u32, period: u64, late: impl Fn(u32) -> u64) -> u64 {
        let mut t = 0;
        for i in first..first + n {
            t = 1_000 * MS + u64::from(i) * period + late(i);
            c.frame(i, t, Arrival::Unplanned);
        }
        t
    }

    #[test]
    fn no_window_before_enough_frames() {
        let mut c = Cadence::new(true);
        let last = feed(&mut c, 0, MIN_SAMPLES as u32 - 1, 33 * MS, |_| 0);
        assert_eq!(c.plan(last + US), None);
        let last = feed(&mut c, MIN_SAMPLES as u32 - 1, 1, 33 * MS, |_| 0);
        assert!(c.plan(last + US).is_some());
    }

    #[test]
    fn a_steady_producer_gets_a_narrow_window_at_the_next_frame() {
        let mut c = Cadence::new(true);
        let last = feed(&mut c, 0, 20, 33 * MS, |_| 0);
        let w = c.plan(last + MS).expect("steady 30 fps");
        let due = last + 33 * MS;
        assert!(w.from <= due && due <= w.until, "{w:?} due {due}");
        assert_eq!(w.until - w.from, LEAD_NS + TAIL_NS);
    }

    #[test]
    fn a_late_frame_does_not_shift_the_next_window() {
        // Deadline pacing: a frame published late does not delay the next one.
        let mut c = Cadence::new(true);
        let last = feed(
            &mut c,
            0,
            20,
            33 * MS,
            |i| if i == 19 { 150 * US } else { 0 },
        );
        let w = c.plan(last + MS).expect("one outlier");
        let due = 1_000 * MS + 20 * 33 * MS;
        assert!(w.from <= due && due <= w.until, "{w:?} due {due}");
    }

    #[test]
    fn jitter_widens_the_window_and_too_much_disables_it() {
        let mut c = Cadence::new(true);
        let last = feed(&mut c, 0, 20, 33 * MS, |i| u64::from(i % 3) * 40 * US);
        let w = c.plan(last + MS).expect("small jitter");
        assert!(w.until - w.from > LEAD_NS + TAIL_NS + 60 * US, "{w:?}");
        let due = 1_000 * MS + 20 * 33 * MS;
        assert!(w.from <= due && due + 80 * US <= w.until, "{w:?} due {due}");
        let mut c = Cadence::new(true);
        let last = feed(&mut c, 0, 20, 33 * MS, |i| u64::from(i % 3) * MS);
        assert_eq!(
            c.plan(last + MS),
            None,
            "an irregular producer gets no window"
        );
    }

    #[test]
    fn frames_the_consumer_missed_do_not_disturb_the_prediction() {
        let mut c = Cadence::new(true);
        let mut t = 0;
        for i in (0..40u32).filter(|i| i % 3 != 1) {
            t = 1_000 * MS + u64::from(i) * 33 * MS;
            c.frame(i, t, Arrival::Unplanned);
        }
        let w = c.plan(t + MS).expect("gaps in the sequence");
        assert!(w.from <= t + 33 * MS && t + 33 * MS <= w.until);
    }

    #[test]
    fn high_frame_rates_get_no_window() {
        // At 1000 fps even the narrowest window would be 11 % of the interval.
        let mut c = Cadence::new(true);
        let last = feed(&mut c, 0, 20, MS, |_| 0);
        assert_eq!(c.plan(last + 100 * US), None);
    }

    #[test]
    fn an_overdue_frame_gets_no_window() {
        let mut c = Cadence::new(true);
        let last = feed(&mut c, 0, 20, 33 * MS, |_| 0);
        assert_eq!(c.plan(last + 34 * MS), None);
    }

    #[test]
    fn missed_windows_pause_spinning() {
        let mut c = Cadence::new(true);
        let mut t = feed(&mut c, 0, 20, 33 * MS, |_| 0);
        let mut seq = 20u32;
        for _ in 0..MAX_MISSES {
            assert!(c.plan(t + MS).is_some());
            t += 33 * MS;
            c.frame(seq, t, Arrival::Late);
            seq += 1;
        }
        for _ in 0..PAUSE_FRAMES - 1 {
            assert_eq!(c.plan(t + MS), None);
            t += 33 * MS;
            c.frame(seq, t, Arrival::Unplanned);
            seq += 1;
        }
        t += 33 * MS;
        c.frame(seq, t, Arrival::Unplanned);
        assert!(c.plan(t + MS).is_some(), "spinning resumes after the pause");
    }

    #[test]
    fn a_hit_resets_the_miss_count() {
        let mut c = Cadence::new(true);
        let mut last = feed(&mut c, 0, 20, 33 * MS, |_| 0);
        for i in 0..10 {
            last += 33 * MS;
            let a = if i % 2 == 0 {
                Arrival::Late
            } else {
                Arrival::Hit
            };
            c.frame(20 + i, last, a);
        }
        assert!(c.plan(last + MS).is_some());
    }

    #[test]
    fn disabled_or_restarted_streams_get_no_window() {
        let mut c = Cadence::new(false);
        let last = feed(&mut c, 0, 20, 33 * MS, |_| 0);
        assert_eq!(c.plan(last + MS), None);
        let mut c = Cadence::new(true);
        let last = feed(&mut c, 0, 20, 33 * MS, |_| 0);
        c.forget();
        assert_eq!(c.plan(last + MS), None);
        // A sequence number going backwards: a new stream.
        let mut c = Cadence::new(true);
        let last = feed(&mut c, 100, 20, 33 * MS, |_| 0);
        c.frame(0, last + 33 * MS, Arrival::Unplanned);
        assert_eq!(c.plan(last + 34 * MS), None);
    }
}
