//! One connection to the daemon: request → response, with fds.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use loopcam_proto::{
    recv, recv_interruptible, send, ProtoError, Received, Request, Response, PROTOCOL_VERSION,
};
use rustix::net::{
    connect, socket_with, AddressFamily, RecvFlags, SocketAddrUnix, SocketFlags, SocketType,
};

use crate::cadence::{monotonic_ns, Arrival, SpinWindow};
use crate::signals::{self, Blocked};
use crate::Error;

/// A connection to the daemon.
pub struct Connection {
    sock: OwnedFd,
    lock: CallLock,
}

/// Keeps request/response exchanges on one connection whole across `fork()`.
///
/// After fork() a parent and child share the connection socket (as they share a V4L2 fd: one
/// open file description) and may both call on it, like two processes issuing ioctls on an
/// inherited kernel fd. Without a lock shared by the processes their requests and replies
/// interleave and each process reads the other's reply (found by the issue 7 reliability work:
/// 1220 of 3000 concurrent QUERYCAP/G_FMT calls answered wrongly). The lock word lives in a
/// MAP_SHARED anonymous page, which fork() shares; it holds the owner's pid (0: free), so a
/// process that died holding it is detected and the lock taken over. Within one process the
/// `&mut self` of [`Connection::call`] already serialises callers, so the lock is never
/// contended unless the process forked.
struct CallLock {
    page: *mut AtomicU32,
}

// SAFETY: the page is only accessed through the atomic; it is unmapped once, in Drop.
unsafe impl Send for CallLock {}
// SAFETY: as above.
unsafe impl Sync for CallLock {}

impl CallLock {
    fn new() -> rustix::io::Result<CallLock> {
        // SAFETY: a fresh anonymous mapping; we only use it as one AtomicU32 (zeroed = free).
        let p = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                4096,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
            )?
        };
        Ok(CallLock { page: p.cast() })
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: `page` maps 4096 zero-initialised bytes, suitably aligned, for our lifetime.
        unsafe { &*self.page }
    }

    fn lock(&self) -> u32 {
        let me = std::process::id();
        let w = self.word();
        let mut spins = 0u32;
        loop {
            match w.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return me,
                // Only after a fork in the middle of a call of this very connection.
                Err(owner) if owner == me => return me,
                Err(owner) => {
                    // The owner died mid-call (SIGKILL): take the lock over.
                    let dead = rustix::process::Pid::from_raw(owner as i32).is_some_and(|p| {
                        rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH)
                    });
                    if dead
                        && w.compare_exchange(owner, me, Ordering::Acquire, Ordering::Relaxed)
                            .is_ok()
                    {
                        return me;
                    }
                    // Held by the other side of a fork for one round trip (~100 µs).
                    spins += 1;
                    if spins < 100 {
                        std::thread::yield_now();
                    } else {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                }
            }
        }
    }

    fn unlock(&self, me: u32) {
        let _ = self
            .word()
            .compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed);
    }
}

impl Drop for CallLock {
    fn drop(&mut self) {
        // SAFETY: our mapping (each process unmaps its own copy).
        unsafe {
            let _ = rustix::mm::munmap(self.page.cast(), 4096);
        }
    }
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
        let lock = CallLock::new().map_err(|e| Error::NoDaemon(format!("mmap: {e}")))?;
        let mut c = Connection { sock, lock };
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
        let me = self.lock.lock();
        let r = self.exchange(req, fds);
        self.lock.unlock(me);
        r
    }

    fn exchange(
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
    ///
    /// With a `window` (see [`crate::cadence`]) the wait sleeps until `window.from`, then polls
    /// the socket without blocking until `window.until`, then sleeps until the answer; the
    /// returned [`Arrival`] says which of these took it.
    ///
    /// The fork lock is held while parked: a process sharing this connection after fork()
    /// waits for the DQBUF to be answered (the preload never parks, see `VirtualFd`).
    pub fn call_parked(
        &mut self,
        req: &Request,
        window: Option<SpinWindow>,
    ) -> Result<(Response, Option<OwnedFd>, Arrival), Error> {
        let me = self.lock.lock();
        let r = self.parked_exchange(req, window);
        self.lock.unlock(me);
        r
    }

    fn parked_exchange(
        &mut self,
        req: &Request,
        window: Option<SpinWindow>,
    ) -> Result<(Response, Option<OwnedFd>, Arrival), Error> {
        send(&self.sock, req, &[]).map_err(proto_err)?;
        let (mut msg, mut arrival) = (None, Arrival::Unplanned);
        if let Some(w) = window {
            match self.watch(w) {
                Ok((m, a)) => (msg, arrival) = (m, a),
                Err(ProtoError::Io(e)) if e.raw_os_error() == Some(libc_eintr()) => {
                    return self.cancel_parked();
                }
                Err(e) => return Err(proto_err(e)),
            }
        }
        let msg = match msg {
            Some(m) => m,
            None => loop {
                match recv_interruptible(&self.sock, RecvFlags::empty()) {
                    Ok(Some(m)) => break m,
                    Ok(None) => continue,
                    Err(ProtoError::Io(e)) if e.raw_os_error() == Some(libc_eintr()) => {
                        return self.cancel_parked();
                    }
                    Err(e) => return Err(proto_err(e)),
                }
            },
        };
        let resp: Response = msg.decode().map_err(proto_err)?;
        Ok((resp, msg.fds.into_iter().next(), arrival))
    }

    /// The window of a parked wait: sleep until `w.from` (cut short if the answer comes: it is
    /// then waiting, `(None, Early)`), then poll until `w.until` (`(Some(answer), Hit)`, or
    /// `(None, Late)` when the window passed without it). Signals are let in only inside
    /// `ppoll()`, so each one interrupts a call and none slips between two polls; an
    /// interruption is EINTR unless every handler has SA_RESTART (then the wait goes on, as the
    /// kernel restarts a blocking call), see [`crate::signals`].
    fn watch(&mut self, w: SpinWindow) -> Result<(Option<Received>, Arrival), ProtoError> {
        let blocked = Blocked::new()?;
        loop {
            let now = monotonic_ns();
            if now >= w.until {
                return Ok((None, Arrival::Late));
            }
            let sleeping = now < w.from;
            let timeout = if sleeping { w.from - now } else { 0 };
            match blocked.ppoll(self.sock.as_fd(), timeout) {
                Ok(true) if sleeping => return Ok((None, Arrival::Early)),
                Ok(true) => {
                    return Ok(match recv_interruptible(&self.sock, RecvFlags::DONTWAIT)? {
                        Some(m) => (Some(m), Arrival::Hit),
                        None => (None, Arrival::Late),
                    });
                }
                // Polling: let a task waiting for this CPU (the daemon, the producer) run.
                Ok(false) if !sleeping => std::thread::yield_now(),
                Ok(false) => {}
                Err(rustix::io::Errno::INTR) if signals::handlers_restart() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A signal interrupted a parked wait: cancel it. The parked answer comes first, then
    /// Cancel's own `Ok`.
    fn cancel_parked(&mut self) -> Result<(Response, Option<OwnedFd>, Arrival), Error> {
        let (answer, fd) = self
            .exchange(&Request::Cancel, &[])
            .and_then(|(first, fd)| {
                let (ok, _) = self.recv_answer()?;
                match ok {
                    Response::Ok => Ok((first, fd)),
                    other => Err(Error::Protocol(format!(
                        "unexpected answer to Cancel: {other:?}"
                    ))),
                }
            })?;
        Ok((answer, fd, Arrival::Unplanned))
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
