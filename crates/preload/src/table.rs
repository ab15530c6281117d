//! Which application fds are loopcam devices.
//!
//! The check every pass-through call makes is one relaxed atomic load from a static array
//! indexed by fd: no allocation, no lock (DESIGN §4, issue 4 "nothing allocates or locks on the
//! pass-through path"). Only loopcam fds go to the locked map.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use loopcam_client::VirtualFd;

/// fds at or above this are never loopcam fds (open returns EMFILE rather than one).
pub const MAX_FD: usize = 1 << 16;

static FLAGS: [AtomicBool; MAX_FD] = [const { AtomicBool::new(false) }; MAX_FD];
static TABLE: Mutex<BTreeMap<i32, Arc<Entry>>> = Mutex::new(BTreeMap::new());

/// Live application mappings of loopcam buffers (munmap passes through while 0).
pub static MAPS: AtomicUsize = AtomicUsize::new(0);

/// One open file description of a loopcam device, shared by its dup()ed fds (B12).
pub struct Entry {
    /// The device.
    pub vfd: Mutex<VirtualFd>,
    /// A private duplicate of the pollable fd, to wait on without holding the lock.
    pub wait_fd: OwnedFd,
    /// st_rdev reported by fstat (character device 81:minor).
    pub rdev: u64,
    /// Bumped (under the `vfd` lock) by REQBUFS, CREATE_BUFS, STREAMON and STREAMOFF: a thread
    /// blocked in DQBUF on this file retries when another thread changed its queue. The daemon
    /// cannot wake it: after REQBUFS(0) the opener has no queue, and with no producer streaming
    /// its readiness stays 0, so the blocked DQBUF would wait forever where V4L2 returns EINVAL
    /// (vb2 cancels the queue and wakes waiters; DESIGN §3.5: REQBUFS(0) implies STREAMOFF).
    pub queue_gen: AtomicU64,
    /// Readable after `queue_gen` changed (eventfd): wakes blocked threads at once.
    pub queue_wake: OwnedFd,
}

impl Entry {
    /// Records a queue change and wakes threads blocked on this file. Call with `vfd` locked.
    pub fn queue_changed(&self) {
        self.queue_gen.fetch_add(1, Ordering::SeqCst);
        // An eventfd write fails only when the counter would overflow (it is then readable).
        let _ = rustix::io::write(&self.queue_wake, &1u64.to_ne_bytes());
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let n = self.vfd.get_mut().map(|v| v.mapping_count()).unwrap_or(0);
        MAPS.fetch_sub(n.min(MAPS.load(Ordering::Relaxed)), Ordering::Relaxed);
    }
}

/// Is `fd` a loopcam fd? Lock-free.
#[inline]
pub fn is_ours(fd: i32) -> bool {
    fd >= 0 && (fd as usize) < MAX_FD && FLAGS[fd as usize].load(Ordering::Acquire)
}

fn table() -> std::sync::MutexGuard<'static, BTreeMap<i32, Arc<Entry>>> {
    TABLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The entry of a loopcam fd.
pub fn get(fd: i32) -> Option<Arc<Entry>> {
    table().get(&fd).cloned()
}

/// Registers `fd` as (another) fd of `e`.
pub fn insert(fd: i32, e: Arc<Entry>) -> bool {
    if fd < 0 || fd as usize >= MAX_FD {
        return false;
    }
    table().insert(fd, e);
    FLAGS[fd as usize].store(true, Ordering::Release);
    true
}

/// Forgets `fd`; returns its entry (dropped by the caller outside any lock).
pub fn remove(fd: i32) -> Option<Arc<Entry>> {
    if !is_ours(fd) {
        return None;
    }
    FLAGS[fd as usize].store(false, Ordering::Release);
    table().remove(&fd)
}

/// Every entry (for munmap's search).
pub fn entries() -> Vec<Arc<Entry>> {
    let mut v: Vec<Arc<Entry>> = table().values().cloned().collect();
    v.dedup_by(|a, b| Arc::ptr_eq(a, b));
    v
}
