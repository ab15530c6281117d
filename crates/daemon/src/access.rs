//! Who may open and manage a device.
//!
//! A device has an owner, a group and permission bits, like the device node v4l2loopback's
//! udev rule makes (`root:video 0660`). An `Open` is checked the way the kernel checks open(2)
//! of a node (`generic_permission`): the owner's bits if the peer is the owner, else the
//! group's bits if the peer is in the group (primary or supplementary), else the others' bits;
//! reading needs `r`, writing `w` (O_RDWR both). Root passes like `CAP_DAC_OVERRIDE`. Changing
//! or deleting a device needs its owner or root, like chmod/unlink; creating one with another
//! owner needs root (chown), with another group root or a member of it (chgrp).
//!
//! The peer's identity is what the kernel recorded when it connected: `SO_PEERCRED` and
//! `SO_PEERGROUPS`, which a client cannot forge.

use std::os::fd::{AsFd, AsRawFd};

/// Default permission bits of a new device: owner and group read/write, like `/dev/video*`.
pub const DEFAULT_MODE: u32 = 0o660;

/// The identity of a connected client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Process id at connect time.
    pub pid: i32,
    /// Effective uid.
    pub uid: u32,
    /// Effective gid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl Peer {
    /// The kernel's record of the process at the other end of a unix socket.
    pub fn of_socket(sock: impl AsFd) -> Option<Peer> {
        let cred = rustix::net::sockopt::socket_peercred(&sock).ok()?;
        Some(Peer {
            pid: cred.pid.as_raw_nonzero().get(),
            uid: cred.uid.as_raw(),
            gid: cred.gid.as_raw(),
            groups: peer_groups(sock.as_fd()),
        })
    }

    /// This process (for devices of the persistent configuration).
    pub fn myself() -> Peer {
        Peer {
            pid: rustix::process::getpid().as_raw_nonzero().get(),
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            groups: Vec::new(),
        }
    }

    /// uid 0: passes every permission check.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// In `gid` as its primary or a supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// `SO_PEERGROUPS` (Linux 4.13): the peer's supplementary groups. Empty if unavailable.
fn peer_groups(sock: std::os::fd::BorrowedFd<'_>) -> Vec<u32> {
    let mut groups = vec![0 as libc::gid_t; 64];
    loop {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: FFI call with a valid socket fd, a buffer of `len` bytes we own and a pointer
        // to its length; the kernel writes at most `len` bytes and updates `len`.
        let r = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if r == 0 {
            groups.truncate(n);
            return groups;
        }
        // ERANGE: the buffer was too small and `len` says how much is needed.
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE)
            && n > groups.len()
            && n <= 65536
        {
            groups.resize(n, 0);
            continue;
        }
        return Vec::new();
    }
}

/// Owner, group and mode of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Owner uid.
    pub owner: u32,
    /// Group gid.
    pub group: u32,
    /// Permission bits (only the low 9 are used).
    pub mode: u32,
}

/// Why a management request is refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Denied(pub String);

impl Access {
    /// The access of a device `creator` asks for; EPERM-worthy requests are refused.
    pub fn for_new_device(
        creator: &Peer,
        owner: Option<u32>,
        group: Option<u32>,
        mode: Option<u32>,
    ) -> Result<Access, Denied> {
        let owner = owner.unwrap_or(creator.uid);
        let group = group.unwrap_or(creator.gid);
        let mode = mode.unwrap_or(DEFAULT_MODE);
        if mode > 0o777 {
            return Err(Denied(format!(
                "mode {mode:o} has bits other than rwxrwxrwx"
            )));
        }
        if owner != creator.uid && !creator.is_root() {
            return Err(Denied(format!(
                "only root may create a device owned by another user (uid {owner})"
            )));
        }
        if !creator.is_root() && !creator.in_group(group) {
            return Err(Denied(format!(
                "only root or a member of group {group} may create a device of that group"
            )));
        }
        Ok(Access { owner, group, mode })
    }

    /// The permission bits (rwx, shifted down) that apply to `peer`.
    fn class_bits(&self, peer: &Peer) -> u32 {
        if peer.uid == self.owner {
            (self.mode >> 6) & 7
        } else if peer.in_group(self.group) {
            (self.mode >> 3) & 7
        } else {
            self.mode & 7
        }
    }

    /// open(2) with O_RDONLY (`read`), O_WRONLY (`write`) or O_RDWR (both).
    pub fn may_open(&self, peer: &Peer, read: bool, write: bool) -> bool {
        if peer.is_root() {
            return true;
        }
        let bits = self.class_bits(peer);
        (!read || bits & 4 != 0) && (!write || bits & 2 != 0)
    }

    /// Delete, set-caps, set-fps, set-timeout-image: the owner or root.
    pub fn may_manage(&self, peer: &Peer) -> bool {
        peer.is_root() || peer.uid == self.owner
    }
}

/// Resolves a user name or number (`/etc/passwd`, like `chown`).
pub fn resolve_user(name: &str) -> Result<u32, String> {
    resolve(name, "/etc/passwd", "user")
}

/// Resolves a group name or number (`/etc/group`, like `chgrp`).
pub fn resolve_group(name: &str) -> Result<u32, String> {
    resolve(name, "/etc/group", "group")
}

fn resolve(name: &str, db: &str, what: &str) -> Result<u32, String> {
    let name = name.trim();
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let text = std::fs::read_to_string(db).map_err(|e| format!("{db}: {e}"))?;
    lookup(&text, name).ok_or_else(|| format!("no such {what}: '{name}'"))
}

/// `name:x:ID:...` lines: the ID of `name`.
fn lookup(db: &str, name: &str) -> Option<u32> {
    db.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// The name of a uid, or its number.
pub fn user_name(uid: u32) -> String {
    name_of(uid, "/etc/passwd")
}

/// The name of a gid, or its number.
pub fn group_name(gid: u32) -> String {
    name_of(gid, "/etc/group")
}

fn name_of(id: u32, db: &str) -> String {
    std::fs::read_to_string(db)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse() == Ok(id)).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| id.to_string())
}

/// Parses an octal mode: `660`, `0660`, `0o660`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let t = t.strip_prefix("0o").unwrap_or(t);
    match u32::from_str_radix(t, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!(
            "invalid mode '{s}' (expected octal permission bits like 0660)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer {
        Peer {
            pid: 1,
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    const DEV: Access = Access {
        owner: 1000,
        group: 44,
        mode: 0o640,
    };

    #[test]
    fn owner_group_other_classes_like_generic_permission() {
        // Owner: rw.
        assert!(DEV.may_open(&peer(1000, 1000, &[]), true, true));
        // Group (supplementary): r only.
        let member = peer(1001, 1001, &[44]);
        assert!(DEV.may_open(&member, true, false));
        assert!(!DEV.may_open(&member, true, true));
        assert!(!DEV.may_open(&member, false, true));
        // Group as the primary gid.
        assert!(DEV.may_open(&peer(1002, 44, &[]), true, false));
        // Others: nothing.
        assert!(!DEV.may_open(&peer(1003, 1003, &[]), true, false));
        // Root passes.
        assert!(DEV.may_open(&peer(0, 0, &[]), true, true));
    }

    #[test]
    fn owner_bits_apply_to_the_owner_even_if_the_group_has_more() {
        // As in the kernel: the owner class is used for the owner, not the best class.
        let a = Access {
            owner: 1000,
            group: 1000,
            mode: 0o060,
        };
        assert!(!a.may_open(&peer(1000, 1000, &[]), true, false));
        assert!(a.may_open(&peer(1001, 1000, &[]), true, true));
    }

    #[test]
    fn management_needs_owner_or_root() {
        assert!(DEV.may_manage(&peer(1000, 1, &[])));
        assert!(DEV.may_manage(&peer(0, 0, &[])));
        assert!(!DEV.may_manage(&peer(1001, 44, &[44])));
    }

    #[test]
    fn creating_for_others_needs_root_or_membership() {
        let user = peer(1000, 1000, &[44]);
        let a = Access::for_new_device(&user, None, None, None).unwrap();
        assert_eq!((a.owner, a.group, a.mode), (1000, 1000, DEFAULT_MODE));
        assert!(Access::for_new_device(&user, None, Some(44), Some(0o666)).is_ok());
        assert!(Access::for_new_device(&user, Some(0), None, None).is_err());
        assert!(Access::for_new_device(&user, None, Some(45), None).is_err());
        assert!(Access::for_new_device(&user, None, None, Some(0o1777)).is_err());
        let root = peer(0, 0, &[]);
        assert!(Access::for_new_device(&root, Some(1000), Some(45), Some(0o600)).is_ok());
    }

    #[test]
    fn names_and_modes() {
        let db = "root:x:0:0:root:/root:/bin/sh\nvideo:x:44:\nnobody:x:65534:65534::/:/bin/false\n";
        assert_eq!(lookup(db, "video"), Some(44));
        assert_eq!(lookup(db, "nobody"), Some(65534));
        assert_eq!(lookup(db, "vide"), None);
        assert_eq!(resolve_user("1234"), Ok(1234));
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("0o600"), Ok(0o600));
        assert_eq!(parse_mode("666"), Ok(0o666));
        assert!(parse_mode("0888").is_err());
        assert!(parse_mode("1777").is_err());
    }
}
