//! Path classification and node identity (stat, sysfs) for loopcam devices.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, IntoRawFd};

use loopcam_client::Manager;
use loopcam_proto::DeviceInfo;

/// `/dev/videoN`, or a node in the unprivileged node directory
/// (`$XDG_RUNTIME_DIR/loopcam/videoN`). Allocation-free: this runs on every open().
pub fn is_video_path(p: &[u8]) -> bool {
    fn video_tail(t: &[u8]) -> bool {
        t.strip_prefix(b"video")
            .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
    }
    if let Some(t) = p.strip_prefix(b"/dev/") {
        return video_tail(t);
    }
    // SAFETY: getenv returns a pointer to the environment string or null; read-only use.
    let rt = unsafe { libc::getenv(c"XDG_RUNTIME_DIR".as_ptr()) };
    if rt.is_null() {
        return false;
    }
    // SAFETY: non-null getenv results are NUL-terminated strings.
    let rt = unsafe { CStr::from_ptr(rt) }.to_bytes();
    p.strip_prefix(rt)
        .and_then(|t| t.strip_prefix(b"/loopcam/"))
        .is_some_and(video_tail)
}

/// Whether the last path component is `videoN` (any directory). Allocation-free.
pub fn is_video_name(p: &[u8]) -> bool {
    let name = p.rsplit(|c| *c == b'/').next().unwrap_or(p);
    name.strip_prefix(b"video")
        .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
}

/// All devices the daemon hosts (empty without a daemon).
pub fn devices() -> Vec<DeviceInfo> {
    Manager::connect()
        .and_then(|mut m| m.list())
        .unwrap_or_default()
}

/// The rdev of a device node: the real node's when it is a character device, else 81:number.
pub fn rdev_of(d: &DeviceInfo, node: &str) -> u64 {
    if let Ok(st) = rustix::fs::stat(node) {
        if st.st_mode & libc::S_IFMT == libc::S_IFCHR {
            return st.st_rdev;
        }
    }
    libc::makedev(81, d.number)
}

/// The device and node a `/dev/videoN` (or node-dir) path names.
pub fn find_node(path: &str) -> Option<(DeviceInfo, String)> {
    let name = path.rsplit('/').next()?;
    devices().into_iter().find_map(|d| {
        let hit = d
            .nodes
            .iter()
            .find(|n| n.as_str() == path || n.rsplit('/').next() == Some(name))?
            .clone();
        Some((d, hit))
    })
}

/// Fills a `struct stat` for a loopcam node: a character device, major 81.
pub fn fill_stat(st: &mut libc::stat, rdev: u64) {
    // SAFETY: libc::stat is plain data; all-zero is a valid value.
    *st = unsafe { std::mem::zeroed() };
    st.st_mode = libc::S_IFCHR | 0o666;
    st.st_rdev = rdev;
    st.st_nlink = 1;
    st.st_blksize = 4096;
    st.st_ino = rdev;
    st.st_dev = 5; // devtmpfs-like
}

/// Fills a `struct statx` for a loopcam node.
pub fn fill_statx(st: &mut libc::statx, rdev: u64) {
    // SAFETY: libc::statx is plain data; all-zero is a valid value.
    *st = unsafe { std::mem::zeroed() };
    st.stx_mask = libc::STATX_TYPE | libc::STATX_MODE | libc::STATX_NLINK | libc::STATX_INO;
    st.stx_mode = (libc::S_IFCHR | 0o666) as u16;
    st.stx_nlink = 1;
    st.stx_blksize = 4096;
    st.stx_ino = rdev;
    st.stx_rdev_major = libc::major(rdev);
    st.stx_rdev_minor = libc::minor(rdev);
    st.stx_dev_major = 0;
    st.stx_dev_minor = 5;
}

/// Node identity in sysfs for a loopcam device (issue 4): `/sys/class/video4linux/videoN/
/// {name,dev,index,uevent}` and `/sys/dev/char/81:M/uevent`. Returns an fd of a memfd holding
/// the file's content, or None when the path is not about a loopcam device.
pub fn sysfs_file(path: &[u8]) -> Option<i32> {
    let path = std::str::from_utf8(path).ok()?;
    let content = if let Some(rest) = path.strip_prefix("/sys/class/video4linux/") {
        let (name, file) = rest.split_once('/')?;
        let devs = devices();
        let (d, node) = devs.iter().find_map(|d| {
            d.nodes
                .iter()
                .find(|n| n.rsplit('/').next() == Some(name))
                .map(|n| (d, n.clone()))
        })?;
        let rdev = rdev_of(d, &node);
        let (maj, min) = (libc::major(rdev), libc::minor(rdev));
        match file {
            "name" => format!("{}\n", d.label),
            "dev" => format!("{maj}:{min}\n"),
            "index" => "0\n".to_string(),
            "uevent" => format!("MAJOR={maj}\nMINOR={min}\nDEVNAME={name}\n"),
            _ => return None,
        }
    } else if let Some(rest) = path.strip_prefix("/sys/dev/char/") {
        let (mm, file) = rest.split_once('/')?;
        if file != "uevent" {
            return None;
        }
        let (maj, min) = mm.split_once(':')?;
        let (maj, min): (u32, u32) = (maj.parse().ok()?, min.parse().ok()?);
        if maj != 81 {
            return None;
        }
        let devs = devices();
        let name = devs.iter().find_map(|d| {
            d.nodes
                .iter()
                .find(|n| libc::minor(rdev_of(d, n)) == min)
                .map(|n| n.rsplit('/').next().unwrap_or("").to_string())
        })?;
        format!("MAJOR=81\nMINOR={min}\nDEVNAME={name}\n")
    } else {
        return None;
    };
    let fd = rustix::fs::memfd_create("loopcam-sysfs", rustix::fs::MemfdFlags::CLOEXEC).ok()?;
    rustix::io::write(&fd, content.as_bytes()).ok()?;
    rustix::fs::seek(&fd, rustix::fs::SeekFrom::Start(0)).ok()?;
    let _ = fd.as_raw_fd();
    Some(fd.into_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_paths() {
        assert!(is_video_path(b"/dev/video0"));
        assert!(is_video_path(b"/dev/video123"));
        assert!(!is_video_path(b"/dev/video"));
        assert!(!is_video_path(b"/dev/videox"));
        assert!(!is_video_path(b"/dev/null"));
        assert!(!is_video_path(b"/etc/passwd"));
    }
}
