//! Self-checks of the model, used by property tests and debug builds of the host: if one of
//! these fails, a V4L2 guarantee of DESIGN §3 is broken.

use std::collections::BTreeMap;

use super::Device;
use crate::pool::BlockId;
use crate::queue::{BufState, Dir, Io};

impl Device {
    /// Checks every structural invariant; returns a description of the first violation.
    ///
    /// * each buffer is in exactly one state, consistent with the incoming and done FIFOs
    ///   (DESIGN §3.2: no buffer in two states, DQBUF never returns a held buffer);
    /// * each block's reference count equals the number of its holders (no leak, no early
    ///   reuse);
    /// * a block a producer may write into is held by nobody else (DESIGN §3.3, no tearing);
    /// * done capture buffers hold a frame of the queue's format generation;
    /// * memory stays within the device limit (DESIGN §3.10).
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut holders: BTreeMap<BlockId, u32> = BTreeMap::new();
        let mut producer_blocks: Vec<BlockId> = Vec::new();
        for (id, op) in &self.openers {
            let Some(q) = &op.queue else {
                continue;
            };
            let mut seen = vec![0u8; q.bufs.len()];
            for &i in q.incoming.iter().chain(q.done.iter()) {
                let Some(s) = seen.get_mut(i as usize) else {
                    return Err(format!("opener {id}: index {i} out of range in a FIFO"));
                };
                *s += 1;
            }
            for (i, b) in q.bufs.iter().enumerate() {
                let in_incoming = q.incoming.contains(&(i as u32));
                let in_done = q.done.contains(&(i as u32));
                if seen[i] > 1 {
                    return Err(format!("opener {id}: buffer {i} listed twice"));
                }
                let ok = match b.state {
                    BufState::Dequeued | BufState::Prepared => !in_incoming && !in_done,
                    BufState::Queued => in_incoming && !in_done,
                    BufState::Done => in_done && !in_incoming,
                };
                if !ok {
                    return Err(format!(
                        "opener {id}: buffer {i} state {:?} inconsistent with FIFOs",
                        b.state
                    ));
                }
                if let Some(block) = b.block {
                    *holders.entry(block).or_default() += 1;
                    if q.dir == Dir::Output {
                        producer_blocks.push(block);
                    }
                }
                if q.dir == Dir::Capture && b.state == BufState::Done {
                    match b.frame {
                        Some(f) if f.fmt_gen == q.fmt_gen => {}
                        _ => {
                            return Err(format!(
                                "opener {id}: done buffer {i} holds no frame of its format"
                            ))
                        }
                    }
                }
            }
            if q.io == Io::File
                && q.dir == Dir::Capture
                && q.incoming.len() + q.done.len() + usize::from(op.read_cursor.is_some())
                    != q.bufs.len()
            {
                return Err(format!("opener {id}: read() emulation lost a buffer"));
            }
        }
        if let Some(l) = &self.last {
            *holders.entry(l.block).or_default() += 1;
        }
        if let Some((b, _, _)) = &self.timeout_image {
            *holders.entry(*b).or_default() += 1;
        }
        for (block, refs) in self.pool.live() {
            let h = holders.remove(&block).unwrap_or(0);
            if h != refs {
                return Err(format!(
                    "block {block:?}: {refs} references but {h} holders"
                ));
            }
        }
        if let Some((block, _)) = holders.into_iter().next() {
            return Err(format!("block {block:?} is held but not allocated"));
        }
        for b in producer_blocks {
            if self.pool.refs(b) != 1 {
                return Err(format!(
                    "producer block {b:?} is shared ({} refs): tearing possible",
                    self.pool.refs(b)
                ));
            }
        }
        if self.pool.bytes() > self.pool.limit() {
            return Err(format!(
                "memory {} over limit {}",
                self.pool.bytes(),
                self.pool.limit()
            ));
        }
        if let Some(p) = self.producer {
            if !self.openers.contains_key(&p) {
                return Err("producer is not an opener".into());
            }
        }
        Ok(())
    }
}
