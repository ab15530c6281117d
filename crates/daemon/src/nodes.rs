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

/// What takes the number `n` (`/dev/videoN`, our node path, a kernel video device), if anything.
pub fn number_taken(dir: &NodeDir, n: u32) -> Option<PathBuf> {
    let name = format!("video{n}");
    [
        Path::new("/dev").join(&name),
        dir.path(&name),
        Path::new("/sys/class/video4linux").join(&name),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// The record of the nodes a daemon made, next to its socket (`SOCKET.nodes`): a daemon killed
/// with SIGKILL cannot remove its nodes, so the next daemon on the same socket removes what the
/// ledger lists before it creates devices (otherwise the persistent configuration's numbers
/// would be "taken" by the dead daemon's leftovers).
#[derive(Clone, Debug)]
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    /// The ledger of the daemon listening on `socket`.
    pub fn for_socket(socket: &Path) -> Ledger {
        let mut p = socket.as_os_str().to_owned();
        p.push(".nodes");
        Ledger { path: p.into() }
    }

    /// Removes the nodes a previous daemon on this socket left behind (only when they still
    /// look like loopcam's: a major-81 node no kernel driver backs, or an empty placeholder
    /// file); returns them.
    pub fn reclaim(&self) -> Vec<PathBuf> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let p = PathBuf::from(line);
            if looks_like_ours(&p) && std::fs::remove_file(&p).is_ok() {
                removed.push(p);
            }
        }
        let _ = std::fs::remove_file(&self.path);
        removed
    }

    /// Records the current nodes (rewritten whole, via a rename).
    pub fn record<'a>(&self, nodes: impl Iterator<Item = &'a Path>) {
        let mut text = String::new();
        for n in nodes {
            text.push_str(&n.display().to_string());
            text.push('\n');
        }
        let tmp = self.path.with_extension("nodes.tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &self.path);
        }
    }

    /// A clean exit removed every node: no ledger.
    pub fn clear(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn looks_like_ours(p: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return false;
    };
    if m.file_type().is_char_device() {
        let (major, minor) = (rustix::fs::major(m.rdev()), rustix::fs::minor(m.rdev()));
        major == VIDEO_MAJOR
            && !Path::new("/sys/dev/char")
                .join(format!("{major}:{minor}"))
                .exists()
    } else {
        m.file_type().is_file()
            && m.len() == 0
            && p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("video"))
    }
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
