//! The V4L2 capture session, written once for both ways of reaching a device ([`Io`]).
//!
//! Sequence (as ustreamer, reference/clients.md §A.3, minus its mandatory S_INPUT failure):
//! QUERYCAP (VIDEO_CAPTURE + STREAMING, from `device_caps` when present) → S_INPUT(0) (errors
//! ignored) → G_FMT → S_FMT with the requested size/format (the device may adjust; the result
//! must be encodable or JPEG) → S_PARM only when a rate was asked for → REQBUFS(MMAP) →
//! QUERYBUF + mmap(PROT_READ, MAP_SHARED) each → QBUF all → SUBSCRIBE_EVENT(SOURCE_CHANGE, EOS)
//! (optional) → STREAMON. Teardown: STREAMOFF, munmap, close (no REQBUFS(0), like ustreamer).

use std::os::fd::BorrowedFd;
use std::time::Duration;

use bytemuck::Pod;
use loopcam_abi::*;
use rustix::io::Errno;

use super::{
    BufferMemory, CaptureDevice, CaptureError, CaptureRequest, Dequeued, DeviceEvent, SourceFormat,
};

/// How ioctls and mmaps reach the device.
pub(crate) trait Io: Send {
    /// ioctl(2) with a pointer-free argument.
    fn ioctl<T: Pod>(&mut self, request: u32, arg: &mut T) -> Result<(), Errno>;
    /// mmap(2) of a buffer cookie, PROT_READ, MAP_SHARED.
    fn map(&mut self, len: usize, offset: u32) -> Result<*mut u8, Errno>;
    /// munmap(2) of a mapping made by [`Io::map`].
    fn unmap(&mut self, ptr: *mut u8, len: usize);
    /// The pollable fd.
    fn fd(&self) -> BorrowedFd<'_>;
}

#[derive(Clone, Copy)]
struct Mapped {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the address of a mapping owned by the capture object; see BufferMemory.
unsafe impl Send for Mapped {}

pub(crate) struct V4l2Capture<I: Io> {
    io: I,
    format: SourceFormat,
    bufs: Vec<Mapped>,
    events: bool,
    streaming: bool,
}

fn open_errno(path: &str, e: Errno) -> CaptureError {
    match e {
        Errno::NOENT | Errno::NODEV | Errno::NXIO => CaptureError::NoDevice(path.to_string()),
        Errno::ACCESS | Errno::PERM => CaptureError::NoAccess(path.to_string()),
        e => CaptureError::ioctl("open", e),
    }
}

pub(crate) fn open_error(path: &str, e: Errno) -> CaptureError {
    open_errno(path, e)
}

fn supported(fourcc: u32) -> bool {
    crate::jpeg::can_encode(fourcc) || matches!(fourcc, V4L2_PIX_FMT_MJPEG | V4L2_PIX_FMT_JPEG)
}

pub(crate) fn start<I: Io>(
    io: I,
    path: &str,
    req: &CaptureRequest,
) -> Result<V4l2Capture<I>, CaptureError> {
    let mut c = V4l2Capture {
        io,
        format: SourceFormat {
            fourcc: 0,
            width: 0,
            height: 0,
            bytesperline: 0,
            sizeimage: 0,
        },
        bufs: Vec::new(),
        events: false,
        streaming: false,
    };
    let type_ = V4L2_BUF_TYPE_VIDEO_CAPTURE;

    let mut cap = v4l2_capability::default();
    c.io.ioctl(VIDIOC_QUERYCAP, &mut cap).map_err(|e| match e {
        Errno::NODEV | Errno::NXIO => CaptureError::NoDevice(path.to_string()),
        e => CaptureError::ioctl("VIDIOC_QUERYCAP", e),
    })?;
    let caps = if cap.capabilities & V4L2_CAP_DEVICE_CAPS != 0 {
        cap.device_caps
    } else {
        cap.capabilities
    };
    if caps & V4L2_CAP_VIDEO_CAPTURE == 0 {
        let why = if caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE != 0 {
            "multi-planar capture is not supported"
        } else {
            "not a video capture device (yet)"
        };
        return Err(CaptureError::NotCapture(format!("{path}: {why}")));
    }
    if caps & V4L2_CAP_STREAMING == 0 {
        return Err(CaptureError::NotCapture(format!(
            "{path}: the device has no streaming I/O"
        )));
    }

    // Cameras with several inputs start on input 0; devices without inputs answer ENOTTY.
    let mut input: i32 = 0;
    let _ = c.io.ioctl(VIDIOC_S_INPUT, &mut input);

    let mut f = v4l2_format {
        type_,
        ..Default::default()
    };
    c.io.ioctl(VIDIOC_G_FMT, &mut f)
        .map_err(|e| CaptureError::ioctl("VIDIOC_G_FMT", e))?;
    let mut pix = f.pix();
    let (want_w, want_h) = req.resolution.unwrap_or((pix.width, pix.height));
    let want_fmt = req.format.unwrap_or(pix.pixelformat);
    if req.resolution.is_some() || req.format.is_some() {
        pix.width = want_w;
        pix.height = want_h;
        pix.pixelformat = want_fmt;
        pix.field = V4L2_FIELD_ANY;
        pix.bytesperline = 0;
        pix.sizeimage = 0;
        f.set_pix(&pix);
        c.io.ioctl(VIDIOC_S_FMT, &mut f)
            .map_err(|e| CaptureError::ioctl("VIDIOC_S_FMT", e))?;
        pix = f.pix();
    }
    if !supported(pix.pixelformat) {
        return Err(CaptureError::Format(format!(
            "{path}: pixel format {} cannot be streamed (asked for {})",
            loopcam_media::fourcc_name(pix.pixelformat),
            loopcam_media::fourcc_name(want_fmt)
        )));
    }
    if pix.width == 0 || pix.height == 0 {
        return Err(CaptureError::Format(format!(
            "{path}: the device reports a {}x{} frame size",
            pix.width, pix.height
        )));
    }
    c.format = SourceFormat {
        fourcc: pix.pixelformat,
        width: pix.width,
        height: pix.height,
        bytesperline: pix.bytesperline,
        sizeimage: pix.sizeimage,
    };

    if req.desired_fps > 0 {
        let mut p = v4l2_streamparm {
            type_,
            ..Default::default()
        };
        if c.io.ioctl(VIDIOC_G_PARM, &mut p).is_ok()
            && p.capture().capability & V4L2_CAP_TIMEPERFRAME != 0
        {
            let mut cp = p.capture();
            cp.timeperframe = v4l2_fract {
                numerator: 1,
                denominator: req.desired_fps,
            };
            p.set_capture(&cp);
            let _ = c.io.ioctl(VIDIOC_S_PARM, &mut p);
        }
    }

    let mut rb = v4l2_requestbuffers {
        count: req.buffers.max(1),
        type_,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    c.io.ioctl(VIDIOC_REQBUFS, &mut rb)
        .map_err(|e| CaptureError::ioctl("VIDIOC_REQBUFS", e))?;
    if rb.count == 0 {
        return Err(CaptureError::ioctl("VIDIOC_REQBUFS", Errno::NOMEM));
    }
    for i in 0..rb.count {
        let mut b = v4l2_buffer {
            index: i,
            type_,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        c.io.ioctl(VIDIOC_QUERYBUF, &mut b)
            .map_err(|e| CaptureError::ioctl("VIDIOC_QUERYBUF", e))?;
        let len = b.length as usize;
        let ptr =
            c.io.map(len, b.m_offset())
                .map_err(|e| CaptureError::ioctl("mmap", e))?;
        c.bufs.push(Mapped { ptr, len });
    }
    for i in 0..rb.count {
        c.queue(i)?;
    }
    for ev in [V4L2_EVENT_SOURCE_CHANGE, V4L2_EVENT_EOS] {
        let mut s = v4l2_event_subscription {
            type_: ev,
            ..Default::default()
        };
        if c.io.ioctl(VIDIOC_SUBSCRIBE_EVENT, &mut s).is_ok() {
            c.events = true;
        }
    }
    let mut t = type_;
    c.io.ioctl(VIDIOC_STREAMON, &mut t)
        .map_err(|e| CaptureError::ioctl("VIDIOC_STREAMON", e))?;
    c.streaming = true;
    Ok(c)
}

impl<I: Io> CaptureDevice for V4l2Capture<I> {
    fn format(&self) -> SourceFormat {
        self.format
    }

    fn buffer_count(&self) -> u32 {
        self.bufs.len() as u32
    }

    fn has_events(&self) -> bool {
        self.events
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.io.fd()
    }

    fn dequeue(&mut self) -> Result<Option<Dequeued>, CaptureError> {
        let mut b = v4l2_buffer {
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        match self.io.ioctl(VIDIOC_DQBUF, &mut b) {
            Ok(()) => {}
            Err(Errno::AGAIN) => return Ok(None),
            Err(Errno::NODEV | Errno::NXIO) => {
                return Err(CaptureError::NoDevice("the device went away".into()))
            }
            Err(e) => return Err(CaptureError::ioctl("VIDIOC_DQBUF", e)),
        }
        let ts = Duration::new(
            b.timestamp.tv_sec.max(0) as u64,
            (b.timestamp.tv_usec.clamp(0, 999_999) as u32) * 1000,
        );
        Ok(Some(Dequeued {
            index: b.index,
            bytesused: b.bytesused,
            sequence: b.sequence,
            timestamp: (!ts.is_zero()).then_some(ts),
            flags: b.flags,
        }))
    }

    fn queue(&mut self, index: u32) -> Result<(), CaptureError> {
        let mut b = v4l2_buffer {
            index,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        self.io.ioctl(VIDIOC_QBUF, &mut b).map_err(|e| match e {
            Errno::NODEV | Errno::NXIO => CaptureError::NoDevice("the device went away".into()),
            e => CaptureError::ioctl("VIDIOC_QBUF", e),
        })
    }

    fn dequeue_event(&mut self) -> Result<Option<DeviceEvent>, CaptureError> {
        if !self.events {
            return Ok(None);
        }
        let mut ev = v4l2_event::default();
        match self.io.ioctl(VIDIOC_DQEVENT, &mut ev) {
            Ok(()) => Ok(Some(match ev.type_ {
                V4L2_EVENT_SOURCE_CHANGE => DeviceEvent::SourceChange,
                V4L2_EVENT_EOS => DeviceEvent::Eos,
                t => DeviceEvent::Other(t),
            })),
            Err(Errno::NOENT | Errno::AGAIN) => Ok(None),
            Err(Errno::NODEV | Errno::NXIO) => {
                Err(CaptureError::NoDevice("the device went away".into()))
            }
            Err(e) => Err(CaptureError::ioctl("VIDIOC_DQEVENT", e)),
        }
    }

    fn memory(&self, index: u32) -> Option<BufferMemory> {
        self.bufs.get(index as usize).map(|m| BufferMemory {
            ptr: m.ptr,
            len: m.len,
        })
    }
}

impl<I: Io> Drop for V4l2Capture<I> {
    fn drop(&mut self) {
        if self.streaming {
            let mut t = V4L2_BUF_TYPE_VIDEO_CAPTURE;
            let _ = self.io.ioctl(VIDIOC_STREAMOFF, &mut t);
        }
        for m in std::mem::take(&mut self.bufs) {
            self.io.unmap(m.ptr, m.len);
        }
    }
}
