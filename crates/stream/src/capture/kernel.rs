//! A kernel V4L2 device through plain `open(2)`, `ioctl(2)`, `mmap(2)`.
//!
//! Every call goes through libc on purpose (not rustix's raw syscalls): run under
//! `loopcam run`, the preload library interposes these very symbols and serves a loopcam device
//! as if it were a kernel one, which is how this path is tested.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

use bytemuck::Pod;
use rustix::io::Errno;

use super::v4l2::{self, Io};
use super::{CaptureDevice, CaptureError, CaptureRequest};

struct KernelIo {
    file: File,
}

fn last_errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)
}

impl Io for KernelIo {
    fn ioctl<T: Pod>(&mut self, request: u32, arg: &mut T) -> Result<(), Errno> {
        // V4L2 drivers (and ustreamer's xioctl) retry on EINTR.
        for _ in 0..5 {
            // SAFETY: `arg` is a valid, exclusively borrowed struct of the size encoded in
            // `request` (the VIDIOC numbers come from loopcam-abi, computed from these struct
            // sizes); the structs used here carry no pointers.
            let rc = unsafe {
                libc::ioctl(
                    self.file.as_raw_fd(),
                    request as libc::c_ulong,
                    arg as *mut T as *mut libc::c_void,
                )
            };
            if rc != -1 {
                return Ok(());
            }
            let e = last_errno();
            if e != Errno::INTR {
                return Err(e);
            }
        }
        Err(Errno::INTR)
    }

    fn map(&mut self, len: usize, offset: u32) -> Result<*mut u8, Errno> {
        // SAFETY: a fresh shared read-only mapping of the device at a V4L2 buffer cookie;
        // the kernel picks the address, so no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            Err(last_errno())
        } else {
            Ok(p.cast())
        }
    }

    fn unmap(&mut self, ptr: *mut u8, len: usize) {
        // SAFETY: `ptr`/`len` come from `map` and nothing uses the mapping any more (the
        // capture object is being dropped after every holder returned its buffer).
        unsafe {
            libc::munmap(ptr.cast(), len);
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Opens a V4L2 capture device with plain system calls (O_RDWR | O_NONBLOCK, as ustreamer).
pub fn open_kernel(
    path: &str,
    req: &CaptureRequest,
) -> Result<Box<dyn CaptureDevice>, CaptureError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| v4l2::open_error(path, Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
    Ok(Box::new(v4l2::start(KernelIo { file }, path, req)?))
}
