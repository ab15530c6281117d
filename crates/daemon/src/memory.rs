//! memfd-backed frame blocks (DESIGN §2: the daemon owns frame memory).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{ftruncate, memfd_create, MemfdFlags};

/// One block of frame memory.
pub struct Memfd {
    fd: OwnedFd,
    size: u64,
    /// A read-only open file description of the same memory, made on first use: what
    /// consumers get (issue 7, isolation).
    read_only: std::cell::OnceCell<OwnedFd>,
}

impl Memfd {
    /// A zero-filled memfd of `size` bytes.
    pub fn new(size: u64) -> rustix::io::Result<Memfd> {
        let fd = memfd_create("loopcam-frame", MemfdFlags::CLOEXEC)?;
        ftruncate(&fd, size)?;
        Ok(Memfd {
            fd,
            size,
            read_only: std::cell::OnceCell::new(),
        })
    }

    /// An fd of this memory to send to a client: read-write for the producer side, read-only
    /// for consumers. A consumer holding a read-write fd could map it shared and writable and
    /// change the frame every other consumer sees; with an O_RDONLY description the kernel
    /// refuses that (MAP_SHARED + PROT_WRITE needs FMODE_WRITE) and leaves MAP_PRIVATE copies.
    /// The read-only description is a reopen through /proc (a memfd has no other name).
    pub fn dup_for_client(&self, read_only: bool) -> rustix::io::Result<OwnedFd> {
        if !read_only {
            return rustix::io::fcntl_dupfd_cloexec(&self.fd, 0);
        }
        if self.read_only.get().is_none() {
            use std::os::fd::AsRawFd;
            let ro = rustix::fs::open(
                format!("/proc/self/fd/{}", self.fd.as_raw_fd()),
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )?;
            let _ = self.read_only.set(ro);
        }
        let ro = self.read_only.get().ok_or(rustix::io::Errno::IO)?;
        rustix::io::fcntl_dupfd_cloexec(ro, 0)
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Writes `data` at the start of the block (used for the timeout image: one copy, rare).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> rustix::io::Result<()> {
        let mut done = 0;
        while done < data.len() {
            let n = rustix::io::pwrite(&self.fd, &data[done..], offset + done as u64)?;
            if n == 0 {
                return Err(rustix::io::Errno::NOSPC);
            }
            done += n;
        }
        Ok(())
    }
}

/// Copies the first `len` bytes of `src` into `dst` inside the kernel (copy_file_range): the
/// daemon never maps frame memory.
pub fn copy(src: &Memfd, dst: &Memfd, len: u64) -> rustix::io::Result<()> {
    let (mut off_in, mut off_out) = (0u64, 0u64);
    let len = len.min(src.size).min(dst.size);
    while off_in < len {
        let want = (len - off_in) as usize;
        let n = rustix::fs::copy_file_range(
            &src.fd,
            Some(&mut off_in),
            &dst.fd,
            Some(&mut off_out),
            want,
        )?;
        if n == 0 {
            return Err(rustix::io::Errno::IO);
        }
    }
    Ok(())
}

impl AsFd for Memfd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
