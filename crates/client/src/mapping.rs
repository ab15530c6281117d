//! Memory mappings: the mmap edge of the client. The crate's other `unsafe` blocks are the
//! fork lock's shared page (`conn`) and the signal mask of a watched wait (`signals`).

use std::os::fd::AsFd;
use std::ptr::NonNull;

use rustix::mm::{mmap, mmap_anonymous, munmap, MapFlags, ProtFlags};

/// A mapping this crate created and unmaps on drop (RAII), unless released to the caller.
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a Mapping is plain memory owned by this value; moving it between threads is fine.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` read-only (for copies out of frame memory).
    pub fn map_read(fd: impl AsFd, len: usize) -> rustix::io::Result<Mapping> {
        // SAFETY: a fresh mapping at a kernel-chosen address aliases no Rust memory.
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        Ok(Mapping {
            ptr: NonNull::new(p.cast()).expect("mmap never returns null on success"),
            len,
        })
    }

    /// Maps `len` bytes of `fd` read-write, shared (for copies into frame memory).
    pub fn map_write(fd: impl AsFd, len: usize) -> rustix::io::Result<Mapping> {
        // SAFETY: as above.
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        Ok(Mapping {
            ptr: NonNull::new(p.cast()).expect("mmap never returns null on success"),
            len,
        })
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is live and `len` bytes long for the lifetime of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The bytes, writable (only for `map_write` mappings).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: live, `len` bytes, exclusively borrowed through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false for a created mapping.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we created this mapping and nothing borrows it any more.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// How a buffer mapping handed to an application is backed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// The producer's buffer: shared with the daemon.
    Shared,
    /// A consumer's buffer: private copy-on-write view (a write cannot reach other consumers).
    Private,
}

/// Maps an application buffer at a kernel-chosen address (or `hint`); the caller owns the
/// result (it is the address mmap(2) returns to the application).
pub fn map_buffer(
    fd: Option<&dyn AsFd>,
    len: usize,
    prot: ProtFlags,
    backing: Backing,
) -> rustix::io::Result<*mut u8> {
    let flags = match backing {
        Backing::Shared => MapFlags::SHARED,
        Backing::Private => MapFlags::PRIVATE,
    };
    // SAFETY: a new mapping at a kernel-chosen address aliases no Rust memory.
    let p = unsafe {
        match fd {
            Some(fd) => mmap(std::ptr::null_mut(), len, prot, flags, fd.as_fd(), 0)?,
            None => mmap_anonymous(std::ptr::null_mut(), len, prot, MapFlags::PRIVATE)?,
        }
    };
    Ok(p.cast())
}

/// Replaces the pages of an application mapping at `addr` with `fd`'s memory (zero-copy hand
/// over of a frame after DQBUF, DESIGN §3.4). MAP_FIXED swaps atomically. No MAP_POPULATE:
/// populating page tables costs time proportional to the frame size on every DQBUF, while
/// the kernel's fault-around maps shmem pages in batches on first access, which costs only
/// the pages the application actually reads (measured with `loopcam bench`, rows 3 and 5).
///
/// # Safety
/// `addr..addr+len` must be a mapping this crate created for the application with
/// [`map_buffer`] and that is still mapped; the application must not be accessing it
/// concurrently in a way that relies on the old pages (V4L2: the buffer belongs to the driver
/// until DQBUF returns).
pub unsafe fn remap_buffer(
    addr: *mut u8,
    fd: &dyn AsFd,
    len: usize,
    prot: ProtFlags,
    backing: Backing,
) -> rustix::io::Result<()> {
    let flags = match backing {
        Backing::Shared => MapFlags::SHARED,
        Backing::Private => MapFlags::PRIVATE,
    } | MapFlags::FIXED;
    // SAFETY: guaranteed by the caller (see above).
    unsafe { mmap(addr.cast(), len, prot, flags, fd.as_fd(), 0)? };
    Ok(())
}

/// Unmaps an application mapping.
///
/// # Safety
/// Same contract as munmap(2): the range must not be used afterwards.
pub unsafe fn unmap_buffer(addr: *mut u8, len: usize) -> rustix::io::Result<()> {
    // SAFETY: guaranteed by the caller.
    unsafe { munmap(addr.cast(), len) }
}

/// Whether no page of the private mapping `addr..addr+len` holds a private copy — none is an
/// anonymous page (present, or swapped out): the mapping then shows exactly its file. A page the
/// application wrote through a MAP_PRIVATE mapping becomes such a copy (copy-on-write).
/// Read from `/proc/self/pagemap` (one 64-bit entry per page: bit 63 present, bit 62 swapped,
/// bit 61 file page or shared anonymous). `false` whenever it cannot tell.
pub fn no_private_copies(addr: usize, len: usize) -> bool {
    use std::sync::Mutex;
    const PAGE: usize = 4096;
    // The pagemap fd, kept open, with its identity and the pid that opened it: an application
    // may close or reuse the number (close_range before exec, a double close), and after
    // fork() the inherited fd still shows the parent's pages. Checked before each use.
    type Cached = (std::os::fd::OwnedFd, u64, u64, u32);
    static PAGEMAP: Mutex<Option<Cached>> = Mutex::new(None);
    // try_lock: never wait (nor deadlock in a child forked while another thread held it).
    let Ok(mut slot) = PAGEMAP.try_lock() else {
        return false;
    };
    let pid = std::process::id();
    let valid = slot.as_ref().is_some_and(|(fd, dev, ino, owner)| {
        *owner == pid
            && rustix::fs::fstat(fd).is_ok_and(|st| st.st_dev == *dev && st.st_ino == *ino)
    });
    if !valid {
        // A stale number is forgotten, never closed: it may be the application's now (or,
        // after fork, the parent's fd that this process inherited and may still use).
        if let Some((fd, ..)) = slot.take() {
            std::mem::forget(fd);
        }
        let Ok(fd) = rustix::fs::open(
            "/proc/self/pagemap",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) else {
            return false;
        };
        let Ok(st) = rustix::fs::fstat(&fd) else {
            return false;
        };
        *slot = Some((fd, st.st_dev, st.st_ino, pid));
    }
    let Some((fd, ..)) = slot.as_ref() else {
        return false;
    };
    let (first, last) = (addr / PAGE, (addr + len.max(1) - 1) / PAGE);
    let mut buf = vec![0u8; (last - first + 1) * 8];
    let mut done = 0;
    while done < buf.len() {
        match rustix::io::pread(fd, &mut buf[done..], (first * 8 + done) as u64) {
            Ok(0) => return false,
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
    buf.chunks_exact(8).all(|e| {
        let e = u64::from_le_bytes(e.try_into().expect("8 bytes"));
        let (present, swapped, file) = (e >> 63 & 1 == 1, e >> 62 & 1 == 1, e >> 61 & 1 == 1);
        !swapped && (!present || file)
    })
}

/// Copies `dst.len()` bytes from application memory at `src` into `dst`, like the kernel's
/// copy_from_user: an unmapped or unreadable range is EFAULT, never a crash (H12: a bad USERPTR
/// fails the call). process_vm_readv on our own pid does exactly this check.
pub fn copy_from_user(dst: &mut [u8], src: usize) -> Result<(), rustix::io::Errno> {
    if dst.is_empty() {
        return Ok(());
    }
    let local = libc::iovec {
        iov_base: dst.as_mut_ptr().cast(),
        iov_len: dst.len(),
    };
    let remote = libc::iovec {
        iov_base: src as *mut libc::c_void,
        iov_len: dst.len(),
    };
    // SAFETY: `local` is a valid writable Rust buffer; the kernel validates `remote` and
    // returns EFAULT instead of faulting.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == dst.len() as isize {
        Ok(())
    } else {
        Err(rustix::io::Errno::FAULT)
    }
}

/// Copies `src` into application memory at `dst` (copy_to_user): EFAULT for a bad range.
pub fn copy_to_user(dst: usize, src: &[u8]) -> Result<(), rustix::io::Errno> {
    if src.is_empty() {
        return Ok(());
    }
    let local = libc::iovec {
        iov_base: src.as_ptr() as *mut libc::c_void,
        iov_len: src.len(),
    };
    let remote = libc::iovec {
        iov_base: dst as *mut libc::c_void,
        iov_len: src.len(),
    };
    // SAFETY: `local` is a valid readable Rust buffer; the kernel validates `remote`.
    let n = unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == src.len() as isize {
        Ok(())
    } else {
        Err(rustix::io::Errno::FAULT)
    }
}

/// Borrows `len` bytes of an application mapping this crate created.
///
/// # Safety
/// The mapping must stay mapped, and not be written through other paths, while the slice lives.
pub unsafe fn buffer_slice<'a>(addr: *mut u8, len: usize) -> &'a [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(addr, len) }
}

/// Borrows `len` bytes of an application mapping this crate created, writable.
///
/// # Safety
/// As [`buffer_slice`], and no other reference to the range may exist.
pub unsafe fn buffer_slice_mut<'a>(addr: *mut u8, len: usize) -> &'a mut [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts_mut(addr, len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_private_page_is_a_private_copy_and_a_read_one_is_not() {
        let fd = rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        let len = 16 * 4096;
        rustix::fs::ftruncate(&fd, len as u64).unwrap();
        let rw = ProtFlags::READ | ProtFlags::WRITE;
        let p = map_buffer(Some(&fd), len, rw, Backing::Private).unwrap();
        assert!(no_private_copies(p as usize, len), "untouched");
        // SAFETY: our own fresh mapping of `len` bytes, unmapped below.
        let s = unsafe { buffer_slice_mut(p, len) };
        let sum: u32 = s.iter().step_by(4096).map(|b| u32::from(*b)).sum();
        assert_eq!(sum, 0);
        assert!(no_private_copies(p as usize, len), "read only");
        s[5 * 4096 + 7] = 1;
        assert!(!no_private_copies(p as usize, len), "one page written");
        assert!(
            no_private_copies(p as usize, 4096),
            "the first page is still the file's"
        );
        // SAFETY: the mapping made above, no longer borrowed.
        unsafe { unmap_buffer(p, len).unwrap() };
    }
}
