//! One connection to the daemon: request → response, with fds.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use loopcam_proto::{
    recv, recv_interruptible, send, ProtoError, Request, Response, PROTOCOL_VERSION,
};
use rustix::net::{
    connect, socket_with, AddressFamily, RecvFlags, SocketAddrUnix, SocketFlags, SocketType,
};

use crate::Error;

/// A connection to the daemon.
pub struct Connection {
    sock: OwnedFd,
}

impl Connection {
    /// Connects to the daemon at `path` and says hello.
    pub fn connect(path: &Path) -> Result<Connection, Error> {
        let sock = socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| Error::NoDaemon(format!("socket: {e}")))?;
        let addr = SocketAddrUnix::new(path)
            .map_err(|e| Error::NoDaemon(format!("{}: {e}", path.display())))?;
        loop {
            match connect(&sock, &addr) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(Error::NoDaemon(format!(
                        "cannot connect to the loopcam daemon at {}: {e} (is `loopcam daemon` running?)",
                        path.display()
                    )))
                }
            }
        }
        let mut c = Connection { sock };
        let hello = c.call(
            &Request::Hello {
                version: PROTOCOL_VERSION,
            },
            &[],
        );
        // A daemon at its connection limit answers with an error and closes at once: the send
        // of Hello may already fail, with the answer waiting in our receive queue.
        let hello = match hello {
            Err(Error::Gone) => match recv(&c.sock, RecvFlags::DONTWAIT) {
                Ok(Some(m)) => m.decode::<Response>().map_err(|_| Error::Gone)?,
                _ => return Err(Error::Gone),
            },
            other => other?.0,
        };
        match hello {
            Response::Hello { .. } => Ok(c),
            Response::Error { errno, message } => Err(Error::Daemon { errno, message }),
            other => Err(Error::Protocol(format!(
                "unexpected answer to Hello: {other:?}"
            ))),
        }
    }

    /// Connects to the default socket (`$LOOPCAM_SOCKET`, `$XDG_RUNTIME_DIR/loopcam.sock`, ...).
    pub fn connect_default() -> Result<Connection, Error> {
        Connection::connect(&loopcam_proto::default_socket_path())
    }

    /// One request/response exchange. Returns the response and the attached fd, if any.
    pub fn call(
        &mut self,
        req: &Request,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Response, Option<OwnedFd>), Error> {
        send(&self.sock, req, fds).map_err(proto_err)?;
        self.recv_answer()
    }

    /// A request the daemon may park (a blocking DQBUF, `Request::Ioctl { wait: true }`): waits
    /// for the answer; a signal (EINTR) cancels the parked request the way a signal interrupts a
    /// blocking V4L2 call. The answer is then EINTR, or the buffer if the DQBUF completed before
    /// the cancel reached the daemon — a completed call is never thrown away.
    pub fn call_parked(&mut self, req: &Request) -> Result<(Response, Option<OwnedFd>), Error> {
        send(&self.sock, req, &[]).map_err(proto_err)?;
        let msg = loop {
            match recv_interruptible(&self.sock, RecvFlags::empty()) {
                Ok(Some(m)) => break m,
                Ok(None) => continue,
                Err(ProtoError::Io(e)) if e.raw_os_error() == Some(libc_eintr()) => {
                    // The parked answer comes first, then Cancel's own `Ok`.
                    let (answer, fd) =
                        self.call(&Request::Cancel, &[]).and_then(|(first, fd)| {
                            let (ok, _) = self.recv_answer()?;
                            match ok {
                                Response::Ok => Ok((first, fd)),
                                other => Err(Error::Protocol(format!(
                                    "unexpected answer to Cancel: {other:?}"
                                ))),
                            }
                        })?;
                    return Ok((answer, fd));
                }
                Err(e) => return Err(proto_err(e)),
            }
        };
        let resp: Response = msg.decode().map_err(proto_err)?;
        Ok((resp, msg.fds.into_iter().next()))
    }

    fn recv_answer(&mut self) -> Result<(Response, Option<OwnedFd>), Error> {
        let msg = loop {
            match recv(&self.sock, RecvFlags::empty()) {
                Ok(Some(m)) => break m,
                Ok(None) => continue,
                Err(e) => return Err(proto_err(e)),
            }
        };
        let resp: Response = msg.decode().map_err(proto_err)?;
        Ok((resp, msg.fds.into_iter().next()))
    }

    /// The socket (for tests that want to send garbage).
    pub fn socket(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

const fn libc_eintr() -> i32 {
    rustix::io::Errno::INTR.raw_os_error()
}

fn proto_err(e: ProtoError) -> Error {
    match e {
        ProtoError::Closed => Error::Gone,
        ProtoError::Io(e) if e.raw_os_error() == Some(104) || e.raw_os_error() == Some(32) => {
            Error::Gone
        }
        ProtoError::Io(e) => Error::Io(e),
        ProtoError::Malformed(m) => Error::Protocol(m),
    }
}
