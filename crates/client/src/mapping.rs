//! Memory mappings: the mmap edge of the client. Every `unsafe` block of the crate is here.

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
