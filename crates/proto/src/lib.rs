//! `loopcam-proto`: the wire protocol between loopcam clients and the daemon.
//!
//! # Transport
//!
//! A client connects to the daemon's `AF_UNIX` `SOCK_SEQPACKET` socket. Every message is one
//! datagram:
//!
//! ```text
//! offset  size  field
//! 0       4     magic   b"LCAM"
//! 4       2     version u16 little-endian (PROTOCOL_VERSION)
//! 6       2     nfds    u16 little-endian: file descriptors attached with SCM_RIGHTS
//! 8       ..    body    a postcard-encoded Request (client → daemon) or Response
//! ```
//!
//! A datagram larger than [`MAX_MESSAGE`], a wrong magic or version, a body that does not
//! decode, or an fd count that differs from the attached fds is a protocol error: the daemon
//! answers `Response::Error` with `EPROTO` and closes the connection; it never panics.
//!
//! # Conversation
//!
//! Strictly request → response, one at a time per connection. The first request is `Hello`.
//! A connection is either a *management* connection (device add/delete/list/query/set-*) or
//! becomes an *opener* with `Open`: from then on it is one open file description of a device
//! and the daemon closes that opener when the connection closes (including when the client
//! process dies), exactly like a closed fd.
//!
//! `Open` returns one fd: the *signal socket* the application polls. Its readiness mirrors the
//! V4L2 readiness of the opener (POLLIN: a DQBUF/read would succeed; POLLOUT: an output DQBUF
//! would succeed; POLLPRI: an event is pending; POLLHUP: the daemon is gone). The daemon
//! drives it; the client never reads or writes it.
//!
//! Frame memory travels as memfds: any response that names a [`BlockRef`] carries that block's
//! memfd as its one attached fd — except a DQBUF answer for a buffer and block the request
//! listed in `shown` (the client's mappings show that block already). The client maps it (MAP_SHARED for producer buffers,
//! MAP_PRIVATE for capture buffers so a consumer cannot change what others see) and closes
//! the fd.
//!
//! # Access control
//!
//! The daemon knows each peer from `SO_PEERCRED`/`SO_PEERGROUPS`. `Open` is checked against the
//! device's owner, group and mode (`DeviceInfo::owner/group/mode`) like open(2) of a device node:
//! a refusal is `Error { errno: EACCES }`. `DeleteDevice` and the `Set*` requests need the
//! owner or root (`EPERM`). A daemon at its connection limit answers the new connection with
//! one `Error { errno: EBUSY }` and closes it.
//!
//! Ioctls are forwarded raw: `Ioctl { request, arg, extra }` carries the argument bytes the
//! application passed (and, for the EXT_CTRLS family, the control array); the daemon's device
//! model interprets them. This crate knows nothing about V4L2 beyond carrying bytes.

pub mod msg;
pub mod transport;

pub use msg::*;
pub use transport::*;

/// Version of this protocol; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 3;

/// Largest datagram accepted, header included.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Largest number of fds attached to one message.
pub const MAX_FDS: usize = 4;

/// Magic bytes that start every message.
pub const MAGIC: [u8; 4] = *b"LCAM";

/// The daemon socket path: `$LOOPCAM_SOCKET`, else `$XDG_RUNTIME_DIR/loopcam.sock`, else
/// `/run/loopcam/loopcam.sock`.
pub fn default_socket_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("LOOPCAM_SOCKET").filter(|p| !p.is_empty()) {
        return p.into();
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        return std::path::Path::new(&d).join("loopcam.sock");
    }
    "/run/loopcam/loopcam.sock".into()
}
