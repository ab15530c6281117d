//! Sending and receiving framed messages with attached fds over a `SOCK_SEQPACKET` socket.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{MAGIC, MAX_FDS, MAX_MESSAGE, PROTOCOL_VERSION};

/// Why a message could not be sent or received.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection.
    #[error("connection closed")]
    Closed,
    /// The datagram is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl From<rustix::io::Errno> for ProtoError {
    fn from(e: rustix::io::Errno) -> Self {
        ProtoError::Io(e.into())
    }
}

/// Encodes a message body with its header.
pub fn encode<T: Serialize>(msg: &T, nfds: usize) -> Result<Vec<u8>, ProtoError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    out.extend_from_slice(&(nfds as u16).to_le_bytes());
    let out = postcard::to_extend(msg, out).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    if out.len() > MAX_MESSAGE {
        return Err(ProtoError::Malformed(format!(
            "message of {} bytes is too large",
            out.len()
        )));
    }
    Ok(out)
}

/// Decodes one datagram; `nfds` is the number of fds that arrived with it.
pub fn decode<T: DeserializeOwned>(data: &[u8], nfds: usize) -> Result<T, ProtoError> {
    if data.len() < 8 || data[..4] != MAGIC {
        return Err(ProtoError::Malformed("bad magic".into()));
    }
    let version = u16::from_le_bytes([data[4], data[5]]);
    if version != PROTOCOL_VERSION {
        return Err(ProtoError::Malformed(format!(
            "protocol version {version}, expected {PROTOCOL_VERSION}"
        )));
    }
    let declared = u16::from_le_bytes([data[6], data[7]]) as usize;
    if declared != nfds {
        return Err(ProtoError::Malformed(format!(
            "{nfds} fds attached, {declared} declared"
        )));
    }
    let (msg, rest) =
        postcard::take_from_bytes(&data[8..]).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(ProtoError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(msg)
}

/// Sends `msg` with `fds` attached.
pub fn send<T: Serialize>(
    sock: impl AsFd,
    msg: &T,
    fds: &[BorrowedFd<'_>],
) -> Result<(), ProtoError> {
    assert!(fds.len() <= MAX_FDS, "too many fds for one message");
    let data = encode(msg, fds.len())?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        cmsg.push(SendAncillaryMessage::ScmRights(fds));
    }
    loop {
        match sendmsg(
            &sock,
            &[IoSlice::new(&data)],
            &mut cmsg,
            SendFlags::NOSIGNAL,
        ) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::PIPE) | Err(rustix::io::Errno::CONNRESET) => {
                return Err(ProtoError::Closed)
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A received datagram, not yet decoded.
pub struct Received {
    /// The bytes.
    pub data: Vec<u8>,
    /// Attached fds (closed on drop if unused).
    pub fds: Vec<OwnedFd>,
}

impl Received {
    /// Decodes the body.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ProtoError> {
        decode(&self.data, self.fds.len())
    }
}

/// Receives one datagram. `Ok(None)` when the socket is non-blocking and empty. A signal does
/// not interrupt it (EINTR is retried).
pub fn recv(sock: impl AsFd, flags: RecvFlags) -> Result<Option<Received>, ProtoError> {
    recv_inner(sock.as_fd(), flags, true)
}

/// Like [`recv`], but a signal that interrupts the wait returns `ProtoError::Io` with EINTR
/// (for blocking V4L2 calls, which return EINTR on a signal).
pub fn recv_interruptible(
    sock: impl AsFd,
    flags: RecvFlags,
) -> Result<Option<Received>, ProtoError> {
    recv_inner(sock.as_fd(), flags, false)
}

thread_local! {
    /// The receive buffer, reused: a fresh zeroed MAX_MESSAGE buffer per message cost more than
    /// the rest of a small request's round trip.
    static RECV_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; MAX_MESSAGE + 1]);
}

fn recv_inner(
    sock: BorrowedFd<'_>,
    flags: RecvFlags,
    restart: bool,
) -> Result<Option<Received>, ProtoError> {
    RECV_BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => recv_into(sock, flags, restart, &mut buf),
        // Re-entered from a signal handler on this thread: use a private buffer.
        Err(_) => recv_into(sock, flags, restart, &mut vec![0u8; MAX_MESSAGE + 1]),
    })
}

fn recv_into(
    sock: BorrowedFd<'_>,
    flags: RecvFlags,
    restart: bool,
    buf: &mut [u8],
) -> Result<Option<Received>, ProtoError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let r = loop {
        match recvmsg(
            sock,
            &mut [IoSliceMut::new(buf)],
            &mut cmsg,
            flags | RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(r) => break r,
            Err(rustix::io::Errno::INTR) if restart => continue,
            Err(rustix::io::Errno::AGAIN) => return Ok(None),
            Err(rustix::io::Errno::CONNRESET) => return Err(ProtoError::Closed),
            Err(e) => return Err(e.into()),
        }
    };
    let mut fds = Vec::new();
    for m in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(iter) = m {
            fds.extend(iter);
        }
    }
    if r.bytes == 0 && fds.is_empty() {
        return Err(ProtoError::Closed);
    }
    if r.flags.contains(ReturnFlags::TRUNC) || r.bytes > MAX_MESSAGE {
        return Err(ProtoError::Malformed("message too large".into()));
    }
    if r.flags.contains(ReturnFlags::CTRUNC) {
        return Err(ProtoError::Malformed("too many fds".into()));
    }
    Ok(Some(Received {
        data: buf[..r.bytes].to_vec(),
        fds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, Response};
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};

    #[test]
    fn round_trip_with_fd() {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let (x, _y) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let req = Request::Ioctl {
            request: 0xc0585611,
            arg: vec![1, 2, 3],
            extra: vec![],
            wait: true,
            shown: vec![(1, 7)],
        };
        send(&a, &req, &[x.as_fd()]).unwrap();
        let r = recv(&b, RecvFlags::empty()).unwrap().unwrap();
        assert_eq!(r.fds.len(), 1);
        assert_eq!(r.decode::<Request>().unwrap(), req);
        send(&b, &Response::Ok, &[]).unwrap();
        let r = recv(&a, RecvFlags::empty()).unwrap().unwrap();
        assert_eq!(r.decode::<Response>().unwrap(), Response::Ok);
        drop(b);
        assert!(matches!(
            recv(&a, RecvFlags::empty()),
            Err(ProtoError::Closed)
        ));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for data in [
            &b""[..],
            b"LCAM",
            b"XXXX\x01\x00\x00\x00\x00",
            b"LCAM\x02\x00\x00\x00\x00",
            b"LCAM\x01\x00\x00\x00\xff\xff\xff\xff\xff",
        ] {
            assert!(decode::<Request>(data, 0).is_err());
        }
        let ok = encode(&Request::ListDevices, 0).unwrap();
        assert!(decode::<Request>(&ok, 1).is_err(), "fd count mismatch");
        let mut trailing = ok.clone();
        trailing.push(0);
        assert!(decode::<Request>(&trailing, 0).is_err());
        assert_eq!(decode::<Request>(&ok, 0).unwrap(), Request::ListDevices);
    }
}
