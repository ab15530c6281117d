//! The one capture interface the streamer reads frames through, and how a device path is opened.
//!
//! [`CaptureDevice`] is a V4L2 MMAP capture queue reduced to what a streamer needs: a
//! non-blocking DQBUF, QBUF, the mapped memory of each buffer and a pollable fd. Buffer
//! ownership is checked by the streamer, not trusted: a device that hands out a buffer the
//! streamer still holds is reported as [`CaptureError::BufferReused`] (ustreamer's "grabbed
//! buffer is already used").
//!
//! Implementations:
//! * [`open_loopcam`]: a loopcam device through the native client (`loopcam_client::VirtualFd`,
//!   no preload needed);
//! * [`open_kernel`]: any kernel V4L2 device through plain `ioctl(2)`/`mmap(2)` (libc calls, so
//!   under `loopcam run` the preload library serves a loopcam device this way too);
//! * [`crate::testing::FakeSource`]: a test double that can misbehave on demand.
//!
//! Both real implementations share the V4L2 session logic in `v4l2.rs`; they differ only in how
//! an ioctl or an mmap reaches the device.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use loopcam_abi::*;
use rustix::io::Errno;

mod kernel;
mod loopcam;
mod v4l2;

pub use kernel::open_kernel;
pub use loopcam::{is_loopcam_device, open_loopcam};

/// The negotiated frame format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceFormat {
    /// V4L2 fourcc.
    pub fourcc: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Stride of the first plane (0 for compressed formats).
    pub bytesperline: u32,
    /// Buffer size.
    pub sizeimage: u32,
}

impl SourceFormat {
    /// MJPG or JPEG: frames pass through without re-encoding.
    pub fn is_jpeg(&self) -> bool {
        matches!(self.fourcc, V4L2_PIX_FMT_MJPEG | V4L2_PIX_FMT_JPEG)
    }
}

/// What the streamer asks of a device when it opens it (ustreamer's capture options).
#[derive(Clone, Debug)]
pub struct CaptureRequest {
    /// Wanted size (the device may adjust it).
    pub resolution: Option<(u32, u32)>,
    /// Wanted pixel format (the device may adjust it; the result must be one the streamer can
    /// encode or pass through).
    pub format: Option<u32>,
    /// MMAP buffers to request.
    pub buffers: u32,
    /// If > 0, asked of the device with S_PARM.
    pub desired_fps: u32,
}

/// One dequeued buffer.
#[derive(Clone, Copy, Debug)]
pub struct Dequeued {
    /// Buffer index.
    pub index: u32,
    /// Payload length.
    pub bytesused: u32,
    /// The device's sequence number.
    pub sequence: u32,
    /// The buffer's CLOCK_MONOTONIC timestamp (`None` if the device gave none).
    pub timestamp: Option<Duration>,
    /// V4L2 buffer flags (V4L2_BUF_FLAG_ERROR marks a corrupt frame).
    pub flags: u32,
}

/// A V4L2 event the streamer reacts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceEvent {
    /// V4L2_EVENT_SOURCE_CHANGE: renegotiate (restart capture).
    SourceChange,
    /// V4L2_EVENT_EOS: the source stopped.
    Eos,
    /// Anything else (ignored).
    Other(u32),
}

/// Errors of a capture device. Each variant is one "kind" for the rate-limited log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CaptureError {
    /// The device does not exist (yet) or went away.
    #[error("no capture device {0}")]
    NoDevice(String),
    /// Permission denied.
    #[error("no access to capture device {0}")]
    NoAccess(String),
    /// Not a streaming video capture device (e.g. a loopcam device with exclusive caps and no
    /// producer yet).
    #[error("{0}")]
    NotCapture(String),
    /// No usable format.
    #[error("{0}")]
    Format(String),
    /// A V4L2 call failed.
    #[error("{call}: {errno}")]
    Ioctl {
        /// The call.
        call: &'static str,
        /// Its errno.
        errno: Errno,
    },
    /// The device handed out a buffer the streamer still holds (a driver bug; v4l2loopback's
    /// classic, see ustreamer issue #261).
    #[error("the device returned buffer {0}, which the streamer still holds (driver bug)")]
    BufferReused(u32),
    /// The device returned an index that does not exist.
    #[error("the device returned buffer {index}, but only {count} exist")]
    BadIndex {
        /// Index returned.
        index: u32,
        /// Buffers allocated.
        count: u32,
    },
    /// No frame within `--device-timeout`.
    #[error("no frame for {0:.1} s")]
    Timeout(f64),
    /// The source changed its format.
    #[error("the source changed its format")]
    SourceChanged,
    /// The source stopped (V4L2_EVENT_EOS).
    #[error("the source stopped streaming")]
    Eos,
}

impl CaptureError {
    /// Short key naming the kind (for rate limiting).
    pub fn kind(&self) -> &'static str {
        match self {
            CaptureError::NoDevice(_) => "no-device",
            CaptureError::NoAccess(_) => "no-access",
            CaptureError::NotCapture(_) => "not-capture",
            CaptureError::Format(_) => "format",
            CaptureError::Ioctl { call, .. } => call,
            CaptureError::BufferReused(_) => "buffer-reused",
            CaptureError::BadIndex { .. } => "bad-index",
            CaptureError::Timeout(_) => "timeout",
            CaptureError::SourceChanged => "source-changed",
            CaptureError::Eos => "eos",
        }
    }

    /// The line drawn under "NO SIGNAL".
    pub fn banner(&self) -> &'static str {
        match self {
            CaptureError::NoDevice(_) => "NO CAPTURE DEVICE",
            CaptureError::NoAccess(_) => "NO ACCESS TO DEVICE",
            CaptureError::NotCapture(_) => "WAITING FOR A SOURCE",
            CaptureError::Format(_) => "UNSUPPORTED FORMAT",
            CaptureError::Ioctl { .. } => "DEVICE ERROR",
            CaptureError::BufferReused(_) | CaptureError::BadIndex { .. } => "DRIVER ERROR",
            CaptureError::Timeout(_) => "NO FRAMES",
            CaptureError::SourceChanged => "FORMAT CHANGED",
            CaptureError::Eos => "SOURCE STOPPED",
        }
    }

    /// Errors that mean "nothing to capture yet" rather than a malfunction: logged at INFO.
    pub fn is_quiet(&self) -> bool {
        matches!(
            self,
            CaptureError::NoDevice(_)
                | CaptureError::NotCapture(_)
                | CaptureError::SourceChanged
                | CaptureError::Eos
        )
    }

    pub(crate) fn ioctl(call: &'static str, errno: Errno) -> CaptureError {
        CaptureError::Ioctl { call, errno }
    }
}

/// The memory of one mapped buffer, as handed to encoder threads.
#[derive(Clone, Copy, Debug)]
pub struct BufferMemory {
    /// Start of the mapping.
    pub ptr: *const u8,
    /// Mapped length.
    pub len: usize,
}

// SAFETY: a buffer mapping is plain process memory; the streamer only reads a buffer it holds
// (dequeued and not yet queued back), and keeps the device (hence the mapping) alive until
// every holder is done.
unsafe impl Send for BufferMemory {}

/// An open capture device, streaming: the one interface the streamer reads frames through.
///
/// Implementations are driven from one thread. They must not deliver a frame into a buffer the
/// caller holds; the caller checks this anyway.
pub trait CaptureDevice: Send {
    /// The negotiated format.
    fn format(&self) -> SourceFormat;
    /// Number of buffers.
    fn buffer_count(&self) -> u32;
    /// Whether events (SOURCE_CHANGE/EOS) were subscribed.
    fn has_events(&self) -> bool {
        false
    }
    /// The fd to poll: readable when a frame can be dequeued, POLLPRI (or readable, for
    /// loopcam's documented deviation) when an event is pending.
    fn fd(&self) -> BorrowedFd<'_>;
    /// Non-blocking VIDIOC_DQBUF: `Ok(None)` when nothing is ready (EAGAIN).
    fn dequeue(&mut self) -> Result<Option<Dequeued>, CaptureError>;
    /// VIDIOC_QBUF of a buffer the caller holds.
    fn queue(&mut self, index: u32) -> Result<(), CaptureError>;
    /// VIDIOC_DQEVENT: `Ok(None)` when no event is pending.
    fn dequeue_event(&mut self) -> Result<Option<DeviceEvent>, CaptureError> {
        Ok(None)
    }
    /// The memory of buffer `index`. Valid while the device lives; its content is the frame
    /// only while the caller holds the buffer.
    fn memory(&self, index: u32) -> Option<BufferMemory>;
}

/// Opens capture devices (called again after every error, after `--device-error-delay`).
pub trait CaptureOpener: Send + Sync {
    /// Opens, negotiates and starts streaming.
    fn open(&self, req: &CaptureRequest) -> Result<Box<dyn CaptureDevice>, CaptureError>;
    /// For logs and `/state`.
    fn describe(&self) -> String;
}

/// Which implementation reads a device path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Ask the loopcam daemon whether the path is one of its devices; native client if so,
    /// plain V4L2 otherwise.
    #[default]
    Auto,
    /// The native loopcam client.
    Loopcam,
    /// Plain V4L2 ioctl/mmap (the `--kernel-path` test switch).
    Kernel,
}

/// Opens a device path with the chosen backend.
pub struct PathOpener {
    /// The device path.
    pub path: String,
    /// The backend.
    pub backend: Backend,
}

impl CaptureOpener for PathOpener {
    fn open(&self, req: &CaptureRequest) -> Result<Box<dyn CaptureDevice>, CaptureError> {
        let native = match self.backend {
            Backend::Loopcam => true,
            Backend::Kernel => false,
            Backend::Auto => is_loopcam_device(&self.path),
        };
        if native {
            open_loopcam(&self.path, req)
        } else {
            open_kernel(&self.path, req)
        }
    }

    fn describe(&self) -> String {
        self.path.clone()
    }
}
