//! `loopcam-abi`: the V4L2 UAPI binding layer of loopcam, a userspace V4L2
//! loopback camera.
//!
//! This crate mirrors `linux/videodev2.h` (plus the bits of
//! `linux/v4l2-controls.h` and `linux/v4l2-common.h` that loopcam needs) for
//! **LP64 Linux** (x86_64 and aarch64, little-endian): `#[repr(C)]` structs,
//! ioctl request numbers, constants and pixel-format fourccs. It contains no
//! device logic, no `unsafe`, no bindgen and no libc dependency.
//!
//! * [`types`]: the structs, with the C names (`v4l2_format`, `v4l2_buffer`, …).
//!   The C field `type` is spelled `type_`. Every struct is `Clone + Copy +
//!   Debug + Default + bytemuck::Pod + bytemuck::Zeroable`, so it can be
//!   converted from/to the raw ioctl argument bytes with
//!   `bytemuck::pod_read_unaligned` / `bytemuck::bytes_of`. Compiler padding of
//!   the C layout is spelled out as zero-valued `_pad0`, `_pad1`, … fields.
//!   Sizes, alignments and field offsets are checked at compile time.
//! * [`ioctl`]: `_IOC` encoding helpers and every `VIDIOC_*` request number,
//!   computed from the struct sizes, plus [`ioctl_name`] for logging and the
//!   `*_TIME32` request forms a 64-bit device must reject with `ENOTTY`.
//! * [`consts`]: `V4L2_*` constants (C enums are plain `u32` constants) and the
//!   v4l2loopback private control ids (`LOOPBACK_CID_*`).
//! * [`fourcc`](mod@fourcc): `V4L2_PIX_FMT_*`, [`fourcc()`](fn@fourcc) and [`fourcc_to_string`].
//!
//! # Unions
//!
//! C unions are stored as integer arrays with the union's size and alignment
//! (for example `v4l2_format.fmt: [u64; 25]` — 200 bytes, 8-aligned — or
//! `v4l2_buffer.m: u64`). Typed access goes through small accessor methods
//! that copy through bytes with `bytemuck`, e.g. [`v4l2_format::pix`] /
//! [`v4l2_format::set_pix`], [`v4l2_buffer::m_offset`] /
//! [`v4l2_buffer::set_m_offset`], [`v4l2_streamparm::capture`],
//! [`v4l2_event::set_src_change`]. A `set_*` accessor zeroes the whole union
//! before writing the member, so no stale bytes are ever returned to
//! userspace. Raw access is available via `*_bytes()` / `*_bytes_mut()`.
//!
//! 32-bit targets are rejected at compile time: 32-bit processes use other
//! struct sizes and ioctl numbers (the kernel's compat layouts).

#![forbid(unsafe_code)]
#![allow(non_camel_case_types)]

#[cfg(not(target_pointer_width = "64"))]
compile_error!(
    "loopcam-abi supports LP64 Linux (x86_64, aarch64) only: the V4L2 structs contain \
     timeval/timespec and pointers whose size differs on 32-bit targets, which would change \
     struct layouts and ioctl numbers; 32-bit (compat) layouts are out of scope"
);

#[cfg(target_endian = "big")]
compile_error!(
    "loopcam-abi assumes a little-endian target (x86_64, aarch64); the fourcc byte order \
     and union accessors are only checked for little-endian"
);

pub mod consts;
pub mod fourcc;
pub mod ioctl;
pub mod types;

pub use consts::*;
pub use fourcc::*;
pub use ioctl::*;
pub use types::*;
