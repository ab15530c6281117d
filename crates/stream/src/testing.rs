//! A test double capture source: frames of a test pattern at a fixed rate from buffers in
//! ordinary memory, and switches that make it misbehave like a broken driver.
//!
//! * [`FakeSource::fault`]: while set, every DQBUF that returns a buffer is followed by a DQBUF
//!   returning **the same buffer again** — a buffer the application still holds, exactly
//!   v4l2loopback's defect behind ustreamer's "grabbed buffer is already used" (ustreamer issue
//!   #261). A correct streamer must notice, show NO SIGNAL, and recover when the switch is off.
//! * [`FakeSource::present`]: while cleared, opening fails with "no device" and an open device
//!   fails its next DQBUF with ENODEV (unplugged).
//! * [`FakeSource::paused`]: while set, no frames come (a stalled source).
//!
//! Readiness is a timerfd at the frame rate, so the streamer polls it like a real device.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use loopcam_media::{layout, render, Pattern};
use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};

use crate::capture::{
    BufferMemory, CaptureDevice, CaptureError, CaptureOpener, CaptureRequest, Dequeued,
    SourceFormat,
};

/// The test double's opener.
pub struct FakeSource {
    format: SourceFormat,
    fps: u32,
    /// Return an already-held buffer (see the module docs).
    pub fault: Arc<AtomicBool>,
    /// The device exists.
    pub present: Arc<AtomicBool>,
    /// While set, no frames are produced (a stalled source: timeouts, not errors).
    pub paused: Arc<AtomicBool>,
    /// Frames produced so far (all opens).
    pub frames: Arc<AtomicU64>,
    /// Successful opens so far.
    pub opens: Arc<AtomicU64>,
}

impl FakeSource {
    /// A raw source of `fourcc` `width`x`height` at `fps`, drawing colour bars.
    pub fn new(fourcc: u32, width: u32, height: u32, fps: u32) -> FakeSource {
        let l = layout(fourcc, width, height).expect("a raw format loopcam-media can render");
        FakeSource {
            format: SourceFormat {
                fourcc,
                width,
                height,
                bytesperline: l.bytes_per_line() as u32,
                sizeimage: l.sizeimage as u32,
            },
            fps: fps.max(1),
            fault: Arc::new(AtomicBool::new(false)),
            present: Arc::new(AtomicBool::new(true)),
            paused: Arc::new(AtomicBool::new(false)),
            frames: Arc::new(AtomicU64::new(0)),
            opens: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl CaptureOpener for FakeSource {
    fn open(&self, req: &CaptureRequest) -> Result<Box<dyn CaptureDevice>, CaptureError> {
        if !self.present.load(Ordering::Relaxed) {
            return Err(CaptureError::NoDevice("fake device".into()));
        }
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .map_err(|e| CaptureError::ioctl("timerfd_create", e))?;
        let period = Duration::from_secs_f64(1.0 / f64::from(self.fps));
        let ts = Timespec {
            tv_sec: period.as_secs() as i64,
            tv_nsec: i64::from(period.subsec_nanos()),
        };
        timerfd_settime(
            &timer,
            TimerfdTimerFlags::empty(),
            &Itimerspec {
                it_interval: ts,
                it_value: ts,
            },
        )
        .map_err(|e| CaptureError::ioctl("timerfd_settime", e))?;
        let n = req.buffers.clamp(1, 32) as usize;
        self.opens.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(FakeDevice {
            format: self.format,
            bufs: (0..n)
                .map(|_| vec![0u8; self.format.sizeimage as usize])
                .collect(),
            queued: (0..n as u32).collect(),
            ready: VecDeque::new(),
            timer,
            fault: self.fault.clone(),
            present: self.present.clone(),
            paused: self.paused.clone(),
            frames: self.frames.clone(),
            dup_next: None,
            sequence: 0,
        }))
    }

    fn describe(&self) -> String {
        "fake device".into()
    }
}

struct FakeDevice {
    format: SourceFormat,
    bufs: Vec<Vec<u8>>,
    /// Buffers the application queued, in order.
    queued: VecDeque<u32>,
    /// Filled buffers waiting for DQBUF.
    ready: VecDeque<Dequeued>,
    timer: OwnedFd,
    fault: Arc<AtomicBool>,
    present: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    frames: Arc<AtomicU64>,
    dup_next: Option<Dequeued>,
    sequence: u32,
}

impl FakeDevice {
    /// Fills one queued buffer per timer expiration.
    fn tick(&mut self) {
        let mut b = [0u8; 8];
        let expirations = match rustix::io::read(&self.timer, &mut b) {
            Ok(8) => u64::from_ne_bytes(b),
            _ => 0,
        };
        if self.paused.load(Ordering::Relaxed) {
            return;
        }
        let l = layout(self.format.fourcc, self.format.width, self.format.height)
            .expect("checked in new");
        for _ in 0..expirations.min(self.bufs.len() as u64) {
            let Some(index) = self.queued.pop_front() else {
                break;
            };
            let n = self.frames.fetch_add(1, Ordering::Relaxed);
            let buf = &mut self.bufs[index as usize];
            let _ = render(&Pattern::Bars, &l, n, buf);
            self.sequence += 1;
            self.ready.push_back(Dequeued {
                index,
                bytesused: self.format.sizeimage,
                sequence: self.sequence,
                timestamp: Some(Duration::from_secs_f64(crate::exposed::now_monotonic())),
                flags: 0,
            });
        }
    }
}

impl CaptureDevice for FakeDevice {
    fn format(&self) -> SourceFormat {
        self.format
    }

    fn buffer_count(&self) -> u32 {
        self.bufs.len() as u32
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.timer.as_fd()
    }

    fn dequeue(&mut self) -> Result<Option<Dequeued>, CaptureError> {
        if !self.present.load(Ordering::Relaxed) {
            return Err(CaptureError::NoDevice("fake device unplugged".into()));
        }
        if let Some(d) = self.dup_next.take() {
            // The broken driver: the same buffer again, though the application holds it.
            return Ok(Some(d));
        }
        if self.ready.is_empty() {
            self.tick();
        }
        let Some(d) = self.ready.pop_front() else {
            return Ok(None);
        };
        if self.fault.load(Ordering::Relaxed) {
            self.dup_next = Some(d);
        }
        Ok(Some(d))
    }

    fn queue(&mut self, index: u32) -> Result<(), CaptureError> {
        if index as usize >= self.bufs.len() || self.queued.contains(&index) {
            return Err(CaptureError::ioctl("VIDIOC_QBUF", rustix::io::Errno::INVAL));
        }
        self.queued.push_back(index);
        Ok(())
    }

    fn memory(&self, index: u32) -> Option<BufferMemory> {
        self.bufs.get(index as usize).map(|b| BufferMemory {
            ptr: b.as_ptr(),
            len: b.len(),
        })
    }
}
