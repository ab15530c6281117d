//! Signals during a watched wait: the FFI edge for the spin-before-sleep of a blocking DQBUF
//! (see [`crate::cadence`]).
//!
//! A blocking V4L2 call that a signal interrupts returns EINTR, or is restarted when the
//! handler was installed with SA_RESTART (rules H21, K4). A plain blocking `recvmsg()` gets
//! that from the kernel. A watched wait sleeps in `ppoll()` and then polls without blocking,
//! which changes two things: a signal that arrives between two polls runs its handler in user
//! space and no call reports it, and `ppoll()` is never restarted, whatever SA_RESTART says.
//! So the wait blocks the asynchronous signals while it runs and lets them in only inside
//! `ppoll()` (its signal-mask argument, the race-free pselect idiom): every signal then
//! interrupts a call. After an interruption the wait goes on (a restart) when every installed
//! handler has SA_RESTART, and returns EINTR otherwise.

use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::io::Errno;

/// Signals raised by faults of the thread itself: never blocked (blocking them would turn a
/// fault into a kill) and never what interrupts a wait (Rust's runtime installs a SIGSEGV
/// handler without SA_RESTART for stack overflows, which says nothing about restarts).
const SYNCHRONOUS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTRAP,
];

/// The asynchronous signals blocked for the duration of a watched wait; the thread's previous
/// mask comes back on drop.
pub(crate) struct Blocked {
    previous: libc::sigset_t,
}

impl Blocked {
    pub(crate) fn new() -> Result<Blocked, Errno> {
        let mut all = MaybeUninit::<libc::sigset_t>::uninit();
        let mut previous = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: FFI edge: sigfillset/sigdelset initialise and edit a set we own; the
        // synchronous fault signals stay deliverable (blocking them would turn a fault into a
        // kill); pthread_sigmask writes the previous mask into `previous`.
        let r = unsafe {
            libc::sigfillset(all.as_mut_ptr());
            for s in SYNCHRONOUS {
                libc::sigdelset(all.as_mut_ptr(), s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, all.as_ptr(), previous.as_mut_ptr())
        };
        if r != 0 {
            return Err(Errno::from_raw_os_error(r));
        }
        Ok(Blocked {
            // SAFETY: pthread_sigmask succeeded, so it wrote the previous mask.
            previous: unsafe { previous.assume_init() },
        })
    }

    /// Waits up to `timeout_ns` for `fd` to become readable, with the thread's previous signal
    /// mask in force for the duration of the call only. `Ok(true)`: readable (or hung up).
    /// EINTR: a signal came (its handler has run).
    pub(crate) fn ppoll(&self, fd: BorrowedFd<'_>, timeout_ns: u64) -> Result<bool, Errno> {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let t = libc::timespec {
            tv_sec: (timeout_ns / 1_000_000_000) as _,
            tv_nsec: (timeout_ns % 1_000_000_000) as _,
        };
        // SAFETY: FFI edge: one valid pollfd, a valid timespec and a mask we own, all living
        // across the call.
        let r = unsafe { libc::ppoll(&mut p, 1, &t, &self.previous) };
        if r < 0 {
            return Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO));
        }
        Ok(r > 0)
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        // SAFETY: FFI edge: restores the mask saved by `new`. The guard lives inside one call
        // (`Connection::watch`) on the calling thread, so it is the same thread's mask.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

/// Whether an interrupted wait is restarted: every asynchronous signal with a handler has
/// SA_RESTART.
/// (Which signal interrupted is not known; when the handlers disagree the wait reports EINTR,
/// the answer a blocking V4L2 call may always give.)
pub(crate) fn handlers_restart() -> bool {
    let max = libc::SIGRTMAX();
    (1..=max).filter(|s| !SYNCHRONOUS.contains(s)).all(|s| {
        let mut old = MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: FFI edge: a query (no new action) into a zeroed struct we own; invalid
        // signal numbers fail with EINVAL and are skipped.
        let r = unsafe { libc::sigaction(s, std::ptr::null(), old.as_mut_ptr()) };
        if r != 0 {
            return true;
        }
        // SAFETY: sigaction succeeded and filled `old`.
        let old = unsafe { old.assume_init() };
        old.sa_sigaction == libc::SIG_DFL
            || old.sa_sigaction == libc::SIG_IGN
            || old.sa_flags & libc::SA_RESTART != 0
    })
}
