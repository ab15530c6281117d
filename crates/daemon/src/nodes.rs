//! Device nodes: where a device appears in the file system.
//!
//! As root the daemon creates real character nodes `/dev/videoN` (major 81, the V4L major,
//! with a minor no existing node uses), so stat() and directory listings see a video device
//! even without the preload library. Without root a device lives under the runtime directory
//! (`$XDG_RUNTIME_DIR/loopcam/videoN`) and its `/dev/videoN` name is still accepted by the
//! CLI and the client.

use std::path::{Path, PathBuf};

use rustix::fs::{makedev, mknodat, FileType, Mode, CWD};

use crate::access::Access;

/// V4L2's character major.
pub const VIDEO_MAJOR: u32 = 81;

/// Where nodes are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeDir {
    /// Real character devices in /dev (root).
    Dev,
    /// Placeholder files in a directory (unprivileged).
    Dir(PathBuf),
}

impl NodeDir {
    /// The default for this process: /dev as root, the runtime directory otherwise.
    pub fn default_for_user() -> NodeDir {
        if rustix::process::geteuid().is_root() {
            NodeDir::Dev
        } else {
            let base = std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            NodeDir::Dir(base.join("loopcam"))
        }
    }

    /// Path of node `name` ("video10").
    pub fn path(&self, name: &str) -> PathBuf {
        match self {
            NodeDir::Dev => Path::new("/dev").join(name),
            NodeDir::Dir(d) => d.join(name),
        }
    }
}

/// Whether `/dev/videoN` (or the node path) is taken by something that is not ours.
pub fn number_taken(dir: &NodeDir, n: u32) -> bool {
    let name = format!("video{n}");
    Path::new("/dev").join(&name).exists()
        || dir.path(&name).exists()
        || Path::new("/sys/class/video4linux").join(&name).exists()
}

fn minor_in_use(minor: u32) -> bool {
    let want = format!("{VIDEO_MAJOR}:{minor}");
    if Path::new("/sys/dev/char").join(&want).exists() {
        return true;
    }
    let Ok(rd) = std::fs::read_dir("/dev") else {
        return false;
    };
    rd.flatten().any(|e| {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        e.metadata().is_ok_and(|m| {
            m.file_type().is_char_device()
                && rustix::fs::major(m.rdev()) == VIDEO_MAJOR
                && rustix::fs::minor(m.rdev()) == minor
        })
    })
}

/// Creates the node with the device's owner, group and mode (so `ls -l` shows who may open
/// it); returns its path.
pub fn create(dir: &NodeDir, name: &str, access: &Access) -> std::io::Result<PathBuf> {
    let path = dir.path(name);
    let mode = access.mode;
    match dir {
        NodeDir::Dev => {
            let minor = (0..256)
                .map(|k| (name_number(name) + k) % 256)
                .find(|m| !minor_in_use(*m))
                .unwrap_or(255);
            mknodat(
                CWD,
                &path,
                FileType::CharacterDevice,
                Mode::from_bits_truncate(mode),
                makedev(VIDEO_MAJOR, minor),
            )?;
            // mknod is subject to the umask; set the mode exactly.
            rustix::fs::chmod(&path, Mode::from_bits_truncate(mode))?;
        }
        NodeDir::Dir(d) => {
            std::fs::create_dir_all(d)?;
            std::fs::write(&path, b"")?;
            rustix::fs::chmod(&path, Mode::from_bits_truncate(mode))?;
        }
    }
    // Only root can give a file away; an unprivileged daemon's devices are its user's anyway.
    if rustix::process::geteuid().is_root() {
        rustix::fs::chown(
            &path,
            Some(rustix::process::Uid::from_raw(access.owner)),
            Some(rustix::process::Gid::from_raw(access.group)),
        )?;
    }
    Ok(path)
}

fn name_number(name: &str) -> u32 {
    name.trim_start_matches("video").parse().unwrap_or(0)
}

/// Removes a node made by [`create`].
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}
