//! `loopcam-core`: the loopcam device model, sans-IO.
//!
//! Every V4L2 rule of the project lives here and nowhere else (DESIGN §2). The model takes
//! requests from numbered openers — open, close, each ioctl with its typed argument, read and
//! write as frames, mmap/munmap of buffer cookies — plus time as an input, and returns typed
//! results or an [`Errno`], the memory the host must create or free ([`MemEffect`]), and which
//! openers must be woken. It does no syscalls, spawns no threads and touches no pixels: frame
//! memory is a set of abstract [`BlockId`]s the host backs with shared memory.
//!
//! Layers:
//! * [`format`]: pixel formats, geometry, frame sizes and intervals, `--caps` strings.
//! * [`device::Device`]: one loopback device; its methods are the V4L2 entry points.
//! * [`ioctl`]: the raw boundary — a request number and argument bytes in, bytes and an
//!   outcome out — so the daemon can forward what the application passed without knowing V4L2.
//!
//! Rule ids in comments (B7, F9, L5, …) refer to `reference/v4l2-uapi-rules.md`; "DESIGN §3"
//! refers to the project's device contract.

pub mod config;
pub mod controls;
pub mod device;
pub mod errno;
pub mod events;
pub mod format;
pub mod ioctl;
pub mod pool;
pub mod queue;
pub mod testing;
pub mod time;

pub use config::{DeviceConfig, Node, NodeLayout};
pub use device::{
    Device, DeviceStatus, DqbufOut, ExpbufOut, ExtCtrlOp, MapInfo, OpenMode, OpenerId, ReadChunk,
};
pub use errno::{Errno, VResult};
pub use pool::{BlockId, MemEffect};
pub use queue::Dir;
pub use time::Nanos;
