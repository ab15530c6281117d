//! read() and write() I/O (K1–K9): a small emulated queue per opener.
//!
//! Decisions (K8 [LB]): every write() is one frame; its payload is the bytes written, capped at
//! `sizeimage` so a raw frame's `bytesused` is exactly `sizeimage` however much was written
//! (defect #18 of reference/v4l2loopback.md §6). read() follows vb2 (K3): a short read consumes
//! part of the current frame and the next read continues in it.

use super::{Device, OpenerId};
use crate::errno::{Errno, VResult};
use crate::pool::BlockId;
use crate::queue::{BufState, Dir, Io, Memory};
use crate::time::Nanos;

/// Buffers of the read()/write() emulation (reported as readbuffers/writebuffers, K9).
pub const FILEIO_BUFFERS: u32 = 3;

/// A piece of a frame for read(): the host copies `len` bytes at `offset` of `block` to the
/// caller. The block stays valid until the opener's next read or close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadChunk {
    /// The frame's memory.
    pub block: BlockId,
    /// Offset inside the frame.
    pub offset: u32,
    /// Bytes to copy.
    pub len: u32,
}

impl Device {
    /// K5: the first read()/write() claims the queue and starts streaming.
    pub(crate) fn start_fileio(&mut self, id: OpenerId, dir: Dir, now: Nanos) -> VResult<()> {
        let op = self.opener(id)?;
        let allowed_mode = match dir {
            Dir::Capture => op.mode.read,
            Dir::Output => op.mode.write,
        };
        if !allowed_mode {
            return Err(Errno::EBADF);
        }
        if let Some(q) = &op.queue {
            if q.dir == dir && q.io == Io::File {
                return Ok(());
            }
            return Err(Errno::EBUSY); // K6
        }
        if !self.dir_allowed(id, dir) {
            return Err(Errno::EINVAL);
        }
        // DESIGN §3.2: one producer; any number of readers unless strict.
        match (dir, self.producer) {
            (Dir::Output, Some(p)) if p != id => return Err(Errno::EBUSY),
            _ => {}
        }
        if dir == Dir::Capture
            && self.cfg.strict_single_reader
            && self.capture_owner.is_some_and(|o| o != id)
        {
            return Err(Errno::EBUSY);
        }
        let count = match dir {
            Dir::Capture => FILEIO_BUFFERS,
            Dir::Output => 1,
        };
        self.opener_mut(id)?.pending_output_stream = false;
        self.allocate_queue(id, dir, Memory::Mmap, Io::File, count)?;
        let seq = self.frame_seq;
        let q = self.queue_mut(id, dir)?;
        q.streaming = true;
        q.waiting_for_buffers = false;
        if dir == Dir::Capture {
            q.seq_base = seq;
            for b in q.bufs.iter_mut() {
                b.state = BufState::Queued;
            }
            q.incoming = (0..count).collect();
            self.update_reader_count(now);
        } else {
            self.producer_started(now);
        }
        Ok(())
    }

    /// read(2) of up to `count` bytes. `Ok(None)` for count 0 (K2). EAGAIN when no frame is
    /// ready: a blocking caller waits for a wake-up and retries (K4).
    pub fn read(&mut self, id: OpenerId, count: u32, now: Nanos) -> VResult<Option<ReadChunk>> {
        if count == 0 {
            self.opener(id)?;
            return Ok(None);
        }
        self.start_fileio(id, Dir::Capture, now)?;
        // L1: reading consumes frames, so readiness may change; the host re-polls.
        self.wake.insert(id);
        loop {
            let cursor = self.opener(id)?.read_cursor;
            let q = self.queue_mut(id, Dir::Capture)?;
            let (index, consumed) = match cursor {
                Some((i, c))
                    if c < q.bufs[i as usize].frame.map_or(0, |f| f.bytesused)
                        && !q.bufs[i as usize].error =>
                {
                    (i, c)
                }
                other => {
                    // The previous frame is finished: give its buffer back to the device.
                    if let Some((i, _)) = other {
                        let buf = &mut q.bufs[i as usize];
                        buf.state = BufState::Queued;
                        buf.frame = None;
                        let old = buf.block.take();
                        q.incoming.push_back(i);
                        if let Some(b) = old {
                            self.pool.release(b);
                        }
                        self.opener_mut(id)?.read_cursor = None;
                    }
                    let q = self.queue_mut(id, Dir::Capture)?;
                    let i = q.done.pop_front().ok_or(Errno::EAGAIN)?;
                    q.bufs[i as usize].state = BufState::Dequeued;
                    self.opener_mut(id)?.read_cursor = Some((i, 0));
                    continue;
                }
            };
            let buf = &q.bufs[index as usize];
            let frame = buf.frame.expect("a dequeued read buffer holds a frame");
            let len = count.min(frame.bytesused - consumed);
            self.opener_mut(id)?.read_cursor = Some((index, consumed + len));
            return Ok(Some(ReadChunk {
                block: frame.block,
                offset: consumed,
                len,
            }));
        }
    }

    /// write(2), first half: the block the caller must fill before [`Device::commit_write`].
    /// Claims the output direction and starts the stream (K5, and the OBS sequence S_FMT →
    /// STREAMON → write(), DESIGN §3.6).
    pub fn prepare_write(&mut self, id: OpenerId, now: Nanos) -> VResult<BlockId> {
        self.start_fileio(id, Dir::Output, now)?;
        // Out of memory: EAGAIN, a blocking write() waits for POLLOUT (see `dqbuf`).
        self.ensure_output_block(id, 0)
            .map_err(|e| if e == Errno::ENOMEM { Errno::EAGAIN } else { e })
    }

    /// write(2), second half: publishes the `len` bytes written into the prepared block as one
    /// frame. Returns the byte count write() reports (all of it: K8 truncation is silent).
    pub fn commit_write(&mut self, id: OpenerId, len: u32, now: Nanos) -> VResult<u32> {
        let q = self.queue_mut(id, Dir::Output)?;
        if q.io != Io::File || q.bufs[0].block.is_none() {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(0); // K2: write(0) is no frame (never an empty frame, H24)
        }
        let buf = &mut q.bufs[0];
        buf.bytesused = len.min(buf.length);
        buf.user_flags = 0;
        buf.state = BufState::Queued;
        q.incoming.push_back(0);
        self.hand_off_queued(id, now);
        let q = self.queue_mut(id, Dir::Output)?;
        q.done.clear();
        q.bufs[0].state = BufState::Dequeued;
        Ok(len)
    }
}
