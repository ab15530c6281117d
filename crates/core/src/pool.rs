//! Frame memory, as abstract blocks.
//!
//! Core never touches pixels. It hands out [`BlockId`]s and counts references to them; the host
//! (the daemon) backs each block with shared memory (a memfd) and is told through
//! [`MemEffect`]s when to create and destroy one. A block is written by exactly one party (the
//! producer buffer or write() staging slot it is bound to) and becomes immutable once published
//! as a frame; it is recycled only when its reference count drops to zero. That is how DESIGN §3
//! item 3 ("no tearing") and item 4 ("zero copy") are kept at the same time: consumers are given
//! the producer's block itself, and the producer gets a different block to fill next.

use std::collections::HashMap;

use crate::errno::{Errno, VResult};

/// Page size used to align block sizes and mmap cookies (G2).
pub const PAGE_SIZE: u32 = 4096;

/// Rounds up to a whole number of pages.
pub fn page_align(n: u64) -> u64 {
    n.div_ceil(PAGE_SIZE as u64) * PAGE_SIZE as u64
}

/// An opaque handle of one block of frame memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub u64);

/// What the host must do to its memory after a call into core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemEffect {
    /// Create backing memory of `size` bytes (page aligned) for `id`.
    Alloc { id: BlockId, size: u64 },
    /// `id` is no longer referenced by core; existing client mappings may outlive it (F14
    /// orphaning), but core will never hand it out again.
    Free { id: BlockId },
    /// Copy the first `len` bytes of `from` into `to` (both live). Only exported buffers
    /// (EXPBUF) cost a copy: their memory is pinned to the buffer for the life of the fd.
    Copy {
        from: BlockId,
        to: BlockId,
        len: u64,
    },
}

#[derive(Clone, Debug)]
struct Block {
    size: u64,
    refs: u32,
}

/// How many unreferenced blocks of the current size are kept for reuse instead of freed.
const FREE_KEEP: usize = 4;

/// The block allocator of one device, with a byte limit (DESIGN §3.10).
#[derive(Clone, Debug)]
pub struct Pool {
    blocks: HashMap<BlockId, Block>,
    free: Vec<BlockId>,
    next: u64,
    bytes: u64,
    limit: u64,
    /// The host's ceiling (its global budget minus what other devices hold): like `limit`,
    /// but it may drop below `bytes`, which then only stops growth (nothing is taken away).
    ceiling: u64,
    effects: Vec<MemEffect>,
}

impl Pool {
    /// An empty pool that may hold at most `limit` bytes.
    pub fn new(limit: u64) -> Pool {
        Pool {
            blocks: HashMap::new(),
            free: Vec::new(),
            next: 1,
            bytes: 0,
            limit,
            ceiling: u64::MAX,
            effects: Vec::new(),
        }
    }

    /// A block of at least `size` bytes with one reference: a recycled one of the same size if
    /// available, else a new one. ENOMEM past the limit.
    pub fn get(&mut self, size: u64) -> VResult<BlockId> {
        let size = page_align(size.max(1));
        if let Some(pos) = self.free.iter().position(|b| self.blocks[b].size == size) {
            let id = self.free.swap_remove(pos);
            self.blocks.get_mut(&id).expect("free block exists").refs = 1;
            return Ok(id);
        }
        self.get_zeroed(size)
    }

    /// A never-used block (the host creates memory zero-filled), with one reference.
    pub fn get_zeroed(&mut self, size: u64) -> VResult<BlockId> {
        let size = page_align(size.max(1));
        while self.bytes + size > self.limit.min(self.ceiling) {
            match self.free.pop() {
                Some(id) => self.destroy(id),
                None => return Err(Errno::ENOMEM),
            }
        }
        let id = BlockId(self.next);
        self.next += 1;
        self.blocks.insert(id, Block { size, refs: 1 });
        self.bytes += size;
        self.effects.push(MemEffect::Alloc { id, size });
        Ok(id)
    }

    /// Whether [`Pool::get`] of `size` bytes would succeed if `also_free` (a block about to
    /// lose its last reference) were released first. Pure: poll readiness is computed from it.
    pub fn can_get(&self, size: u64, also_free: Option<BlockId>) -> bool {
        let size = page_align(size.max(1));
        let also = also_free.and_then(|id| self.blocks.get(&id));
        if also.is_some_and(|b| b.size == size)
            || self.free.iter().any(|b| self.blocks[b].size == size)
        {
            return true;
        }
        let cached: u64 = self.free.iter().map(|b| self.blocks[b].size).sum();
        let held = self.bytes - cached - also.map_or(0, |b| b.size);
        held + size <= self.limit.min(self.ceiling)
    }

    /// Takes `id` back out of the reuse cache with one reference, if it is still there (an
    /// unreferenced block nobody was given since). False if it is referenced or gone.
    pub fn revive(&mut self, id: BlockId) -> bool {
        let Some(pos) = self.free.iter().position(|b| *b == id) else {
            return false;
        };
        self.free.swap_remove(pos);
        self.blocks.get_mut(&id).expect("cached block exists").refs = 1;
        true
    }

    /// Adds a reference.
    pub fn retain(&mut self, id: BlockId) {
        if let Some(b) = self.blocks.get_mut(&id) {
            b.refs += 1;
        }
    }

    /// Drops a reference; an unreferenced block is cached for reuse or freed.
    pub fn release(&mut self, id: BlockId) {
        let Some(b) = self.blocks.get_mut(&id) else {
            return;
        };
        debug_assert!(b.refs > 0, "release of an unreferenced block");
        b.refs = b.refs.saturating_sub(1);
        if b.refs == 0 {
            if self.free.len() < FREE_KEEP {
                self.free.push(id);
            } else {
                self.destroy(id);
            }
        }
    }

    /// Schedules a host-side copy between two live blocks.
    pub fn copy(&mut self, from: BlockId, to: BlockId, len: u64) {
        self.effects.push(MemEffect::Copy { from, to, len });
    }

    /// Frees every cached block whose size is not `keep_size` (called on format changes).
    pub fn trim(&mut self, keep_size: Option<u64>) {
        let keep = keep_size.map(page_align);
        let (keep_list, drop_list): (Vec<_>, Vec<_>) = self
            .free
            .drain(..)
            .partition(|b| Some(self.blocks[b].size) == keep);
        self.free = keep_list;
        for id in drop_list {
            self.destroy(id);
        }
    }

    fn destroy(&mut self, id: BlockId) {
        if let Some(b) = self.blocks.remove(&id) {
            self.bytes -= b.size;
            self.effects.push(MemEffect::Free { id });
        }
    }

    /// Reference count of a block (0 for unknown or cached blocks).
    pub fn refs(&self, id: BlockId) -> u32 {
        self.blocks.get(&id).map_or(0, |b| b.refs)
    }

    /// Every live block with its reference count (0 = cached for reuse), for invariant checks.
    pub fn live(&self) -> Vec<(BlockId, u32)> {
        let mut v: Vec<_> = self.blocks.iter().map(|(k, b)| (*k, b.refs)).collect();
        v.sort();
        v
    }

    /// The byte limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Size in bytes of a live block.
    pub fn size(&self, id: BlockId) -> Option<u64> {
        self.blocks.get(&id).map(|b| b.size)
    }

    /// Bytes currently allocated (referenced or cached).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of live blocks (referenced or cached).
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True when no block exists.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Sets a new byte limit (existing blocks stay).
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// Sets the host's ceiling (see the field); `u64::MAX` for none.
    pub fn set_ceiling(&mut self, ceiling: u64) {
        self.ceiling = ceiling;
    }

    /// Takes the pending memory effects, in order.
    pub fn take_effects(&mut self) -> Vec<MemEffect> {
        std::mem::take(&mut self.effects)
    }

    /// Frees everything (device removal). Returns the effects.
    pub fn clear(&mut self) {
        let ids: Vec<_> = self.blocks.keys().copied().collect();
        for id in ids {
            self.destroy(id);
        }
        self.free.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ceiling_stops_growth_but_takes_nothing_away() {
        let mut p = Pool::new(1 << 20);
        let a = p.get(4096).unwrap();
        let b = p.get(4096).unwrap();
        // Another device grew: this one may hold only one page now.
        p.set_ceiling(4096);
        assert_eq!(p.get(4096), Err(Errno::ENOMEM));
        assert_eq!(p.bytes(), 8192, "existing blocks stay");
        // A released block is still recycled (no growth).
        p.release(a);
        assert_eq!(p.get(4096), Ok(a));
        p.release(b);
        p.set_ceiling(u64::MAX);
        assert!(p.get(8192).is_ok());
    }

    /// `can_get` (what poll readiness uses) predicts `get`, with and without a block about to
    /// be released, across sizes, cached blocks and ceilings.
    #[test]
    fn can_get_predicts_get() {
        for ceiling in [3 * 4096, 4 * 4096, 5 * 4096, u64::MAX] {
            for want in [4096, 8192, 12288] {
                for also in [false, true] {
                    let mut p = Pool::new(5 * 4096);
                    let a = p.get(4096).unwrap();
                    let b = p.get(8192).unwrap();
                    let c = p.get(4096).unwrap();
                    p.release(c); // cached
                    p.set_ceiling(ceiling);
                    let predicted = p.can_get(want, also.then_some(b));
                    let mut q = p.clone();
                    if also {
                        q.release(b);
                    }
                    assert_eq!(
                        predicted,
                        q.get(want).is_ok(),
                        "ceiling {ceiling} want {want} also {also}"
                    );
                    let _ = a;
                }
            }
        }
    }

    #[test]
    fn revive_takes_only_cached_blocks() {
        let mut p = Pool::new(1 << 20);
        let a = p.get(4096).unwrap();
        assert!(!p.revive(a), "referenced");
        p.release(a);
        assert!(p.revive(a));
        assert_eq!(p.refs(a), 1);
        assert!(!p.revive(a), "not cached any more");
        p.release(a);
        let b = p.get(4096).unwrap();
        assert_eq!(b, a, "recycled to someone else");
        assert!(!p.revive(a));
    }

    #[test]
    fn recycles_same_size_and_respects_limit() {
        let mut p = Pool::new(3 * 4096);
        let a = p.get(4000).unwrap();
        let b = p.get(4096).unwrap();
        assert_ne!(a, b);
        assert_eq!(p.bytes(), 8192);
        p.release(a);
        // Recycled, no new allocation.
        let c = p.get(10).unwrap();
        assert_eq!(c, a);
        let _d = p.get(4096).unwrap();
        // DESIGN §3.10: past the limit → ENOMEM, never growth.
        assert_eq!(p.get(4096), Err(Errno::ENOMEM));
        let fx = p.take_effects();
        assert_eq!(fx.len(), 3);
    }

    #[test]
    fn trim_frees_other_sizes() {
        let mut p = Pool::new(1 << 20);
        let a = p.get(4096).unwrap();
        let b = p.get(8192).unwrap();
        p.release(a);
        p.release(b);
        p.take_effects();
        p.trim(Some(8192));
        assert_eq!(p.take_effects(), vec![MemEffect::Free { id: a }]);
        assert_eq!(p.len(), 1);
    }
}
