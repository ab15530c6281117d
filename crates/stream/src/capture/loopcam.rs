//! A loopcam device through the native client: `loopcam_client::VirtualFd` carries the same
//! V4L2 calls to the daemon, with zero-copy frame memory (the daemon's memfd is remapped over
//! the buffer at DQBUF).

use std::os::fd::BorrowedFd;
use std::path::Path;

use bytemuck::Pod;
use loopcam_client::{Manager, VirtualFd};
use rustix::io::Errno;
use rustix::mm::ProtFlags;

use super::v4l2::{self, Io};
use super::{CaptureDevice, CaptureError, CaptureRequest};

struct LoopcamIo {
    vfd: VirtualFd,
}

impl Io for LoopcamIo {
    fn ioctl<T: Pod>(&mut self, request: u32, arg: &mut T) -> Result<(), Errno> {
        self.vfd.xioctl(request, arg)
    }

    fn map(&mut self, len: usize, offset: u32) -> Result<*mut u8, Errno> {
        self.vfd.mmap(len, ProtFlags::READ, true, u64::from(offset))
    }

    fn unmap(&mut self, ptr: *mut u8, len: usize) {
        let _ = self.vfd.munmap(ptr as usize, len);
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.vfd.fd()
    }
}

/// Whether the loopcam daemon (at the default socket) serves `path`: it is one of the nodes
/// `list()` reports, or a `/dev/videoN` alias of one (as a user, nodes live in
/// `$XDG_RUNTIME_DIR/loopcam/videoN` and the daemon accepts `/dev/videoN` for them) that is not
/// a real device node on this machine.
pub fn is_loopcam_device(path: &str) -> bool {
    let Ok(mut m) = Manager::connect() else {
        return false;
    };
    let Ok(devices) = m.list() else {
        return false;
    };
    let canon = |p: &str| std::fs::canonicalize(p).ok();
    let want = canon(path);
    let name = Path::new(path).file_name().map(|n| n.to_os_string());
    let alias_ok = path.starts_with("/dev/video") && !Path::new(path).exists();
    devices.iter().flat_map(|d| d.nodes.iter()).any(|n| {
        n == path
            || (want.is_some() && canon(n) == want)
            || (alias_ok && Path::new(n).file_name().map(|x| x.to_os_string()) == name)
    })
}

/// Opens a loopcam device through the native client.
pub fn open_loopcam(
    path: &str,
    req: &CaptureRequest,
) -> Result<Box<dyn CaptureDevice>, CaptureError> {
    let vfd = VirtualFd::open(path, true, false, true).map_err(|e| match e {
        loopcam_client::Error::NoDaemon(m) => CaptureError::NoDevice(format!("{path} ({m})")),
        loopcam_client::Error::Gone => CaptureError::NoDevice(path.to_string()),
        loopcam_client::Error::Daemon { errno, .. } => {
            v4l2::open_error(path, Errno::from_raw_os_error(errno))
        }
        loopcam_client::Error::Io(e) => {
            v4l2::open_error(path, Errno::from_io_error(&e).unwrap_or(Errno::IO))
        }
        loopcam_client::Error::Protocol(_) => CaptureError::ioctl("open", Errno::PROTO),
    })?;
    Ok(Box::new(v4l2::start(LoopcamIo { vfd }, path, req)?))
}
