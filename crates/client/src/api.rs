//! A Rust API for producers and consumers, on top of [`VirtualFd`] and plain V4L2 ioctls.

use std::os::fd::BorrowedFd;

use loopcam_abi::*;
use rustix::io::Errno;
use rustix::mm::ProtFlags;

use crate::mapping;
use crate::vfd::VirtualFd;
use crate::Error;

/// A negotiated stream format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamFormat {
    /// Fourcc.
    pub fourcc: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Bytes per line (0 for compressed).
    pub bytesperline: u32,
    /// Frame size.
    pub sizeimage: u32,
    /// Frame interval numerator.
    pub interval_num: u32,
    /// Frame interval denominator.
    pub interval_den: u32,
}

fn errno(e: Errno) -> Error {
    Error::Io(e.into())
}

fn g_fmt(v: &mut VirtualFd, type_: u32) -> Result<StreamFormat, Error> {
    let mut f = v4l2_format {
        type_,
        ..Default::default()
    };
    v.xioctl(VIDIOC_G_FMT, &mut f).map_err(errno)?;
    let mut p = v4l2_streamparm {
        type_,
        ..Default::default()
    };
    v.xioctl(VIDIOC_G_PARM, &mut p).map_err(errno)?;
    let tpf = if type_ == V4L2_BUF_TYPE_VIDEO_OUTPUT {
        p.output().timeperframe
    } else {
        p.capture().timeperframe
    };
    let pix = f.pix();
    Ok(StreamFormat {
        fourcc: pix.pixelformat,
        width: pix.width,
        height: pix.height,
        bytesperline: pix.bytesperline,
        sizeimage: pix.sizeimage,
        interval_num: tpf.numerator,
        interval_den: tpf.denominator,
    })
}

fn setup_buffers(v: &mut VirtualFd, type_: u32, count: u32, prot: ProtFlags) -> Result<u32, Error> {
    let mut r = v4l2_requestbuffers {
        count,
        type_,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    v.xioctl(VIDIOC_REQBUFS, &mut r).map_err(errno)?;
    for i in 0..r.count {
        let mut b = v4l2_buffer {
            index: i,
            type_,
            ..Default::default()
        };
        v.xioctl(VIDIOC_QUERYBUF, &mut b).map_err(errno)?;
        v.mmap(b.length as usize, prot, true, b.m_offset().into())
            .map_err(errno)?;
    }
    Ok(r.count)
}

/// A producer: owns the output side of a device.
pub struct Producer {
    vfd: VirtualFd,
    format: StreamFormat,
    /// Buffers never queued yet (usable without DQBUF).
    fresh: Vec<u32>,
    sequence: u64,
}

impl Producer {
    /// Opens `device`, negotiates `fourcc` `width`x`height` at `fps`, allocates `buffers`
    /// MMAP buffers and starts streaming. The device may adjust the format (e.g. fixed caps):
    /// check [`Producer::format`].
    pub fn open(
        device: &str,
        fourcc: u32,
        width: u32,
        height: u32,
        fps: u32,
        buffers: u32,
    ) -> Result<Producer, Error> {
        let mut vfd = VirtualFd::open(device, true, true, false)?;
        let type_ = V4L2_BUF_TYPE_VIDEO_OUTPUT;
        let mut f = v4l2_format {
            type_,
            ..Default::default()
        };
        f.set_pix(&v4l2_pix_format {
            width,
            height,
            pixelformat: fourcc,
            field: V4L2_FIELD_NONE,
            ..Default::default()
        });
        vfd.xioctl(VIDIOC_S_FMT, &mut f).map_err(errno)?;
        let mut p = v4l2_streamparm {
            type_,
            ..Default::default()
        };
        p.set_output(&v4l2_outputparm {
            timeperframe: v4l2_fract {
                numerator: 1,
                denominator: fps.max(1),
            },
            ..Default::default()
        });
        vfd.xioctl(VIDIOC_S_PARM, &mut p).map_err(errno)?;
        let format = g_fmt(&mut vfd, type_)?;
        let n = setup_buffers(&mut vfd, type_, buffers, ProtFlags::READ | ProtFlags::WRITE)?;
        let mut t = type_;
        vfd.xioctl(VIDIOC_STREAMON, &mut t).map_err(errno)?;
        Ok(Producer {
            vfd,
            format,
            fresh: (0..n).rev().collect(),
            sequence: 0,
        })
    }

    /// The negotiated format.
    pub fn format(&self) -> StreamFormat {
        self.format
    }

    /// The pollable fd (POLLOUT: a buffer can be taken without blocking).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.vfd.fd()
    }

    /// Sets non-blocking mode: [`Producer::next_buffer`] then fails with EAGAIN instead of
    /// waiting.
    pub fn set_nonblocking(&self, on: bool) -> Result<(), Error> {
        self.vfd.set_nonblocking(on).map_err(errno)
    }

    /// A free buffer to fill; waits for one in blocking mode.
    pub fn next_buffer(&mut self) -> Result<FrameMut<'_>, Error> {
        let index = match self.fresh.pop() {
            Some(i) => i,
            None => {
                let mut b = v4l2_buffer {
                    type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
                    memory: V4L2_MEMORY_MMAP,
                    ..Default::default()
                };
                self.vfd.xioctl(VIDIOC_DQBUF, &mut b).map_err(errno)?;
                b.index
            }
        };
        let (ptr, len) = self
            .vfd
            .buffer_ptr(index)
            .ok_or(Error::Protocol("buffer not mapped".into()))?;
        let len = len.min(self.format.sizeimage as usize);
        Ok(FrameMut {
            producer: self,
            index,
            ptr,
            len,
            published: false,
        })
    }

    /// Frames published so far.
    pub fn frames(&self) -> u64 {
        self.sequence
    }
}

/// A producer buffer being filled. Publish it with [`FrameMut::publish`]; dropping it without
/// publishing returns it to the free list.
pub struct FrameMut<'a> {
    producer: &'a mut Producer,
    index: u32,
    ptr: *mut u8,
    len: usize,
    published: bool,
}

impl FrameMut<'_> {
    /// The frame memory.
    pub fn data(&mut self) -> &mut [u8] {
        // SAFETY: the buffer is dequeued (owned by us) and mapped by our VirtualFd, which the
        // exclusive borrow of the producer keeps alive and unaliased.
        unsafe { mapping::buffer_slice_mut(self.ptr, self.len) }
    }

    /// Queues the frame with `bytesused` bytes of payload (the whole frame for raw formats).
    pub fn publish(mut self, bytesused: u32) -> Result<(), Error> {
        let mut b = v4l2_buffer {
            index: self.index,
            type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
            memory: V4L2_MEMORY_MMAP,
            bytesused,
            field: V4L2_FIELD_NONE,
            ..Default::default()
        };
        self.producer
            .vfd
            .xioctl(VIDIOC_QBUF, &mut b)
            .map_err(errno)?;
        self.producer.sequence += 1;
        self.published = true;
        Ok(())
    }
}

impl Drop for FrameMut<'_> {
    fn drop(&mut self) {
        if !self.published {
            self.producer.fresh.push(self.index);
        }
    }
}

/// A consumer: its own capture queue on a device.
pub struct Consumer {
    vfd: VirtualFd,
    format: StreamFormat,
}

impl Consumer {
    /// Opens `device` with `buffers` MMAP buffers and starts streaming in the device's
    /// current format.
    pub fn open(device: &str, buffers: u32) -> Result<Consumer, Error> {
        let mut vfd = VirtualFd::open(device, true, false, false)?;
        let type_ = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        let format = g_fmt(&mut vfd, type_)?;
        let n = setup_buffers(&mut vfd, type_, buffers, ProtFlags::READ)?;
        for i in 0..n {
            let mut b = v4l2_buffer {
                index: i,
                type_,
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            vfd.xioctl(VIDIOC_QBUF, &mut b).map_err(errno)?;
        }
        let mut t = type_;
        vfd.xioctl(VIDIOC_STREAMON, &mut t).map_err(errno)?;
        Ok(Consumer { vfd, format })
    }

    /// The format frames arrive in.
    pub fn format(&self) -> StreamFormat {
        self.format
    }

    /// The pollable fd (POLLIN: a frame is ready).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.vfd.fd()
    }

    /// Sets non-blocking mode ([`Consumer::next_frame`] then fails with EAGAIN).
    pub fn set_nonblocking(&self, on: bool) -> Result<(), Error> {
        self.vfd.set_nonblocking(on).map_err(errno)
    }

    /// The next frame; waits in blocking mode. The frame is the producer's memory itself (zero
    /// copy); dropping the guard gives the buffer back.
    pub fn next_frame(&mut self) -> Result<Frame<'_>, Error> {
        let mut b = v4l2_buffer {
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        self.vfd.xioctl(VIDIOC_DQBUF, &mut b).map_err(errno)?;
        let (ptr, len) = self
            .vfd
            .buffer_ptr(b.index)
            .ok_or(Error::Protocol("buffer not mapped".into()))?;
        Ok(Frame {
            consumer: self,
            buf: b,
            ptr,
            len: len.min(b.bytesused as usize),
        })
    }

    /// The underlying virtual fd (for event subscription and other ioctls).
    pub fn vfd(&mut self) -> &mut VirtualFd {
        &mut self.vfd
    }
}

/// A received frame; the buffer returns to the device on drop.
pub struct Frame<'a> {
    consumer: &'a mut Consumer,
    buf: v4l2_buffer,
    ptr: *mut u8,
    len: usize,
}

impl Frame<'_> {
    /// The payload.
    pub fn data(&self) -> &[u8] {
        // SAFETY: the buffer is dequeued (ours until QBUF in drop) and mapped by the consumer's
        // VirtualFd, kept alive by the borrow.
        unsafe { mapping::buffer_slice(self.ptr, self.len) }
    }

    /// Sequence number (gaps = frames this consumer missed).
    pub fn sequence(&self) -> u32 {
        self.buf.sequence
    }

    /// CLOCK_MONOTONIC timestamp in ns.
    pub fn timestamp_ns(&self) -> u64 {
        self.buf.timestamp.tv_sec as u64 * 1_000_000_000 + self.buf.timestamp.tv_usec as u64 * 1000
    }

    /// V4L2 buffer flags.
    pub fn flags(&self) -> u32 {
        self.buf.flags
    }

    /// Buffer index.
    pub fn index(&self) -> u32 {
        self.buf.index
    }
}

impl Drop for Frame<'_> {
    fn drop(&mut self) {
        let mut b = v4l2_buffer {
            index: self.buf.index,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        let _ = self.consumer.vfd.xioctl(VIDIOC_QBUF, &mut b);
    }
}
