//! Directory listings: `/dev` and `/sys/class/video4linux` include loopcam devices even when
//! they have no real node (unprivileged daemon), so applications that discover cameras by
//! listing (v4l2-ctl --list-devices, Chromium, GStreamer's device monitor) find them.
//!
//! opendir of one of those two directories records the loopcam names missing from it; readdir
//! returns them after the real entries. Every other directory passes through untouched.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Streams with injected entries; readdir passes through without a lock while this is 0.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Extra entries per open DIR stream (keyed by the DIR pointer).
struct Extra {
    names: Vec<String>,
    next: usize,
    d_type: u8,
    /// The dirent handed out last (readdir's result stays valid until the next call).
    ent: Box<libc::dirent64>,
}

static STREAMS: Mutex<BTreeMap<usize, Extra>> = Mutex::new(BTreeMap::new());

/// Whether `path` is a directory whose listing should include loopcam devices.
pub fn is_listed_dir(path: &[u8]) -> bool {
    let p = path.strip_suffix(b"/").unwrap_or(path);
    p == b"/dev" || p == b"/sys/class/video4linux"
}

/// Called after a successful opendir of a listed directory.
pub fn register(dir: usize, path: &[u8]) {
    let p = path.strip_suffix(b"/").unwrap_or(path);
    let base = std::str::from_utf8(p).unwrap_or("/dev");
    let mut names: Vec<String> = Vec::new();
    for d in crate::paths::devices() {
        for n in &d.nodes {
            let name = n.rsplit('/').next().unwrap_or("").to_string();
            // Only names the real directory lacks. rustix makes the raw syscall: std's
            // Path::exists would go through our own interposed statx, which fakes the node.
            let real = rustix::fs::stat(std::path::Path::new(base).join(&name)).is_ok();
            if !name.is_empty() && !real {
                names.push(name);
            }
        }
    }
    if names.is_empty() {
        return;
    }
    // SAFETY: dirent64 is plain data; zeroed is valid.
    let ent = Box::new(unsafe { std::mem::zeroed::<libc::dirent64>() });
    // /dev nodes are character devices; sysfs class entries are symlinks.
    let d_type = if base == "/dev" {
        libc::DT_CHR
    } else {
        libc::DT_LNK
    };
    let old = STREAMS.lock().unwrap_or_else(|p| p.into_inner()).insert(
        dir,
        Extra {
            names,
            next: 0,
            d_type,
            ent,
        },
    );
    if old.is_none() {
        ACTIVE.fetch_add(1, Ordering::Relaxed);
    }
}

/// After the real readdir returned NULL: the next injected entry, if any.
pub fn next_extra(dir: usize) -> Option<*mut libc::dirent64> {
    let mut streams = STREAMS.lock().unwrap_or_else(|p| p.into_inner());
    let x = streams.get_mut(&dir)?;
    let name = x.names.get(x.next)?.clone();
    x.next += 1;
    let e = &mut *x.ent;
    e.d_ino = 0x4c43_0000 + x.next as u64;
    e.d_off = x.next as i64;
    e.d_reclen = std::mem::size_of::<libc::dirent64>() as u16;
    e.d_type = x.d_type;
    e.d_name.fill(0);
    for (d, s) in e.d_name.iter_mut().zip(name.bytes().take(255)) {
        *d = s as libc::c_char;
    }
    Some(e as *mut libc::dirent64)
}

/// Forget a stream at closedir.
pub fn forget(dir: usize) {
    if ACTIVE.load(Ordering::Relaxed) == 0 {
        return;
    }
    if STREAMS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&dir)
        .is_some()
    {
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether any stream has injected entries: one atomic load (pass-through path).
pub fn any() -> bool {
    ACTIVE.load(Ordering::Relaxed) > 0
}
