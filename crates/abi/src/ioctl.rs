//! ioctl request numbers (`_IOC` encoding) for the V4L2 `'V'` ioctls.
//!
//! The encoding is the generic Linux one used by x86_64 and aarch64:
//! `dir` in bits 30–31, `size` in bits 16–29, `type` in bits 8–15, `nr` in
//! bits 0–7. Every `VIDIOC_*` constant is computed from the size of the Rust
//! mirror of its argument struct, so a layout mistake shows up as a wrong
//! request number (checked against the kernel values in the tests below).

use core::mem::size_of;

use crate::types::*;

/// Number of bits of the `nr` field.
pub const IOC_NRBITS: u32 = 8;
/// Number of bits of the `type` field.
pub const IOC_TYPEBITS: u32 = 8;
/// Number of bits of the `size` field.
pub const IOC_SIZEBITS: u32 = 14;
/// Number of bits of the `dir` field.
pub const IOC_DIRBITS: u32 = 2;

/// Shift of the `nr` field.
pub const IOC_NRSHIFT: u32 = 0;
/// Shift of the `type` field.
pub const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
/// Shift of the `size` field.
pub const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
/// Shift of the `dir` field.
pub const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;

/// Mask of the `nr` field (after shifting).
pub const IOC_NRMASK: u32 = (1 << IOC_NRBITS) - 1;
/// Mask of the `type` field (after shifting).
pub const IOC_TYPEMASK: u32 = (1 << IOC_TYPEBITS) - 1;
/// Mask of the `size` field (after shifting).
pub const IOC_SIZEMASK: u32 = (1 << IOC_SIZEBITS) - 1;
/// Mask of the `dir` field (after shifting).
pub const IOC_DIRMASK: u32 = (1 << IOC_DIRBITS) - 1;

/// `_IOC_NONE`: no data transfer.
pub const IOC_NONE: u32 = 0;
/// `_IOC_WRITE`: userspace → driver.
pub const IOC_WRITE: u32 = 1;
/// `_IOC_READ`: driver → userspace.
pub const IOC_READ: u32 = 2;

/// The ioctl type byte of all V4L2 video ioctls.
pub const V4L2_IOC_TYPE: u8 = b'V';

/// `_IOC(dir, type, nr, size)`. Fails const evaluation if `size` does not
/// fit in 14 bits or `dir` in 2 bits.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    assert!(dir <= IOC_DIRMASK, "ioctl dir does not fit in 2 bits");
    assert!(
        size <= IOC_SIZEMASK as usize,
        "ioctl size does not fit in 14 bits"
    );
    (dir << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | ((ty as u32) << IOC_TYPESHIFT)
        | ((nr as u32) << IOC_NRSHIFT)
}

/// `_IO('V', nr)`.
pub const fn io(nr: u8) -> u32 {
    ioc(IOC_NONE, V4L2_IOC_TYPE, nr, 0)
}

/// `_IOR('V', nr, T)` with `size = size_of::<T>()`.
pub const fn ior(nr: u8, size: usize) -> u32 {
    ioc(IOC_READ, V4L2_IOC_TYPE, nr, size)
}

/// `_IOW('V', nr, T)` with `size = size_of::<T>()`.
pub const fn iow(nr: u8, size: usize) -> u32 {
    ioc(IOC_WRITE, V4L2_IOC_TYPE, nr, size)
}

/// `_IOWR('V', nr, T)` with `size = size_of::<T>()`.
pub const fn iowr(nr: u8, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, V4L2_IOC_TYPE, nr, size)
}

/// `_IOC_DIR(req)`: a combination of [`IOC_READ`] and [`IOC_WRITE`], or [`IOC_NONE`].
pub const fn ioc_dir(req: u32) -> u32 {
    (req >> IOC_DIRSHIFT) & IOC_DIRMASK
}

/// `_IOC_TYPE(req)`.
pub const fn ioc_type(req: u32) -> u8 {
    ((req >> IOC_TYPESHIFT) & IOC_TYPEMASK) as u8
}

/// `_IOC_NR(req)`.
pub const fn ioc_nr(req: u32) -> u8 {
    ((req >> IOC_NRSHIFT) & IOC_NRMASK) as u8
}

/// `_IOC_SIZE(req)`: the argument size in bytes.
pub const fn ioc_size(req: u32) -> usize {
    ((req >> IOC_SIZESHIFT) & IOC_SIZEMASK) as usize
}

pub const VIDIOC_QUERYCAP: u32 = ior(0, size_of::<v4l2_capability>());
pub const VIDIOC_ENUM_FMT: u32 = iowr(2, size_of::<v4l2_fmtdesc>());
pub const VIDIOC_G_FMT: u32 = iowr(4, size_of::<v4l2_format>());
pub const VIDIOC_S_FMT: u32 = iowr(5, size_of::<v4l2_format>());
pub const VIDIOC_REQBUFS: u32 = iowr(8, size_of::<v4l2_requestbuffers>());
pub const VIDIOC_QUERYBUF: u32 = iowr(9, size_of::<v4l2_buffer>());
pub const VIDIOC_G_FBUF: u32 = ior(10, size_of::<v4l2_framebuffer>());
pub const VIDIOC_S_FBUF: u32 = iow(11, size_of::<v4l2_framebuffer>());
pub const VIDIOC_OVERLAY: u32 = iow(14, size_of::<i32>());
pub const VIDIOC_QBUF: u32 = iowr(15, size_of::<v4l2_buffer>());
pub const VIDIOC_EXPBUF: u32 = iowr(16, size_of::<v4l2_exportbuffer>());
pub const VIDIOC_DQBUF: u32 = iowr(17, size_of::<v4l2_buffer>());
/// Argument: `int` buffer type.
pub const VIDIOC_STREAMON: u32 = iow(18, size_of::<i32>());
/// Argument: `int` buffer type.
pub const VIDIOC_STREAMOFF: u32 = iow(19, size_of::<i32>());
pub const VIDIOC_G_PARM: u32 = iowr(21, size_of::<v4l2_streamparm>());
pub const VIDIOC_S_PARM: u32 = iowr(22, size_of::<v4l2_streamparm>());
pub const VIDIOC_G_STD: u32 = ior(23, size_of::<v4l2_std_id>());
pub const VIDIOC_S_STD: u32 = iow(24, size_of::<v4l2_std_id>());
pub const VIDIOC_ENUMSTD: u32 = iowr(25, size_of::<v4l2_standard>());
pub const VIDIOC_ENUMINPUT: u32 = iowr(26, size_of::<v4l2_input>());
pub const VIDIOC_G_CTRL: u32 = iowr(27, size_of::<v4l2_control>());
pub const VIDIOC_S_CTRL: u32 = iowr(28, size_of::<v4l2_control>());
pub const VIDIOC_G_TUNER: u32 = iowr(29, size_of::<v4l2_tuner>());
pub const VIDIOC_S_TUNER: u32 = iow(30, size_of::<v4l2_tuner>());
pub const VIDIOC_G_AUDIO: u32 = ior(33, size_of::<v4l2_audio>());
pub const VIDIOC_S_AUDIO: u32 = iow(34, size_of::<v4l2_audio>());
pub const VIDIOC_QUERYCTRL: u32 = iowr(36, size_of::<v4l2_queryctrl>());
pub const VIDIOC_QUERYMENU: u32 = iowr(37, size_of::<v4l2_querymenu>());
/// Argument: `int` input index.
pub const VIDIOC_G_INPUT: u32 = ior(38, size_of::<i32>());
/// Argument: `int` input index. Note: read-write.
pub const VIDIOC_S_INPUT: u32 = iowr(39, size_of::<i32>());
pub const VIDIOC_G_EDID: u32 = iowr(40, size_of::<v4l2_edid>());
pub const VIDIOC_S_EDID: u32 = iowr(41, size_of::<v4l2_edid>());
/// Argument: `int` output index.
pub const VIDIOC_G_OUTPUT: u32 = ior(46, size_of::<i32>());
/// Argument: `int` output index. Note: read-write.
pub const VIDIOC_S_OUTPUT: u32 = iowr(47, size_of::<i32>());
pub const VIDIOC_ENUMOUTPUT: u32 = iowr(48, size_of::<v4l2_output>());
pub const VIDIOC_G_AUDOUT: u32 = ior(49, size_of::<v4l2_audioout>());
pub const VIDIOC_S_AUDOUT: u32 = iow(50, size_of::<v4l2_audioout>());
pub const VIDIOC_G_MODULATOR: u32 = iowr(54, size_of::<v4l2_modulator>());
pub const VIDIOC_S_MODULATOR: u32 = iow(55, size_of::<v4l2_modulator>());
pub const VIDIOC_G_FREQUENCY: u32 = iowr(56, size_of::<v4l2_frequency>());
pub const VIDIOC_S_FREQUENCY: u32 = iow(57, size_of::<v4l2_frequency>());
pub const VIDIOC_CROPCAP: u32 = iowr(58, size_of::<v4l2_cropcap>());
pub const VIDIOC_G_CROP: u32 = iowr(59, size_of::<v4l2_crop>());
pub const VIDIOC_S_CROP: u32 = iow(60, size_of::<v4l2_crop>());
pub const VIDIOC_G_JPEGCOMP: u32 = ior(61, size_of::<v4l2_jpegcompression>());
pub const VIDIOC_S_JPEGCOMP: u32 = iow(62, size_of::<v4l2_jpegcompression>());
pub const VIDIOC_QUERYSTD: u32 = ior(63, size_of::<v4l2_std_id>());
pub const VIDIOC_TRY_FMT: u32 = iowr(64, size_of::<v4l2_format>());
pub const VIDIOC_ENUMAUDIO: u32 = iowr(65, size_of::<v4l2_audio>());
pub const VIDIOC_ENUMAUDOUT: u32 = iowr(66, size_of::<v4l2_audioout>());
/// Argument: `__u32` (enum v4l2_priority).
pub const VIDIOC_G_PRIORITY: u32 = ior(67, size_of::<u32>());
/// Argument: `__u32` (enum v4l2_priority). Note: write-only.
pub const VIDIOC_S_PRIORITY: u32 = iow(68, size_of::<u32>());
pub const VIDIOC_G_SLICED_VBI_CAP: u32 = iowr(69, size_of::<v4l2_sliced_vbi_cap>());
pub const VIDIOC_LOG_STATUS: u32 = io(70);
pub const VIDIOC_G_EXT_CTRLS: u32 = iowr(71, size_of::<v4l2_ext_controls>());
pub const VIDIOC_S_EXT_CTRLS: u32 = iowr(72, size_of::<v4l2_ext_controls>());
pub const VIDIOC_TRY_EXT_CTRLS: u32 = iowr(73, size_of::<v4l2_ext_controls>());
pub const VIDIOC_ENUM_FRAMESIZES: u32 = iowr(74, size_of::<v4l2_frmsizeenum>());
pub const VIDIOC_ENUM_FRAMEINTERVALS: u32 = iowr(75, size_of::<v4l2_frmivalenum>());
pub const VIDIOC_G_ENC_INDEX: u32 = ior(76, size_of::<v4l2_enc_idx>());
pub const VIDIOC_ENCODER_CMD: u32 = iowr(77, size_of::<v4l2_encoder_cmd>());
pub const VIDIOC_TRY_ENCODER_CMD: u32 = iowr(78, size_of::<v4l2_encoder_cmd>());
pub const VIDIOC_DBG_S_REGISTER: u32 = iow(79, size_of::<v4l2_dbg_register>());
pub const VIDIOC_DBG_G_REGISTER: u32 = iowr(80, size_of::<v4l2_dbg_register>());
pub const VIDIOC_S_HW_FREQ_SEEK: u32 = iow(82, size_of::<v4l2_hw_freq_seek>());
pub const VIDIOC_S_DV_TIMINGS: u32 = iowr(87, size_of::<v4l2_dv_timings>());
pub const VIDIOC_G_DV_TIMINGS: u32 = iowr(88, size_of::<v4l2_dv_timings>());
/// Note: read-only (nothing is copied in).
pub const VIDIOC_DQEVENT: u32 = ior(89, size_of::<v4l2_event>());
pub const VIDIOC_SUBSCRIBE_EVENT: u32 = iow(90, size_of::<v4l2_event_subscription>());
pub const VIDIOC_UNSUBSCRIBE_EVENT: u32 = iow(91, size_of::<v4l2_event_subscription>());
pub const VIDIOC_CREATE_BUFS: u32 = iowr(92, size_of::<v4l2_create_buffers>());
pub const VIDIOC_PREPARE_BUF: u32 = iowr(93, size_of::<v4l2_buffer>());
pub const VIDIOC_G_SELECTION: u32 = iowr(94, size_of::<v4l2_selection>());
pub const VIDIOC_S_SELECTION: u32 = iowr(95, size_of::<v4l2_selection>());
pub const VIDIOC_DECODER_CMD: u32 = iowr(96, size_of::<v4l2_decoder_cmd>());
pub const VIDIOC_TRY_DECODER_CMD: u32 = iowr(97, size_of::<v4l2_decoder_cmd>());
pub const VIDIOC_ENUM_DV_TIMINGS: u32 = iowr(98, size_of::<v4l2_enum_dv_timings>());
pub const VIDIOC_QUERY_DV_TIMINGS: u32 = ior(99, size_of::<v4l2_dv_timings>());
pub const VIDIOC_DV_TIMINGS_CAP: u32 = iowr(100, size_of::<v4l2_dv_timings_cap>());
pub const VIDIOC_ENUM_FREQ_BANDS: u32 = iowr(101, size_of::<v4l2_frequency_band>());
pub const VIDIOC_DBG_G_CHIP_INFO: u32 = iowr(102, size_of::<v4l2_dbg_chip_info>());
pub const VIDIOC_QUERY_EXT_CTRL: u32 = iowr(103, size_of::<v4l2_query_ext_ctrl>());
pub const VIDIOC_REMOVE_BUFS: u32 = iowr(104, size_of::<v4l2_remove_buffers>());

// "TIME32" request forms (struct layouts with a 32-bit `time_t`, sized as a
// 64-bit caller would lay them out). The kernel only translates these on
// 32-bit kernels or in the compat path; a native 64-bit caller sending them
// gets ENOTTY, and a userspace device must answer the same. Plain values.

/// `_IOR('V', 89, struct v4l2_event_time32)` (128 bytes). Must get ENOTTY.
pub const VIDIOC_DQEVENT_TIME32: u32 = 0x8080_5659;
/// `_IOWR('V', 9, struct v4l2_buffer_time32)` (80 bytes). Must get ENOTTY.
pub const VIDIOC_QUERYBUF_TIME32: u32 = 0xc050_5609;
/// `_IOWR('V', 15, struct v4l2_buffer_time32)` (80 bytes). Must get ENOTTY.
pub const VIDIOC_QBUF_TIME32: u32 = 0xc050_560f;
/// `_IOWR('V', 17, struct v4l2_buffer_time32)` (80 bytes). Must get ENOTTY.
pub const VIDIOC_DQBUF_TIME32: u32 = 0xc050_5611;
/// `_IOWR('V', 93, struct v4l2_buffer_time32)` (80 bytes). Must get ENOTTY.
pub const VIDIOC_PREPARE_BUF_TIME32: u32 = 0xc050_565d;

/// The C macro name of a known request number (exact 32-bit match), for logging.
pub fn ioctl_name(req: u32) -> Option<&'static str> {
    Some(match req {
        VIDIOC_QUERYCAP => "VIDIOC_QUERYCAP",
        VIDIOC_ENUM_FMT => "VIDIOC_ENUM_FMT",
        VIDIOC_G_FMT => "VIDIOC_G_FMT",
        VIDIOC_S_FMT => "VIDIOC_S_FMT",
        VIDIOC_REQBUFS => "VIDIOC_REQBUFS",
        VIDIOC_QUERYBUF => "VIDIOC_QUERYBUF",
        VIDIOC_G_FBUF => "VIDIOC_G_FBUF",
        VIDIOC_S_FBUF => "VIDIOC_S_FBUF",
        VIDIOC_OVERLAY => "VIDIOC_OVERLAY",
        VIDIOC_QBUF => "VIDIOC_QBUF",
        VIDIOC_EXPBUF => "VIDIOC_EXPBUF",
        VIDIOC_DQBUF => "VIDIOC_DQBUF",
        VIDIOC_STREAMON => "VIDIOC_STREAMON",
        VIDIOC_STREAMOFF => "VIDIOC_STREAMOFF",
        VIDIOC_G_PARM => "VIDIOC_G_PARM",
        VIDIOC_S_PARM => "VIDIOC_S_PARM",
        VIDIOC_G_STD => "VIDIOC_G_STD",
        VIDIOC_S_STD => "VIDIOC_S_STD",
        VIDIOC_ENUMSTD => "VIDIOC_ENUMSTD",
        VIDIOC_ENUMINPUT => "VIDIOC_ENUMINPUT",
        VIDIOC_G_CTRL => "VIDIOC_G_CTRL",
        VIDIOC_S_CTRL => "VIDIOC_S_CTRL",
        VIDIOC_G_TUNER => "VIDIOC_G_TUNER",
        VIDIOC_S_TUNER => "VIDIOC_S_TUNER",
        VIDIOC_G_AUDIO => "VIDIOC_G_AUDIO",
        VIDIOC_S_AUDIO => "VIDIOC_S_AUDIO",
        VIDIOC_QUERYCTRL => "VIDIOC_QUERYCTRL",
        VIDIOC_QUERYMENU => "VIDIOC_QUERYMENU",
        VIDIOC_G_INPUT => "VIDIOC_G_INPUT",
        VIDIOC_S_INPUT => "VIDIOC_S_INPUT",
        VIDIOC_G_EDID => "VIDIOC_G_EDID",
        VIDIOC_S_EDID => "VIDIOC_S_EDID",
        VIDIOC_G_OUTPUT => "VIDIOC_G_OUTPUT",
        VIDIOC_S_OUTPUT => "VIDIOC_S_OUTPUT",
        VIDIOC_ENUMOUTPUT => "VIDIOC_ENUMOUTPUT",
        VIDIOC_G_AUDOUT => "VIDIOC_G_AUDOUT",
        VIDIOC_S_AUDOUT => "VIDIOC_S_AUDOUT",
        VIDIOC_G_MODULATOR => "VIDIOC_G_MODULATOR",
        VIDIOC_S_MODULATOR => "VIDIOC_S_MODULATOR",
        VIDIOC_G_FREQUENCY => "VIDIOC_G_FREQUENCY",
        VIDIOC_S_FREQUENCY => "VIDIOC_S_FREQUENCY",
        VIDIOC_CROPCAP => "VIDIOC_CROPCAP",
        VIDIOC_G_CROP => "VIDIOC_G_CROP",
        VIDIOC_S_CROP => "VIDIOC_S_CROP",
        VIDIOC_G_JPEGCOMP => "VIDIOC_G_JPEGCOMP",
        VIDIOC_S_JPEGCOMP => "VIDIOC_S_JPEGCOMP",
        VIDIOC_QUERYSTD => "VIDIOC_QUERYSTD",
        VIDIOC_TRY_FMT => "VIDIOC_TRY_FMT",
        VIDIOC_ENUMAUDIO => "VIDIOC_ENUMAUDIO",
        VIDIOC_ENUMAUDOUT => "VIDIOC_ENUMAUDOUT",
        VIDIOC_G_PRIORITY => "VIDIOC_G_PRIORITY",
        VIDIOC_S_PRIORITY => "VIDIOC_S_PRIORITY",
        VIDIOC_G_SLICED_VBI_CAP => "VIDIOC_G_SLICED_VBI_CAP",
        VIDIOC_LOG_STATUS => "VIDIOC_LOG_STATUS",
        VIDIOC_G_EXT_CTRLS => "VIDIOC_G_EXT_CTRLS",
        VIDIOC_S_EXT_CTRLS => "VIDIOC_S_EXT_CTRLS",
        VIDIOC_TRY_EXT_CTRLS => "VIDIOC_TRY_EXT_CTRLS",
        VIDIOC_ENUM_FRAMESIZES => "VIDIOC_ENUM_FRAMESIZES",
        VIDIOC_ENUM_FRAMEINTERVALS => "VIDIOC_ENUM_FRAMEINTERVALS",
        VIDIOC_G_ENC_INDEX => "VIDIOC_G_ENC_INDEX",
        VIDIOC_ENCODER_CMD => "VIDIOC_ENCODER_CMD",
        VIDIOC_TRY_ENCODER_CMD => "VIDIOC_TRY_ENCODER_CMD",
        VIDIOC_DBG_S_REGISTER => "VIDIOC_DBG_S_REGISTER",
        VIDIOC_DBG_G_REGISTER => "VIDIOC_DBG_G_REGISTER",
        VIDIOC_S_HW_FREQ_SEEK => "VIDIOC_S_HW_FREQ_SEEK",
        VIDIOC_S_DV_TIMINGS => "VIDIOC_S_DV_TIMINGS",
        VIDIOC_G_DV_TIMINGS => "VIDIOC_G_DV_TIMINGS",
        VIDIOC_DQEVENT => "VIDIOC_DQEVENT",
        VIDIOC_SUBSCRIBE_EVENT => "VIDIOC_SUBSCRIBE_EVENT",
        VIDIOC_UNSUBSCRIBE_EVENT => "VIDIOC_UNSUBSCRIBE_EVENT",
        VIDIOC_CREATE_BUFS => "VIDIOC_CREATE_BUFS",
        VIDIOC_PREPARE_BUF => "VIDIOC_PREPARE_BUF",
        VIDIOC_G_SELECTION => "VIDIOC_G_SELECTION",
        VIDIOC_S_SELECTION => "VIDIOC_S_SELECTION",
        VIDIOC_DECODER_CMD => "VIDIOC_DECODER_CMD",
        VIDIOC_TRY_DECODER_CMD => "VIDIOC_TRY_DECODER_CMD",
        VIDIOC_ENUM_DV_TIMINGS => "VIDIOC_ENUM_DV_TIMINGS",
        VIDIOC_QUERY_DV_TIMINGS => "VIDIOC_QUERY_DV_TIMINGS",
        VIDIOC_DV_TIMINGS_CAP => "VIDIOC_DV_TIMINGS_CAP",
        VIDIOC_ENUM_FREQ_BANDS => "VIDIOC_ENUM_FREQ_BANDS",
        VIDIOC_DBG_G_CHIP_INFO => "VIDIOC_DBG_G_CHIP_INFO",
        VIDIOC_QUERY_EXT_CTRL => "VIDIOC_QUERY_EXT_CTRL",
        VIDIOC_REMOVE_BUFS => "VIDIOC_REMOVE_BUFS",
        VIDIOC_DQEVENT_TIME32 => "VIDIOC_DQEVENT_TIME32",
        VIDIOC_QUERYBUF_TIME32 => "VIDIOC_QUERYBUF_TIME32",
        VIDIOC_QBUF_TIME32 => "VIDIOC_QBUF_TIME32",
        VIDIOC_DQBUF_TIME32 => "VIDIOC_DQBUF_TIME32",
        VIDIOC_PREPARE_BUF_TIME32 => "VIDIOC_PREPARE_BUF_TIME32",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Table A.2 of the reference (x86_64 values; identical on aarch64),
    /// plus the few setters A.2 omits (values from the kernel header).
    const TABLE: &[(u32, u32, &str)] = &[
        (VIDIOC_QUERYCAP, 0x80685600, "VIDIOC_QUERYCAP"),
        (VIDIOC_ENUM_FMT, 0xc0405602, "VIDIOC_ENUM_FMT"),
        (VIDIOC_G_FMT, 0xc0d05604, "VIDIOC_G_FMT"),
        (VIDIOC_S_FMT, 0xc0d05605, "VIDIOC_S_FMT"),
        (VIDIOC_REQBUFS, 0xc0145608, "VIDIOC_REQBUFS"),
        (VIDIOC_QUERYBUF, 0xc0585609, "VIDIOC_QUERYBUF"),
        (VIDIOC_G_FBUF, 0x8030560a, "VIDIOC_G_FBUF"),
        (VIDIOC_S_FBUF, 0x4030560b, "VIDIOC_S_FBUF"),
        (VIDIOC_OVERLAY, 0x4004560e, "VIDIOC_OVERLAY"),
        (VIDIOC_QBUF, 0xc058560f, "VIDIOC_QBUF"),
        (VIDIOC_EXPBUF, 0xc0405610, "VIDIOC_EXPBUF"),
        (VIDIOC_DQBUF, 0xc0585611, "VIDIOC_DQBUF"),
        (VIDIOC_STREAMON, 0x40045612, "VIDIOC_STREAMON"),
        (VIDIOC_STREAMOFF, 0x40045613, "VIDIOC_STREAMOFF"),
        (VIDIOC_G_PARM, 0xc0cc5615, "VIDIOC_G_PARM"),
        (VIDIOC_S_PARM, 0xc0cc5616, "VIDIOC_S_PARM"),
        (VIDIOC_G_STD, 0x80085617, "VIDIOC_G_STD"),
        (VIDIOC_S_STD, 0x40085618, "VIDIOC_S_STD"),
        (VIDIOC_ENUMSTD, 0xc0485619, "VIDIOC_ENUMSTD"),
        (VIDIOC_ENUMINPUT, 0xc050561a, "VIDIOC_ENUMINPUT"),
        (VIDIOC_G_CTRL, 0xc008561b, "VIDIOC_G_CTRL"),
        (VIDIOC_S_CTRL, 0xc008561c, "VIDIOC_S_CTRL"),
        (VIDIOC_G_TUNER, 0xc054561d, "VIDIOC_G_TUNER"),
        (VIDIOC_G_AUDIO, 0x80345621, "VIDIOC_G_AUDIO"),
        (VIDIOC_QUERYCTRL, 0xc0445624, "VIDIOC_QUERYCTRL"),
        (VIDIOC_QUERYMENU, 0xc02c5625, "VIDIOC_QUERYMENU"),
        (VIDIOC_G_INPUT, 0x80045626, "VIDIOC_G_INPUT"),
        (VIDIOC_S_INPUT, 0xc0045627, "VIDIOC_S_INPUT"),
        (VIDIOC_G_EDID, 0xc0285628, "VIDIOC_G_EDID"),
        (VIDIOC_S_EDID, 0xc0285629, "VIDIOC_S_EDID"),
        (VIDIOC_G_OUTPUT, 0x8004562e, "VIDIOC_G_OUTPUT"),
        (VIDIOC_S_OUTPUT, 0xc004562f, "VIDIOC_S_OUTPUT"),
        (VIDIOC_ENUMOUTPUT, 0xc0485630, "VIDIOC_ENUMOUTPUT"),
        (VIDIOC_G_AUDOUT, 0x80345631, "VIDIOC_G_AUDOUT"),
        (VIDIOC_CROPCAP, 0xc02c563a, "VIDIOC_CROPCAP"),
        (VIDIOC_G_CROP, 0xc014563b, "VIDIOC_G_CROP"),
        (VIDIOC_S_CROP, 0x4014563c, "VIDIOC_S_CROP"),
        (VIDIOC_G_JPEGCOMP, 0x808c563d, "VIDIOC_G_JPEGCOMP"),
        (VIDIOC_QUERYSTD, 0x8008563f, "VIDIOC_QUERYSTD"),
        (VIDIOC_TRY_FMT, 0xc0d05640, "VIDIOC_TRY_FMT"),
        (VIDIOC_ENUMAUDIO, 0xc0345641, "VIDIOC_ENUMAUDIO"),
        (VIDIOC_ENUMAUDOUT, 0xc0345642, "VIDIOC_ENUMAUDOUT"),
        (VIDIOC_G_PRIORITY, 0x80045643, "VIDIOC_G_PRIORITY"),
        (VIDIOC_S_PRIORITY, 0x40045644, "VIDIOC_S_PRIORITY"),
        (
            VIDIOC_G_SLICED_VBI_CAP,
            0xc0745645,
            "VIDIOC_G_SLICED_VBI_CAP",
        ),
        (VIDIOC_LOG_STATUS, 0x00005646, "VIDIOC_LOG_STATUS"),
        (VIDIOC_G_EXT_CTRLS, 0xc0205647, "VIDIOC_G_EXT_CTRLS"),
        (VIDIOC_S_EXT_CTRLS, 0xc0205648, "VIDIOC_S_EXT_CTRLS"),
        (VIDIOC_TRY_EXT_CTRLS, 0xc0205649, "VIDIOC_TRY_EXT_CTRLS"),
        (VIDIOC_ENUM_FRAMESIZES, 0xc02c564a, "VIDIOC_ENUM_FRAMESIZES"),
        (
            VIDIOC_ENUM_FRAMEINTERVALS,
            0xc034564b,
            "VIDIOC_ENUM_FRAMEINTERVALS",
        ),
        (VIDIOC_G_ENC_INDEX, 0x8818564c, "VIDIOC_G_ENC_INDEX"),
        (VIDIOC_ENCODER_CMD, 0xc028564d, "VIDIOC_ENCODER_CMD"),
        (VIDIOC_TRY_ENCODER_CMD, 0xc028564e, "VIDIOC_TRY_ENCODER_CMD"),
        (VIDIOC_DBG_S_REGISTER, 0x4038564f, "VIDIOC_DBG_S_REGISTER"),
        (VIDIOC_DBG_G_REGISTER, 0xc0385650, "VIDIOC_DBG_G_REGISTER"),
        (VIDIOC_S_HW_FREQ_SEEK, 0x40305652, "VIDIOC_S_HW_FREQ_SEEK"),
        (VIDIOC_S_DV_TIMINGS, 0xc0845657, "VIDIOC_S_DV_TIMINGS"),
        (VIDIOC_G_DV_TIMINGS, 0xc0845658, "VIDIOC_G_DV_TIMINGS"),
        (VIDIOC_DQEVENT, 0x80885659, "VIDIOC_DQEVENT"),
        (VIDIOC_SUBSCRIBE_EVENT, 0x4020565a, "VIDIOC_SUBSCRIBE_EVENT"),
        (
            VIDIOC_UNSUBSCRIBE_EVENT,
            0x4020565b,
            "VIDIOC_UNSUBSCRIBE_EVENT",
        ),
        (VIDIOC_CREATE_BUFS, 0xc100565c, "VIDIOC_CREATE_BUFS"),
        (VIDIOC_PREPARE_BUF, 0xc058565d, "VIDIOC_PREPARE_BUF"),
        (VIDIOC_G_SELECTION, 0xc040565e, "VIDIOC_G_SELECTION"),
        (VIDIOC_S_SELECTION, 0xc040565f, "VIDIOC_S_SELECTION"),
        (VIDIOC_DECODER_CMD, 0xc0485660, "VIDIOC_DECODER_CMD"),
        (VIDIOC_TRY_DECODER_CMD, 0xc0485661, "VIDIOC_TRY_DECODER_CMD"),
        (VIDIOC_ENUM_DV_TIMINGS, 0xc0945662, "VIDIOC_ENUM_DV_TIMINGS"),
        (
            VIDIOC_QUERY_DV_TIMINGS,
            0x80845663,
            "VIDIOC_QUERY_DV_TIMINGS",
        ),
        (VIDIOC_DV_TIMINGS_CAP, 0xc0905664, "VIDIOC_DV_TIMINGS_CAP"),
        (VIDIOC_ENUM_FREQ_BANDS, 0xc0405665, "VIDIOC_ENUM_FREQ_BANDS"),
        (VIDIOC_DBG_G_CHIP_INFO, 0xc0c85666, "VIDIOC_DBG_G_CHIP_INFO"),
        (VIDIOC_QUERY_EXT_CTRL, 0xc0e85667, "VIDIOC_QUERY_EXT_CTRL"),
        (VIDIOC_REMOVE_BUFS, 0xc0405668, "VIDIOC_REMOVE_BUFS"),
        // Not in table A.2; values from videodev2.h encoding.
        (VIDIOC_S_TUNER, 0x4054561e, "VIDIOC_S_TUNER"),
        (VIDIOC_S_AUDIO, 0x40345622, "VIDIOC_S_AUDIO"),
        (VIDIOC_S_AUDOUT, 0x40345632, "VIDIOC_S_AUDOUT"),
        (VIDIOC_G_MODULATOR, 0xc0445636, "VIDIOC_G_MODULATOR"),
        (VIDIOC_S_MODULATOR, 0x40445637, "VIDIOC_S_MODULATOR"),
        (VIDIOC_G_FREQUENCY, 0xc02c5638, "VIDIOC_G_FREQUENCY"),
        (VIDIOC_S_FREQUENCY, 0x402c5639, "VIDIOC_S_FREQUENCY"),
        (VIDIOC_S_JPEGCOMP, 0x408c563e, "VIDIOC_S_JPEGCOMP"),
        // A5 TIME32 forms.
        (VIDIOC_DQEVENT_TIME32, 0x80805659, "VIDIOC_DQEVENT_TIME32"),
        (VIDIOC_QUERYBUF_TIME32, 0xc0505609, "VIDIOC_QUERYBUF_TIME32"),
        (VIDIOC_QBUF_TIME32, 0xc050560f, "VIDIOC_QBUF_TIME32"),
        (VIDIOC_DQBUF_TIME32, 0xc0505611, "VIDIOC_DQBUF_TIME32"),
        (
            VIDIOC_PREPARE_BUF_TIME32,
            0xc050565d,
            "VIDIOC_PREPARE_BUF_TIME32",
        ),
    ];

    #[test]
    fn request_numbers_match_kernel_values() {
        for &(computed, expected, name) in TABLE {
            assert_eq!(
                computed, expected,
                "{name}: computed {computed:#010x}, kernel {expected:#010x}"
            );
        }
    }

    #[test]
    fn ioctl_name_round_trips() {
        for &(req, _, name) in TABLE {
            assert_eq!(ioctl_name(req), Some(name));
        }
        assert_eq!(ioctl_name(ioc(IOC_READ, b'V', 0, 0x3fff)), None);
        assert_eq!(ioctl_name(ioc(IOC_NONE, b'V', 0xff, 0)), None);
    }

    #[test]
    fn decode_helpers() {
        assert_eq!(ioc_dir(VIDIOC_QUERYCAP), IOC_READ);
        assert_eq!(ioc_dir(VIDIOC_S_PRIORITY), IOC_WRITE);
        assert_eq!(ioc_dir(VIDIOC_S_INPUT), IOC_READ | IOC_WRITE);
        assert_eq!(ioc_dir(VIDIOC_LOG_STATUS), IOC_NONE);
        assert_eq!(ioc_type(VIDIOC_DQBUF), b'V');
        assert_eq!(ioc_nr(VIDIOC_DQBUF), 17);
        assert_eq!(ioc_size(VIDIOC_DQBUF), 88);
        assert_eq!(ioc_size(VIDIOC_G_ENC_INDEX), 2072);
        assert_eq!(ioc_nr(VIDIOC_DQEVENT_TIME32), 89);
        assert_eq!(ioc_size(VIDIOC_DQEVENT_TIME32), 128);
        for req in [
            VIDIOC_QUERYBUF_TIME32,
            VIDIOC_QBUF_TIME32,
            VIDIOC_DQBUF_TIME32,
            VIDIOC_PREPARE_BUF_TIME32,
        ] {
            assert_eq!(ioc_size(req), 80);
            assert_eq!(ioc_dir(req), IOC_READ | IOC_WRITE);
        }
        let r = ioc(IOC_READ, b'V', 0, 0x3fff);
        assert_eq!(ioc_size(r), 0x3fff);
        assert_eq!(ioc_nr(r), 0);
    }
}
