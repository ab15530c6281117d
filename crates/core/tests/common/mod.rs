//! Raw ioctl helpers shared by the integration tests that replay application ioctl sequences
//! (`scenarios.rs`, `v4l2loopback_defects.rs`): each fills the struct the way the C applications
//! do. Each test binary uses a subset, hence `dead_code` is allowed.

#![allow(dead_code)]

use loopcam_abi::*;
use loopcam_core::testing::{check_counter, counter_pattern, Harness};
use loopcam_core::{DeviceConfig, Errno, MapInfo, Node, NodeLayout, OpenMode, OpenerId, VResult};

pub const CAP: u32 = V4L2_BUF_TYPE_VIDEO_CAPTURE;
pub const OUT: u32 = V4L2_BUF_TYPE_VIDEO_OUTPUT;
pub const MMAP: u32 = V4L2_MEMORY_MMAP;

// poll(2) bits as on Linux.
pub const POLLIN: u32 = 0x001;
pub const POLLPRI: u32 = 0x002;
pub const POLLOUT: u32 = 0x004;
pub const POLLERR: u32 = 0x008;
pub const POLLRDNORM: u32 = 0x040;

/// One frame period at the default 30 fps.
pub const FRAME_NS: u64 = 33_333_333;

pub fn querycap(h: &mut Harness, fd: OpenerId) -> v4l2_capability {
    let mut c = v4l2_capability::default();
    h.ioctl(fd, VIDIOC_QUERYCAP, &mut c).expect("QUERYCAP");
    c
}

pub fn pix(width: u32, height: u32, pixelformat: u32) -> v4l2_pix_format {
    v4l2_pix_format {
        width,
        height,
        pixelformat,
        field: V4L2_FIELD_ANY,
        ..Default::default()
    }
}

pub fn fmt_ioctl(
    h: &mut Harness,
    fd: OpenerId,
    req: u32,
    type_: u32,
    p: v4l2_pix_format,
) -> VResult<v4l2_pix_format> {
    let mut f = v4l2_format {
        type_,
        ..Default::default()
    };
    f.set_pix(&p);
    h.ioctl(fd, req, &mut f)?;
    Ok(f.pix())
}

pub fn s_fmt(
    h: &mut Harness,
    fd: OpenerId,
    type_: u32,
    p: v4l2_pix_format,
) -> VResult<v4l2_pix_format> {
    fmt_ioctl(h, fd, VIDIOC_S_FMT, type_, p)
}

pub fn g_fmt(h: &mut Harness, fd: OpenerId, type_: u32) -> VResult<v4l2_pix_format> {
    let mut f = v4l2_format {
        type_,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_G_FMT, &mut f)?;
    Ok(f.pix())
}

pub fn reqbufs(
    h: &mut Harness,
    fd: OpenerId,
    type_: u32,
    memory: u32,
    count: u32,
) -> VResult<v4l2_requestbuffers> {
    let mut r = v4l2_requestbuffers {
        count,
        type_,
        memory,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_REQBUFS, &mut r)?;
    Ok(r)
}

pub fn querybuf(h: &mut Harness, fd: OpenerId, type_: u32, index: u32) -> VResult<v4l2_buffer> {
    let mut b = v4l2_buffer {
        index,
        type_,
        memory: MMAP,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_QUERYBUF, &mut b)?;
    Ok(b)
}

pub fn qbuf(
    h: &mut Harness,
    fd: OpenerId,
    type_: u32,
    index: u32,
    bytesused: u32,
) -> VResult<v4l2_buffer> {
    let mut b = v4l2_buffer {
        index,
        type_,
        memory: MMAP,
        bytesused,
        field: V4L2_FIELD_NONE,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_QBUF, &mut b)?;
    Ok(b)
}

pub fn dqbuf(h: &mut Harness, fd: OpenerId, type_: u32) -> VResult<v4l2_buffer> {
    let mut b = v4l2_buffer {
        type_,
        memory: MMAP,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_DQBUF, &mut b)?;
    Ok(b)
}

pub fn streamon(h: &mut Harness, fd: OpenerId, type_: u32) -> VResult<()> {
    let mut t = type_;
    h.ioctl(fd, VIDIOC_STREAMON, &mut t).map(|_| ())
}

pub fn streamoff(h: &mut Harness, fd: OpenerId, type_: u32) -> VResult<()> {
    let mut t = type_;
    h.ioctl(fd, VIDIOC_STREAMOFF, &mut t).map(|_| ())
}

/// S_PARM with TIMEPERFRAME; returns the interval the device settled on.
pub fn s_parm(
    h: &mut Harness,
    fd: OpenerId,
    type_: u32,
    num: u32,
    den: u32,
) -> VResult<v4l2_fract> {
    let mut p = v4l2_streamparm {
        type_,
        ..Default::default()
    };
    let tpf = v4l2_fract {
        numerator: num,
        denominator: den,
    };
    if type_ == CAP {
        p.set_capture(&v4l2_captureparm {
            capability: V4L2_CAP_TIMEPERFRAME,
            timeperframe: tpf,
            ..Default::default()
        });
    } else {
        p.set_output(&v4l2_outputparm {
            capability: V4L2_CAP_TIMEPERFRAME,
            timeperframe: tpf,
            ..Default::default()
        });
    }
    h.ioctl(fd, VIDIOC_S_PARM, &mut p)?;
    Ok(if type_ == CAP {
        p.capture().timeperframe
    } else {
        p.output().timeperframe
    })
}

pub fn enum_fmts(h: &mut Harness, fd: OpenerId, type_: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for index in 0..64 {
        let mut d = v4l2_fmtdesc {
            index,
            type_,
            ..Default::default()
        };
        match h.ioctl(fd, VIDIOC_ENUM_FMT, &mut d) {
            Ok(_) => out.push(d.pixelformat),
            Err(e) => {
                assert_eq!(e, Errno::EINVAL, "ENUM_FMT ends with EINVAL");
                break;
            }
        }
    }
    out
}

pub fn subscribe(h: &mut Harness, fd: OpenerId, type_: u32, id: u32, flags: u32) -> VResult<()> {
    let mut s = v4l2_event_subscription {
        type_,
        id,
        flags,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_SUBSCRIBE_EVENT, &mut s).map(|_| ())
}

pub fn dqevent(h: &mut Harness, fd: OpenerId) -> VResult<v4l2_event> {
    let mut e = v4l2_event::default();
    h.ioctl(fd, VIDIOC_DQEVENT, &mut e)?;
    Ok(e)
}

/// mmap(MAP_SHARED) of buffer `index` at the offset QUERYBUF reports.
pub fn map(h: &mut Harness, fd: OpenerId, type_: u32, index: u32, prot_write: bool) -> MapInfo {
    let b = querybuf(h, fd, type_, index).expect("QUERYBUF");
    let m = h
        .dev
        .mmap(
            fd,
            b.m_offset().into(),
            b.length.into(),
            true,
            prot_write,
            true,
        )
        .expect("mmap");
    h.sync();
    m
}

pub fn ts_ns(b: &v4l2_buffer) -> u64 {
    b.timestamp.tv_sec as u64 * 1_000_000_000 + b.timestamp.tv_usec as u64 * 1000
}

/// The counter frame a consumer sees in a dequeued buffer; panics on a torn or foreign frame.
pub fn frame_of(h: &Harness, fd: OpenerId, b: &v4l2_buffer) -> u64 {
    let data = h
        .view(fd, b.index, b.bytesused as usize)
        .expect("the dequeued buffer is mapped");
    check_counter(&data).unwrap_or_else(|| panic!("buffer {} holds a torn frame", b.index))
}

pub fn sizeimage(h: &Harness) -> usize {
    h.dev.format().sizeimage as usize
}

/// One write() of counter frame `n` (ffmpeg, OBS, pyvirtualcam producers).
pub fn write_frame(h: &mut Harness, fd: OpenerId, n: u64) {
    let data = counter_pattern(n, sizeimage(h));
    let r = h.write(fd, &data).expect("write()");
    assert_eq!(r as usize, data.len(), "write() reports the whole frame");
}

pub fn exclusive() -> DeviceConfig {
    DeviceConfig {
        exclusive_caps: true,
        ..Default::default()
    }
}

pub fn split() -> DeviceConfig {
    DeviceConfig {
        layout: NodeLayout::Split,
        ..Default::default()
    }
}

/// A write()-based producer on `node` with the given format.
pub fn write_producer(h: &mut Harness, node: Node, w: u32, ht: u32, fourcc: u32) -> OpenerId {
    let p = h.open_as(node, OpenMode::RDWR).expect("open producer");
    let f = s_fmt(h, p, OUT, pix(w, ht, fourcc)).expect("S_FMT(OUTPUT)");
    assert_eq!((f.width, f.height, f.pixelformat), (w, ht, fourcc));
    p
}
