//! The raw ioctl boundary: `(request, argument bytes)` in, bytes and an [`Outcome`] out.
//!
//! This is the one dispatcher that validates raw input (in the manner of virtio-media's device
//! crate): it matches the whole 32-bit request number (A1), copies in only the input part of
//! the struct and zeroes the rest (A3, the kernel core's INFO_FL_CLEAR), calls the typed
//! method on [`Device`], and copies the struct back only on success (A2) — except for the
//! EXT_CTRLS family, whose `error_idx` the kernel always copies back. Requests it does not
//! know are ENOTTY (A1, B14), including the TIME32 forms a 64-bit caller must not use (A5).
//!
//! Ioctls with embedded pointers: for `VIDIOC_{G,S,TRY}_EXT_CTRLS` the caller passes the
//! array the `controls` pointer designates as `extra` (count × 20 bytes), marshalled by the
//! client, which is the only party that can dereference the application's pointers.

use bytemuck::{bytes_of, pod_read_unaligned, Pod};
use loopcam_abi::*;

use crate::device::{Device, DqbufOut, ExpbufOut, ExtCtrlOp, OpenerId};
use crate::errno::{Errno, VResult};
use crate::time::Nanos;

/// What the host must do after a successful ioctl, beyond copying the argument back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing else.
    Done,
    /// DQBUF: remap (MMAP) or copy out (USERPTR/DMABUF) the buffer's memory.
    Dqbuf(DqbufOut),
    /// EXPBUF: create an fd for the block, store it at [`EXPBUF_FD_OFFSET`], and remap the
    /// client's mappings of the buffer onto the block.
    Expbuf(ExpbufOut),
}

/// Every request [`dispatch`] implements; anything else is ENOTTY.
pub const HANDLED: &[u32] = &[
    VIDIOC_QUERYCAP,
    VIDIOC_ENUM_FMT,
    VIDIOC_G_FMT,
    VIDIOC_S_FMT,
    VIDIOC_TRY_FMT,
    VIDIOC_ENUM_FRAMESIZES,
    VIDIOC_ENUM_FRAMEINTERVALS,
    VIDIOC_G_PARM,
    VIDIOC_S_PARM,
    VIDIOC_ENUMINPUT,
    VIDIOC_ENUMOUTPUT,
    VIDIOC_G_INPUT,
    VIDIOC_S_INPUT,
    VIDIOC_G_OUTPUT,
    VIDIOC_S_OUTPUT,
    VIDIOC_G_PRIORITY,
    VIDIOC_S_PRIORITY,
    VIDIOC_REQBUFS,
    VIDIOC_CREATE_BUFS,
    VIDIOC_QUERYBUF,
    VIDIOC_QBUF,
    VIDIOC_PREPARE_BUF,
    VIDIOC_DQBUF,
    VIDIOC_EXPBUF,
    VIDIOC_STREAMON,
    VIDIOC_STREAMOFF,
    VIDIOC_SUBSCRIBE_EVENT,
    VIDIOC_UNSUBSCRIBE_EVENT,
    VIDIOC_DQEVENT,
    VIDIOC_QUERYCTRL,
    VIDIOC_QUERY_EXT_CTRL,
    VIDIOC_QUERYMENU,
    VIDIOC_G_CTRL,
    VIDIOC_S_CTRL,
    VIDIOC_G_EXT_CTRLS,
    VIDIOC_S_EXT_CTRLS,
    VIDIOC_TRY_EXT_CTRLS,
    VIDIOC_LOG_STATUS,
];

/// Size in bytes of the argument of `request` (from its encoding).
pub fn arg_size(request: u32) -> usize {
    ioc_size(request)
}

/// Byte offset of `v4l2_exportbuffer.fd`, which the host fills after [`Outcome::Expbuf`].
pub const EXPBUF_FD_OFFSET: usize = 16;

/// Copies in the first `keep` bytes of a `T` and zeroes the rest (A3).
fn read_cleared<T: Pod>(arg: &[u8], keep: usize) -> VResult<T> {
    let size = std::mem::size_of::<T>();
    if arg.len() < size {
        return Err(Errno::EFAULT);
    }
    let mut bytes = vec![0u8; size];
    let keep = keep.min(size);
    bytes[..keep].copy_from_slice(&arg[..keep]);
    Ok(pod_read_unaligned(&bytes))
}

fn read_all<T: Pod>(arg: &[u8]) -> VResult<T> {
    read_cleared(arg, usize::MAX)
}

fn write_back<T: Pod>(arg: &mut [u8], v: &T) {
    let b = bytes_of(v);
    arg[..b.len()].copy_from_slice(b);
}

/// Runs one ioctl. `arg` holds exactly the request's argument bytes (the client copied them
/// from the application); on success it holds the result to copy back.
pub fn dispatch(
    dev: &mut Device,
    id: OpenerId,
    request: u32,
    arg: &mut [u8],
    extra: &mut [u8],
    now: Nanos,
) -> VResult<Outcome> {
    // A1/B14 first: an unknown request is ENOTTY whatever its argument (v4l2-compliance calls
    // them with a NULL pointer); only then A4: a known one without its argument is EFAULT.
    if !HANDLED.contains(&request) {
        return Err(Errno::ENOTTY);
    }
    if arg.len() < ioc_size(request) {
        return Err(Errno::EFAULT);
    }
    macro_rules! rw_ok {
        ($t:ty, $keep:expr, |$v:ident| $body:expr) => {{
            #[allow(unused_mut)]
            let mut $v: $t = read_cleared(arg, $keep)?;
            $body?;
            write_back(arg, &$v);
            Ok(Outcome::Done)
        }};
    }
    match request {
        VIDIOC_QUERYCAP => rw_ok!(v4l2_capability, 0, |v| dev.querycap(id, &mut v)),
        VIDIOC_ENUM_FMT => rw_ok!(v4l2_fmtdesc, 8, |v| dev.enum_fmt(id, &mut v)),
        VIDIOC_G_FMT => rw_ok!(v4l2_format, 8, |v| dev.g_fmt(id, &mut v)),
        VIDIOC_S_FMT => rw_ok!(v4l2_format, usize::MAX, |v| dev.s_fmt(id, &mut v, now)),
        VIDIOC_TRY_FMT => rw_ok!(v4l2_format, usize::MAX, |v| dev.try_fmt(id, &mut v)),
        VIDIOC_ENUM_FRAMESIZES => rw_ok!(v4l2_frmsizeenum, 8, |v| dev.enum_framesizes(id, &mut v)),
        VIDIOC_ENUM_FRAMEINTERVALS => rw_ok!(v4l2_frmivalenum, 16, |v| dev
            .enum_frameintervals(id, &mut v)),
        VIDIOC_G_PARM => rw_ok!(v4l2_streamparm, 4, |v| dev.g_parm(id, &mut v)),
        VIDIOC_S_PARM => rw_ok!(v4l2_streamparm, usize::MAX, |v| dev.s_parm(id, &mut v)),
        VIDIOC_ENUMINPUT => rw_ok!(v4l2_input, 4, |v| dev.enuminput(id, &mut v)),
        VIDIOC_ENUMOUTPUT => rw_ok!(v4l2_output, 4, |v| dev.enumoutput(id, &mut v)),
        VIDIOC_G_INPUT => rw_ok!(u32, 0, |v| dev.g_input(id).map(|i| v = i)),
        VIDIOC_S_INPUT => rw_ok!(u32, 4, |v| dev.s_input(id, v)),
        VIDIOC_G_OUTPUT => rw_ok!(u32, 0, |v| dev.g_output(id).map(|i| v = i)),
        VIDIOC_S_OUTPUT => rw_ok!(u32, 4, |v| dev.s_output(id, v)),
        VIDIOC_G_PRIORITY => rw_ok!(u32, 0, |v| dev.g_priority(id).map(|p| v = p)),
        VIDIOC_S_PRIORITY => {
            let p: u32 = read_all(arg)?;
            dev.s_priority(id, p)?;
            Ok(Outcome::Done)
        }
        VIDIOC_REQBUFS => rw_ok!(v4l2_requestbuffers, 12, |v| dev.reqbufs(id, &mut v, now)),
        VIDIOC_CREATE_BUFS => rw_ok!(v4l2_create_buffers, 224, |v| dev
            .create_bufs(id, &mut v, now)),
        VIDIOC_QUERYBUF => rw_ok!(v4l2_buffer, 76, |v| dev.querybuf(id, &mut v)),
        VIDIOC_QBUF => rw_ok!(v4l2_buffer, usize::MAX, |v| dev.qbuf(id, &mut v, now)),
        VIDIOC_PREPARE_BUF => rw_ok!(v4l2_buffer, usize::MAX, |v| dev.prepare_buf(id, &mut v)),
        VIDIOC_DQBUF => {
            let mut v: v4l2_buffer = read_all(arg)?;
            let out = dev.dqbuf(id, &mut v)?;
            write_back(arg, &v);
            Ok(Outcome::Dqbuf(out))
        }
        VIDIOC_EXPBUF => {
            let mut v: v4l2_exportbuffer = read_cleared(arg, 16)?;
            let out = dev.expbuf(id, &mut v)?;
            write_back(arg, &v);
            Ok(Outcome::Expbuf(out))
        }
        VIDIOC_STREAMON | VIDIOC_STREAMOFF => {
            let t: u32 = read_all(arg)?;
            if request == VIDIOC_STREAMON {
                dev.streamon(id, t, now)?;
            } else {
                dev.streamoff(id, t, now)?;
            }
            Ok(Outcome::Done)
        }
        VIDIOC_SUBSCRIBE_EVENT => {
            let s: v4l2_event_subscription = read_all(arg)?;
            dev.subscribe_event(id, &s, now)?;
            Ok(Outcome::Done)
        }
        VIDIOC_UNSUBSCRIBE_EVENT => {
            let s: v4l2_event_subscription = read_all(arg)?;
            dev.unsubscribe_event(id, &s)?;
            Ok(Outcome::Done)
        }
        // R-only: nothing is copied in.
        VIDIOC_DQEVENT => rw_ok!(v4l2_event, 0, |v| dev.dqevent(id, &mut v)),
        VIDIOC_QUERYCTRL => rw_ok!(v4l2_queryctrl, 4, |v| dev.queryctrl(id, &mut v)),
        VIDIOC_QUERY_EXT_CTRL => rw_ok!(v4l2_query_ext_ctrl, 4, |v| dev.query_ext_ctrl(id, &mut v)),
        VIDIOC_QUERYMENU => rw_ok!(v4l2_querymenu, 8, |v| dev.querymenu(id, &mut v)),
        VIDIOC_G_CTRL => rw_ok!(v4l2_control, 4, |v| dev.g_ctrl(id, &mut v)),
        VIDIOC_S_CTRL => rw_ok!(v4l2_control, usize::MAX, |v| dev.s_ctrl(id, &mut v, now)),
        VIDIOC_G_EXT_CTRLS | VIDIOC_S_EXT_CTRLS | VIDIOC_TRY_EXT_CTRLS => {
            let op = match request {
                VIDIOC_G_EXT_CTRLS => ExtCtrlOp::Get,
                VIDIOC_S_EXT_CTRLS => ExtCtrlOp::Set,
                _ => ExtCtrlOp::Try,
            };
            let mut hdr: v4l2_ext_controls = read_all(arg)?;
            let n = hdr.count as usize;
            let sz = std::mem::size_of::<v4l2_ext_control>();
            if n > 1024 || extra.len() < n * sz {
                return Err(Errno::EINVAL);
            }
            let mut ctrls: Vec<v4l2_ext_control> = (0..n)
                .map(|i| pod_read_unaligned(&extra[i * sz..(i + 1) * sz]))
                .collect();
            // The kernel copies ext-control results back even on failure (error_idx).
            let r = dev.ext_ctrls(id, op, &mut hdr, &mut ctrls, now);
            write_back(arg, &hdr);
            for (i, c) in ctrls.iter().enumerate() {
                extra[i * sz..(i + 1) * sz].copy_from_slice(bytes_of(c));
            }
            r.map(|_| Outcome::Done)
        }
        VIDIOC_LOG_STATUS => dev.log_status(id).map(|_| Outcome::Done),
        _ => Err(Errno::ENOTTY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DeviceConfig, Node};
    use crate::device::OpenMode;

    fn dev() -> (Device, OpenerId) {
        let mut d = Device::new(DeviceConfig::default(), 0).unwrap();
        let id = d.open(Node::Combined, OpenMode::RDWR).unwrap();
        (d, id)
    }

    #[test]
    fn a1_unknown_request_is_enotty_and_untouched() {
        let (mut d, id) = dev();
        let mut buf = vec![0u8; 0x3fff];
        let req = ioc(IOC_READ, b'V', 0, 0x3fff);
        assert_eq!(
            dispatch(&mut d, id, req, &mut buf, &mut [], 0),
            Err(Errno::ENOTTY)
        );
        assert!(buf.iter().all(|b| *b == 0));
        let mut none = [];
        assert_eq!(
            dispatch(
                &mut d,
                id,
                ioc(IOC_NONE, b'V', 0xff, 0),
                &mut none,
                &mut [],
                0
            ),
            Err(Errno::ENOTTY)
        );
    }

    #[test]
    fn a5_time32_forms_are_enotty() {
        let (mut d, id) = dev();
        let mut buf = vec![0u8; 256];
        for req in [
            VIDIOC_DQEVENT_TIME32,
            VIDIOC_QUERYBUF_TIME32,
            VIDIOC_QBUF_TIME32,
            VIDIOC_DQBUF_TIME32,
            VIDIOC_PREPARE_BUF_TIME32,
        ] {
            assert_eq!(
                dispatch(&mut d, id, req, &mut buf, &mut [], 0),
                Err(Errno::ENOTTY)
            );
        }
    }

    #[test]
    fn a2_failed_ioctl_leaves_argument_unchanged() {
        let (mut d, id) = dev();
        let mut r = v4l2_requestbuffers {
            count: 2,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        let mut arg = bytes_of(&r).to_vec();
        dispatch(&mut d, id, VIDIOC_REQBUFS, &mut arg, &mut [], 0).unwrap();
        r = pod_read_unaligned(&arg);
        assert_eq!(r.count, 2);
        let mut b = vec![0xa5u8; 88];
        b[0..4].copy_from_slice(&7u32.to_le_bytes()); // index out of range
        b[4..8].copy_from_slice(&V4L2_BUF_TYPE_VIDEO_CAPTURE.to_le_bytes());
        let before = b.clone();
        assert_eq!(
            dispatch(&mut d, id, VIDIOC_QBUF, &mut b, &mut [], 0),
            Err(Errno::EINVAL)
        );
        assert_eq!(b, before);
    }

    #[test]
    fn a3_enum_fmt_clears_the_input_tail() {
        let (mut d, id) = dev();
        let mut arg = vec![0xffu8; 64];
        arg[0..4].copy_from_slice(&0u32.to_le_bytes());
        arg[4..8].copy_from_slice(&V4L2_BUF_TYPE_VIDEO_OUTPUT.to_le_bytes());
        dispatch(&mut d, id, VIDIOC_ENUM_FMT, &mut arg, &mut [], 0).unwrap();
        let f: v4l2_fmtdesc = pod_read_unaligned(&arg);
        assert_eq!(f.index, 0);
        assert_eq!(f.type_, V4L2_BUF_TYPE_VIDEO_OUTPUT);
        assert_eq!(f.mbus_code, 0);
        assert_eq!(f.reserved, [0; 3]);
        assert_eq!(f.flags & !0x3ff, 0);
    }

    #[test]
    fn a4_short_argument_is_efault() {
        let (mut d, id) = dev();
        let mut arg = vec![0u8; 10];
        assert_eq!(
            dispatch(&mut d, id, VIDIOC_QUERYCAP, &mut arg, &mut [], 0),
            Err(Errno::EFAULT)
        );
    }

    #[test]
    fn n4_ext_ctrls_error_idx_is_copied_back() {
        let (mut d, id) = dev();
        let hdr = v4l2_ext_controls {
            which: V4L2_CTRL_WHICH_CUR_VAL,
            count: 2,
            ..Default::default()
        };
        let mut arg = bytes_of(&hdr).to_vec();
        let c0 = v4l2_ext_control {
            id: crate::controls::CID_TIMEOUT,
            value64: 500,
            ..Default::default()
        };
        let c1 = v4l2_ext_control {
            id: 0x0098_ffff,
            ..Default::default()
        };
        let mut extra = [bytes_of(&c0), bytes_of(&c1)].concat();
        assert_eq!(
            dispatch(&mut d, id, VIDIOC_S_EXT_CTRLS, &mut arg, &mut extra, 0),
            Err(Errno::EINVAL)
        );
        let out: v4l2_ext_controls = pod_read_unaligned(&arg);
        assert_eq!(
            out.error_idx, 2,
            "N4: S_EXT_CTRLS failure → error_idx = count"
        );
        assert_eq!(d.controls().timeout_ms(), 0, "N4: all or nothing");
        assert_eq!(
            dispatch(&mut d, id, VIDIOC_TRY_EXT_CTRLS, &mut arg, &mut extra, 0),
            Err(Errno::EINVAL)
        );
        let out: v4l2_ext_controls = pod_read_unaligned(&arg);
        assert_eq!(out.error_idx, 1, "N4: TRY failure → failing index");
    }
}
