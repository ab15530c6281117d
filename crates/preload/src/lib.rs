//! `libloopcam_preload.so`: makes unmodified V4L2 applications see loopcam devices
//! (`loopcam run -- APP` or `LD_PRELOAD=…/libloopcam_preload.so APP`).
//!
//! It exports the libc entry points V4L2 applications use (reference/clients.md §C, §E.14):
//! the open family (with the fortified and 64-bit variants), close, close_range, dup, dup2,
//! dup3, fcntl (F_DUPFD*), ioctl, mmap, mmap64, munmap, read, `__read_chk`, write, the stat
//! family, and `syscall()` for SYS_ioctl/SYS_openat/SYS_close/SYS_mmap (libv4l2). A path of a
//! loopcam device opens a [`loopcam_client::VirtualFd`]; the application gets a real kernel fd
//! (a dup of the opener's signal socket) so its own poll/select/epoll work. Everything else
//! passes straight through to the next definition (libc), at the cost of one atomic load.
//!
//! Rules kept here: no panic crosses the FFI boundary (caught, the call fails with EIO);
//! nothing allocates or locks on the pass-through path; initialisation is lazy — the daemon is
//! contacted on the first open of a video path, never in a constructor; the functions this
//! library interposes are never called through libc from inside it (rustix makes raw
//! syscalls). Variadic C functions (open, openat, fcntl, ioctl, syscall) are defined with their
//! full argument lists, which is ABI-compatible on x86_64 and aarch64 Linux where variadic
//! integer arguments travel in the same registers.

#![allow(clippy::missing_safety_doc)]

mod dirs;
mod paths;
mod real;
mod table;

use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void, CStr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use libc::{mode_t, off_t, size_t, ssize_t};
use loopcam_client::VirtualFd;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::mm::ProtFlags;

use crate::real::real;
use crate::table::{is_ours, Entry, MAPS};

/// `LOOPCAM_TRACE=1`: log every ioctl on a loopcam fd to stderr (for debugging apps).
fn trace() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LOOPCAM_TRACE").is_some_and(|v| v != "0"))
}

pub(crate) fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

fn errno() -> c_int {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

/// Runs `f`, turning a panic into `fail` with errno EIO (no unwinding across FFI).
fn guard<T>(fail: T, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            set_errno(libc::EIO);
            fail
        }
    }
}

fn fail<T: From<i8>>(e: Errno) -> T {
    set_errno(e.raw_os_error());
    T::from(-1)
}

real! { fn real_openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int; c"openat" }
real! { fn real_close(fd: c_int) -> c_int; c"close" }
real! { fn real_close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int; c"close_range" }
real! { fn real_dup(fd: c_int) -> c_int; c"dup" }
real! { fn real_dup2(a: c_int, b: c_int) -> c_int; c"dup2" }
real! { fn real_dup3(a: c_int, b: c_int, flags: c_int) -> c_int; c"dup3" }
real! { fn real_fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int; c"fcntl" }
real! { fn real_ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int; c"ioctl" }
real! { fn real_read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t; c"read" }
real! { fn real_write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t; c"write" }
real! { fn real_munmap(addr: *mut c_void, len: size_t) -> c_int; c"munmap" }
real! { fn real_fstat(fd: c_int, st: *mut libc::stat) -> c_int; c"fstat" }
real! { fn real_fstatat(dirfd: c_int, path: *const c_char, st: *mut libc::stat, flags: c_int) -> c_int; c"fstatat" }
real! { fn real_statx(dirfd: c_int, path: *const c_char, flags: c_int, mask: c_uint, st: *mut libc::statx) -> c_int; c"statx" }
real! { fn real_fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE; c"fopen"; fail = std::ptr::null_mut() }
real! { fn real_opendir(path: *const c_char) -> *mut libc::DIR; c"opendir"; fail = std::ptr::null_mut() }
real! { fn real_mmap(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) -> *mut c_void; c"mmap"; fail = libc::MAP_FAILED }
real! { fn real_faccessat(dirfd: c_int, path: *const c_char, mode: c_int, flags: c_int) -> c_int; c"faccessat" }
real! { fn real_syscall(n: c_long, a: c_long, b: c_long, c: c_long, d: c_long, e: c_long, f: c_long) -> c_long; c"syscall" }

unsafe fn real_readdir(sym: &real::Sym, dir: *mut libc::DIR) -> *mut libc::dirent64 {
    let a = sym.addr();
    if a == 0 {
        set_errno(libc::ENOSYS);
        return std::ptr::null_mut();
    }
    // SAFETY: `a` is libc's readdir/readdir64 (the same layout on LP64).
    let f: unsafe extern "C" fn(*mut libc::DIR) -> *mut libc::dirent64 =
        unsafe { std::mem::transmute(a) };
    // SAFETY: forwarding.
    unsafe { f(dir) }
}

real! { fn real_closedir(dir: *mut libc::DIR) -> c_int; c"closedir" }

// ---------------------------------------------------------------------------------------------
// open

/// Opens a loopcam device if `path` names one; `None` lets the real open run.
fn try_open(path: *const c_char, flags: c_int) -> Option<c_int> {
    if path.is_null() {
        return None;
    }
    // SAFETY: open(2) takes a NUL-terminated path; null was excluded.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    // /dev/videoN, the runtime node directory, or any node path the daemon reports (a
    // --node-dir elsewhere): the daemon says ENOENT for anything that is not its device.
    if !paths::is_video_path(bytes) && !paths::is_video_name(bytes) {
        return None;
    }
    let p = std::str::from_utf8(bytes).ok()?;
    let acc = flags & libc::O_ACCMODE;
    let read = acc == libc::O_RDONLY || acc == libc::O_RDWR;
    let write = acc == libc::O_WRONLY || acc == libc::O_RDWR;
    let mut vfd = match VirtualFd::open(p, read, write, flags & libc::O_NONBLOCK != 0) {
        Ok(v) => v,
        // No daemon, or not one of its devices: a real camera, pass through.
        Err(loopcam_client::Error::NoDaemon(_)) => return None,
        Err(loopcam_client::Error::Daemon { errno, .. }) if errno == libc::ENOENT => return None,
        Err(loopcam_client::Error::Daemon { errno, .. }) => {
            return Some(fail(Errno::from_raw_os_error(errno)))
        }
        Err(_) => return Some(fail(Errno::IO)),
    };
    vfd.set_external_wait(true);
    let rdev = paths::find_node(p).map_or(libc::makedev(81, vfd.device().number), |(d, n)| {
        paths::rdev_of(&d, &n)
    });
    let dup = |fd: std::os::fd::BorrowedFd<'_>| -> Result<OwnedFd, Errno> {
        if flags & libc::O_CLOEXEC != 0 {
            rustix::io::fcntl_dupfd_cloexec(fd, 0)
        } else {
            rustix::io::dup(fd)
        }
    };
    let (app, wait_fd) = match (dup(vfd.fd()), rustix::io::fcntl_dupfd_cloexec(vfd.fd(), 0)) {
        (Ok(a), Ok(w)) => (a, w),
        (Err(e), _) | (_, Err(e)) => return Some(fail(e)),
    };
    let queue_wake = match rustix::event::eventfd(
        0,
        rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
    ) {
        Ok(w) => w,
        Err(e) => return Some(fail(e)),
    };
    let fd = app.as_raw_fd();
    let entry = Arc::new(Entry {
        vfd: Mutex::new(vfd),
        wait_fd,
        rdev,
        queue_gen: AtomicU64::new(0),
        queue_wake,
    });
    if !table::insert(fd, entry) {
        return Some(fail(Errno::MFILE));
    }
    std::mem::forget(app); // the application owns the fd now
    Some(fd)
}

unsafe fn open_common(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    if let Some(fd) = guard(Some(-1), || try_open(path, flags)) {
        return fd;
    }
    // SAFETY: pass-through of the caller's arguments.
    let fd = unsafe { real_openat(dirfd, path, flags, mode) };
    if fd < 0 && errno() == libc::ENOENT && !path.is_null() {
        // Node identity for loopcam devices that have no kernel sysfs entries.
        // SAFETY: non-null NUL-terminated path (open contract).
        let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
        if bytes.starts_with(b"/sys/") {
            if let Some(fd) = guard(None, || paths::sysfs_file(bytes)) {
                return fd;
            }
            set_errno(libc::ENOENT);
        }
    }
    fd
}

#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    // SAFETY: forwarding the C contract.
    unsafe { open_common(libc::AT_FDCWD, path, flags, mode) }
}

#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    // SAFETY: forwarding the C contract.
    unsafe { open_common(libc::AT_FDCWD, path, flags | libc::O_LARGEFILE, mode) }
}

#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: forwarding the C contract (fortified open without O_CREAT: no mode).
    unsafe { open_common(libc::AT_FDCWD, path, flags, 0) }
}

#[no_mangle]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: forwarding the C contract.
    unsafe { open_common(libc::AT_FDCWD, path, flags | libc::O_LARGEFILE, 0) }
}

#[no_mangle]
pub unsafe extern "C" fn openat(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    // SAFETY: forwarding the C contract.
    unsafe { open_common(dirfd, path, flags, mode) }
}

#[no_mangle]
pub unsafe extern "C" fn openat64(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    // SAFETY: forwarding the C contract.
    unsafe { open_common(dirfd, path, flags | libc::O_LARGEFILE, mode) }
}

#[no_mangle]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: forwarding the C contract.
    unsafe { open_common(dirfd, path, flags, 0) }
}

#[no_mangle]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: forwarding the C contract.
    unsafe { open_common(dirfd, path, flags | libc::O_LARGEFILE, 0) }
}

/// fopen(3): glibc's fopen opens through an internal symbol, so identity files read with
/// stdio or iostreams (v4l-utils reads `/sys/dev/char/81:N/uevent` this way) need their own
/// entry point.
#[no_mangle]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: pass-through.
    let f = unsafe { real_fopen(path, mode) };
    if f.is_null() && errno() == libc::ENOENT && !path.is_null() {
        // SAFETY: NUL-terminated path (fopen contract).
        let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
        if bytes.starts_with(b"/sys/") {
            if let Some(fd) = guard(None, || paths::sysfs_file(bytes)) {
                // SAFETY: a fresh memfd we own; fdopen takes it over.
                return unsafe { libc::fdopen(fd, mode) };
            }
            set_errno(libc::ENOENT);
        }
    }
    f
}

#[no_mangle]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: same function on LP64.
    unsafe { fopen(path, mode) }
}

// ---------------------------------------------------------------------------------------------
// directory listings

#[no_mangle]
pub unsafe extern "C" fn opendir(path: *const c_char) -> *mut libc::DIR {
    // SAFETY: pass-through.
    let d = unsafe { real_opendir(path) };
    if !d.is_null() && !path.is_null() {
        // SAFETY: NUL-terminated path (opendir contract).
        let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
        if dirs::is_listed_dir(bytes) {
            let saved = errno();
            guard((), || dirs::register(d as usize, bytes));
            set_errno(saved);
        }
    }
    d
}

unsafe fn readdir_common(sym: &real::Sym, dir: *mut libc::DIR) -> *mut libc::dirent64 {
    // SAFETY: pass-through.
    let e = unsafe { real_readdir(sym, dir) };
    if e.is_null() && dirs::any() {
        if let Some(x) = guard(None, || dirs::next_extra(dir as usize)) {
            return x;
        }
    }
    e
}

#[no_mangle]
pub unsafe extern "C" fn readdir(dir: *mut libc::DIR) -> *mut libc::dirent64 {
    static SYM: real::Sym = real::Sym::new(c"readdir");
    // SAFETY: forwarding the readdir contract.
    unsafe { readdir_common(&SYM, dir) }
}

#[no_mangle]
pub unsafe extern "C" fn readdir64(dir: *mut libc::DIR) -> *mut libc::dirent64 {
    static SYM: real::Sym = real::Sym::new(c"readdir64");
    // SAFETY: forwarding the readdir contract.
    unsafe { readdir_common(&SYM, dir) }
}

#[no_mangle]
pub unsafe extern "C" fn closedir(dir: *mut libc::DIR) -> c_int {
    dirs::forget(dir as usize);
    // SAFETY: pass-through.
    unsafe { real_closedir(dir) }
}

// ---------------------------------------------------------------------------------------------
// close and duplication (B12: dup()ed fds are the same open file description)

#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if is_ours(fd) {
        // The entry (and with the last fd, the opener) goes after the fd is forgotten.
        let e = table::remove(fd);
        drop(e);
    }
    // SAFETY: pass-through.
    unsafe { real_close(fd) }
}

#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 {
        let hi = (last as usize).min(table::MAX_FD - 1);
        for fd in (first as usize)..=hi {
            if is_ours(fd as c_int) {
                drop(table::remove(fd as c_int));
            }
        }
    }
    // SAFETY: pass-through.
    unsafe { real_close_range(first, last, flags) }
}

/// After a successful duplication of `old` into `new`: `new` is the same opener.
fn alias(old: c_int, new: c_int) {
    if new >= 0 && new != old && is_ours(old) {
        if let Some(e) = table::get(old) {
            drop(table::remove(new));
            table::insert(new, e);
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: pass-through.
    let new = unsafe { real_dup(fd) };
    alias(fd, new);
    new
}

#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old != new && is_ours(new) {
        drop(table::remove(new)); // dup2 closes `new` first
    }
    // SAFETY: pass-through.
    let r = unsafe { real_dup2(old, new) };
    alias(old, r);
    r
}

#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new && is_ours(new) {
        drop(table::remove(new));
    }
    // SAFETY: pass-through.
    let r = unsafe { real_dup3(old, new, flags) };
    alias(old, r);
    r
}

#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    // SAFETY: pass-through. F_SETFL(O_NONBLOCK) on a loopcam fd changes the shared open file
    // description, which the client reads on every call (B3).
    let r = unsafe { real_fcntl(fd, cmd, arg) };
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        alias(fd, r);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    // SAFETY: same contract as fcntl.
    unsafe { fcntl(fd, cmd, arg) }
}

// ---------------------------------------------------------------------------------------------
// ioctl, read, write: blocking waits happen here, without holding the opener's lock (H22)

/// Waits for `events` on the file's signal socket, or for another thread's queue change
/// (`queue_gen` no longer `gen`): the caller then retries its call.
fn wait_ready(e: &Entry, events: PollFlags, gen: u64) -> Result<(), Errno> {
    loop {
        if e.queue_gen.load(Ordering::SeqCst) != gen {
            return Ok(());
        }
        let mut p = [
            PollFd::new(&e.wait_fd, events),
            PollFd::new(&e.queue_wake, PollFlags::IN),
        ];
        // The timeout only covers a wake-up consumed by another waiter between our check of
        // `queue_gen` and the poll; every other wake-up is immediate.
        let n = poll(
            &mut p,
            Some(&rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 200_000_000,
            }),
        )?;
        if p[1].revents().contains(PollFlags::IN) {
            let mut b = [0u8; 8];
            let _ = rustix::io::read(&e.queue_wake, &mut b);
        }
        let r = p[0].revents();
        if r.contains(PollFlags::HUP) && !r.intersects(events) {
            return Err(Errno::NODEV);
        }
        if n > 0 && !r.is_empty() {
            return Ok(());
        }
    }
}

fn with_retry<T>(
    e: &Entry,
    mut f: impl FnMut(&mut VirtualFd) -> Result<T, Errno>,
) -> Result<T, Errno> {
    loop {
        let (r, blocked, gen) = {
            let mut v = e.vfd.lock().unwrap_or_else(|p| p.into_inner());
            let r = f(&mut v);
            (r, v.take_blocked_on(), e.queue_gen.load(Ordering::SeqCst))
        };
        match (r, blocked) {
            (Err(Errno::AGAIN), Some(ev)) => {
                if trace() {
                    eprintln!("loopcam: waiting for {ev:?}");
                }
                wait_ready(e, ev, gen)?;
                if ev.contains(PollFlags::PRI) {
                    continue;
                }
                // A pending event also shows as readable on the signal socket: do not spin.
                let mut p = [PollFd::new(&e.wait_fd, PollFlags::PRI)];
                if poll(
                    &mut p,
                    Some(&rustix::time::Timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    }),
                )
                .unwrap_or(0)
                    == 1
                {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            (r, _) => return r,
        }
    }
}

unsafe fn loopcam_ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
    let Some(e) = table::get(fd) else {
        return fail(Errno::BADF);
    };
    let req = req as u32;
    let size = loopcam_abi::ioc_size(req);
    let mut empty = [0u8; 0];
    // A NULL argument travels as an empty one: ENOTTY if unknown, EFAULT if known (A1, A4).
    let buf: &mut [u8] = if size == 0 || arg.is_null() {
        &mut empty
    } else {
        // SAFETY: ioctl(2) contract: `arg` points to the request's argument of `size` bytes.
        unsafe { std::slice::from_raw_parts_mut(arg as *mut u8, size) }
    };
    if trace() {
        eprintln!(
            "loopcam: fd {fd} {} ... {:?}",
            loopcam_abi::ioctl_name(req).unwrap_or("?"),
            &buf[..buf.len().min(12)]
        );
    }
    let before = if trace() && buf.len() == 88 {
        Some(bytemuck::pod_read_unaligned::<loopcam_abi::v4l2_buffer>(
            buf,
        ))
    } else {
        None
    };
    let r = with_retry(&e, |v| {
        // SAFETY: the application's pointers inside the argument follow the ioctl contract.
        let r = unsafe { v.ioctl(req, buf) };
        if r.is_ok()
            && matches!(
                req,
                loopcam_abi::VIDIOC_REQBUFS
                    | loopcam_abi::VIDIOC_CREATE_BUFS
                    | loopcam_abi::VIDIOC_STREAMON
                    | loopcam_abi::VIDIOC_STREAMOFF
            )
        {
            // Still under the vfd lock: a waiter's generation snapshot is ordered with it.
            e.queue_changed();
        }
        r
    });
    if trace() {
        let name = loopcam_abi::ioctl_name(req).unwrap_or("?");
        eprintln!("loopcam: fd {fd} {name} ({req:#010x}) -> {:?}", r.err());
        if let (Some(b), Err(_)) = (before, &r) {
            eprintln!("loopcam:   argument was {b:?}");
        }
    }
    match r {
        Ok(()) => 0,
        Err(err) => fail(err),
    }
}

#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
    if !is_ours(fd) {
        // SAFETY: pass-through.
        return unsafe { real_ioctl(fd, req, arg) };
    }
    // SAFETY: forwarding the ioctl contract.
    guard(-1, || unsafe { loopcam_ioctl(fd, req, arg) })
}

unsafe fn loopcam_read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    let Some(e) = table::get(fd) else {
        return fail(Errno::BADF);
    };
    if n == 0 {
        return 0;
    }
    if buf.is_null() {
        return fail(Errno::FAULT);
    }
    // SAFETY: read(2) contract: `buf` is writable for `n` bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, n) };
    match with_retry(&e, |v| v.read(out)) {
        Ok(k) => k as ssize_t,
        Err(err) => fail(err),
    }
}

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    if !is_ours(fd) {
        // SAFETY: pass-through.
        return unsafe { real_read(fd, buf, n) };
    }
    // SAFETY: forwarding the read contract.
    guard(-1, || unsafe { loopcam_read(fd, buf, n) })
}

#[no_mangle]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
) -> ssize_t {
    if n > buflen {
        // glibc aborts here; a fortified caller never passes this.
        return fail(Errno::INVAL);
    }
    // SAFETY: same contract as read.
    unsafe { read(fd, buf, n) }
}

unsafe fn loopcam_write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    let Some(e) = table::get(fd) else {
        return fail(Errno::BADF);
    };
    if n == 0 {
        return 0;
    }
    if buf.is_null() {
        return fail(Errno::FAULT);
    }
    // SAFETY: write(2) contract: `buf` is readable for `n` bytes.
    let data = unsafe { std::slice::from_raw_parts(buf as *const u8, n) };
    match with_retry(&e, |v| v.write(data)) {
        Ok(k) => k as ssize_t,
        Err(err) => fail(err),
    }
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    if !is_ours(fd) {
        // SAFETY: pass-through.
        return unsafe { real_write(fd, buf, n) };
    }
    // SAFETY: forwarding the write contract.
    guard(-1, || unsafe { loopcam_write(fd, buf, n) })
}

// ---------------------------------------------------------------------------------------------
// mmap / munmap

fn loopcam_mmap(fd: c_int, len: size_t, prot: c_int, flags: c_int, off: off_t) -> *mut c_void {
    let Some(e) = table::get(fd) else {
        set_errno(libc::EBADF);
        return libc::MAP_FAILED;
    };
    let mut v = e.vfd.lock().unwrap_or_else(|p| p.into_inner());
    match v.mmap(
        len,
        ProtFlags::from_bits_truncate(prot as u32),
        flags & libc::MAP_SHARED != 0,
        off as u64,
    ) {
        Ok(p) => {
            MAPS.fetch_add(1, Ordering::Relaxed);
            p.cast()
        }
        Err(err) => {
            set_errno(err.raw_os_error());
            libc::MAP_FAILED
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    if flags & libc::MAP_ANONYMOUS != 0 || !is_ours(fd) {
        // SAFETY: pass-through.
        return unsafe { real_mmap(addr, len, prot, flags, fd, off) };
    }
    guard(libc::MAP_FAILED, || loopcam_mmap(fd, len, prot, flags, off))
}

#[no_mangle]
pub unsafe extern "C" fn mmap64(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    // SAFETY: off_t is 64-bit on LP64: the same function.
    unsafe { mmap(addr, len, prot, flags, fd, off) }
}

#[no_mangle]
pub unsafe extern "C" fn munmap(addr: *mut c_void, len: size_t) -> c_int {
    if MAPS.load(Ordering::Relaxed) > 0 {
        let handled = guard(None, || {
            for e in table::entries() {
                let mut v = e.vfd.lock().unwrap_or_else(|p| p.into_inner());
                if v.owns_mapping(addr as usize) {
                    let r = v.munmap(addr as usize, len);
                    MAPS.fetch_sub(1, Ordering::Relaxed);
                    return Some(match r {
                        Ok(()) => 0,
                        Err(err) => fail(err),
                    });
                }
            }
            None
        });
        if let Some(r) = handled {
            return r;
        }
    }
    // SAFETY: pass-through.
    unsafe { real_munmap(addr, len) }
}

// ---------------------------------------------------------------------------------------------
// stat family: a loopcam node is a character device with major 81

fn node_rdev_for_path(path: *const c_char) -> Option<u64> {
    if path.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated path (stat contract).
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    if !paths::is_video_path(bytes) && !paths::is_video_name(bytes) {
        return None;
    }
    let p = std::str::from_utf8(bytes).ok()?;
    paths::find_node(p).map(|(d, n)| paths::rdev_of(&d, &n))
}

/// A stat that found a regular file where a loopcam node lives (the unprivileged node
/// directory holds placeholders): report the character device instead. Only paths whose last
/// component is `videoN` pay for the check.
fn placeholder_rdev(path: *const c_char, mode: u32) -> Option<u64> {
    if mode & libc::S_IFMT != libc::S_IFREG || path.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated path (stat contract).
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    if !paths::is_video_name(bytes) {
        return None;
    }
    let p = std::str::from_utf8(bytes).ok()?;
    let (d, n) = paths::find_node(p)?;
    (n == p).then(|| paths::rdev_of(&d, &n))
}

#[no_mangle]
pub unsafe extern "C" fn fstat(fd: c_int, st: *mut libc::stat) -> c_int {
    if is_ours(fd) && !st.is_null() {
        if let Some(e) = table::get(fd) {
            // SAFETY: fstat contract: `st` points to a struct stat.
            paths::fill_stat(unsafe { &mut *st }, e.rdev);
            return 0;
        }
    }
    // SAFETY: pass-through.
    unsafe { real_fstat(fd, st) }
}

#[no_mangle]
pub unsafe extern "C" fn fstat64(fd: c_int, st: *mut libc::stat) -> c_int {
    // SAFETY: struct stat64 == struct stat on LP64.
    unsafe { fstat(fd, st) }
}

#[no_mangle]
pub unsafe extern "C" fn fstatat(
    dirfd: c_int,
    path: *const c_char,
    st: *mut libc::stat,
    flags: c_int,
) -> c_int {
    // SAFETY: pass-through first: a real node (root) answers for itself.
    let r = unsafe { real_fstatat(dirfd, path, st, flags) };
    if r < 0 && errno() == libc::ENOENT && !st.is_null() {
        if let Some(rdev) = guard(None, || node_rdev_for_path(path)) {
            // SAFETY: fstatat contract.
            paths::fill_stat(unsafe { &mut *st }, rdev);
            return 0;
        }
        set_errno(libc::ENOENT);
    }
    if r == 0 && !st.is_null() {
        // SAFETY: the real fstatat filled `st`.
        let mode = unsafe { (*st).st_mode };
        if let Some(rdev) = guard(None, || placeholder_rdev(path, mode)) {
            // SAFETY: fstatat contract.
            paths::fill_stat(unsafe { &mut *st }, rdev);
            return 0;
        }
    }
    if r == 0 && flags & libc::AT_EMPTY_PATH != 0 && is_ours(dirfd) {
        // fstatat(fd, "", AT_EMPTY_PATH) is fstat.
        // SAFETY: same contract.
        return unsafe { fstat(dirfd, st) };
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn fstatat64(
    dirfd: c_int,
    path: *const c_char,
    st: *mut libc::stat,
    flags: c_int,
) -> c_int {
    // SAFETY: same function on LP64.
    unsafe { fstatat(dirfd, path, st, flags) }
}

#[no_mangle]
pub unsafe extern "C" fn stat(path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: stat(p) is fstatat(AT_FDCWD, p, 0).
    unsafe { fstatat(libc::AT_FDCWD, path, st, 0) }
}

#[no_mangle]
pub unsafe extern "C" fn stat64(path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: as stat.
    unsafe { fstatat(libc::AT_FDCWD, path, st, 0) }
}

#[no_mangle]
pub unsafe extern "C" fn lstat(path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: lstat(p) is fstatat(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW).
    unsafe { fstatat(libc::AT_FDCWD, path, st, libc::AT_SYMLINK_NOFOLLOW) }
}

#[no_mangle]
pub unsafe extern "C" fn lstat64(path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: as lstat.
    unsafe { fstatat(libc::AT_FDCWD, path, st, libc::AT_SYMLINK_NOFOLLOW) }
}

// glibc < 2.33 ABI entry points (binaries built against older glibc call these).
#[no_mangle]
pub unsafe extern "C" fn __xstat(_ver: c_int, path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: as stat.
    unsafe { stat(path, st) }
}

#[no_mangle]
pub unsafe extern "C" fn __xstat64(_ver: c_int, path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: as stat.
    unsafe { stat(path, st) }
}

#[no_mangle]
pub unsafe extern "C" fn __lxstat(_ver: c_int, path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: as lstat.
    unsafe { lstat(path, st) }
}

#[no_mangle]
pub unsafe extern "C" fn __lxstat64(
    _ver: c_int,
    path: *const c_char,
    st: *mut libc::stat,
) -> c_int {
    // SAFETY: as lstat.
    unsafe { lstat(path, st) }
}

#[no_mangle]
pub unsafe extern "C" fn __fxstat(_ver: c_int, fd: c_int, st: *mut libc::stat) -> c_int {
    // SAFETY: as fstat.
    unsafe { fstat(fd, st) }
}

#[no_mangle]
pub unsafe extern "C" fn __fxstat64(_ver: c_int, fd: c_int, st: *mut libc::stat) -> c_int {
    // SAFETY: as fstat.
    unsafe { fstat(fd, st) }
}

#[no_mangle]
pub unsafe extern "C" fn __fxstatat(
    _ver: c_int,
    dirfd: c_int,
    path: *const c_char,
    st: *mut libc::stat,
    flags: c_int,
) -> c_int {
    // SAFETY: as fstatat.
    unsafe { fstatat(dirfd, path, st, flags) }
}

#[no_mangle]
pub unsafe extern "C" fn __fxstatat64(
    _ver: c_int,
    dirfd: c_int,
    path: *const c_char,
    st: *mut libc::stat,
    flags: c_int,
) -> c_int {
    // SAFETY: as fstatat.
    unsafe { fstatat(dirfd, path, st, flags) }
}

/// access(2)/faccessat(2): a node-less loopcam device exists (ustreamer checks with access()
/// before it opens the device).
#[no_mangle]
pub unsafe extern "C" fn faccessat(
    dirfd: c_int,
    path: *const c_char,
    mode: c_int,
    flags: c_int,
) -> c_int {
    // SAFETY: pass-through first.
    let r = unsafe { real_faccessat(dirfd, path, mode, flags) };
    if r < 0 && errno() == libc::ENOENT {
        if guard(None, || node_rdev_for_path(path)).is_some() {
            return 0;
        }
        set_errno(libc::ENOENT);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn access(path: *const c_char, mode: c_int) -> c_int {
    // SAFETY: access(p, m) is faccessat(AT_FDCWD, p, m, 0).
    unsafe { faccessat(libc::AT_FDCWD, path, mode, 0) }
}

#[no_mangle]
pub unsafe extern "C" fn statx(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mask: c_uint,
    st: *mut libc::statx,
) -> c_int {
    if flags & libc::AT_EMPTY_PATH != 0 && is_ours(dirfd) && !st.is_null() {
        if let Some(e) = table::get(dirfd) {
            // SAFETY: statx contract.
            paths::fill_statx(unsafe { &mut *st }, e.rdev);
            return 0;
        }
    }
    // SAFETY: pass-through.
    let r = unsafe { real_statx(dirfd, path, flags, mask, st) };
    if r == 0 && !st.is_null() {
        // SAFETY: the real statx filled `st`.
        let mode = u32::from(unsafe { (*st).stx_mode });
        if let Some(rdev) = guard(None, || placeholder_rdev(path, mode)) {
            // SAFETY: statx contract.
            paths::fill_statx(unsafe { &mut *st }, rdev);
            return 0;
        }
    }
    if r < 0 && errno() == libc::ENOENT && !st.is_null() {
        if let Some(rdev) = guard(None, || node_rdev_for_path(path)) {
            // SAFETY: statx contract.
            paths::fill_statx(unsafe { &mut *st }, rdev);
            return 0;
        }
        set_errno(libc::ENOENT);
    }
    r
}

// ---------------------------------------------------------------------------------------------
// syscall(): libv4l2 issues SYS_ioctl, SYS_openat, SYS_close and SYS_mmap directly

#[no_mangle]
pub unsafe extern "C" fn syscall(
    n: c_long,
    a: c_long,
    b: c_long,
    c: c_long,
    d: c_long,
    e: c_long,
    f: c_long,
) -> c_long {
    match n {
        libc::SYS_ioctl if is_ours(a as c_int) => {
            // SAFETY: the caller passes ioctl's arguments.
            (unsafe { ioctl(a as c_int, b as c_ulong, c as *mut c_void) }) as c_long
        }
        libc::SYS_close if is_ours(a as c_int) => {
            // SAFETY: close's argument.
            (unsafe { close(a as c_int) }) as c_long
        }
        libc::SYS_mmap if is_ours(e as c_int) => {
            // SAFETY: mmap's arguments.
            (unsafe {
                mmap(
                    a as *mut c_void,
                    b as size_t,
                    c as c_int,
                    d as c_int,
                    e as c_int,
                    f as off_t,
                )
            }) as c_long
        }
        libc::SYS_openat => {
            // SAFETY: openat's arguments.
            (unsafe { open_common(a as c_int, b as *const c_char, c as c_int, d as mode_t) })
                as c_long
        }
        libc::SYS_read if is_ours(a as c_int) => {
            // SAFETY: read's arguments.
            (unsafe { read(a as c_int, b as *mut c_void, c as size_t) }) as c_long
        }
        libc::SYS_write if is_ours(a as c_int) => {
            // SAFETY: write's arguments.
            (unsafe { write(a as c_int, b as *const c_void, c as size_t) }) as c_long
        }
        // SAFETY: pass-through with the caller's arguments.
        _ => unsafe { real_syscall(n, a, b, c, d, e, f) },
    }
}
