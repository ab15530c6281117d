//! poll/select/epoll readiness (L1–L11, DESIGN §3.7).
//!
//! Core computes the mask; the host publishes it on a real kernel fd the application polls.
//! L1 (never lose a wake-up) is the host's half: it re-evaluates the mask for every opener
//! returned by `take_wakeups` and signals on every change, whatever the application asked for.

use super::{Device, OpenerId};
use crate::queue::{Dir, Io};
use crate::time::Nanos;

/// poll(2) bits as on Linux.
pub const POLLIN: u32 = 0x001;
/// Priority data: an event is pending.
pub const POLLPRI: u32 = 0x002;
/// Writable.
pub const POLLOUT: u32 = 0x004;
/// Error condition.
pub const POLLERR: u32 = 0x008;
/// Hang-up (device removed, B13).
pub const POLLHUP: u32 = 0x010;
/// Normal data readable.
pub const POLLRDNORM: u32 = 0x040;
/// Normal data writable.
pub const POLLWRNORM: u32 = 0x100;

impl Device {
    /// The revents of `id` for a poll asking `requested` (the host masks the result with
    /// `requested | POLLERR | POLLHUP`). Like vb2 (L3), asking POLLIN/POLLOUT on an fd with
    /// no buffers starts read()/write() I/O, which is why this takes `&mut self`.
    pub fn poll(&mut self, id: OpenerId, requested: u32, now: Nanos) -> u32 {
        let Some(op) = self.openers.get(&id) else {
            return POLLERR | POLLHUP;
        };
        let mut rev = 0;
        if op.events.has_pending() {
            rev |= POLLPRI; // L9
        }
        let want_in = requested & (POLLIN | POLLRDNORM) != 0;
        let want_out = requested & (POLLOUT | POLLWRNORM) != 0;
        if op.queue.is_none() && (want_in || want_out) {
            // L3: start file I/O in the direction asked for, if possible.
            let dir = if want_in && self.dir_allowed(id, Dir::Capture) && op.mode.read {
                Some(Dir::Capture)
            } else if want_out && self.dir_allowed(id, Dir::Output) && op.mode.write {
                Some(Dir::Output)
            } else {
                None
            };
            let started = match dir {
                Some(Dir::Capture) => self.read_start(id, now),
                // Only the stream starts here; whether write() finds memory is readiness.
                Some(Dir::Output) => self.start_fileio(id, Dir::Output, now).is_ok(),
                None => false,
            };
            if !started {
                return rev | POLLERR;
            }
        }
        rev | self.queue_readiness(id, requested)
    }

    fn read_start(&mut self, id: OpenerId, now: Nanos) -> bool {
        self.start_fileio(id, Dir::Capture, now).is_ok()
    }

    /// The readiness the host shows on the opener's pollable fd, without side effects.
    ///
    /// The host cannot see the application's poll() call, so L3 ("a poll for POLLIN/POLLOUT
    /// on an fd without buffers starts read()/write() I/O") is approximated: an opener with
    /// no queue is reported readable while a producer streams (the read() that follows starts
    /// the emulation and waits at most one frame), and writable while the output is free (the
    /// write() that follows claims it). Row 14 of reference/v4l2loopback.md §6 (select with
    /// read()) depends on this. Everything else is [`Device::queue_readiness`] plus POLLPRI.
    pub fn signal_readiness(&self, id: OpenerId) -> u32 {
        let Some(op) = self.openers.get(&id) else {
            return POLLERR | POLLHUP;
        };
        let mut rev = if op.events.has_pending() { POLLPRI } else { 0 };
        if op.queue.is_none() && !op.pending_output_stream {
            if op.mode.read && self.dir_allowed(id, Dir::Capture) && self.producer_streaming() {
                rev |= POLLIN | POLLRDNORM;
            }
            if op.mode.write && self.dir_allowed(id, Dir::Output) && self.producer.is_none() {
                rev |= POLLOUT | POLLWRNORM;
            }
            return rev;
        }
        rev | self.queue_readiness(id, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM)
    }

    /// Readiness of the opener's queue part (L2, L4–L7), without side effects.
    pub fn queue_readiness(&self, id: OpenerId, requested: u32) -> u32 {
        let Some(op) = self.openers.get(&id) else {
            return POLLERR | POLLHUP;
        };
        let Some(q) = op.queue.as_ref() else {
            // OBS leniency: a producer that STREAMONed before write() can write.
            return if op.pending_output_stream && requested & (POLLOUT | POLLWRNORM) != 0 {
                POLLOUT | POLLWRNORM
            } else {
                0
            };
        };
        let (bits, asked) = match q.dir {
            Dir::Capture => (POLLIN | POLLRDNORM, requested & (POLLIN | POLLRDNORM) != 0),
            Dir::Output => (
                POLLOUT | POLLWRNORM,
                requested & (POLLOUT | POLLWRNORM) != 0,
            ),
        };
        if !asked {
            return 0; // L2
        }
        if !q.streaming {
            return POLLERR; // L4
        }
        if q.io == Io::File {
            return match q.dir {
                // write() publishes into fresh memory: it waits only for that memory.
                Dir::Output if self.output_memory_ready(id) => bits,
                Dir::Output => 0,
                Dir::Capture => {
                    let partial = op.read_cursor.is_some_and(|(i, c)| {
                        let b = &q.bufs[i as usize];
                        !b.error && b.frame.is_some_and(|f| c < f.bytesused)
                    });
                    if partial || !q.done.is_empty() {
                        bits
                    } else {
                        0
                    }
                }
            };
        }
        if q.dir == Dir::Capture && q.waiting_for_buffers {
            return POLLERR; // L5
        }
        if q.done.is_empty() || !self.output_memory_ready(id) {
            0 // L6, L7
        } else {
            bits
        }
    }
}
