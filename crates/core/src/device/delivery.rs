//! Frame hand-off to consumers and the device's timers (O4–O8, DESIGN §3 items 3 and 8).

use loopcam_abi::*;

use super::{Device, OpenerId};
use crate::errno::{Errno, VResult};
use crate::events::event_with_changes;
use crate::pool::{page_align, BlockId};
use crate::queue::{BufState, Dir, FrameMeta, Io};
use crate::time::Nanos;

impl Device {
    /// Delivers `frame` to every streaming consumer that has a queued buffer (O4). Each
    /// delivery gets the next device sequence number and the time `now` (DESIGN §3.8); a
    /// consumer without a queued buffer misses it, which shows as a sequence gap (H24).
    /// Consumers whose buffers were sized for another format never get it (DESIGN §3.5).
    /// `real` marks a producer frame (as opposed to a repeat or the timeout image).
    pub(crate) fn publish(&mut self, mut frame: FrameMeta, now: Nanos, real: bool) {
        frame.sequence = self.frame_seq;
        frame.timestamp = now;
        self.frame_seq += 1;
        self.last_delivery = now;
        if real {
            self.last_real = now;
            self.pool.retain(frame.block);
            if let Some(old) = self.last.replace(frame) {
                self.pool.release(old.block);
            }
        }
        let frame_block_size = self.pool.size(frame.block).unwrap_or(0);
        let mut woken: Vec<OpenerId> = Vec::new();
        for (id, op) in self.openers.iter_mut() {
            let Some(q) = op.queue.as_mut() else {
                continue;
            };
            if q.dir != Dir::Capture || !q.streaming || q.fmt_gen != frame.fmt_gen {
                continue;
            }
            let Some(index) = q.incoming.pop_front() else {
                continue;
            };
            let buf = &mut q.bufs[index as usize];
            // read() has no ERROR flag to report a frame larger than its buffer (O3), so a
            // read() consumer misses such a frame instead of being woken for a read() that
            // would find nothing (L1: readiness must match). Found by the property test.
            if q.io == Io::File && frame.bytesused > buf.length {
                q.incoming.push_front(index);
                continue;
            }
            // A buffer larger than the frame's block (CREATE_BUFS with a bigger sizeimage, F9)
            // cannot be given the shared block: the consumer maps `length` bytes, and the
            // pages past the block's end would be SIGBUS. It gets memory of its own with the
            // frame copied in; without memory (ENOMEM) it misses this frame like a consumer
            // without a queued buffer (H24). Found by the core_ops fuzz target.
            let fits = buf.exported || frame_block_size >= page_align(buf.length.into());
            let own = if fits {
                None
            } else {
                match self.pool.get(buf.length.into()) {
                    Ok(own) => Some(own),
                    Err(_) => {
                        q.incoming.push_front(index);
                        continue;
                    }
                }
            };
            // O3: a buffer too small for the payload is never overrun: ERROR, bytesused 0.
            buf.error = frame.bytesused > buf.length;
            buf.state = BufState::Done;
            match (buf.exported, buf.block) {
                (true, Some(pinned)) => {
                    // J1: an exported buffer's memory is fixed (an fd refers to it): copy the
                    // frame into it instead of handing over the producer's block.
                    if !buf.error {
                        self.pool.copy(frame.block, pinned, frame.bytesused.into());
                    }
                    buf.frame = Some(FrameMeta {
                        block: pinned,
                        ..frame
                    });
                }
                _ => {
                    let block = match own {
                        Some(own) => {
                            self.pool.copy(frame.block, own, frame.bytesused.into());
                            own
                        }
                        None => {
                            self.pool.retain(frame.block);
                            frame.block
                        }
                    };
                    buf.frame = Some(FrameMeta { block, ..frame });
                    if let Some(old) = buf.block.replace(block) {
                        self.pool.release(old);
                    }
                }
            }
            q.done.push_back(index);
            woken.push(*id);
        }
        self.wake.extend(woken);
    }

    pub(crate) fn producer_started(&mut self, _now: Nanos) {
        // B7: with exclusive caps the node now announces CAPTURE; everyone re-polls.
        self.wake_all();
    }

    /// The producer stopped streaming (STREAMOFF, REQBUFS(0) or close): consumers keep their
    /// queues (O8) and get EOS if they subscribed (M7).
    pub(crate) fn producer_stopped(&mut self, now: Nanos) {
        let ev = event_with_changes(V4L2_EVENT_EOS, 0, 0);
        self.broadcast_event(ev, now, |o| {
            o.queue.as_ref().is_some_and(|q| q.dir == Dir::Capture)
        });
        self.wake_all();
    }

    /// The producer's opener is gone; its claim on the output direction is released.
    pub(crate) fn producer_gone(&mut self, now: Nanos) {
        if self.producer.take().is_some() {
            self.producer_stopped(now);
        }
    }

    /// Installs the timeout image (DESIGN §3.8): a block the host filled with `bytesused`
    /// bytes in the current format. The device takes over the caller's reference.
    pub fn set_timeout_image(&mut self, block: BlockId, bytesused: u32) -> VResult<()> {
        if self
            .pool
            .size(block)
            .is_none_or(|s| s < u64::from(bytesused))
        {
            return Err(Errno::EINVAL);
        }
        if let Some((old, _, _)) = self.timeout_image.replace((block, bytesused, self.fmt_gen)) {
            self.pool.release(old);
        }
        Ok(())
    }

    /// Allocates a block for the host to fill (the timeout image, or test content). The
    /// caller owns one reference and passes it on with [`Device::set_timeout_image`] or drops
    /// it with [`Device::release_block`].
    pub fn alloc_block(&mut self, size: u64) -> VResult<BlockId> {
        self.pool.get(size)
    }

    /// Drops a reference obtained from [`Device::alloc_block`].
    pub fn release_block(&mut self, block: BlockId) {
        self.pool.release(block);
    }

    fn interval_ns(&self) -> u64 {
        self.interval.as_nanos().max(1_000_000)
    }

    fn timeout_ns(&self) -> Option<u64> {
        let t = self.controls.timeout_ms();
        (t > 0).then_some(u64::from(t) * 1_000_000)
    }

    /// When the next timer of this device is due, if any: the host calls [`Device::tick`]
    /// then.
    pub fn next_deadline(&self) -> Option<Nanos> {
        if self.reader_count() == 0 {
            return None;
        }
        if let Some(t) = self.timeout_ns() {
            let since = self.last_real + t;
            let period = if self.controls.sustain_framerate() {
                self.interval_ns()
            } else {
                t
            };
            if self.last_delivery >= since {
                return Some(self.last_delivery + period);
            }
            if !self.controls.sustain_framerate() || self.last.is_none() {
                return Some(since);
            }
        }
        if self.controls.sustain_framerate() && self.last.is_some() {
            let i = self.interval_ns();
            // v4l2loopback fires 1.5 intervals after a real frame, then every interval.
            return Some(if self.last_delivery == self.last_real {
                self.last_real + i + i / 2
            } else {
                self.last_delivery + i
            });
        }
        None
    }

    /// Advances time: repeats the last frame (sustain_framerate) or delivers the timeout image
    /// when due. Every such delivery is a new frame with a fresh timestamp and sequence number
    /// (defect #15 of reference/v4l2loopback.md §6).
    pub fn tick(&mut self, now: Nanos) {
        let Some(due) = self.next_deadline() else {
            return;
        };
        if now < due {
            return;
        }
        let timed_out = self.timeout_ns().is_some_and(|t| now >= self.last_real + t);
        if timed_out {
            if let Some(frame) = self.timeout_frame() {
                self.publish(frame, now, false);
                return;
            }
        }
        if let Some(last) = self.last.filter(|f| f.fmt_gen == self.fmt_gen) {
            if self.controls.sustain_framerate() {
                self.publish(last, now, false);
                return;
            }
        }
        // Nothing to show: move the timer on instead of spinning.
        self.last_delivery = now;
    }

    /// The placeholder frame: the installed timeout image, else a zero-filled block of the
    /// current size (v4l2loopback's default image).
    fn timeout_frame(&mut self) -> Option<FrameMeta> {
        let (block, bytesused, gen) = match self.timeout_image {
            Some(t) if t.2 == self.fmt_gen => t,
            _ => {
                let block = self.pool.get_zeroed(u64::from(self.fmt.sizeimage)).ok()?;
                if let Some((old, _, _)) =
                    self.timeout_image
                        .replace((block, self.fmt.sizeimage, self.fmt_gen))
                {
                    self.pool.release(old);
                }
                (block, self.fmt.sizeimage, self.fmt_gen)
            }
        };
        Some(FrameMeta {
            block,
            bytesused,
            timestamp: 0,
            sequence: 0,
            flags: 0,
            timecode: v4l2_timecode::default(),
            fmt_gen: gen,
        })
    }
}
