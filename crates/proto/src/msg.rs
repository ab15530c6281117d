//! Message types.

use serde::{Deserialize, Serialize};

/// Client → daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// First message of every connection.
    Hello {
        /// Client's protocol version.
        version: u16,
    },
    /// Create a device.
    AddDevice(DeviceSpec),
    /// Remove a device (its openers get ENODEV).
    DeleteDevice {
        /// Device path or number.
        device: String,
    },
    /// Every device.
    ListDevices,
    /// One device.
    QueryDevice {
        /// Device path or number.
        device: String,
    },
    /// Fix format and rate: `FOURCC:WxH@NUM/DEN`.
    SetCaps {
        /// Device path or number.
        device: String,
        /// Caps string.
        caps: String,
    },
    /// Set the nominal frame rate.
    SetFps {
        /// Device path or number.
        device: String,
        /// Frame interval numerator (1 for 30 fps).
        numerator: u32,
        /// Frame interval denominator (30 for 30 fps).
        denominator: u32,
    },
    /// Set the timeout image from RGB24 pixels in the attached memfd (`width*height*3` bytes),
    /// and optionally the timeout in ms.
    SetTimeoutImage {
        /// Device path or number.
        device: String,
        /// New timeout control value.
        timeout_ms: Option<u32>,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// Become an opener of `device` (a path as the application wrote it, or a number).
    Open {
        /// Device path.
        device: String,
        /// Opened for reading.
        read: bool,
        /// Opened for writing.
        write: bool,
    },
    /// An ioctl with its raw argument bytes.
    Ioctl {
        /// Request number.
        request: u32,
        /// Argument bytes (exactly the request's size).
        arg: Vec<u8>,
        /// For EXT_CTRLS: the control array.
        extra: Vec<u8>,
        /// A blocking DQBUF: when no buffer is ready the daemon keeps the request ("parks" it)
        /// and answers the moment one is, instead of answering EAGAIN — the frame travels with
        /// the wake-up, one hop instead of a wake-up, a request and an answer. A parked
        /// connection sends nothing but [`Request::Cancel`] until it is answered.
        wait: bool,
        /// For DQBUF: buffers `(index, block)` whose every mapping in the client already shows
        /// that block, so that a frame in it needs no new memfd. A DQBUF that returns such a
        /// buffer with such a block is answered without the fd (a steady stream brings the
        /// same block back to the same buffer).
        shown: Vec<(u32, u64)>,
    },
    /// mmap() of a buffer cookie.
    Mmap {
        /// The offset argument.
        offset: u64,
        /// The length argument.
        length: u64,
        /// PROT_READ.
        prot_read: bool,
        /// PROT_WRITE.
        prot_write: bool,
        /// MAP_SHARED.
        shared: bool,
    },
    /// munmap() of a mapping made by `Mmap`.
    Munmap {
        /// Handle from `Response::Mapped`.
        handle: u64,
    },
    /// read() of up to `count` bytes.
    Read {
        /// Byte count.
        count: u32,
    },
    /// First half of write(): which block to fill.
    PrepareWrite,
    /// Second half of write(): publish `len` bytes.
    CommitWrite {
        /// Bytes written.
        len: u32,
    },
    /// The block behind output buffer `index` (USERPTR/DMABUF producers copy into it before QBUF).
    StagingBlock {
        /// Buffer index.
        index: u32,
    },
    /// The opener's readiness right now (for blocking calls that raced with the signal socket).
    Readiness,
    /// A signal interrupted the caller of a parked DQBUF: the daemon answers the parked request
    /// (with EINTR, or with the buffer if it was dequeued first), then answers this with `Ok`.
    Cancel,
}

/// Daemon → client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Answer to `Hello`.
    Hello {
        /// Daemon's protocol version.
        version: u16,
    },
    /// The request failed.
    Error {
        /// Linux errno.
        errno: i32,
        /// One-line explanation.
        message: String,
    },
    /// Success without data.
    Ok,
    /// A device.
    Device(DeviceInfo),
    /// Devices.
    Devices(Vec<DeviceInfo>),
    /// Answer to `Open`; the signal socket is attached.
    Opened {
        /// The device opened.
        device: DeviceInfo,
    },
    /// Answer to `Ioctl`. `result` is 0 or an errno; `arg`/`extra` are to be copied back
    /// when `copy_back` is set (on success, and for ioctls the kernel always copies back).
    Ioctl {
        /// 0 or errno.
        result: i32,
        /// Copy `arg`/`extra` back to the application.
        copy_back: bool,
        /// Result argument bytes.
        arg: Vec<u8>,
        /// Result control array.
        extra: Vec<u8>,
        /// DQBUF: the buffer index whose memory is now `block` (memfd attached if `Some`).
        dqbuf_index: Option<u32>,
        /// Block behind the dequeued buffer (or exported by EXPBUF).
        block: Option<BlockRef>,
    },
    /// Answer to `Mmap`; the block's memfd is attached when `block` is `Some`.
    Mapped {
        /// Handle for `Munmap`.
        handle: u64,
        /// Buffer index.
        index: u32,
        /// Memory to map (None: map anonymous zeroed memory).
        block: Option<BlockRef>,
        /// Map privately (capture side).
        private: bool,
    },
    /// A block (memfd attached): answer to `PrepareWrite` and `StagingBlock`.
    Block(BlockRef),
    /// Answer to `Read`; the block's memfd is attached unless `len` is 0.
    ReadChunk {
        /// Frame memory.
        block: Option<BlockRef>,
        /// Offset in the block.
        offset: u32,
        /// Bytes to copy.
        len: u32,
    },
    /// Answer to `CommitWrite`.
    Written {
        /// Byte count write() returns.
        len: u32,
    },
    /// Answer to `Readiness`: poll bits.
    Readiness {
        /// POLLIN/POLLOUT/POLLPRI/POLLERR bits.
        events: u32,
    },
}

/// A block of frame memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockRef {
    /// Daemon-wide block id (unique per device).
    pub id: u64,
    /// Size in bytes (page aligned).
    pub size: u64,
}

/// Options of `loopcam add`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSpec {
    /// Card label.
    pub label: Option<String>,
    /// Wanted device number (`/dev/videoN`), or the first free one.
    pub number: Option<u32>,
    /// exclusive_caps.
    pub exclusive_caps: bool,
    /// max_buffers.
    pub max_buffers: Option<u32>,
    /// max_openers.
    pub max_openers: Option<u32>,
    /// Split output/capture nodes.
    pub split: bool,
    /// Fixed caps `FOURCC:WxH@FPS`.
    pub caps: Option<String>,
    /// Initial sustain_framerate.
    pub sustain_framerate: bool,
    /// Initial timeout (ms).
    pub timeout_ms: Option<u32>,
    /// Strict single-reader mode.
    pub strict: bool,
    /// Owner uid (default: the creator's uid; only root may give a device away).
    pub owner: Option<u32>,
    /// Group gid (default: the creator's gid; root, or a member of the group).
    pub group: Option<u32>,
    /// Permission bits like a device node's, e.g. `0o660` (the default).
    pub mode: Option<u32>,
    /// Cap on the device's frame memory in bytes (default 1 GiB).
    pub max_memory: Option<u64>,
}

/// What `loopcam list/query` show.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Device number N.
    pub number: u32,
    /// Card label.
    pub label: String,
    /// Node paths: one, or output then capture for a split device.
    pub nodes: Vec<String>,
    /// Current pixel format fourcc ("YUYV").
    pub fourcc: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frame size in bytes.
    pub sizeimage: u32,
    /// Frame interval numerator.
    pub interval_num: u32,
    /// Frame interval denominator.
    pub interval_den: u32,
    /// Fixed caps string, if any.
    pub caps: Option<String>,
    /// exclusive_caps.
    pub exclusive_caps: bool,
    /// Split mode.
    pub split: bool,
    /// max_buffers.
    pub max_buffers: u32,
    /// max_openers.
    pub max_openers: u32,
    /// Open file descriptions.
    pub openers: u32,
    /// A producer holds the output.
    pub producer: bool,
    /// The producer is streaming.
    pub streaming: bool,
    /// Streaming consumers.
    pub readers: u32,
    /// Frames delivered since creation.
    pub frames: u64,
    /// Frame memory in bytes.
    pub memory_bytes: u64,
    /// keep_format control.
    pub keep_format: bool,
    /// sustain_framerate control.
    pub sustain_framerate: bool,
    /// timeout control (ms).
    pub timeout_ms: u32,
    /// Owner uid.
    pub owner: u32,
    /// Group gid.
    pub group: u32,
    /// Permission bits (`0o660`).
    pub mode: u32,
    /// Cap on the device's frame memory in bytes.
    pub max_memory: u64,
}
