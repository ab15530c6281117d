//! Buffer allocation, queueing and streaming (F, G, H, I, J).

use loopcam_abi::*;

use super::{Device, OpenerId};
use crate::config::MAX_BUFFERS_LIMIT;
use crate::errno::{Errno, VResult};
use crate::pool::{page_align, BlockId};
use crate::queue::{BufState, Dir, FrameMeta, Io, Memory, Queue};
use crate::time::Nanos;

/// F2: what REQBUFS/CREATE_BUFS report. USERPTR and DMABUF are served by a copy in the client
/// (DESIGN §3.4: at most one copy); buffers are orphaned, never refused, while mapped (F14).
pub const BUF_CAPS: u32 = V4L2_BUF_CAP_SUPPORTS_MMAP
    | V4L2_BUF_CAP_SUPPORTS_USERPTR
    | V4L2_BUF_CAP_SUPPORTS_DMABUF
    | V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS;
// SUPPORTS_MAX_NUM_BUFFERS is not reported (F13 makes it optional): v4l-utils before 1.26
// still sees `max_num_buffers` as part of `reserved` and fails if it is not zero.

/// Flags an application may pass on output buffers (H13); everything else is recomputed.
/// Mappings one opener may hold at once: Linux's default `vm.max_map_count`.
pub const MAX_MAPS_PER_OPENER: usize = 65530;

const OUTPUT_USER_FLAGS: u32 =
    V4L2_BUF_FLAG_KEYFRAME | V4L2_BUF_FLAG_PFRAME | V4L2_BUF_FLAG_BFRAME | V4L2_BUF_FLAG_TIMECODE;

/// Result of a successful DQBUF beyond the filled struct: the memory now behind the buffer.
/// The host remaps the client's mapping of `index` onto `block` (zero copy, DESIGN §3.4), or
/// copies it out for USERPTR/DMABUF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DqbufOut {
    /// Buffer index.
    pub index: u32,
    /// Block now bound to the buffer.
    pub block: Option<BlockId>,
}

/// Result of a successful mmap(): what to map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapInfo {
    /// Handle to pass to [`Device::munmap`].
    pub handle: u64,
    /// Buffer index.
    pub index: u32,
    /// Block to map; `None` for a capture buffer that has not received a frame yet (map blank
    /// memory of `length` bytes).
    pub block: Option<BlockId>,
    /// Mapping length.
    pub length: u64,
    /// Capture mappings are private to the consumer (a write into one cannot change what
    /// others see).
    pub dir: Dir,
}

/// Result of EXPBUF: the host turns `block` into a new fd and stores it in the struct, and
/// remaps the client's mappings of buffer `index` onto it (the buffer's memory is now pinned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpbufOut {
    /// Buffer index.
    pub index: u32,
    /// Block to export.
    pub block: BlockId,
}

impl Device {
    /// F9/F10: the queue `id` may operate on for `dir`. EBUSY when another opener owns it.
    pub(crate) fn owner_check(&self, id: OpenerId, dir: Dir) -> VResult<()> {
        match dir {
            Dir::Output => match self.producer {
                Some(p) if p != id => Err(Errno::EBUSY),
                _ => Ok(()),
            },
            Dir::Capture => match self.capture_owner {
                Some(p) if p != id && self.cfg.strict_single_reader => Err(Errno::EBUSY),
                _ => Ok(()),
            },
        }
    }

    pub(crate) fn queue_mut(&mut self, id: OpenerId, dir: Dir) -> VResult<&mut Queue> {
        let q = self.opener_mut(id)?.queue.as_mut().ok_or(Errno::EINVAL)?;
        if q.dir != dir {
            return Err(Errno::EINVAL);
        }
        Ok(q)
    }

    /// Frees the opener's queue: implicit STREAMOFF, frame references dropped, ownership
    /// cleared (B10, F7). Mappings stay valid in the host (F14 orphaning).
    pub(crate) fn release_queue(&mut self, id: OpenerId, now: Nanos) {
        let Some(op) = self.openers.get_mut(&id) else {
            return;
        };
        op.read_cursor = None;
        op.maps.clear();
        let Some(q) = op.queue.take() else {
            return;
        };
        let was_streaming = q.streaming;
        for b in &q.bufs {
            if let Some(block) = b.block {
                self.pool.release(block);
            }
        }
        match q.dir {
            Dir::Output => {
                if self.producer == Some(id) {
                    self.producer = None;
                    if was_streaming {
                        self.producer_stopped(now);
                    }
                }
            }
            Dir::Capture => {
                if self.capture_owner == Some(id) {
                    self.capture_owner = None;
                }
                if was_streaming {
                    self.update_reader_count(now);
                }
            }
        }
        self.wake.insert(id);
    }

    /// VIDIOC_REQBUFS (F1–F10, DESIGN §3.5).
    pub fn reqbufs(
        &mut self,
        id: OpenerId,
        r: &mut v4l2_requestbuffers,
        now: Nanos,
    ) -> VResult<()> {
        self.check_prio(id)?;
        let dir = self.check_type(id, r.type_)?;
        let memory = Memory::from_raw(r.memory).ok_or(Errno::EINVAL)?;
        self.owner_check(id, dir)?;
        let op = self.opener(id)?;
        if let Some(q) = &op.queue {
            if q.dir != dir && q.count() > 0 {
                return Err(Errno::EBUSY); // F10: one fd, one stream
            }
            if q.io == Io::File {
                return Err(Errno::EBUSY); // K6
            }
            if q.streaming && r.count > 0 {
                return Err(Errno::EBUSY); // F8
            }
        }
        self.opener_mut(id)?.used_reqbufs = true;
        // DESIGN §3.5: REQBUFS(0) releases the claim and implies STREAMOFF.
        self.release_queue(id, now);
        let op = self.opener_mut(id)?;
        // L1: REQBUFS ends an OBS-style pending output stream (DESIGN §3.6) like STREAMOFF
        // does: consumers and pollers must hear of it.
        let was_pending = std::mem::replace(&mut op.pending_output_stream, false);
        if r.count == 0 {
            if op.claim == Some(dir) {
                op.claim = None;
            }
            if dir == Dir::Output && self.producer == Some(id) {
                self.producer = None;
            }
        } else {
            let count = r.count.clamp(1, self.cfg.max_buffers);
            self.allocate_queue(id, dir, memory, Io::Streaming, count)?;
            r.count = count;
        }
        if was_pending {
            self.producer_stopped(now);
        }
        r.capabilities = BUF_CAPS;
        // F4: no cache hints.
        r.flags = 0;
        r.reserved = [0; 3];
        Ok(())
    }

    pub(crate) fn allocate_queue(
        &mut self,
        id: OpenerId,
        dir: Dir,
        memory: Memory,
        io: Io,
        count: u32,
    ) -> VResult<()> {
        let length = self.fmt.sizeimage;
        // F5: refuse up front what the memory limit could never hold.
        if count as u64 * page_align(length.into()) > self.cfg.memory_limit {
            return Err(Errno::ENOMEM);
        }
        let gen = self.next_generation;
        self.next_generation += 1;
        let q = Queue::new(dir, memory, io, count, length, gen, self.fmt_gen);
        let op = self.opener_mut(id)?;
        op.queue = Some(q);
        op.claim = Some(dir);
        // L1: a new, not yet streaming queue polls as POLLERR (L4): readiness changed.
        self.wake.insert(id);
        match dir {
            Dir::Output => self.producer = Some(id),
            Dir::Capture => {
                if self.cfg.strict_single_reader {
                    self.capture_owner = Some(id);
                }
            }
        }
        Ok(())
    }

    /// VIDIOC_CREATE_BUFS (F11–F13).
    pub fn create_bufs(
        &mut self,
        id: OpenerId,
        c: &mut v4l2_create_buffers,
        now: Nanos,
    ) -> VResult<()> {
        let _ = now;
        self.check_prio(id)?;
        let memory = Memory::from_raw(c.memory).ok_or(Errno::EINVAL)?;
        let dir = self.check_type(id, c.format.type_)?;
        let existing = self
            .opener(id)?
            .queue
            .as_ref()
            .filter(|q| q.dir == dir)
            .map_or(0, |q| q.count());
        c.capabilities = BUF_CAPS;
        c.flags = 0;
        c.max_num_buffers = 0;
        c.reserved = [0; 5];
        if c.count == 0 {
            // F11: validation only, never EBUSY.
            // F11: index = the count of the queue this fd would use: the producer's, or in
            // strict single-reader mode the capture owner's.
            let owner = match dir {
                Dir::Output => self.producer,
                Dir::Capture => self.capture_owner,
            };
            c.index = match owner {
                Some(o) if o != id => self.openers[&o].queue.as_ref().map_or(0, |q| q.count()),
                _ => existing,
            };
            return Ok(());
        }
        self.owner_check(id, dir)?;
        let sizeimage = c.format.pix().sizeimage;
        if sizeimage == 0 || sizeimage < self.fmt.sizeimage {
            return Err(Errno::EINVAL); // F12
        }
        if let Some(q) = &self.opener(id)?.queue {
            if q.dir != dir && q.count() > 0 {
                return Err(Errno::EBUSY);
            }
            if q.io == Io::File {
                return Err(Errno::EBUSY);
            }
            if q.dir == dir && q.count() > 0 && q.memory != memory {
                return Err(Errno::EINVAL);
            }
        }
        if existing >= self.cfg.max_buffers {
            return Err(Errno::ENOBUFS); // F13
        }
        let count = c.count.min(self.cfg.max_buffers - existing);
        if self.opener(id)?.queue.as_ref().is_none_or(|q| q.dir != dir) {
            self.release_queue(id, now);
            self.allocate_queue(id, dir, memory, Io::Streaming, 0)?;
        }
        self.opener_mut(id)?.used_reqbufs = true;
        let q = self.queue_mut(id, dir)?;
        c.index = q.append(count, sizeimage);
        c.count = count;
        Ok(())
    }

    /// VIDIOC_QUERYBUF (F15, F16). Any opener may query the producer's OUTPUT buffers.
    pub fn querybuf(&self, id: OpenerId, b: &mut v4l2_buffer) -> VResult<()> {
        let dir = self.check_type(id, b.type_)?;
        let own = self.opener(id)?.queue.as_ref().filter(|q| q.dir == dir);
        let q = match (own, dir, self.producer) {
            (Some(q), _, _) => q,
            (None, Dir::Output, Some(p)) => self.openers[&p].queue.as_ref().ok_or(Errno::EINVAL)?,
            // F15: no ownership check; in strict single-reader mode the capture queue is the
            // owner's, as on a plain vb2 queue.
            (None, Dir::Capture, _) if self.capture_owner.is_some() => self
                .capture_owner
                .and_then(|o| self.openers[&o].queue.as_ref())
                .ok_or(Errno::EINVAL)?,
            _ => return Err(Errno::EINVAL),
        };
        let buf = q.bufs.get(b.index as usize).ok_or(Errno::EINVAL)?;
        fill_buffer(q, buf.index, b);
        Ok(())
    }

    /// Shared validation of QBUF and PREPARE_BUF (H1–H12). Returns the direction.
    fn check_qbuf(&self, id: OpenerId, b: &v4l2_buffer, prepare: bool) -> VResult<Dir> {
        let dir = self.check_type(id, b.type_)?;
        self.owner_check(id, dir)?;
        let q = self
            .opener(id)?
            .queue
            .as_ref()
            .filter(|q| q.count() > 0)
            .ok_or(Errno::EINVAL)?; // H5
        if q.dir != dir {
            return Err(Errno::EINVAL); // H1
        }
        if q.io == Io::File {
            return Err(Errno::EBUSY); // H11
        }
        let buf = q.bufs.get(b.index as usize).ok_or(Errno::EINVAL)?; // H2
                                                                      // DESIGN §3.6 leniency: memory = 0 means "the queue's memory" (conferencing apps).
        if b.memory != 0 && b.memory != q.memory.raw() {
            return Err(Errno::EINVAL); // H3
        }
        if b.flags & V4L2_BUF_FLAG_REQUEST_FD != 0 {
            return Err(if prepare { Errno::EINVAL } else { Errno::EBADR }); // H9
        }
        match buf.state {
            BufState::Dequeued => {}
            BufState::Prepared if !prepare => {}
            _ => return Err(Errno::EINVAL), // H8, H18
        }
        let length = match q.memory {
            Memory::Mmap => buf.length,
            Memory::UserPtr | Memory::DmaBuf if buf.state == BufState::Prepared => buf.user_length,
            Memory::UserPtr => {
                if b.m_userptr() == 0 || b.length < self.fmt.sizeimage {
                    return Err(Errno::EINVAL); // H12
                }
                b.length
            }
            Memory::DmaBuf => {
                if b.m_fd() < 0 || (b.length != 0 && b.length < self.fmt.sizeimage) {
                    return Err(Errno::EINVAL); // H12, J2
                }
                if b.length == 0 {
                    self.fmt.sizeimage
                } else {
                    b.length
                }
            }
        };
        if buf.state == BufState::Prepared {
            return Ok(dir);
        }
        match dir {
            Dir::Output => {
                if b.bytesused > length {
                    return Err(Errno::EINVAL); // H6
                }
                if b.field == V4L2_FIELD_ALTERNATE {
                    return Err(Errno::EINVAL); // H7
                }
            }
            Dir::Capture => {
                if length < self.fmt.sizeimage && q.fmt_gen == self.fmt_gen {
                    return Err(Errno::EINVAL); // E15
                }
            }
        }
        Ok(dir)
    }

    /// Records the QBUF/PREPARE_BUF arguments in the buffer.
    fn store_qbuf_args(&mut self, id: OpenerId, dir: Dir, b: &v4l2_buffer) -> VResult<()> {
        let q = self.queue_mut(id, dir)?;
        let memory = q.memory;
        let buf = &mut q.bufs[b.index as usize];
        if buf.state == BufState::Prepared {
            return Ok(()); // H18: values captured at prepare time win
        }
        match memory {
            Memory::Mmap => buf.m = 0,
            Memory::UserPtr => {
                buf.m = b.m_userptr();
                buf.user_length = b.length;
            }
            Memory::DmaBuf => {
                buf.m = b.m_fd() as u32 as u64;
                buf.user_length = b.length;
            }
        }
        if dir == Dir::Output {
            let cap = match memory {
                Memory::Mmap => buf.length,
                _ if buf.user_length == 0 => buf.length,
                _ => buf.user_length.min(buf.length),
            };
            // H15: bytesused 0 means the whole buffer.
            buf.bytesused = if b.bytesused == 0 {
                cap
            } else {
                b.bytesused.min(buf.length)
            };
            buf.user_flags = b.flags & OUTPUT_USER_FLAGS;
            buf.timecode = b.timecode;
        }
        Ok(())
    }

    /// VIDIOC_PREPARE_BUF (H18).
    pub fn prepare_buf(&mut self, id: OpenerId, b: &mut v4l2_buffer) -> VResult<()> {
        let dir = self.check_qbuf(id, b, true)?;
        self.store_qbuf_args(id, dir, b)?;
        let q = self.queue_mut(id, dir)?;
        q.bufs[b.index as usize].state = BufState::Prepared;
        fill_buffer(q, b.index, b);
        Ok(())
    }

    /// VIDIOC_QBUF (H1–H17). On a streaming output queue the frame is handed off at once.
    pub fn qbuf(&mut self, id: OpenerId, b: &mut v4l2_buffer, now: Nanos) -> VResult<()> {
        let dir = self.check_qbuf(id, b, false)?;
        if dir == Dir::Output {
            // The block behind the buffer must exist (an app may QBUF without mapping).
            self.ensure_output_block(id, b.index)?;
        }
        self.store_qbuf_args(id, dir, b)?;
        let index = b.index;
        let q = self.queue_mut(id, dir)?;
        let buf = &mut q.bufs[index as usize];
        buf.state = BufState::Queued;
        buf.error = false;
        let streaming = q.streaming;
        match dir {
            Dir::Capture => {
                // The previous frame is released when the buffer goes back to the device
                // (an exported buffer keeps its pinned memory).
                let old = if buf.exported { None } else { buf.block.take() };
                buf.frame = None;
                q.incoming.push_back(index);
                q.waiting_for_buffers = false; // L5
                if let Some(block) = old {
                    self.pool.release(block);
                }
                self.wake.insert(id);
            }
            Dir::Output => {
                q.incoming.push_back(index);
                // H14: the caller sees the buffer QUEUED even when the hand-off below completes
                // it at once (v4l2-compliance fails on DONE in the QBUF result).
                fill_buffer(q, index, b);
                if streaming {
                    self.hand_off_queued(id, now);
                }
            }
        }
        if dir == Dir::Capture {
            let q = self.queue_mut(id, dir)?;
            fill_buffer(q, index, b);
        }
        // H14: a queued buffer reports sequence 0 and timestamp 0.
        b.sequence = 0;
        b.timestamp = timeval::default();
        Ok(())
    }

    /// Allocates the output buffer's block if it has none.
    pub(crate) fn ensure_output_block(&mut self, id: OpenerId, index: u32) -> VResult<BlockId> {
        let size = {
            let q = self.queue_mut(id, Dir::Output)?;
            let buf = q.bufs.get(index as usize).ok_or(Errno::EINVAL)?;
            if let Some(b) = buf.block {
                return Ok(b);
            }
            buf.length
        };
        let block = match self.pool.get(size.into()) {
            Err(Errno::ENOMEM) if self.reclaim_last() => self.pool.get(size.into())?,
            r => r?,
        };
        self.queue_mut(id, Dir::Output)?.bufs[index as usize].block = Some(block);
        Ok(block)
    }

    /// The last frame's block when nothing but the device's copy of the last frame refers to
    /// it: memory a producer short of memory may take back (the last frame only serves
    /// sustain_framerate repeats, which the producer's next frame makes unnecessary).
    fn reclaimable_last(&self) -> Option<BlockId> {
        self.last
            .map(|f| f.block)
            .filter(|b| self.pool.refs(*b) == 1)
    }

    fn reclaim_last(&mut self) -> bool {
        let Some(block) = self.reclaimable_last() else {
            return false;
        };
        self.last = None;
        self.pool.release(block);
        true
    }

    /// A frame no consumer took (or every consumer already gave back) is referred to by
    /// nobody, or only by the device's last frame: the producer may keep writing into that
    /// memory, so its DQBUF needs no fresh block, no fd passing and no remap (whose page
    /// faults cost a producer that writes whole frames ~1 ms per 1080p frame on a VM). The
    /// last frame is kept intact with sustain_framerate, which repeats it.
    fn keep_published(&mut self, id: OpenerId, index: u32) -> bool {
        let Some(p) = self
            .opener(id)
            .ok()
            .and_then(|o| o.queue.as_ref())
            .and_then(|q| q.bufs.get(index as usize))
            .filter(|b| b.block.is_none())
            .and_then(|b| b.published)
        else {
            return false;
        };
        let is_last = self.last.is_some_and(|f| f.block == p);
        let kept = if is_last {
            // The last frame's reference becomes the buffer's.
            let unshared = self.pool.refs(p) == 1 && !self.controls.sustain_framerate();
            if unshared {
                self.last = None;
            }
            unshared
        } else {
            self.pool.revive(p)
        };
        if kept {
            let buf =
                &mut self.queue_mut(id, Dir::Output).expect("output queue").bufs[index as usize];
            buf.block = Some(p);
            buf.published = None;
        }
        kept
    }

    /// The output buffer whose memory the next DQBUF (streaming) or write() (file I/O) of
    /// producer `id` needs, when it has none yet: DQBUF hands the producer fresh memory (the
    /// published block belongs to the consumers, DESIGN §3.3).
    pub(crate) fn output_needs_block(&self, id: OpenerId) -> Option<u32> {
        let q = self.openers.get(&id)?.queue.as_ref()?;
        if q.dir != Dir::Output || !q.streaming {
            return None;
        }
        let index = match q.io {
            Io::File => 0,
            _ if q.memory == Memory::Mmap => *q.done.front()?,
            _ => return None,
        };
        let buf = q.bufs.get(index as usize)?;
        buf.block.is_none().then_some(index)
    }

    /// DESIGN §3.7 with a memory limit: the producer's next DQBUF/write() can get the memory
    /// it needs (else it waits, like a producer whose consumers hold every buffer, until a
    /// consumer returns a frame: [`Device::take_wakeups`] wakes it then).
    pub(crate) fn output_memory_ready(&self, id: OpenerId) -> bool {
        let Some(index) = self.output_needs_block(id) else {
            return true;
        };
        let q = self.openers[&id].queue.as_ref().expect("output queue");
        let size = u64::from(q.bufs[index as usize].length);
        self.pool.can_get(size, self.reclaimable_last())
    }

    /// The block behind an output buffer, allocated if needed: where a USERPTR/DMABUF client
    /// copies the application's data before QBUF.
    pub fn output_staging_block(&mut self, id: OpenerId, index: u32) -> VResult<BlockId> {
        self.owner_check(id, Dir::Output)?;
        self.ensure_output_block(id, index)
    }

    /// VIDIOC_DQBUF (H19–H27). `EAGAIN` when nothing is done: a blocking caller waits for a
    /// wake-up and retries.
    pub fn dqbuf(&mut self, id: OpenerId, b: &mut v4l2_buffer) -> VResult<DqbufOut> {
        let dir = self.check_type(id, b.type_)?;
        self.owner_check(id, dir)?;
        let q = self
            .opener(id)?
            .queue
            .as_ref()
            .filter(|q| q.dir == dir && q.count() > 0)
            .ok_or(Errno::EINVAL)?;
        if q.io == Io::File {
            return Err(Errno::EBUSY);
        }
        if b.memory != 0 && b.memory != q.memory.raw() {
            return Err(Errno::EINVAL);
        }
        if !q.streaming {
            return Err(Errno::EINVAL); // H20
        }
        let index = *q.done.front().ok_or(Errno::EAGAIN)?;
        let mut block = q.bufs[index as usize].block;
        let output_mmap = dir == Dir::Output && q.memory == Memory::Mmap;
        if output_mmap && self.keep_published(id, index) {
            // The application's mapping already shows this memory: nothing to remap.
            block = None;
        } else if output_mmap {
            // The published block belongs to the consumers now; the producer gets fresh memory
            // to fill (no tearing, DESIGN §3.3). Allocate before popping so ENOMEM leaves the
            // queue untouched.
            // Out of memory (consumers hold it all, within the limit): EAGAIN, so a blocking
            // DQBUF waits for a consumer to return a frame and poll shows no POLLOUT (DESIGN
            // §3.7); ENOMEM would end ffmpeg or GStreamer for a transient shortage. Found by the
            // core_ops fuzz target (POLLOUT set while DQBUF failed).
            block = Some(self.ensure_output_block(id, index).map_err(|e| {
                if e == Errno::ENOMEM {
                    Errno::EAGAIN
                } else {
                    e
                }
            })?);
        }
        // L1: emptying the done list ends POLLIN/POLLOUT; the host must re-poll this opener
        // (a level-triggered poller would otherwise spin on a stale readiness).
        self.wake.insert(id);
        let q = self.queue_mut(id, dir)?;
        q.done.pop_front();
        let buf = &mut q.bufs[index as usize];
        buf.state = BufState::Dequeued;
        if let Some(f) = buf.frame {
            q.last_sequence = Some(f.sequence);
        }
        fill_buffer(q, index, b);
        Ok(DqbufOut { index, block })
    }

    /// VIDIOC_STREAMON (I1–I4, I8, DESIGN §3.6).
    pub fn streamon(&mut self, id: OpenerId, type_: u32, now: Nanos) -> VResult<()> {
        self.check_prio(id)?;
        let dir = self.check_type(id, type_)?;
        self.owner_check(id, dir)?;
        let op = self.opener(id)?;
        match &op.queue {
            Some(q) if q.dir != dir => return Err(Errno::EBUSY), // F10
            Some(q) if q.io == Io::File => return Err(Errno::EBUSY),
            Some(q) if q.count() > 0 => {}
            _ => {
                // DESIGN §3.6 (OBS ≤ 31): S_FMT → STREAMON(OUTPUT) → write(). Only for an fd
                // that never used REQBUFS; otherwise I2 (v4l2-compliance: REQBUFS(0), then
                // STREAMON → EINVAL).
                if dir == Dir::Output && !op.used_reqbufs && op.mode.write {
                    let op = self.opener_mut(id)?;
                    op.pending_output_stream = true;
                    op.claim = Some(Dir::Output);
                    self.producer = Some(id);
                    self.producer_started(now);
                    return Ok(());
                }
                return Err(Errno::EINVAL); // I2
            }
        }
        let frame_seq = self.frame_seq;
        let q = self.queue_mut(id, dir)?;
        if q.streaming {
            return Ok(()); // I4
        }
        q.streaming = true;
        match dir {
            Dir::Capture => {
                q.seq_base = frame_seq;
                q.last_sequence = None;
                self.update_reader_count(now);
            }
            Dir::Output => {
                self.producer_started(now);
                self.hand_off_queued(id, now);
            }
        }
        self.wake.insert(id);
        Ok(())
    }

    /// VIDIOC_STREAMOFF (I4, I5, I7).
    pub fn streamoff(&mut self, id: OpenerId, type_: u32, now: Nanos) -> VResult<()> {
        self.check_prio(id)?;
        let dir = self.check_type(id, type_)?;
        self.owner_check(id, dir)?;
        let op = self.opener_mut(id)?;
        if op.pending_output_stream && dir == Dir::Output {
            op.pending_output_stream = false;
            self.producer_stopped(now);
            return Ok(());
        }
        let Some(q) = op.queue.as_mut().filter(|q| q.dir == dir) else {
            if op.queue.is_some() {
                return Err(Errno::EINVAL);
            }
            return Ok(()); // I7
        };
        if q.io == Io::File {
            if dir == Dir::Output {
                // DESIGN §3.6 (OBS ≤ 31: S_FMT → STREAMON → write() … STREAMOFF → close): the
                // producer ends its write() stream; vb2 would say EBUSY, OBS only logs it.
                self.release_queue(id, now);
                if let Ok(op) = self.opener_mut(id) {
                    op.claim = None;
                }
                return Ok(());
            }
            return Err(Errno::EBUSY);
        }
        let was = q.streaming;
        q.streaming = false;
        q.incoming.clear();
        q.done.clear();
        q.waiting_for_buffers = true;
        for b in q.bufs.iter_mut() {
            b.state = BufState::Dequeued;
        }
        self.wake.insert(id);
        if was {
            match dir {
                Dir::Output => self.producer_stopped(now),
                Dir::Capture => self.update_reader_count(now),
            }
        }
        Ok(())
    }

    /// VIDIOC_EXPBUF (J1).
    pub fn expbuf(&mut self, id: OpenerId, e: &mut v4l2_exportbuffer) -> VResult<ExpbufOut> {
        let dir = self.check_type(id, e.type_)?;
        const O_ACCMODE: u32 = 3;
        const O_CLOEXEC: u32 = 0o2000000;
        if e.flags & !(O_ACCMODE | O_CLOEXEC) != 0 || e.plane != 0 {
            return Err(Errno::EINVAL);
        }
        self.owner_check(id, dir)?;
        let q = self
            .opener(id)?
            .queue
            .as_ref()
            .filter(|q| q.dir == dir && q.count() > 0)
            .ok_or(Errno::EINVAL)?;
        if q.io == Io::File {
            return Err(Errno::EBUSY);
        }
        if q.memory != Memory::Mmap {
            return Err(Errno::EINVAL);
        }
        let buf = q.bufs.get(e.index as usize).ok_or(Errno::EINVAL)?;
        let (exported, current, length) = (buf.exported, buf.block, buf.length);
        let block = match (dir, current) {
            // Already pinned: another fd for the same memory.
            (_, Some(b)) if exported => b,
            (Dir::Output, _) => self.ensure_output_block(id, e.index)?,
            (Dir::Capture, held) => {
                // A capture buffer gets memory of its own, pinned to it from now on; the frame
                // it holds (a block shared with other consumers) is copied in (J1).
                let pinned = self.pool.get(length.into())?;
                if let Some(frame_block) = held {
                    let len = self.queue_mut(id, dir)?.bufs[e.index as usize]
                        .frame
                        .map_or(0, |f| f.bytesused);
                    self.pool.copy(frame_block, pinned, len.into());
                    self.pool.release(frame_block);
                }
                let buf = &mut self.queue_mut(id, dir)?.bufs[e.index as usize];
                buf.block = Some(pinned);
                if let Some(f) = buf.frame.as_mut() {
                    f.block = pinned;
                }
                pinned
            }
        };
        self.queue_mut(id, dir)?.bufs[e.index as usize].exported = true;
        e.reserved = [0; 11];
        e.fd = -1; // set by the host
        Ok(ExpbufOut {
            index: e.index,
            block,
        })
    }

    /// mmap(2) of `offset` (G1–G5). `prot_write` / `shared` are the PROT_WRITE and MAP_SHARED
    /// bits of the call.
    pub fn mmap(
        &mut self,
        id: OpenerId,
        offset: u64,
        length: u64,
        prot_read: bool,
        prot_write: bool,
        shared: bool,
    ) -> VResult<MapInfo> {
        let op = self.opener(id)?;
        // The kernel refuses a process's mapping past vm.max_map_count with ENOMEM; the model
        // caps each opener the same way, so a client that maps without unmapping cannot grow
        // the daemon without bound (issue 7, limits).
        if op.maps.len() >= MAX_MAPS_PER_OPENER {
            return Err(Errno::ENOMEM);
        }
        let writable = op.mode.write;
        let q = op.queue.as_ref().ok_or(Errno::EINVAL)?; // G5
        if q.io == Io::File {
            return Err(Errno::EBUSY);
        }
        if q.memory != Memory::Mmap {
            return Err(Errno::EINVAL);
        }
        let index = q.by_offset(offset).ok_or(Errno::EINVAL)?; // G2
        let buf = &q.bufs[index as usize];
        if length == 0 || length > page_align(buf.length.into()) {
            return Err(Errno::EINVAL); // G3
        }
        if !shared {
            return Err(Errno::EINVAL); // G4
        }
        let dir = q.dir;
        match dir {
            Dir::Output if !prot_write => return Err(Errno::EINVAL),
            Dir::Capture if !prot_read => return Err(Errno::EINVAL),
            _ => {}
        }
        if prot_write && !writable {
            return Err(Errno::EACCES); // G4 (VFS rule)
        }
        let generation = q.generation;
        let block = match dir {
            Dir::Output => Some(self.ensure_output_block(id, index)?),
            Dir::Capture => q.bufs[index as usize].block,
        };
        let handle = self.next_map;
        self.next_map += 1;
        let op = self.opener_mut(id)?;
        op.maps.insert(handle, (generation, index));
        if let Some(q) = op.queue.as_mut() {
            q.bufs[index as usize].maps += 1;
        }
        Ok(MapInfo {
            handle,
            index,
            block,
            length,
            dir,
        })
    }

    /// munmap(2) of a mapping made by [`Device::mmap`] (G7). Stale handles (the queue was
    /// freed meanwhile, F14) are ignored.
    pub fn munmap(&mut self, id: OpenerId, handle: u64) {
        let Some(op) = self.openers.get_mut(&id) else {
            return;
        };
        let Some((generation, index)) = op.maps.remove(&handle) else {
            return;
        };
        if let Some(q) = op.queue.as_mut().filter(|q| q.generation == generation) {
            if let Some(b) = q.bufs.get_mut(index as usize) {
                b.maps = b.maps.saturating_sub(1);
            }
        }
    }

    /// Hands off every queued output buffer of a streaming producer (O4, O5).
    pub(crate) fn hand_off_queued(&mut self, id: OpenerId, now: Nanos) {
        loop {
            let Ok(q) = self.queue_mut(id, Dir::Output) else {
                return;
            };
            let Some(index) = q.incoming.pop_front() else {
                return;
            };
            let seq = q.out_sequence;
            q.out_sequence = q.out_sequence.wrapping_add(1);
            q.done.push_back(index);
            let buf = &mut q.bufs[index as usize];
            buf.state = BufState::Done;
            buf.out_sequence = seq;
            buf.out_timestamp = now;
            let bytesused = buf.bytesused.min(buf.length);
            let flags = buf.user_flags;
            let timecode = buf.timecode;
            let (exported, length) = (buf.exported, buf.length);
            let block = if exported {
                // J1/DESIGN §3.3: the exported memory stays the producer's (its fd can still
                // write into it), so consumers get a copy, never the pinned block itself.
                let Some(pinned) = buf.block else {
                    continue;
                };
                match self.pool.get(length.into()) {
                    Ok(b) => {
                        self.pool.copy(pinned, b, bytesused.into());
                        Some(b)
                    }
                    Err(_) => None, // out of memory: this frame is dropped
                }
            } else {
                buf.published = buf.block;
                buf.block.take()
            };
            let Some(block) = block else {
                continue;
            };
            let frame = FrameMeta {
                block,
                bytesused,
                timestamp: now,
                sequence: 0,
                flags,
                timecode,
                fmt_gen: self.fmt_gen,
            };
            self.publish(frame, now, true);
            // The producer's reference moves to whoever holds the frame now.
            self.pool.release(block);
            self.wake.insert(id);
        }
    }
}

/// Fills a `v4l2_buffer` from a buffer's state (F15, F16, H24, H25).
pub(crate) fn fill_buffer(q: &Queue, index: u32, b: &mut v4l2_buffer) {
    let buf = &q.bufs[index as usize];
    let mut flags = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | V4L2_BUF_FLAG_TSTAMP_SRC_EOF;
    flags |= match buf.state {
        BufState::Dequeued => 0,
        BufState::Prepared => V4L2_BUF_FLAG_PREPARED,
        BufState::Queued => V4L2_BUF_FLAG_QUEUED,
        BufState::Done => V4L2_BUF_FLAG_DONE,
    };
    if buf.maps > 0 {
        flags |= V4L2_BUF_FLAG_MAPPED;
    }
    let mut out = v4l2_buffer {
        index,
        type_: q.dir.buf_type(),
        memory: q.memory.raw(),
        field: V4L2_FIELD_NONE,
        length: match q.memory {
            Memory::Mmap => buf.length,
            // F15: a USERPTR/DMABUF slot reports the size it needs until QBUF gives one.
            _ if buf.user_length == 0 => buf.length,
            _ => buf.user_length,
        },
        ..Default::default()
    };
    match q.memory {
        Memory::Mmap => out.set_m_offset(buf.offset),
        Memory::UserPtr => out.set_m_userptr(buf.m),
        Memory::DmaBuf => out.set_m_fd(buf.m as u32 as i32),
    }
    match q.dir {
        Dir::Capture => {
            if let Some(f) = buf.frame {
                if buf.error {
                    flags |= V4L2_BUF_FLAG_ERROR;
                } else {
                    out.bytesused = f.bytesused;
                }
                flags |= f.flags & (OUTPUT_USER_FLAGS);
                out.timecode = f.timecode;
                out.sequence = f.sequence.wrapping_sub(q.seq_base) as u32;
                out.timestamp = to_timeval(f.timestamp);
            }
        }
        Dir::Output => {
            out.bytesused = buf.bytesused;
            flags |= buf.user_flags;
            out.timecode = buf.timecode;
            if buf.state == BufState::Done
                || (buf.state == BufState::Dequeued && buf.out_timestamp != 0)
            {
                out.sequence = buf.out_sequence;
                out.timestamp = to_timeval(buf.out_timestamp);
            }
        }
    }
    if flags & V4L2_BUF_FLAG_TIMECODE == 0 {
        out.timecode = v4l2_timecode::default();
    }
    out.flags = flags;
    *b = out;
}

pub(crate) fn to_timeval(ns: Nanos) -> timeval {
    timeval {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_usec: ((ns % 1_000_000_000) / 1000) as i64,
    }
}

// Keep the limit visible where counts are clamped.
const _: () = assert!(MAX_BUFFERS_LIMIT == VIDEO_MAX_FRAME);
