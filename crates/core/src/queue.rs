//! One opener's buffer queue (rules F, G, H, I): buffer slots, their states, the incoming and
//! done FIFOs, and the bookkeeping that QUERYBUF reports.
//!
//! Every opener that streams has its own queue (DESIGN §3 items 1–2): the producer's OUTPUT
//! queue, and one CAPTURE queue per consumer with its own buffer count. A buffer is only ever in
//! one state, and DQBUF returns only buffers this queue queued and that are done, FIFO, once.

use std::collections::VecDeque;

use loopcam_abi::v4l2_timecode;

use crate::pool::{page_align, BlockId};
use crate::time::Nanos;

/// Direction of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// V4L2_BUF_TYPE_VIDEO_OUTPUT: the producer side.
    Output,
    /// V4L2_BUF_TYPE_VIDEO_CAPTURE: a consumer.
    Capture,
}

impl Dir {
    /// The single-planar buffer type of this direction.
    pub fn buf_type(self) -> u32 {
        match self {
            Dir::Output => loopcam_abi::V4L2_BUF_TYPE_VIDEO_OUTPUT,
            Dir::Capture => loopcam_abi::V4L2_BUF_TYPE_VIDEO_CAPTURE,
        }
    }

    /// Inverse of [`Dir::buf_type`].
    pub fn from_buf_type(t: u32) -> Option<Dir> {
        match t {
            loopcam_abi::V4L2_BUF_TYPE_VIDEO_OUTPUT => Some(Dir::Output),
            loopcam_abi::V4L2_BUF_TYPE_VIDEO_CAPTURE => Some(Dir::Capture),
            _ => None,
        }
    }
}

/// Streaming memory type (F1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// V4L2_MEMORY_MMAP.
    Mmap,
    /// V4L2_MEMORY_USERPTR (the client copies between the user pointer and the block).
    UserPtr,
    /// V4L2_MEMORY_DMABUF (the client maps the imported fd and copies).
    DmaBuf,
}

impl Memory {
    /// From the V4L2 value.
    pub fn from_raw(m: u32) -> Option<Memory> {
        match m {
            loopcam_abi::V4L2_MEMORY_MMAP => Some(Memory::Mmap),
            loopcam_abi::V4L2_MEMORY_USERPTR => Some(Memory::UserPtr),
            loopcam_abi::V4L2_MEMORY_DMABUF => Some(Memory::DmaBuf),
            _ => None,
        }
    }

    /// To the V4L2 value.
    pub fn raw(self) -> u32 {
        match self {
            Memory::Mmap => loopcam_abi::V4L2_MEMORY_MMAP,
            Memory::UserPtr => loopcam_abi::V4L2_MEMORY_USERPTR,
            Memory::DmaBuf => loopcam_abi::V4L2_MEMORY_DMABUF,
        }
    }
}

/// How the queue is driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    /// REQBUFS/QBUF/DQBUF.
    Streaming,
    /// read()/write() emulation (K5): buffers are internal and always queued.
    File,
}

/// The H.0 buffer state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufState {
    /// Owned by the application.
    Dequeued,
    /// PREPARE_BUF done, not queued (H18).
    Prepared,
    /// In the incoming queue (or waiting for a frame).
    Queued,
    /// On the done list.
    Done,
}

/// One published frame as seen by a buffer: the immutable block plus metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameMeta {
    /// The memory holding the pixels.
    pub block: BlockId,
    /// Payload size.
    pub bytesused: u32,
    /// CLOCK_MONOTONIC time the frame was handed to this buffer (H25, DESIGN §3.8).
    pub timestamp: Nanos,
    /// Device-wide frame counter at delivery (each delivery, repeats included, is new).
    pub sequence: u64,
    /// KEYFRAME/PFRAME/BFRAME/TIMECODE bits kept from the producer (H13).
    pub flags: u32,
    /// The producer's timecode (valid with V4L2_BUF_FLAG_TIMECODE).
    pub timecode: v4l2_timecode,
    /// Format generation the frame was produced in.
    pub fmt_gen: u64,
}

/// One buffer slot.
#[derive(Clone, Debug)]
pub struct Buffer {
    /// Index in the queue.
    pub index: u32,
    /// State.
    pub state: BufState,
    /// Capacity in bytes (QUERYBUF `length`).
    pub length: u32,
    /// MMAP cookie (G2).
    pub offset: u32,
    /// Output: the block the application fills (owned, one reference).
    /// Capture: the frame's block while DONE or dequeued (one reference).
    pub block: Option<BlockId>,
    /// Capture: the delivered frame. Output: the metadata of the last hand-off.
    pub frame: Option<FrameMeta>,
    /// Output: bytesused given at QBUF/PREPARE_BUF.
    pub bytesused: u32,
    /// Output: frame-type bits and timecode from QBUF.
    pub user_flags: u32,
    /// Output: timecode from QBUF.
    pub timecode: v4l2_timecode,
    /// Output: sequence number assigned at hand-off (O6).
    pub out_sequence: u32,
    /// Output: time of hand-off.
    pub out_timestamp: Nanos,
    /// USERPTR pointer or DMABUF fd given at QBUF, echoed at DQBUF (H24, J3).
    pub m: u64,
    /// USERPTR/DMABUF length given at QBUF.
    pub user_length: u32,
    /// Capture: the frame was not delivered intact (bytesused 0 with ERROR, O3).
    pub error: bool,
    /// Number of live mmaps (F16 MAPPED).
    pub maps: u32,
    /// Output: the block its last hand-off published (no reference of its own). If nothing
    /// but the device's last frame refers to it at DQBUF, the buffer keeps it (`Device::dqbuf`).
    pub published: Option<BlockId>,
    /// EXPBUF was called: `block` is pinned to this buffer (an fd refers to it), frames are
    /// copied into it (capture) or out of it (output) instead of swapping memory.
    pub exported: bool,
}

impl Buffer {
    fn new(index: u32, length: u32, offset: u32) -> Buffer {
        Buffer {
            index,
            state: BufState::Dequeued,
            length,
            offset,
            block: None,
            frame: None,
            bytesused: 0,
            user_flags: 0,
            timecode: v4l2_timecode::default(),
            out_sequence: 0,
            out_timestamp: 0,
            m: 0,
            user_length: 0,
            error: false,
            maps: 0,
            published: None,
            exported: false,
        }
    }
}

/// A queue of one opener.
#[derive(Clone, Debug)]
pub struct Queue {
    /// Direction.
    pub dir: Dir,
    /// Memory type of the current buffer set.
    pub memory: Memory,
    /// Streaming or file I/O.
    pub io: Io,
    /// Buffer slots, index = position.
    pub bufs: Vec<Buffer>,
    /// STREAMON state.
    pub streaming: bool,
    /// Capture: queued buffers waiting for a frame, FIFO.
    pub incoming: VecDeque<u32>,
    /// Done list, FIFO (H23).
    pub done: VecDeque<u32>,
    /// L5: capture streaming but nothing queued since STREAMON/REQBUFS/STREAMOFF.
    pub waiting_for_buffers: bool,
    /// Bumped on every (re)allocation, so stale mappings are recognised (F14).
    pub generation: u64,
    /// Format generation the buffers were sized for (DESIGN §3.5: never a frame of the wrong size).
    pub fmt_gen: u64,
    /// Capture: device frame counter at STREAMON; sequences are relative to it (H24).
    pub seq_base: u64,
    /// Capture: last sequence handed out (strictly increasing, H24).
    pub last_sequence: Option<u64>,
    /// Output: next hand-off sequence (O6).
    pub out_sequence: u32,
}

impl Queue {
    /// A queue with `count` buffers of `length` bytes.
    pub fn new(
        dir: Dir,
        memory: Memory,
        io: Io,
        count: u32,
        length: u32,
        generation: u64,
        fmt_gen: u64,
    ) -> Queue {
        let mut q = Queue {
            dir,
            memory,
            io,
            bufs: Vec::new(),
            streaming: false,
            incoming: VecDeque::new(),
            done: VecDeque::new(),
            waiting_for_buffers: true,
            generation,
            fmt_gen,
            seq_base: 0,
            last_sequence: None,
            out_sequence: 0,
        };
        q.append(count, length);
        q
    }

    /// Appends `count` buffers (CREATE_BUFS), page-aligned cookies packed as vb2 does (G2).
    pub fn append(&mut self, count: u32, length: u32) -> u32 {
        let first = self.bufs.len() as u32;
        for _ in 0..count {
            let offset = self
                .bufs
                .last()
                .map_or(0, |b| b.offset as u64 + page_align(b.length as u64));
            let index = self.bufs.len() as u32;
            // Cookies beyond u32 cannot happen: 32 buffers × the format size limit.
            self.bufs.push(Buffer::new(index, length, offset as u32));
        }
        first
    }

    /// Number of buffers.
    pub fn count(&self) -> u32 {
        self.bufs.len() as u32
    }

    /// The buffer whose mmap cookie is exactly `offset` (G2).
    pub fn by_offset(&self, offset: u64) -> Option<u32> {
        self.bufs
            .iter()
            .find(|b| b.offset as u64 == offset)
            .map(|b| b.index)
    }

    /// Any buffer mapped?
    pub fn any_mapped(&self) -> bool {
        self.bufs.iter().any(|b| b.maps > 0)
    }
}
