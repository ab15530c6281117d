//! `#[repr(C)]` mirrors of the `linux/videodev2.h` structs (LP64 layout).
//!
//! Conventions:
//! * Names are the C names; the C field `type` is `type_`, `match` is `match_`.
//! * Compiler-inserted padding of the C struct is an explicit, zero-valued
//!   `_padN` field so that every struct is [`bytemuck::Pod`].
//! * C unions are integer arrays of the union's size and alignment, with
//!   small accessors that copy through bytes (`bytemuck`). A `set_*` union
//!   accessor zeroes the whole union first, then writes the member at offset 0
//!   of the union, so no stale bytes leak back to userspace.
//! * Pointers (`unsigned long`, `void *`) are `u64`.

use core::mem::{align_of, offset_of, size_of};

use bytemuck::{Pod, Zeroable};

// 32-bit targets are rejected by a `compile_error!` in lib.rs.

/// Reads a `T` from `bytes[off..off + size_of::<T>()]` (unaligned copy).
#[inline]
fn read_at<T: Pod>(bytes: &[u8], off: usize) -> T {
    bytemuck::pod_read_unaligned(&bytes[off..off + size_of::<T>()])
}

/// Writes the bytes of `v` to `bytes[off..off + size_of::<T>()]`.
#[inline]
fn write_at<T: Pod>(bytes: &mut [u8], off: usize, v: &T) {
    bytes[off..off + size_of::<T>()].copy_from_slice(bytemuck::bytes_of(v));
}

/// A `u64` whose first `size_of::<T>()` bytes in memory are `v` and whose
/// remaining bytes are zero (for 8-byte unions stored as `u64`).
#[inline]
fn u64_with_prefix<T: Pod>(v: &T) -> u64 {
    let mut b = [0u8; 8];
    write_at(&mut b, 0, v);
    u64::from_ne_bytes(b)
}

/// Reads a `T` from the first bytes in memory of a `u64` union.
#[inline]
fn u64_prefix<T: Pod>(u: u64) -> T {
    read_at(&u.to_ne_bytes(), 0)
}

// ---------------------------------------------------------------------------
// Basic types
// ---------------------------------------------------------------------------

/// `v4l2_std_id` (`__u64`): argument of VIDIOC_G_STD / S_STD / QUERYSTD.
pub type v4l2_std_id = u64;

/// `struct timeval` (LP64): `v4l2_buffer.timestamp`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct timeval {
    pub tv_sec: i64,
    pub tv_usec: i64,
}

/// `struct timespec` (LP64): `v4l2_event.timestamp`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

/// `struct v4l2_rect`: crop/selection rectangles (VIDIOC_G/S_SELECTION, CROPCAP, G/S_CROP).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_rect {
    pub left: i32,
    pub top: i32,
    pub width: u32,
    pub height: u32,
}

/// `struct v4l2_fract`: frame intervals (G/S_PARM, ENUM_FRAMEINTERVALS), pixel aspect.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_fract {
    pub numerator: u32,
    pub denominator: u32,
}

// ---------------------------------------------------------------------------
// QUERYCAP
// ---------------------------------------------------------------------------

/// `struct v4l2_capability`: VIDIOC_QUERYCAP.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_capability {
    pub driver: [u8; 16],
    pub card: [u8; 32],
    pub bus_info: [u8; 32],
    pub version: u32,
    pub capabilities: u32,
    pub device_caps: u32,
    pub reserved: [u32; 3],
}

// ---------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------

/// `struct v4l2_pix_format`: `v4l2_format.fmt.pix` (G/S/TRY_FMT, CREATE_BUFS).
/// `ycbcr_enc` is a union with `hsv_enc`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_pix_format {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub bytesperline: u32,
    pub sizeimage: u32,
    pub colorspace: u32,
    pub priv_: u32,
    pub flags: u32,
    pub ycbcr_enc: u32,
    pub quantization: u32,
    pub xfer_func: u32,
}

impl v4l2_pix_format {
    /// The `hsv_enc` member of the `ycbcr_enc`/`hsv_enc` union.
    pub fn hsv_enc(&self) -> u32 {
        self.ycbcr_enc
    }
}

/// `struct v4l2_plane_pix_format` (packed): one plane of `v4l2_pix_format_mplane`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_plane_pix_format {
    pub sizeimage: u32,
    pub bytesperline: u32,
    pub reserved: [u16; 6],
}

/// `struct v4l2_pix_format_mplane` (packed): `v4l2_format.fmt.pix_mp` (G/S/TRY_FMT
/// with *_MPLANE buffer types). `ycbcr_enc` is a union with `hsv_enc`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_pix_format_mplane {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub colorspace: u32,
    pub plane_fmt: [v4l2_plane_pix_format; 8],
    pub num_planes: u8,
    pub flags: u8,
    pub ycbcr_enc: u8,
    pub quantization: u8,
    pub xfer_func: u8,
    pub reserved: [u8; 7],
}

/// `struct v4l2_clip`: overlay clip list entry (pointed to by `v4l2_window.clips`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_clip {
    pub c: v4l2_rect,
    /// `struct v4l2_clip __user *next`.
    pub next: u64,
}

/// `struct v4l2_window`: `v4l2_format.fmt.win` (overlay formats).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_window {
    pub w: v4l2_rect,
    pub field: u32,
    pub chromakey: u32,
    /// `struct v4l2_clip __user *clips`.
    pub clips: u64,
    pub clipcount: u32,
    pub _pad0: u32,
    /// `void __user *bitmap`.
    pub bitmap: u64,
    pub global_alpha: u8,
    pub _pad1: [u8; 3],
    pub _pad2: u32,
}

/// `struct v4l2_format`: VIDIOC_G_FMT / S_FMT / TRY_FMT, and inside `v4l2_create_buffers`.
///
/// `fmt` is the 200-byte union (`pix`, `pix_mp`, `win`, `vbi`, `sliced`, `sdr`,
/// `meta`, `raw_data`). It is 8-aligned because `v4l2_window` holds pointers,
/// hence the padding after `type`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_format {
    pub type_: u32,
    pub _pad0: u32,
    pub fmt: [u64; 25],
}

impl v4l2_format {
    /// The 200-byte `fmt` union.
    pub fn fmt_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.fmt)
    }

    /// The 200-byte `fmt` union, mutable.
    pub fn fmt_bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.fmt)
    }

    /// `fmt.pix`.
    pub fn pix(&self) -> v4l2_pix_format {
        read_at(self.fmt_bytes(), 0)
    }

    /// Sets `fmt.pix` (the rest of the union is zeroed).
    pub fn set_pix(&mut self, p: &v4l2_pix_format) {
        self.fmt = [0; 25];
        write_at(self.fmt_bytes_mut(), 0, p);
    }

    /// `fmt.pix_mp`.
    pub fn pix_mp(&self) -> v4l2_pix_format_mplane {
        read_at(self.fmt_bytes(), 0)
    }

    /// Sets `fmt.pix_mp` (the rest of the union is zeroed).
    pub fn set_pix_mp(&mut self, p: &v4l2_pix_format_mplane) {
        self.fmt = [0; 25];
        write_at(self.fmt_bytes_mut(), 0, p);
    }

    /// `fmt.win`.
    pub fn win(&self) -> v4l2_window {
        read_at(self.fmt_bytes(), 0)
    }

    /// Sets `fmt.win` (the rest of the union is zeroed).
    pub fn set_win(&mut self, w: &v4l2_window) {
        self.fmt = [0; 25];
        write_at(self.fmt_bytes_mut(), 0, w);
    }
}

/// `struct v4l2_fmtdesc`: VIDIOC_ENUM_FMT.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_fmtdesc {
    pub index: u32,
    pub type_: u32,
    pub flags: u32,
    pub description: [u8; 32],
    pub pixelformat: u32,
    pub mbus_code: u32,
    pub reserved: [u32; 3],
}

// ---------------------------------------------------------------------------
// Frame size / interval enumeration
// ---------------------------------------------------------------------------

/// `struct v4l2_frmsize_discrete`: `v4l2_frmsizeenum.discrete`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_frmsize_discrete {
    pub width: u32,
    pub height: u32,
}

/// `struct v4l2_frmsize_stepwise`: `v4l2_frmsizeenum.stepwise`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_frmsize_stepwise {
    pub min_width: u32,
    pub max_width: u32,
    pub step_width: u32,
    pub min_height: u32,
    pub max_height: u32,
    pub step_height: u32,
}

/// `struct v4l2_frmsizeenum`: VIDIOC_ENUM_FRAMESIZES. `u` is the
/// `discrete`/`stepwise` union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_frmsizeenum {
    pub index: u32,
    pub pixel_format: u32,
    pub type_: u32,
    pub u: [u32; 6],
    pub reserved: [u32; 2],
}

impl v4l2_frmsizeenum {
    /// The `discrete` union member.
    pub fn discrete(&self) -> v4l2_frmsize_discrete {
        read_at(bytemuck::bytes_of(&self.u), 0)
    }

    /// Sets the `discrete` union member (the rest of the union is zeroed).
    pub fn set_discrete(&mut self, d: &v4l2_frmsize_discrete) {
        self.u = [0; 6];
        write_at(bytemuck::bytes_of_mut(&mut self.u), 0, d);
    }

    /// The `stepwise` union member.
    pub fn stepwise(&self) -> v4l2_frmsize_stepwise {
        read_at(bytemuck::bytes_of(&self.u), 0)
    }

    /// Sets the `stepwise` union member.
    pub fn set_stepwise(&mut self, s: &v4l2_frmsize_stepwise) {
        self.u = [0; 6];
        write_at(bytemuck::bytes_of_mut(&mut self.u), 0, s);
    }
}

/// `struct v4l2_frmival_stepwise`: `v4l2_frmivalenum.stepwise`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_frmival_stepwise {
    pub min: v4l2_fract,
    pub max: v4l2_fract,
    pub step: v4l2_fract,
}

/// `struct v4l2_frmivalenum`: VIDIOC_ENUM_FRAMEINTERVALS. `u` is the
/// `discrete`/`stepwise` union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_frmivalenum {
    pub index: u32,
    pub pixel_format: u32,
    pub width: u32,
    pub height: u32,
    pub type_: u32,
    pub u: [u32; 6],
    pub reserved: [u32; 2],
}

impl v4l2_frmivalenum {
    /// The `discrete` union member.
    pub fn discrete(&self) -> v4l2_fract {
        read_at(bytemuck::bytes_of(&self.u), 0)
    }

    /// Sets the `discrete` union member (the rest of the union is zeroed).
    pub fn set_discrete(&mut self, d: &v4l2_fract) {
        self.u = [0; 6];
        write_at(bytemuck::bytes_of_mut(&mut self.u), 0, d);
    }

    /// The `stepwise` union member.
    pub fn stepwise(&self) -> v4l2_frmival_stepwise {
        read_at(bytemuck::bytes_of(&self.u), 0)
    }

    /// Sets the `stepwise` union member.
    pub fn set_stepwise(&mut self, s: &v4l2_frmival_stepwise) {
        self.u = [0; 6];
        write_at(bytemuck::bytes_of_mut(&mut self.u), 0, s);
    }
}

// ---------------------------------------------------------------------------
// Buffers
// ---------------------------------------------------------------------------

/// `struct v4l2_timecode`: `v4l2_buffer.timecode`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_timecode {
    pub type_: u32,
    pub flags: u32,
    pub frames: u8,
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub userbits: [u8; 4],
}

/// `struct v4l2_requestbuffers`: VIDIOC_REQBUFS.
/// (Older headers: `reserved[1]` u32 instead of `flags` + `reserved[3]`.)
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_requestbuffers {
    pub count: u32,
    pub type_: u32,
    pub memory: u32,
    pub capabilities: u32,
    pub flags: u8,
    pub reserved: [u8; 3],
}

/// `struct v4l2_plane`: multi-planar buffer plane (array pointed to by
/// `v4l2_buffer.m.planes`). `m` is the `mem_offset`/`userptr`/`fd` union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_plane {
    pub bytesused: u32,
    pub length: u32,
    pub m: u64,
    pub data_offset: u32,
    pub reserved: [u32; 11],
}

impl v4l2_plane {
    /// `m.mem_offset`.
    pub fn m_mem_offset(&self) -> u32 {
        u64_prefix(self.m)
    }

    /// Sets `m.mem_offset` (upper 4 bytes of the union zeroed).
    pub fn set_m_mem_offset(&mut self, off: u32) {
        self.m = u64_with_prefix(&off);
    }

    /// `m.userptr`.
    pub fn m_userptr(&self) -> u64 {
        self.m
    }

    /// Sets `m.userptr`.
    pub fn set_m_userptr(&mut self, p: u64) {
        self.m = p;
    }

    /// `m.fd`.
    pub fn m_fd(&self) -> i32 {
        u64_prefix(self.m)
    }

    /// Sets `m.fd` (upper 4 bytes of the union zeroed).
    pub fn set_m_fd(&mut self, fd: i32) {
        self.m = u64_with_prefix(&fd);
    }
}

/// `struct v4l2_buffer`: VIDIOC_QUERYBUF / QBUF / DQBUF / PREPARE_BUF.
///
/// `m` is the `offset`/`userptr`/`planes`/`fd` union; `request_fd` is a union
/// with `reserved`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_buffer {
    pub index: u32,
    pub type_: u32,
    pub bytesused: u32,
    pub flags: u32,
    pub field: u32,
    pub _pad0: u32,
    pub timestamp: timeval,
    pub timecode: v4l2_timecode,
    pub sequence: u32,
    pub memory: u32,
    pub m: u64,
    pub length: u32,
    pub reserved2: u32,
    pub request_fd: i32,
    pub _pad1: u32,
}

impl v4l2_buffer {
    /// `m.offset` (MMAP).
    pub fn m_offset(&self) -> u32 {
        u64_prefix(self.m)
    }

    /// Sets `m.offset`; the upper 4 bytes of the union are zeroed.
    pub fn set_m_offset(&mut self, off: u32) {
        self.m = u64_with_prefix(&off);
    }

    /// `m.userptr` (USERPTR).
    pub fn m_userptr(&self) -> u64 {
        self.m
    }

    /// Sets `m.userptr`.
    pub fn set_m_userptr(&mut self, p: u64) {
        self.m = p;
    }

    /// `m.fd` (DMABUF).
    pub fn m_fd(&self) -> i32 {
        u64_prefix(self.m)
    }

    /// Sets `m.fd`; the upper 4 bytes of the union are zeroed.
    pub fn set_m_fd(&mut self, fd: i32) {
        self.m = u64_with_prefix(&fd);
    }

    /// `m.planes` (multi-planar: user pointer to `v4l2_plane[length]`).
    pub fn m_planes(&self) -> u64 {
        self.m
    }

    /// Sets `m.planes`.
    pub fn set_m_planes(&mut self, p: u64) {
        self.m = p;
    }
}

/// `struct v4l2_exportbuffer`: VIDIOC_EXPBUF.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_exportbuffer {
    pub type_: u32,
    pub index: u32,
    pub plane: u32,
    pub flags: u32,
    pub fd: i32,
    pub reserved: [u32; 11],
}

/// `struct v4l2_create_buffers`: VIDIOC_CREATE_BUFS.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_create_buffers {
    pub index: u32,
    pub count: u32,
    pub memory: u32,
    pub _pad0: u32,
    pub format: v4l2_format,
    pub capabilities: u32,
    pub flags: u32,
    pub max_num_buffers: u32,
    pub reserved: [u32; 5],
}

/// `struct v4l2_remove_buffers`: VIDIOC_REMOVE_BUFS.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_remove_buffers {
    pub index: u32,
    pub count: u32,
    pub type_: u32,
    pub reserved: [u32; 13],
}

// ---------------------------------------------------------------------------
// Streaming parameters
// ---------------------------------------------------------------------------

/// `struct v4l2_captureparm`: `v4l2_streamparm.parm.capture` (G/S_PARM).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_captureparm {
    pub capability: u32,
    pub capturemode: u32,
    pub timeperframe: v4l2_fract,
    pub extendedmode: u32,
    pub readbuffers: u32,
    pub reserved: [u32; 4],
}

/// `struct v4l2_outputparm`: `v4l2_streamparm.parm.output` (G/S_PARM).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_outputparm {
    pub capability: u32,
    pub outputmode: u32,
    pub timeperframe: v4l2_fract,
    pub extendedmode: u32,
    pub writebuffers: u32,
    pub reserved: [u32; 4],
}

/// `struct v4l2_streamparm`: VIDIOC_G_PARM / S_PARM. `parm` is the 200-byte
/// `capture`/`output`/`raw_data` union (4-aligned: it starts at offset 4).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct v4l2_streamparm {
    pub type_: u32,
    pub parm: [u32; 50],
}

impl Default for v4l2_streamparm {
    fn default() -> Self {
        Self::zeroed()
    }
}

impl v4l2_streamparm {
    /// The 200-byte `parm` union.
    pub fn parm_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.parm)
    }

    /// The 200-byte `parm` union, mutable.
    pub fn parm_bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.parm)
    }

    /// `parm.capture`.
    pub fn capture(&self) -> v4l2_captureparm {
        read_at(self.parm_bytes(), 0)
    }

    /// Sets `parm.capture` (the rest of the union is zeroed).
    pub fn set_capture(&mut self, c: &v4l2_captureparm) {
        self.parm = [0; 50];
        write_at(self.parm_bytes_mut(), 0, c);
    }

    /// `parm.output`.
    pub fn output(&self) -> v4l2_outputparm {
        read_at(self.parm_bytes(), 0)
    }

    /// Sets `parm.output` (the rest of the union is zeroed).
    pub fn set_output(&mut self, o: &v4l2_outputparm) {
        self.parm = [0; 50];
        write_at(self.parm_bytes_mut(), 0, o);
    }
}

// ---------------------------------------------------------------------------
// Inputs / outputs
// ---------------------------------------------------------------------------

/// `struct v4l2_input`: VIDIOC_ENUMINPUT.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_input {
    pub index: u32,
    pub name: [u8; 32],
    pub type_: u32,
    pub audioset: u32,
    pub tuner: u32,
    pub std: v4l2_std_id,
    pub status: u32,
    pub capabilities: u32,
    pub reserved: [u32; 3],
    pub _pad0: u32,
}

/// `struct v4l2_output`: VIDIOC_ENUMOUTPUT.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_output {
    pub index: u32,
    pub name: [u8; 32],
    pub type_: u32,
    pub audioset: u32,
    pub modulator: u32,
    pub std: v4l2_std_id,
    pub capabilities: u32,
    pub reserved: [u32; 3],
}

// ---------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------

/// `struct v4l2_control`: VIDIOC_G_CTRL / S_CTRL.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_control {
    pub id: u32,
    pub value: i32,
}

/// `struct v4l2_queryctrl`: VIDIOC_QUERYCTRL.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_queryctrl {
    pub id: u32,
    pub type_: u32,
    pub name: [u8; 32],
    pub minimum: i32,
    pub maximum: i32,
    pub step: i32,
    pub default_value: i32,
    pub flags: u32,
    pub reserved: [u32; 2],
}

/// `struct v4l2_query_ext_ctrl`: VIDIOC_QUERY_EXT_CTRL.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_query_ext_ctrl {
    pub id: u32,
    pub type_: u32,
    pub name: [u8; 32],
    pub minimum: i64,
    pub maximum: i64,
    pub step: u64,
    pub default_value: i64,
    pub flags: u32,
    pub elem_size: u32,
    pub elems: u32,
    pub nr_of_dims: u32,
    pub dims: [u32; 4],
    pub reserved: [u32; 32],
}

/// `struct v4l2_querymenu` (packed): VIDIOC_QUERYMENU. `u` is the
/// `name[32]`/`value` (s64) union.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_querymenu {
    pub id: u32,
    pub index: u32,
    pub u: [u8; 32],
    pub reserved: u32,
}

impl v4l2_querymenu {
    /// The `name` union member (menu controls).
    pub fn name(&self) -> [u8; 32] {
        self.u
    }

    /// Sets the `name` union member.
    pub fn set_name(&mut self, name: &[u8; 32]) {
        self.u = *name;
    }

    /// The `value` union member (integer menu controls).
    pub fn value(&self) -> i64 {
        read_at(&self.u, 0)
    }

    /// Sets the `value` union member (the rest of the union is zeroed).
    pub fn set_value(&mut self, v: i64) {
        self.u = [0; 32];
        write_at(&mut self.u, 0, &v);
    }
}

/// `struct v4l2_ext_control` (packed): element of the array pointed to by
/// `v4l2_ext_controls.controls`. `value64` is the `value`/`value64`/`ptr`
/// (and typed-pointer) union.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_ext_control {
    pub id: u32,
    pub size: u32,
    pub reserved2: [u32; 1],
    pub value64: i64,
}

impl v4l2_ext_control {
    /// The `value` (s32) union member.
    pub fn value(&self) -> i32 {
        let v = self.value64;
        read_at(bytemuck::bytes_of(&v), 0)
    }

    /// Sets the `value` (s32) union member; the upper 4 bytes are zeroed.
    pub fn set_value(&mut self, v: i32) {
        self.value64 = u64_with_prefix(&v) as i64;
    }

    /// The `ptr` (and `string`, `p_u8`, …) union member: a user pointer.
    pub fn ptr(&self) -> u64 {
        self.value64 as u64
    }

    /// Sets the `ptr` union member.
    pub fn set_ptr(&mut self, p: u64) {
        self.value64 = p as i64;
    }
}

/// `struct v4l2_ext_controls`: VIDIOC_G_EXT_CTRLS / S_EXT_CTRLS / TRY_EXT_CTRLS.
/// `which` is a union with `ctrl_class`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_ext_controls {
    pub which: u32,
    pub count: u32,
    pub error_idx: u32,
    pub request_fd: i32,
    pub reserved: [u32; 1],
    pub _pad0: u32,
    /// `struct v4l2_ext_control *controls` (user pointer).
    pub controls: u64,
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// `struct v4l2_event_src_change`: `v4l2_event.u.src_change`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_event_src_change {
    pub changes: u32,
}

/// `struct v4l2_event_ctrl`: `v4l2_event.u.ctrl`. `value64` is the
/// `value` (s32) / `value64` (s64) union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct v4l2_event_ctrl {
    pub changes: u32,
    pub type_: u32,
    pub value64: i64,
    pub flags: u32,
    pub minimum: i32,
    pub maximum: i32,
    pub step: i32,
    pub default_value: i32,
    pub _pad0: u32,
}

impl v4l2_event_ctrl {
    /// The `value` (s32) union member.
    pub fn value(&self) -> i32 {
        u64_prefix(self.value64 as u64)
    }

    /// Sets the `value` (s32) union member; the upper 4 bytes are zeroed.
    pub fn set_value(&mut self, v: i32) {
        self.value64 = u64_with_prefix(&v) as i64;
    }
}

/// `struct v4l2_event`: VIDIOC_DQEVENT. `u` is the 64-byte, 8-aligned
/// payload union (`vsync`, `ctrl`, `frame_sync`, `src_change`, `motion_det`, `data`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_event {
    pub type_: u32,
    pub _pad0: u32,
    pub u: [u64; 8],
    pub pending: u32,
    pub sequence: u32,
    pub timestamp: timespec,
    pub id: u32,
    pub reserved: [u32; 8],
    pub _pad1: u32,
}

impl v4l2_event {
    /// The 64-byte `u` union (`u.data`).
    pub fn data_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.u)
    }

    /// The 64-byte `u` union (`u.data`), mutable.
    pub fn data_bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.u)
    }

    /// `u.src_change`.
    pub fn src_change(&self) -> v4l2_event_src_change {
        read_at(self.data_bytes(), 0)
    }

    /// Sets `u.src_change` (the rest of the union is zeroed).
    pub fn set_src_change(&mut self, s: &v4l2_event_src_change) {
        self.u = [0; 8];
        write_at(self.data_bytes_mut(), 0, s);
    }

    /// `u.ctrl`.
    pub fn ctrl(&self) -> v4l2_event_ctrl {
        read_at(self.data_bytes(), 0)
    }

    /// Sets `u.ctrl` (the rest of the union is zeroed).
    pub fn set_ctrl(&mut self, c: &v4l2_event_ctrl) {
        self.u = [0; 8];
        write_at(self.data_bytes_mut(), 0, c);
    }
}

/// `struct v4l2_event_subscription`: VIDIOC_SUBSCRIBE_EVENT / UNSUBSCRIBE_EVENT.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_event_subscription {
    pub type_: u32,
    pub id: u32,
    pub flags: u32,
    pub reserved: [u32; 5],
}

// ---------------------------------------------------------------------------
// Cropping / selection
// ---------------------------------------------------------------------------

/// `struct v4l2_cropcap`: VIDIOC_CROPCAP.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_cropcap {
    pub type_: u32,
    pub bounds: v4l2_rect,
    pub defrect: v4l2_rect,
    pub pixelaspect: v4l2_fract,
}

/// `struct v4l2_crop`: VIDIOC_G_CROP / S_CROP.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_crop {
    pub type_: u32,
    pub c: v4l2_rect,
}

/// `struct v4l2_selection`: VIDIOC_G_SELECTION / S_SELECTION.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_selection {
    pub type_: u32,
    pub target: u32,
    pub flags: u32,
    pub r: v4l2_rect,
    pub reserved: [u32; 9],
}

// ---------------------------------------------------------------------------
// Structs only needed for the size of ioctls a loopback device rejects
// ---------------------------------------------------------------------------

/// Anonymous `fmt` struct inside `struct v4l2_framebuffer` (no C name).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_framebuffer_fmt {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub bytesperline: u32,
    pub sizeimage: u32,
    pub colorspace: u32,
    pub priv_: u32,
}

/// `struct v4l2_framebuffer`: VIDIOC_G_FBUF / S_FBUF.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_framebuffer {
    pub capability: u32,
    pub flags: u32,
    /// `void *base`.
    pub base: u64,
    pub fmt: v4l2_framebuffer_fmt,
}

/// `struct v4l2_standard`: VIDIOC_ENUMSTD.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_standard {
    pub index: u32,
    pub _pad0: u32,
    pub id: v4l2_std_id,
    pub name: [u8; 24],
    pub frameperiod: v4l2_fract,
    pub framelines: u32,
    pub reserved: [u32; 4],
    pub _pad1: u32,
}

/// `struct v4l2_tuner`: VIDIOC_G_TUNER / S_TUNER.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_tuner {
    pub index: u32,
    pub name: [u8; 32],
    pub type_: u32,
    pub capability: u32,
    pub rangelow: u32,
    pub rangehigh: u32,
    pub rxsubchans: u32,
    pub audmode: u32,
    pub signal: i32,
    pub afc: i32,
    pub reserved: [u32; 4],
}

/// `struct v4l2_modulator`: VIDIOC_G_MODULATOR / S_MODULATOR.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_modulator {
    pub index: u32,
    pub name: [u8; 32],
    pub capability: u32,
    pub rangelow: u32,
    pub rangehigh: u32,
    pub txsubchans: u32,
    pub type_: u32,
    pub reserved: [u32; 3],
}

/// `struct v4l2_frequency`: VIDIOC_G_FREQUENCY / S_FREQUENCY.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_frequency {
    pub tuner: u32,
    pub type_: u32,
    pub frequency: u32,
    pub reserved: [u32; 8],
}

/// `struct v4l2_frequency_band`: VIDIOC_ENUM_FREQ_BANDS.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_frequency_band {
    pub tuner: u32,
    pub type_: u32,
    pub index: u32,
    pub capability: u32,
    pub rangelow: u32,
    pub rangehigh: u32,
    pub modulation: u32,
    pub reserved: [u32; 9],
}

/// `struct v4l2_hw_freq_seek`: VIDIOC_S_HW_FREQ_SEEK.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_hw_freq_seek {
    pub tuner: u32,
    pub type_: u32,
    pub seek_upward: u32,
    pub wrap_around: u32,
    pub spacing: u32,
    pub rangelow: u32,
    pub rangehigh: u32,
    pub reserved: [u32; 5],
}

/// `struct v4l2_audio`: VIDIOC_G_AUDIO / S_AUDIO / ENUMAUDIO.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_audio {
    pub index: u32,
    pub name: [u8; 32],
    pub capability: u32,
    pub mode: u32,
    pub reserved: [u32; 2],
}

/// `struct v4l2_audioout`: VIDIOC_G_AUDOUT / S_AUDOUT / ENUMAUDOUT.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_audioout {
    pub index: u32,
    pub name: [u8; 32],
    pub capability: u32,
    pub mode: u32,
    pub reserved: [u32; 2],
}

/// `struct v4l2_edid`: VIDIOC_G_EDID / S_EDID.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_edid {
    pub pad: u32,
    pub start_block: u32,
    pub blocks: u32,
    pub reserved: [u32; 5],
    /// `__u8 *edid` (user pointer).
    pub edid: u64,
}

/// `struct v4l2_jpegcompression`: VIDIOC_G_JPEGCOMP / S_JPEGCOMP.
#[repr(C)]
#[allow(non_snake_case)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct v4l2_jpegcompression {
    pub quality: i32,
    pub APPn: i32,
    pub APP_len: i32,
    pub APP_data: [u8; 60],
    pub COM_len: i32,
    pub COM_data: [u8; 60],
    pub jpeg_markers: u32,
}

impl Default for v4l2_jpegcompression {
    fn default() -> Self {
        Self::zeroed()
    }
}

/// `struct v4l2_sliced_vbi_cap`: VIDIOC_G_SLICED_VBI_CAP.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_sliced_vbi_cap {
    pub service_set: u16,
    pub service_lines: [[u16; 24]; 2],
    /// 2-byte C padding before `type`.
    pub _pad0: u16,
    pub type_: u32,
    pub reserved: [u32; 3],
}

/// `struct v4l2_enc_idx_entry`: element of `v4l2_enc_idx.entry`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_enc_idx_entry {
    pub offset: u64,
    pub pts: u64,
    pub length: u32,
    pub flags: u32,
    pub reserved: [u32; 2],
}

/// `struct v4l2_enc_idx`: VIDIOC_G_ENC_INDEX.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct v4l2_enc_idx {
    pub entries: u32,
    pub entries_cap: u32,
    pub reserved: [u32; 4],
    pub entry: [v4l2_enc_idx_entry; 64],
}

impl Default for v4l2_enc_idx {
    fn default() -> Self {
        Self::zeroed()
    }
}

/// `struct v4l2_encoder_cmd`: VIDIOC_ENCODER_CMD / TRY_ENCODER_CMD.
/// `raw` is the union `{ struct { __u32 data[8]; } raw; }`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_encoder_cmd {
    pub cmd: u32,
    pub flags: u32,
    pub raw: [u32; 8],
}

/// `struct v4l2_decoder_cmd`: VIDIOC_DECODER_CMD / TRY_DECODER_CMD.
/// `u` is the 64-byte, 8-aligned `stop`/`start`/`raw` union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_decoder_cmd {
    pub cmd: u32,
    pub flags: u32,
    pub u: [u64; 8],
}

impl v4l2_decoder_cmd {
    /// `raw.data` (`__u32 data[16]`).
    pub fn raw(&self) -> [u32; 16] {
        bytemuck::cast(self.u)
    }

    /// Sets `raw.data`.
    pub fn set_raw(&mut self, data: &[u32; 16]) {
        self.u = bytemuck::cast(*data);
    }
}

/// `struct v4l2_dbg_match` (packed): `match` member of the debug register structs.
/// `u` is the `addr`/`name[32]` union.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_dbg_match {
    pub type_: u32,
    pub u: [u8; 32],
}

/// `struct v4l2_dbg_register` (packed): VIDIOC_DBG_G_REGISTER / DBG_S_REGISTER.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_dbg_register {
    pub match_: v4l2_dbg_match,
    pub size: u32,
    pub reg: u64,
    pub val: u64,
}

/// `struct v4l2_dbg_chip_info` (packed): VIDIOC_DBG_G_CHIP_INFO.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_dbg_chip_info {
    pub match_: v4l2_dbg_match,
    pub name: [u8; 32],
    pub flags: u32,
    pub reserved: [u32; 32],
}

/// `struct v4l2_bt_timings` (packed): `v4l2_dv_timings.bt`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct v4l2_bt_timings {
    pub width: u32,
    pub height: u32,
    pub interlaced: u32,
    pub polarities: u32,
    pub pixelclock: u64,
    pub hfrontporch: u32,
    pub hsync: u32,
    pub hbackporch: u32,
    pub vfrontporch: u32,
    pub vsync: u32,
    pub vbackporch: u32,
    pub il_vfrontporch: u32,
    pub il_vsync: u32,
    pub il_vbackporch: u32,
    pub standards: u32,
    pub flags: u32,
    pub picture_aspect: v4l2_fract,
    pub cea861_vic: u8,
    pub hdmi_vic: u8,
    pub reserved: [u8; 46],
}

impl Default for v4l2_bt_timings {
    fn default() -> Self {
        Self::zeroed()
    }
}

/// `struct v4l2_dv_timings` (packed): VIDIOC_G/S/QUERY_DV_TIMINGS.
/// `u` is the `bt`/`reserved[32]` union.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_dv_timings {
    pub type_: u32,
    pub u: [u32; 32],
}

impl v4l2_dv_timings {
    /// The `bt` union member.
    pub fn bt(&self) -> v4l2_bt_timings {
        let u = self.u;
        read_at(bytemuck::bytes_of(&u), 0)
    }

    /// Sets the `bt` union member (the rest of the union is zeroed).
    pub fn set_bt(&mut self, bt: &v4l2_bt_timings) {
        let mut u = [0u32; 32];
        write_at(bytemuck::bytes_of_mut(&mut u), 0, bt);
        self.u = u;
    }
}

/// `struct v4l2_enum_dv_timings`: VIDIOC_ENUM_DV_TIMINGS.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_enum_dv_timings {
    pub index: u32,
    pub pad: u32,
    pub reserved: [u32; 2],
    pub timings: v4l2_dv_timings,
}

/// `struct v4l2_bt_timings_cap` (packed): `v4l2_dv_timings_cap.bt`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_bt_timings_cap {
    pub min_width: u32,
    pub max_width: u32,
    pub min_height: u32,
    pub max_height: u32,
    pub min_pixelclock: u64,
    pub max_pixelclock: u64,
    pub standards: u32,
    pub capabilities: u32,
    pub reserved: [u32; 16],
}

/// `struct v4l2_dv_timings_cap`: VIDIOC_DV_TIMINGS_CAP. `u` is the
/// `bt`/`raw_data[32]` union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct v4l2_dv_timings_cap {
    pub type_: u32,
    pub pad: u32,
    pub reserved: [u32; 2],
    pub u: [u32; 32],
}

impl v4l2_dv_timings_cap {
    /// The `bt` union member.
    pub fn bt(&self) -> v4l2_bt_timings_cap {
        read_at(bytemuck::bytes_of(&self.u), 0)
    }

    /// Sets the `bt` union member (the rest of the union is zeroed).
    pub fn set_bt(&mut self, bt: &v4l2_bt_timings_cap) {
        self.u = [0; 32];
        write_at(bytemuck::bytes_of_mut(&mut self.u), 0, bt);
    }
}

// ---------------------------------------------------------------------------
// Compile-time layout checks (values from the kernel header, LP64)
// ---------------------------------------------------------------------------

macro_rules! assert_size {
    ($t:ty, $size:expr, $align:expr) => {
        const _: () = assert!(
            size_of::<$t>() == $size,
            concat!("size of ", stringify!($t))
        );
        const _: () = assert!(
            align_of::<$t>() == $align,
            concat!("align of ", stringify!($t))
        );
    };
}

macro_rules! assert_offset {
    ($t:ty, $field:ident, $off:expr) => {
        const _: () = assert!(
            offset_of!($t, $field) == $off,
            concat!("offset of ", stringify!($t), ".", stringify!($field))
        );
    };
}

assert_size!(timeval, 16, 8);
assert_size!(timespec, 16, 8);
assert_size!(v4l2_rect, 16, 4);
assert_size!(v4l2_fract, 8, 4);
assert_size!(v4l2_capability, 104, 4);
assert_size!(v4l2_pix_format, 48, 4);
assert_size!(v4l2_plane_pix_format, 20, 1);
assert_size!(v4l2_pix_format_mplane, 192, 1);
assert_size!(v4l2_clip, 24, 8);
assert_size!(v4l2_window, 56, 8);
assert_size!(v4l2_format, 208, 8);
assert_size!(v4l2_fmtdesc, 64, 4);
assert_size!(v4l2_frmsize_discrete, 8, 4);
assert_size!(v4l2_frmsize_stepwise, 24, 4);
assert_size!(v4l2_frmsizeenum, 44, 4);
assert_size!(v4l2_frmival_stepwise, 24, 4);
assert_size!(v4l2_frmivalenum, 52, 4);
assert_size!(v4l2_timecode, 16, 4);
assert_size!(v4l2_requestbuffers, 20, 4);
assert_size!(v4l2_plane, 64, 8);
assert_size!(v4l2_buffer, 88, 8);
assert_size!(v4l2_exportbuffer, 64, 4);
assert_size!(v4l2_create_buffers, 256, 8);
assert_size!(v4l2_remove_buffers, 64, 4);
assert_size!(v4l2_captureparm, 40, 4);
assert_size!(v4l2_outputparm, 40, 4);
assert_size!(v4l2_streamparm, 204, 4);
assert_size!(v4l2_input, 80, 8);
assert_size!(v4l2_output, 72, 8);
assert_size!(v4l2_control, 8, 4);
assert_size!(v4l2_queryctrl, 68, 4);
assert_size!(v4l2_query_ext_ctrl, 232, 8);
assert_size!(v4l2_querymenu, 44, 1);
assert_size!(v4l2_ext_control, 20, 1);
assert_size!(v4l2_ext_controls, 32, 8);
assert_size!(v4l2_event_src_change, 4, 4);
assert_size!(v4l2_event_ctrl, 40, 8);
assert_size!(v4l2_event, 136, 8);
assert_size!(v4l2_event_subscription, 32, 4);
assert_size!(v4l2_cropcap, 44, 4);
assert_size!(v4l2_crop, 20, 4);
assert_size!(v4l2_selection, 64, 4);
assert_size!(v4l2_framebuffer_fmt, 32, 4);
assert_size!(v4l2_framebuffer, 48, 8);
assert_size!(v4l2_standard, 72, 8);
assert_size!(v4l2_tuner, 84, 4);
assert_size!(v4l2_modulator, 68, 4);
assert_size!(v4l2_frequency, 44, 4);
assert_size!(v4l2_frequency_band, 64, 4);
assert_size!(v4l2_hw_freq_seek, 48, 4);
assert_size!(v4l2_audio, 52, 4);
assert_size!(v4l2_audioout, 52, 4);
assert_size!(v4l2_edid, 40, 8);
assert_size!(v4l2_jpegcompression, 140, 4);
assert_size!(v4l2_sliced_vbi_cap, 116, 4);
assert_size!(v4l2_enc_idx_entry, 32, 8);
assert_size!(v4l2_enc_idx, 2072, 8);
assert_size!(v4l2_encoder_cmd, 40, 4);
assert_size!(v4l2_decoder_cmd, 72, 8);
assert_size!(v4l2_dbg_match, 36, 1);
assert_size!(v4l2_dbg_register, 56, 1);
assert_size!(v4l2_dbg_chip_info, 200, 1);
assert_size!(v4l2_bt_timings, 124, 1);
assert_size!(v4l2_dv_timings, 132, 1);
assert_size!(v4l2_enum_dv_timings, 148, 4);
assert_size!(v4l2_bt_timings_cap, 104, 1);
assert_size!(v4l2_dv_timings_cap, 144, 4);

// v4l2_capability
assert_offset!(v4l2_capability, card, 16);
assert_offset!(v4l2_capability, bus_info, 48);
assert_offset!(v4l2_capability, version, 80);
assert_offset!(v4l2_capability, capabilities, 84);
assert_offset!(v4l2_capability, device_caps, 88);
assert_offset!(v4l2_capability, reserved, 92);
// v4l2_pix_format
assert_offset!(v4l2_pix_format, pixelformat, 8);
assert_offset!(v4l2_pix_format, colorspace, 24);
assert_offset!(v4l2_pix_format, priv_, 28);
assert_offset!(v4l2_pix_format, flags, 32);
assert_offset!(v4l2_pix_format, ycbcr_enc, 36);
assert_offset!(v4l2_pix_format, xfer_func, 44);
// v4l2_plane_pix_format / v4l2_pix_format_mplane
assert_offset!(v4l2_plane_pix_format, reserved, 8);
assert_offset!(v4l2_pix_format_mplane, colorspace, 16);
assert_offset!(v4l2_pix_format_mplane, plane_fmt, 20);
assert_offset!(v4l2_pix_format_mplane, num_planes, 180);
assert_offset!(v4l2_pix_format_mplane, flags, 181);
assert_offset!(v4l2_pix_format_mplane, ycbcr_enc, 182);
assert_offset!(v4l2_pix_format_mplane, quantization, 183);
assert_offset!(v4l2_pix_format_mplane, xfer_func, 184);
assert_offset!(v4l2_pix_format_mplane, reserved, 185);
// v4l2_window
assert_offset!(v4l2_window, clips, 24);
assert_offset!(v4l2_window, clipcount, 32);
assert_offset!(v4l2_window, bitmap, 40);
assert_offset!(v4l2_window, global_alpha, 48);
// v4l2_format
assert_offset!(v4l2_format, fmt, 8);
// v4l2_fmtdesc
assert_offset!(v4l2_fmtdesc, flags, 8);
assert_offset!(v4l2_fmtdesc, description, 12);
assert_offset!(v4l2_fmtdesc, pixelformat, 44);
assert_offset!(v4l2_fmtdesc, mbus_code, 48);
assert_offset!(v4l2_fmtdesc, reserved, 52);
// v4l2_frmsizeenum / v4l2_frmivalenum
assert_offset!(v4l2_frmsizeenum, type_, 8);
assert_offset!(v4l2_frmsizeenum, u, 12);
assert_offset!(v4l2_frmsizeenum, reserved, 36);
assert_offset!(v4l2_frmivalenum, type_, 16);
assert_offset!(v4l2_frmivalenum, u, 20);
assert_offset!(v4l2_frmivalenum, reserved, 44);
// v4l2_requestbuffers
assert_offset!(v4l2_requestbuffers, capabilities, 12);
assert_offset!(v4l2_requestbuffers, flags, 16);
assert_offset!(v4l2_requestbuffers, reserved, 17);
// v4l2_create_buffers
assert_offset!(v4l2_create_buffers, memory, 8);
assert_offset!(v4l2_create_buffers, format, 16);
assert_offset!(v4l2_create_buffers, capabilities, 224);
assert_offset!(v4l2_create_buffers, flags, 228);
assert_offset!(v4l2_create_buffers, max_num_buffers, 232);
assert_offset!(v4l2_create_buffers, reserved, 236);
// v4l2_timecode
assert_offset!(v4l2_timecode, frames, 8);
assert_offset!(v4l2_timecode, hours, 11);
assert_offset!(v4l2_timecode, userbits, 12);
// v4l2_plane
assert_offset!(v4l2_plane, m, 8);
assert_offset!(v4l2_plane, data_offset, 16);
assert_offset!(v4l2_plane, reserved, 20);
// v4l2_buffer
assert_offset!(v4l2_buffer, field, 16);
assert_offset!(v4l2_buffer, timestamp, 24);
assert_offset!(v4l2_buffer, timecode, 40);
assert_offset!(v4l2_buffer, sequence, 56);
assert_offset!(v4l2_buffer, memory, 60);
assert_offset!(v4l2_buffer, m, 64);
assert_offset!(v4l2_buffer, length, 72);
assert_offset!(v4l2_buffer, reserved2, 76);
assert_offset!(v4l2_buffer, request_fd, 80);
// v4l2_exportbuffer
assert_offset!(v4l2_exportbuffer, fd, 16);
assert_offset!(v4l2_exportbuffer, reserved, 20);
// v4l2_streamparm and its union members
assert_offset!(v4l2_streamparm, parm, 4);
assert_offset!(v4l2_captureparm, timeperframe, 8);
assert_offset!(v4l2_captureparm, extendedmode, 16);
assert_offset!(v4l2_captureparm, readbuffers, 20);
assert_offset!(v4l2_captureparm, reserved, 24);
assert_offset!(v4l2_outputparm, timeperframe, 8);
assert_offset!(v4l2_outputparm, writebuffers, 20);
assert_offset!(v4l2_outputparm, reserved, 24);
// v4l2_event
assert_offset!(v4l2_event, u, 8);
assert_offset!(v4l2_event, pending, 72);
assert_offset!(v4l2_event, sequence, 76);
assert_offset!(v4l2_event, timestamp, 80);
assert_offset!(v4l2_event, id, 96);
assert_offset!(v4l2_event, reserved, 100);
assert_offset!(v4l2_event_ctrl, value64, 8);
assert_offset!(v4l2_event_ctrl, flags, 16);
assert_offset!(v4l2_event_ctrl, minimum, 20);
assert_offset!(v4l2_event_ctrl, maximum, 24);
assert_offset!(v4l2_event_ctrl, step, 28);
assert_offset!(v4l2_event_ctrl, default_value, 32);
// v4l2_event_subscription
assert_offset!(v4l2_event_subscription, flags, 8);
assert_offset!(v4l2_event_subscription, reserved, 12);
// v4l2_input / v4l2_output
assert_offset!(v4l2_input, name, 4);
assert_offset!(v4l2_input, type_, 36);
assert_offset!(v4l2_input, audioset, 40);
assert_offset!(v4l2_input, tuner, 44);
assert_offset!(v4l2_input, std, 48);
assert_offset!(v4l2_input, status, 56);
assert_offset!(v4l2_input, capabilities, 60);
assert_offset!(v4l2_input, reserved, 64);
assert_offset!(v4l2_output, type_, 36);
assert_offset!(v4l2_output, modulator, 44);
assert_offset!(v4l2_output, std, 48);
assert_offset!(v4l2_output, capabilities, 56);
assert_offset!(v4l2_output, reserved, 60);
// controls
assert_offset!(v4l2_queryctrl, name, 8);
assert_offset!(v4l2_queryctrl, minimum, 40);
assert_offset!(v4l2_queryctrl, default_value, 52);
assert_offset!(v4l2_queryctrl, flags, 56);
assert_offset!(v4l2_queryctrl, reserved, 60);
assert_offset!(v4l2_query_ext_ctrl, minimum, 40);
assert_offset!(v4l2_query_ext_ctrl, step, 56);
assert_offset!(v4l2_query_ext_ctrl, default_value, 64);
assert_offset!(v4l2_query_ext_ctrl, flags, 72);
assert_offset!(v4l2_query_ext_ctrl, elem_size, 76);
assert_offset!(v4l2_query_ext_ctrl, elems, 80);
assert_offset!(v4l2_query_ext_ctrl, nr_of_dims, 84);
assert_offset!(v4l2_query_ext_ctrl, dims, 88);
assert_offset!(v4l2_query_ext_ctrl, reserved, 104);
assert_offset!(v4l2_querymenu, u, 8);
assert_offset!(v4l2_querymenu, reserved, 40);
assert_offset!(v4l2_ext_control, reserved2, 8);
assert_offset!(v4l2_ext_control, value64, 12);
assert_offset!(v4l2_ext_controls, error_idx, 8);
assert_offset!(v4l2_ext_controls, request_fd, 12);
assert_offset!(v4l2_ext_controls, reserved, 16);
assert_offset!(v4l2_ext_controls, controls, 24);
// v4l2_remove_buffers
assert_offset!(v4l2_remove_buffers, type_, 8);
assert_offset!(v4l2_remove_buffers, reserved, 12);
// cropping / selection
assert_offset!(v4l2_cropcap, bounds, 4);
assert_offset!(v4l2_cropcap, defrect, 20);
assert_offset!(v4l2_cropcap, pixelaspect, 36);
assert_offset!(v4l2_crop, c, 4);
assert_offset!(v4l2_selection, r, 12);
assert_offset!(v4l2_selection, reserved, 28);
// misc
assert_offset!(v4l2_framebuffer, base, 8);
assert_offset!(v4l2_framebuffer, fmt, 16);
assert_offset!(v4l2_standard, id, 8);
assert_offset!(v4l2_standard, name, 16);
assert_offset!(v4l2_standard, frameperiod, 40);
assert_offset!(v4l2_standard, framelines, 48);
assert_offset!(v4l2_standard, reserved, 52);
assert_offset!(v4l2_edid, edid, 32);
assert_offset!(v4l2_jpegcompression, APP_data, 12);
assert_offset!(v4l2_jpegcompression, COM_len, 72);
assert_offset!(v4l2_jpegcompression, COM_data, 76);
assert_offset!(v4l2_jpegcompression, jpeg_markers, 136);
assert_offset!(v4l2_sliced_vbi_cap, type_, 100);
assert_offset!(v4l2_enc_idx, entry, 24);
assert_offset!(v4l2_decoder_cmd, u, 8);
assert_offset!(v4l2_dbg_register, size, 36);
assert_offset!(v4l2_dbg_register, reg, 40);
assert_offset!(v4l2_dbg_register, val, 48);
assert_offset!(v4l2_dbg_chip_info, name, 36);
assert_offset!(v4l2_dbg_chip_info, flags, 68);
assert_offset!(v4l2_dbg_chip_info, reserved, 72);
assert_offset!(v4l2_bt_timings, pixelclock, 16);
assert_offset!(v4l2_bt_timings, picture_aspect, 68);
assert_offset!(v4l2_bt_timings, cea861_vic, 76);
assert_offset!(v4l2_bt_timings, reserved, 78);
assert_offset!(v4l2_dv_timings, u, 4);
assert_offset!(v4l2_enum_dv_timings, timings, 16);
assert_offset!(v4l2_dv_timings_cap, u, 16);

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_pix() -> v4l2_pix_format {
        v4l2_pix_format {
            width: 640,
            height: 480,
            pixelformat: crate::fourcc::V4L2_PIX_FMT_YUYV,
            field: 1,
            bytesperline: 1280,
            sizeimage: 614_400,
            colorspace: 8,
            priv_: 0xfeed_cafe,
            flags: 0,
            ycbcr_enc: 1,
            quantization: 2,
            xfer_func: 2,
        }
    }

    #[test]
    fn format_pix_round_trip_and_offset() {
        let mut fmt = v4l2_format {
            type_: 1,
            ..Default::default()
        };
        fmt.fmt = [u64::MAX; 25];
        let p = sample_pix();
        fmt.set_pix(&p);
        assert_eq!(fmt.pix(), p);
        let bytes = bytemuck::bytes_of(&fmt);
        assert_eq!(&bytes[8..8 + 48], bytemuck::bytes_of(&p));
        assert_eq!(&bytes[8..12], &640u32.to_le_bytes());
        assert_eq!(&bytes[16..20], &b"YUYV"[..]);
        // The rest of the union is cleared by set_pix.
        assert!(bytes[8 + 48..].iter().all(|&b| b == 0));
        assert_eq!(fmt.fmt_bytes().len(), 200);
        assert_eq!(fmt.fmt_bytes_mut().len(), 200);
    }

    #[test]
    fn format_pix_mp_round_trip() {
        let mut fmt = v4l2_format::default();
        let mut mp = v4l2_pix_format_mplane {
            width: 1920,
            height: 1080,
            pixelformat: crate::fourcc::V4L2_PIX_FMT_NV12,
            num_planes: 1,
            ..Default::default()
        };
        mp.plane_fmt[0].sizeimage = 1920 * 1080 * 3 / 2;
        mp.plane_fmt[0].bytesperline = 1920;
        fmt.set_pix_mp(&mp);
        let back = fmt.pix_mp();
        assert_eq!(bytemuck::bytes_of(&back), bytemuck::bytes_of(&mp));
        let bytes = bytemuck::bytes_of(&fmt);
        assert_eq!(bytes[8 + 180], 1); // num_planes
        assert_eq!(
            &bytes[8 + 20..8 + 24],
            &(1920u32 * 1080 * 3 / 2).to_le_bytes()
        );
    }

    #[test]
    fn buffer_m_union() {
        let mut b = v4l2_buffer {
            m: u64::MAX,
            ..Default::default()
        };
        b.set_m_offset(0x1234_5678);
        assert_eq!(b.m_offset(), 0x1234_5678);
        let bytes = bytemuck::bytes_of(&b);
        assert_eq!(&bytes[64..68], &0x1234_5678u32.to_le_bytes());
        assert_eq!(&bytes[68..72], &[0, 0, 0, 0]);

        b.set_m_userptr(0xdead_beef_0000_1000);
        assert_eq!(b.m_userptr(), 0xdead_beef_0000_1000);
        assert_eq!(b.m_planes(), 0xdead_beef_0000_1000);

        b.m = u64::MAX;
        b.set_m_fd(-5);
        assert_eq!(b.m_fd(), -5);
        let bytes = bytemuck::bytes_of(&b);
        assert_eq!(&bytes[64..68], &(-5i32).to_le_bytes());
        assert_eq!(&bytes[68..72], &[0, 0, 0, 0]);
    }

    #[test]
    fn plane_m_union() {
        let mut p = v4l2_plane::default();
        p.set_m_mem_offset(4096);
        assert_eq!(p.m_mem_offset(), 4096);
        assert_eq!(&bytemuck::bytes_of(&p)[8..16], &4096u64.to_le_bytes());
        p.set_m_fd(7);
        assert_eq!(p.m_fd(), 7);
        p.set_m_userptr(0x7fff_0000_0000);
        assert_eq!(p.m_userptr(), 0x7fff_0000_0000);
    }

    #[test]
    fn streamparm_round_trip() {
        let mut sp = v4l2_streamparm {
            type_: 1,
            ..Default::default()
        };
        let c = v4l2_captureparm {
            capability: 0x1000,
            timeperframe: v4l2_fract {
                numerator: 1,
                denominator: 30,
            },
            readbuffers: 2,
            ..Default::default()
        };
        sp.set_capture(&c);
        assert_eq!(sp.capture(), c);
        let bytes = bytemuck::bytes_of(&sp);
        assert_eq!(&bytes[4..8], &0x1000u32.to_le_bytes());
        assert_eq!(&bytes[12..16], &1u32.to_le_bytes());
        assert_eq!(&bytes[16..20], &30u32.to_le_bytes());

        let o = v4l2_outputparm {
            capability: 0x1000,
            outputmode: 1,
            writebuffers: 3,
            ..Default::default()
        };
        sp.set_output(&o);
        assert_eq!(sp.output(), o);
        assert_eq!(sp.parm_bytes_mut().len(), 200);
    }

    #[test]
    fn event_round_trip() {
        let mut ev = v4l2_event::default();
        ev.set_src_change(&v4l2_event_src_change { changes: 1 });
        assert_eq!(ev.src_change().changes, 1);
        assert_eq!(&bytemuck::bytes_of(&ev)[8..12], &1u32.to_le_bytes());

        let mut c = v4l2_event_ctrl {
            changes: 1,
            type_: 1,
            flags: 0,
            minimum: -10,
            maximum: 10,
            step: 1,
            default_value: 0,
            ..Default::default()
        };
        c.set_value(-3);
        assert_eq!(c.value(), -3);
        ev.set_ctrl(&c);
        assert_eq!(ev.ctrl(), c);
        let bytes = bytemuck::bytes_of(&ev);
        assert_eq!(&bytes[16..20], &(-3i32).to_le_bytes()); // u.ctrl.value
        assert_eq!(&bytes[20..24], &[0, 0, 0, 0]);
        assert_eq!(&bytes[28..32], &(-10i32).to_le_bytes()); // u.ctrl.minimum
        assert_eq!(ev.data_bytes_mut().len(), 64);
    }

    #[test]
    fn frmsize_frmival_round_trip() {
        let mut fs = v4l2_frmsizeenum::default();
        let d = v4l2_frmsize_discrete {
            width: 320,
            height: 240,
        };
        fs.set_discrete(&d);
        assert_eq!(fs.discrete(), d);
        assert_eq!(&bytemuck::bytes_of(&fs)[12..16], &320u32.to_le_bytes());
        let s = v4l2_frmsize_stepwise {
            min_width: 2,
            max_width: 8192,
            step_width: 2,
            min_height: 2,
            max_height: 8192,
            step_height: 2,
        };
        fs.set_stepwise(&s);
        assert_eq!(fs.stepwise(), s);

        let mut fi = v4l2_frmivalenum::default();
        let f = v4l2_fract {
            numerator: 1001,
            denominator: 30000,
        };
        fi.set_discrete(&f);
        assert_eq!(fi.discrete(), f);
        assert_eq!(&bytemuck::bytes_of(&fi)[20..24], &1001u32.to_le_bytes());
        let sw = v4l2_frmival_stepwise {
            min: v4l2_fract {
                numerator: 1,
                denominator: 1000,
            },
            max: v4l2_fract {
                numerator: 1,
                denominator: 1,
            },
            step: v4l2_fract {
                numerator: 1,
                denominator: 1,
            },
        };
        fi.set_stepwise(&sw);
        assert_eq!(fi.stepwise(), sw);
    }

    #[test]
    fn ext_control_union() {
        let mut c = v4l2_ext_control {
            value64: -1,
            ..Default::default()
        };
        c.set_value(42);
        assert_eq!(c.value(), 42);
        let bytes = bytemuck::bytes_of(&c);
        assert_eq!(&bytes[12..16], &42i32.to_le_bytes());
        assert_eq!(&bytes[16..20], &[0, 0, 0, 0]);
        c.set_ptr(0x5555_0000_1000);
        assert_eq!(c.ptr(), 0x5555_0000_1000);
    }

    #[test]
    fn querymenu_union() {
        let mut m = v4l2_querymenu::default();
        m.set_value(-7);
        assert_eq!(m.value(), -7);
        assert_eq!(&bytemuck::bytes_of(&m)[8..16], &(-7i64).to_le_bytes());
        let mut name = [0u8; 32];
        name[..4].copy_from_slice(b"Menu");
        m.set_name(&name);
        assert_eq!(m.name(), name);
    }

    #[test]
    fn dv_timings_and_decoder_cmd_unions() {
        let mut t = v4l2_dv_timings::default();
        let bt = v4l2_bt_timings {
            width: 1920,
            height: 1080,
            pixelclock: 148_500_000,
            ..Default::default()
        };
        t.set_bt(&bt);
        assert_eq!(bytemuck::bytes_of(&t.bt()), bytemuck::bytes_of(&bt));

        let mut d = v4l2_decoder_cmd::default();
        let mut raw = [0u32; 16];
        raw[0] = 1000;
        raw[15] = 9;
        d.set_raw(&raw);
        assert_eq!(d.raw(), raw);
    }
}
