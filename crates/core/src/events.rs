//! Per-opener event subscriptions and the pending-event FIFO (rules M1–M10).

use std::collections::VecDeque;

use loopcam_abi::{timespec, v4l2_event};

use crate::time::Nanos;

/// v4l2loopback's private "client usage changed" event (reference/v4l2loopback.md §1.11): the
/// payload's first u32 is the number of streaming consumers (DESIGN §3.11).
pub const EVENT_PRI_CLIENT_USAGE: u32 = 0x0800_0000 + 0x08E0_0000 + 1;

/// One subscription (M1: keyed by type and id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sub {
    type_: u32,
    id: u32,
    flags: u32,
}

/// The event state of one file handle.
#[derive(Clone, Debug, Default)]
pub struct EventQueue {
    subs: Vec<Sub>,
    pending: VecDeque<v4l2_event>,
    /// M4: counts every event that occurred for this fh, including ones merged away.
    seq: u32,
}

impl EventQueue {
    /// Adds a subscription; an existing (type, id) is a no-op success (M1).
    pub fn subscribe(&mut self, type_: u32, id: u32, flags: u32) {
        if !self.is_subscribed(type_, id) {
            self.subs.push(Sub { type_, id, flags });
        }
    }

    /// Removes one subscription and its pending events; `type_ == 0` removes all (M2).
    pub fn unsubscribe(&mut self, type_: u32, id: u32) {
        if type_ == loopcam_abi::V4L2_EVENT_ALL {
            self.subs.clear();
            self.pending.clear();
            return;
        }
        self.subs.retain(|s| !(s.type_ == type_ && s.id == id));
        self.pending.retain(|e| !(e.type_ == type_ && e.id == id));
    }

    /// Whether (type, id) is subscribed.
    pub fn is_subscribed(&self, type_: u32, id: u32) -> bool {
        self.subs.iter().any(|s| s.type_ == type_ && s.id == id)
    }

    /// The subscription flags of (type, id), if subscribed.
    pub fn flags(&self, type_: u32, id: u32) -> Option<u32> {
        self.subs
            .iter()
            .find(|s| s.type_ == type_ && s.id == id)
            .map(|s| s.flags)
    }

    /// Queues an event if (type, id) is subscribed; returns whether it was queued.
    ///
    /// M5: each subscription holds one pending event. A newer event replaces the older one;
    /// for SOURCE_CHANGE and CTRL the `changes` bits of the dropped event are ORed into the
    /// new one so no change notification is lost. The sequence still advances (M4).
    pub fn push(&mut self, mut ev: v4l2_event, now: Nanos) -> bool {
        if !self.is_subscribed(ev.type_, ev.id) {
            return false;
        }
        ev.sequence = self.seq;
        self.seq = self.seq.wrapping_add(1);
        ev.timestamp = timespec {
            tv_sec: (now / 1_000_000_000) as i64,
            tv_nsec: (now % 1_000_000_000) as i64,
        };
        if let Some(pos) = self
            .pending
            .iter()
            .position(|e| e.type_ == ev.type_ && e.id == ev.id)
        {
            let old = self.pending.remove(pos).expect("position is valid");
            merge_changes(&old, &mut ev);
        }
        self.pending.push_back(ev);
        true
    }

    /// M3: the oldest pending event with `pending` = how many remain.
    pub fn dequeue(&mut self) -> Option<v4l2_event> {
        let mut ev = self.pending.pop_front()?;
        ev.pending = self.pending.len() as u32;
        Some(ev)
    }

    /// L9: POLLPRI condition.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Number of pending events.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

/// M5 merge ops: `changes` is the first u32 of the payload for SOURCE_CHANGE and CTRL.
fn merge_changes(old: &v4l2_event, new: &mut v4l2_event) {
    use loopcam_abi::{V4L2_EVENT_CTRL, V4L2_EVENT_SOURCE_CHANGE};
    if new.type_ == V4L2_EVENT_SOURCE_CHANGE || new.type_ == V4L2_EVENT_CTRL {
        let o = old.u[0] as u32;
        let n = new.u[0] as u32;
        new.u[0] = (new.u[0] & !0xffff_ffff) | u64::from(o | n);
    }
}

/// Builds an event with a `changes`-style first payload word.
pub fn event_with_changes(type_: u32, id: u32, changes: u32) -> v4l2_event {
    let mut ev = v4l2_event {
        type_,
        id,
        ..Default::default()
    };
    ev.u[0] = u64::from(changes);
    ev
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopcam_abi::{V4L2_EVENT_EOS, V4L2_EVENT_SOURCE_CHANGE, V4L2_EVENT_SRC_CH_RESOLUTION};

    #[test]
    fn m1_m2_subscribe_idempotent_unsubscribe_all() {
        let mut q = EventQueue::default();
        q.subscribe(V4L2_EVENT_SOURCE_CHANGE, 0, 0);
        q.subscribe(V4L2_EVENT_SOURCE_CHANGE, 0, 0);
        q.subscribe(V4L2_EVENT_EOS, 0, 0);
        assert!(q.push(event_with_changes(V4L2_EVENT_EOS, 0, 0), 5));
        q.unsubscribe(0, 0);
        assert!(!q.has_pending());
        assert!(!q.push(event_with_changes(V4L2_EVENT_EOS, 0, 0), 6));
    }

    #[test]
    fn m3_m4_m5_fifo_pending_merge_and_sequence_gap() {
        let mut q = EventQueue::default();
        q.subscribe(V4L2_EVENT_SOURCE_CHANGE, 0, 0);
        q.subscribe(V4L2_EVENT_EOS, 0, 0);
        q.push(event_with_changes(V4L2_EVENT_SOURCE_CHANGE, 0, 1), 1);
        q.push(event_with_changes(V4L2_EVENT_EOS, 0, 0), 2);
        q.push(event_with_changes(V4L2_EVENT_SOURCE_CHANGE, 0, 2), 3);
        // The merged SOURCE_CHANGE moved to the back; EOS is oldest now.
        let a = q.dequeue().unwrap();
        assert_eq!(a.type_, V4L2_EVENT_EOS);
        assert_eq!(a.pending, 1);
        assert_eq!(a.sequence, 1);
        let b = q.dequeue().unwrap();
        assert_eq!(b.type_, V4L2_EVENT_SOURCE_CHANGE);
        assert_eq!(b.u[0] as u32, 3 | V4L2_EVENT_SRC_CH_RESOLUTION);
        assert_eq!(b.sequence, 2, "M4: the dropped event still counted");
        assert_eq!(b.pending, 0);
        assert_eq!(b.timestamp.tv_nsec, 3);
        assert!(q.dequeue().is_none());
    }
}
