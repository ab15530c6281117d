//! errno values: the currency at the V4L2 boundary.
//!
//! Every fallible operation of the device model returns `Result<_, Errno>`. The values are the
//! Linux ones (asm-generic/errno*.h), so the daemon can hand them to a client unchanged and the
//! preload library can put them into `errno`.

use std::fmt;

/// A positive Linux errno value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $val:expr, $msg:expr;)*) => {
        impl Errno {
            $(#[doc = $msg] pub const $name: Errno = Errno($val);)*

            /// The symbolic name (`"EINVAL"`), or `None` for a value this crate does not use.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            fn message(self) -> &'static str {
                match self.0 {
                    $($val => $msg,)*
                    _ => "unknown error",
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "operation not permitted";
    ENOENT = 2, "no such entry (no pending event)";
    EINTR = 4, "interrupted";
    EIO = 5, "input/output error";
    ENXIO = 6, "no such device or address";
    EBADF = 9, "bad file descriptor";
    EAGAIN = 11, "try again (would block)";
    ENOMEM = 12, "out of memory";
    EACCES = 13, "permission denied";
    EFAULT = 14, "bad address";
    EBUSY = 16, "device or resource busy";
    ENODEV = 19, "no such device";
    EINVAL = 22, "invalid argument";
    ENOTTY = 25, "inappropriate ioctl for device";
    ENOSPC = 28, "no space left";
    EPIPE = 32, "broken pipe (last buffer dequeued)";
    ERANGE = 34, "out of range";
    EBADR = 53, "invalid request descriptor";
    EPROTO = 71, "protocol error";
    EOVERFLOW = 75, "value too large";
    ENOBUFS = 105, "no buffer space available";
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.message(), self)
    }
}

impl std::error::Error for Errno {}

/// Shorthand used throughout the crate.
pub type VResult<T> = Result<T, Errno>;
