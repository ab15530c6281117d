//! The signal socket: the real kernel fd an application polls for a loopcam opener.
//!
//! The daemon creates a `SOCK_STREAM` socketpair, hands one end (`app`) to the client and
//! keeps the other (`peer`) plus a duplicate of `app`. With them it sets the readiness the
//! application's own poll/select/epoll sees (DESIGN §3.7, §4):
//!
//! * POLLIN: one byte queued towards `app` (sent on `peer`); drained through the `app`
//!   duplicate when the opener stops being readable. Every new readiness while already readable
//!   queues another byte, so edge-triggered epoll gets an edge per wake-up (L1).
//! * POLLOUT: cleared by filling `app`'s send buffer (writing through the duplicate without
//!   reading on `peer`); set again by draining `peer`.
//! * POLLPRI: one out-of-band byte (AF_UNIX MSG_OOB, Linux ≥ 5.15). The kernel also reports
//!   POLLIN while it is queued: a documented deviation (an app that polls POLLIN while an event
//!   is pending may see a spurious POLLIN; its non-blocking DQBUF returns EAGAIN).
//! * POLLERR (L4/L5: not streaming) cannot be raised on a socket from outside; it is shown as
//!   POLLIN|POLLOUT, which is what select() reports for POLLERR anyway, and the DQBUF that
//!   follows fails with EINVAL as it should.
//! * POLLHUP: the daemon goes away or the device is deleted: `peer` closes (B13). If bytes
//!   were queued towards `peer` (POLLOUT cleared), the kernel also reports POLLERR
//!   (ECONNRESET), like v4l2_poll() for an unregistered device (EPOLLERR|EPOLLHUP|EPOLLPRI).
//!
//! Nothing here blocks: every socket call uses MSG_DONTWAIT.

use std::os::fd::OwnedFd;

use loopcam_core::device::poll::{POLLERR, POLLIN, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};
use rustix::net::{
    recv, send, socketpair, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType,
};

/// Bytes written to make the app end unwritable (its send buffer is shrunk to the minimum).
const FILL_CHUNK: [u8; 256] = [0; 256];

/// Readiness bits the signal socket can show.
const SHOWN: u32 = POLLIN | POLLOUT | POLLPRI;

/// One opener's signal socket.
pub struct Signal {
    app_dup: OwnedFd,
    peer: OwnedFd,
    shown: u32,
}

impl Signal {
    /// Creates the pair; returns the driver and the fd to hand to the client.
    pub fn new() -> rustix::io::Result<(Signal, OwnedFd)> {
        let (app, peer) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        // The smallest send buffer makes POLLOUT cheap to clear.
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&app, 1);
        let app_dup = rustix::io::fcntl_dupfd_cloexec(&app, 0)?;
        // A fresh socket is writable: the app sees POLLOUT until told otherwise.
        let s = Signal {
            app_dup,
            peer,
            shown: POLLOUT,
        };
        Ok((s, app))
    }

    /// Shows `events` (core poll bits). `edge`: a new readiness event happened (a frame, a
    /// buffer, an event); re-arm POLLIN/POLLPRI even if already shown.
    pub fn set(&mut self, events: u32, edge: bool) {
        let mut want = 0;
        if events & (POLLIN | POLLRDNORM) != 0 {
            want |= POLLIN;
        }
        if events & (POLLOUT | POLLWRNORM) != 0 {
            want |= POLLOUT;
        }
        if events & POLLPRI != 0 {
            want |= POLLPRI;
        }
        if events & POLLERR != 0 {
            want |= POLLIN | POLLOUT;
        }
        let have = self.shown;
        // Clearing POLLIN or POLLPRI drains the app's receive queue (both live there).
        if (have & POLLIN != 0 && want & POLLIN == 0)
            || (have & POLLPRI != 0 && want & POLLPRI == 0)
        {
            self.drain_app();
            self.shown &= !(POLLIN | POLLPRI);
        }
        let pri_send = || {
            send(
                &self.peer,
                b"!",
                SendFlags::OOB | SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
            )
            .is_ok()
        };
        if want & POLLPRI != 0 && (self.shown & POLLPRI == 0 || edge) && pri_send() {
            self.shown |= POLLPRI;
        }
        let in_send = || send(&self.peer, b"r", SendFlags::DONTWAIT | SendFlags::NOSIGNAL).is_ok();
        if want & POLLIN != 0 && (self.shown & POLLIN == 0 || edge) && in_send() {
            self.shown |= POLLIN;
        }
        match (self.shown & POLLOUT != 0, want & POLLOUT != 0) {
            (true, false) => {
                self.fill_app();
                self.shown &= !POLLOUT;
            }
            (false, true) => {
                drain(&self.peer);
                self.shown |= POLLOUT;
            }
            _ => {}
        }
        debug_assert_eq!(self.shown & !SHOWN, 0);
    }

    fn drain_app(&self) {
        let mut oob = [0u8; 1];
        let _ = recv(
            &self.app_dup,
            &mut oob,
            RecvFlags::OOB | RecvFlags::DONTWAIT,
        );
        drain(&self.app_dup);
    }

    fn fill_app(&self) {
        // Bounded: the buffer is tiny; stop as soon as the socket refuses more.
        for _ in 0..64 {
            if send(
                &self.app_dup,
                &FILL_CHUNK,
                SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
            )
            .is_err()
            {
                break;
            }
            if !writable(&self.app_dup) {
                break;
            }
        }
    }
}

fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 4096];
    for _ in 0..1024 {
        match recv(fd, &mut buf, RecvFlags::DONTWAIT) {
            Ok((n, _)) if n > 0 => continue,
            _ => break,
        }
    }
}

fn writable(fd: &OwnedFd) -> bool {
    let mut p = [rustix::event::PollFd::new(
        fd,
        rustix::event::PollFlags::OUT,
    )];
    matches!(
        rustix::event::poll(
            &mut p,
            Some(&rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0
            })
        ),
        Ok(1)
    ) && p[0].revents().contains(rustix::event::PollFlags::OUT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::event::{poll, PollFd, PollFlags};

    fn revents(fd: &OwnedFd) -> PollFlags {
        let mut p = [PollFd::new(
            fd,
            PollFlags::IN | PollFlags::OUT | PollFlags::PRI,
        )];
        poll(
            &mut p,
            Some(&rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }),
        )
        .unwrap();
        p[0].revents()
    }

    #[test]
    fn shows_exactly_the_requested_bits() {
        let (mut s, app) = Signal::new().unwrap();
        s.set(0, false);
        assert_eq!(revents(&app), PollFlags::empty(), "nothing ready");
        s.set(POLLIN | POLLRDNORM, true);
        assert_eq!(revents(&app), PollFlags::IN);
        s.set(POLLIN, true);
        assert_eq!(revents(&app), PollFlags::IN, "re-arming keeps the level");
        s.set(POLLOUT, false);
        assert_eq!(revents(&app), PollFlags::OUT);
        s.set(POLLPRI, true);
        // MSG_OOB also reports IN (documented deviation).
        assert!(revents(&app).contains(PollFlags::PRI));
        assert!(!revents(&app).contains(PollFlags::OUT));
        s.set(0, false);
        assert_eq!(revents(&app), PollFlags::empty());
        s.set(POLLERR, false);
        assert_eq!(revents(&app), PollFlags::IN | PollFlags::OUT);
        drop(s);
        assert!(
            revents(&app).contains(PollFlags::HUP) || revents(&app).contains(PollFlags::IN),
            "daemon gone is visible"
        );
    }
}
