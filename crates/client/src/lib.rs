//! `loopcam-client`: talk to the loopcam daemon.
//!
//! * [`VirtualFd`]: one open file description of a device with the V4L2 calls an application
//!   makes (ioctl, mmap, munmap, read, write) and a real kernel fd to poll. The preload library
//!   is a thin FFI layer over it.
//! * [`Producer`] and [`Consumer`]: a Rust API for programs — negotiate a format, fill a frame
//!   buffer and publish it, or receive frames as zero-copy guards that give the buffer back on
//!   drop. Blocking by default; for an async runtime, set non-blocking and wait for readiness
//!   on [`Producer::fd`] / [`Consumer::fd`] (e.g. with tokio's `AsyncFd`).
//! * [`Manager`]: device management (`loopcam add/delete/list/query/set-*`).

mod api;
pub mod cadence;
mod conn;
mod manage;
pub mod mapping;
mod signals;
mod vfd;

pub use api::{Consumer, Frame, FrameMut, Producer, StreamFormat};
pub use conn::Connection;
pub use manage::Manager;
pub use vfd::VirtualFd;

/// Errors of the client API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No daemon listens.
    #[error("{0}")]
    NoDaemon(String),
    /// The daemon went away (or the device was deleted).
    #[error("the loopcam daemon closed the connection")]
    Gone,
    /// The daemon refused.
    #[error("{message}")]
    Daemon {
        /// errno.
        errno: i32,
        /// Its explanation.
        message: String,
    },
    /// A V4L2 call failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The daemon's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::Io(e.into())
    }
}
