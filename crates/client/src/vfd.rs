//! The virtual-fd layer: one open file description of a loopcam device, with the calls an
//! application makes on a V4L2 fd — ioctl, mmap, munmap, read, write, and a real kernel fd to
//! poll. The preload library maps application fds onto these; Rust programs can use them
//! directly.
//!
//! What lives here is marshalling, not V4L2 rules: following the pointers an ioctl carries
//! (the EXT_CTRLS array, USERPTR buffers, DMABUF fds), remapping a buffer's memory after DQBUF
//! (zero copy), copying for read()/write()/USERPTR, and waiting on the signal fd when a
//! blocking call would block. Every decision about what is allowed is the daemon's.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

use bytemuck::{bytes_of, pod_read_unaligned};
use loopcam_abi::*;
use loopcam_proto::{BlockRef, DeviceInfo, Request, Response};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::mm::ProtFlags;

use crate::cadence::{monotonic_ns, Arrival, Cadence, SpinWindow, WaitStats};
use crate::conn::Connection;
use crate::mapping::{self, Backing, Mapping};
use crate::Error;

/// An application mapping of one buffer.
#[derive(Clone, Copy, Debug)]
struct AppMap {
    addr: usize,
    len: usize,
    /// Buffer index, or `None` once the queue was reallocated (orphaned, F14).
    index: Option<u32>,
    handle: u64,
    prot: ProtFlags,
    backing: Backing,
    /// The block this mapping shows (`None`: a placeholder, or not known).
    block: Option<u64>,
    /// A private writable mapping that holds no private copy of a page: checked when the
    /// application gave the buffer back (QBUF; it may not write a queued buffer).
    clean: bool,
}

impl AppMap {
    /// Whether the mapping already shows block `id` exactly as a fresh remap would: the same
    /// block (ids are never reused on a device), and no private copy of a page — a shared
    /// mapping is the block itself, a private one without PROT_WRITE cannot have been written
    /// (an application that mprotect()s a buffer mapping writable is not supported), and a
    /// private writable one was found `clean` at its QBUF. Then the remap after DQBUF is
    /// skipped: it zaps and refaults every page the application touched (page-table work,
    /// costly on a VM: docs/PERFORMANCE.md, row 5), and a steady stream brings the same block
    /// back to the same buffer.
    fn shows(&self, id: u64) -> bool {
        self.block == Some(id)
            && (self.backing == Backing::Shared
                || !self.prot.contains(ProtFlags::WRITE)
                || self.clean)
    }

    /// A private mapping the application may write.
    fn private_writable(&self) -> bool {
        self.backing == Backing::Private && self.prot.contains(ProtFlags::WRITE)
    }
}

/// Cached views of blocks, for copies: read-write for producer blocks, read-only for the
/// blocks a consumer receives (the daemon sends those as O_RDONLY fds).
#[derive(Default)]
struct BlockCache {
    entries: VecDeque<(u64, Mapping, bool)>,
}

const CACHE_BLOCKS: usize = 6;

impl BlockCache {
    /// A view of block `r` (`fd`: its memfd, as the daemon sent it); `write`: the caller
    /// writes into it.
    fn get(
        &mut self,
        r: BlockRef,
        fd: Option<OwnedFd>,
        write: bool,
    ) -> Result<&mut Mapping, Errno> {
        if let Some(pos) = self
            .entries
            .iter()
            .position(|(id, m, w)| *id == r.id && m.len() as u64 == r.size && (*w || !write))
        {
            let e = self.entries.remove(pos).expect("position valid");
            self.entries.push_back(e);
        } else {
            let fd = fd.ok_or(Errno::IO)?;
            self.entries.retain(|(id, _, _)| *id != r.id);
            let (m, w) = if write {
                (Mapping::map_write(&fd, r.size as usize)?, true)
            } else {
                (Mapping::map_read(&fd, r.size as usize)?, false)
            };
            if self.entries.len() >= CACHE_BLOCKS {
                self.entries.pop_front();
            }
            self.entries.push_back((r.id, m, w));
        }
        Ok(&mut self.entries.back_mut().expect("just pushed").1)
    }
}

/// One open file description of a loopcam device.
pub struct VirtualFd {
    conn: Connection,
    signal: OwnedFd,
    device: DeviceInfo,
    maps: Vec<AppMap>,
    cache: BlockCache,
    /// Memory type of the current buffer set (from REQBUFS/CREATE_BUFS), for marshalling.
    memory: u32,
    /// The caller waits for readiness itself (the preload library, so a blocked DQBUF holds no
    /// lock and another thread's STREAMOFF gets through, H22).
    external_wait: bool,
    /// Set when a blocking call returned EAGAIN in `external_wait` mode: what to wait for.
    blocked_on: Option<PollFlags>,
    /// Output buffers staged by PREPARE_BUF: their QBUF uses the prepared data (H18), whatever
    /// pointer it carries.
    prepared: Vec<u32>,
    /// The capture stream's frame cadence, for the spin-before-sleep of a blocking DQBUF.
    cadence: Cadence,
    /// A window given by [`VirtualFd::watch_next`] for the next blocking capture DQBUF.
    next_window: Option<SpinWindow>,
    /// Buffer mappings moved onto a frame's memory after DQBUF (see [`AppMap::shows`]).
    remaps: u64,
}

fn gone(e: Error) -> Errno {
    match e {
        Error::Gone | Error::NoDaemon(_) => Errno::NODEV,
        Error::Daemon { errno, .. } => Errno::from_raw_os_error(errno),
        Error::Io(e) => Errno::from_io_error(&e).unwrap_or(Errno::IO),
        Error::Protocol(_) => Errno::IO,
    }
}

impl VirtualFd {
    /// Opens `path` through the daemon at the default socket.
    pub fn open(path: &str, read: bool, write: bool, nonblock: bool) -> Result<VirtualFd, Error> {
        VirtualFd::open_with(Connection::connect_default()?, path, read, write, nonblock)
    }

    /// Opens `path` on an existing connection (which becomes this opener's).
    pub fn open_with(
        mut conn: Connection,
        path: &str,
        read: bool,
        write: bool,
        nonblock: bool,
    ) -> Result<VirtualFd, Error> {
        let (resp, fd) = conn.call(
            &Request::Open {
                device: path.to_string(),
                read,
                write,
            },
            &[],
        )?;
        match (resp, fd) {
            (Response::Opened { device }, Some(signal)) => {
                let v = VirtualFd {
                    conn,
                    signal,
                    device,
                    maps: Vec::new(),
                    cache: BlockCache::default(),
                    memory: 0,
                    external_wait: false,
                    blocked_on: None,
                    prepared: Vec::new(),
                    cadence: Cadence::from_env(),
                    next_window: None,
                    remaps: 0,
                };
                v.set_nonblocking(nonblock)
                    .map_err(|e| Error::Io(e.into()))?;
                Ok(v)
            }
            (Response::Error { errno, message }, _) => Err(Error::Daemon { errno, message }),
            (other, _) => Err(Error::Protocol(format!(
                "unexpected answer to Open: {other:?}"
            ))),
        }
    }

    /// Makes blocking calls return EAGAIN instead of waiting; [`VirtualFd::take_blocked_on`]
    /// then says what readiness the caller must wait for before retrying.
    pub fn set_external_wait(&mut self, on: bool) {
        self.external_wait = on;
    }

    /// After an EAGAIN in external-wait mode on a blocking fd: the poll events to wait for.
    /// `None` means the EAGAIN is the application's (non-blocking fd).
    pub fn take_blocked_on(&mut self) -> Option<PollFlags> {
        self.blocked_on.take()
    }

    /// How this fd's blocking capture DQBUFs met their predicted frames (see
    /// [`crate::cadence`]).
    pub fn wait_stats(&self) -> WaitStats {
        self.cadence.stats()
    }

    /// Uses `w` instead of the predicted window for the next blocking capture DQBUF: for a
    /// caller that knows when its producer publishes, and for tests of the watched wait.
    pub fn watch_next(&mut self, w: SpinWindow) {
        self.next_window = Some(w);
    }

    /// How many times a buffer mapping was moved onto a frame's memory after DQBUF (a mapping
    /// that already shows the frame's block is left alone).
    pub fn remap_count(&self) -> u64 {
        self.remaps
    }

    /// Number of live application mappings.
    pub fn mapping_count(&self) -> usize {
        self.maps.len()
    }

    /// The pollable fd (the fd an application holds).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.signal.as_fd()
    }

    /// The device as it was when opened.
    pub fn device(&self) -> &DeviceInfo {
        &self.device
    }

    /// O_NONBLOCK of the pollable fd, read on every call (B3: it may change with fcntl).
    pub fn nonblocking(&self) -> bool {
        rustix::fs::fcntl_getfl(&self.signal)
            .is_ok_and(|f| f.contains(rustix::fs::OFlags::NONBLOCK))
    }

    /// Sets or clears O_NONBLOCK.
    pub fn set_nonblocking(&self, on: bool) -> rustix::io::Result<()> {
        let mut f = rustix::fs::fcntl_getfl(&self.signal)?;
        f.set(rustix::fs::OFlags::NONBLOCK, on);
        rustix::fs::fcntl_setfl(&self.signal, f)
    }

    fn call(&mut self, req: &Request) -> Result<(Response, Option<OwnedFd>), Errno> {
        self.conn.call(req, &[]).map_err(gone)
    }

    /// Waits until the signal fd shows one of `events`. EINTR is returned to the caller
    /// (H21, K4); a hang-up means the daemon or the device is gone (ENODEV).
    /// A blocking call found nothing yet: waits for `events`, or, in `external_wait` mode,
    /// records them and returns EAGAIN for the caller (the preload) to wait outside its locks.
    fn block_on(&mut self, events: PollFlags) -> Result<(), Errno> {
        if self.external_wait {
            self.blocked_on = Some(events);
            return Err(Errno::AGAIN);
        }
        self.wait(events)
    }

    fn wait(&self, events: PollFlags) -> Result<(), Errno> {
        let mut p = [PollFd::new(&self.signal, events)];
        poll(&mut p, None)?;
        let r = p[0].revents();
        if r.contains(PollFlags::HUP) && !r.intersects(events) {
            return Err(Errno::NODEV);
        }
        if r.contains(PollFlags::PRI) && !events.contains(PollFlags::PRI) {
            // A pending event shows as POLLIN too (signal socket OOB): do not spin on it.
            let mut p = [PollFd::new(&self.signal, PollFlags::empty())];
            let _ = poll(
                &mut p,
                Some(&rustix::time::Timespec {
                    tv_sec: 0,
                    tv_nsec: 2_000_000,
                }),
            );
        }
        Ok(())
    }

    /// ioctl(2) on the device.
    ///
    /// # Safety
    /// Like ioctl(2): `arg` is the request's argument, and the pointers it carries (the
    /// EXT_CTRLS `controls` array, USERPTR buffer addresses) must be valid for the access the
    /// request implies.
    pub unsafe fn ioctl(&mut self, request: u32, arg: &mut [u8]) -> Result<(), Errno> {
        let size = ioc_size(request);
        // An empty `arg` stands for a NULL pointer: the daemon answers ENOTTY for an unknown
        // request and EFAULT for a known one (A1, A4).
        if !arg.is_empty() && arg.len() < size {
            return Err(Errno::FAULT);
        }
        let size = size.min(arg.len());
        let arg = &mut arg[..size];
        // EXT_CTRLS: marshal the control array the pointer designates.
        let ext = matches!(
            request,
            VIDIOC_G_EXT_CTRLS | VIDIOC_S_EXT_CTRLS | VIDIOC_TRY_EXT_CTRLS
        );
        let mut extra = Vec::new();
        let mut ext_ptr = 0u64;
        if ext {
            let hdr: v4l2_ext_controls = pod_read_unaligned(arg);
            if hdr.count > 1024 {
                return Err(Errno::INVAL);
            }
            ext_ptr = hdr.controls;
            let n = hdr.count as usize * std::mem::size_of::<v4l2_ext_control>();
            if n > 0 {
                if ext_ptr == 0 {
                    return Err(Errno::FAULT);
                }
                extra = vec![0u8; n];
                mapping::copy_from_user(&mut extra, ext_ptr as usize)?;
            }
        }
        // Output USERPTR/DMABUF: copy the application's frame into the staging block first.
        if matches!(request, VIDIOC_QBUF | VIDIOC_PREPARE_BUF) {
            let b: v4l2_buffer = pod_read_unaligned(arg);
            let mem = if b.memory == 0 { self.memory } else { b.memory };
            let already = request == VIDIOC_QBUF && self.prepared.contains(&b.index);
            if b.type_ == V4L2_BUF_TYPE_VIDEO_CAPTURE
                && mem == V4L2_MEMORY_USERPTR
                && !already
                && b.m_userptr() != 0
            {
                // H12: the kernel pins a USERPTR buffer at QBUF/PREPARE_BUF, so an unmapped
                // range fails there, not at DQBUF. Probe both ends of the range.
                let (start, len) = (b.m_userptr() as usize, b.length.max(1) as usize);
                let mut probe = [0u8; 1];
                mapping::copy_from_user(&mut probe, start)?;
                mapping::copy_from_user(&mut probe, start + len - 1)?;
            }
            if b.type_ == V4L2_BUF_TYPE_VIDEO_OUTPUT
                && (mem == V4L2_MEMORY_USERPTR || mem == V4L2_MEMORY_DMABUF)
                && !already
            {
                // SAFETY: forwarded caller contract for the USERPTR address.
                unsafe { self.stage_output(&b, mem)? };
            }
        }
        // A blocking DQBUF is parked in the daemon and answered with the frame itself (one hop
        // from the producer's QBUF to our return). Not in external-wait mode: there another
        // thread may need this connection while we wait (H22).
        let wait = request == VIDIOC_DQBUF && !self.external_wait && !self.nonblocking();
        // (An empty `arg` is a NULL pointer: the daemon answers EFAULT.)
        let capture = request == VIDIOC_DQBUF
            && arg.len() >= 8
            && u32::from_le_bytes(arg[4..8].try_into().expect("4 bytes"))
                == V4L2_BUF_TYPE_VIDEO_CAPTURE;
        loop {
            let req = Request::Ioctl {
                request,
                arg: arg.to_vec(),
                extra: extra.clone(),
                wait,
                shown: if request == VIDIOC_DQBUF {
                    self.shown()
                } else {
                    Vec::new()
                },
            };
            let (resp, fd, arrival) = if wait {
                let window = if capture {
                    self.next_window
                        .take()
                        .or_else(|| self.cadence.plan(monotonic_ns()))
                } else {
                    None
                };
                self.conn.call_parked(&req, window).map_err(gone)?
            } else {
                let (resp, fd) = self.call(&req)?;
                (resp, fd, Arrival::Unplanned)
            };
            let Response::Ioctl {
                result,
                copy_back,
                arg: out,
                extra: out_extra,
                dqbuf_index,
                block,
            } = resp
            else {
                return Err(match resp {
                    Response::Error { errno, .. } => Errno::from_raw_os_error(errno),
                    _ => Errno::IO,
                });
            };
            let blocking_retry = match request {
                VIDIOC_DQBUF if result == Errno::AGAIN.raw_os_error() => {
                    let t = u32::from_le_bytes(arg[4..8].try_into().expect("4 bytes"));
                    Some(if t == V4L2_BUF_TYPE_VIDEO_OUTPUT {
                        PollFlags::OUT
                    } else {
                        PollFlags::IN
                    })
                }
                VIDIOC_DQEVENT if result == Errno::NOENT.raw_os_error() => Some(PollFlags::PRI),
                _ => None,
            };
            if let Some(events) = blocking_retry {
                if !self.nonblocking() {
                    self.block_on(events)?;
                    continue;
                }
                // M3: a non-blocking DQEVENT with nothing pending is ENOENT, DQBUF is EAGAIN.
                return Err(Errno::from_raw_os_error(result));
            }
            if copy_back {
                let n = size.min(out.len());
                arg[..n].copy_from_slice(&out[..n]);
                if ext && !out_extra.is_empty() {
                    mapping::copy_to_user(
                        ext_ptr as usize,
                        &out_extra[..extra.len().min(out_extra.len())],
                    )?;
                }
            }
            if result != 0 {
                return Err(Errno::from_raw_os_error(result));
            }
            match request {
                VIDIOC_PREPARE_BUF => {
                    let b: v4l2_buffer = pod_read_unaligned(arg);
                    self.prepared.push(b.index);
                }
                VIDIOC_QBUF => {
                    let b: v4l2_buffer = pod_read_unaligned(arg);
                    self.prepared.retain(|i| *i != b.index);
                    // The application gave the buffer back: whether its writable private
                    // mappings still show their block untouched decides the next remap.
                    for m in self.maps.iter_mut().filter(|m| m.index == Some(b.index)) {
                        if m.private_writable() && m.block.is_some() {
                            m.clean = mapping::no_private_copies(m.addr, m.len);
                        }
                    }
                }
                VIDIOC_DQBUF => {
                    let b: v4l2_buffer = pod_read_unaligned(arg);
                    if capture {
                        let ts = b.timestamp.tv_sec as u64 * 1_000_000_000
                            + b.timestamp.tv_usec as u64 * 1000;
                        self.cadence.frame(b.sequence, ts, arrival);
                    }
                    if let (Some(index), Some(r)) = (dqbuf_index, block) {
                        // SAFETY: forwarded caller contract (USERPTR destination).
                        unsafe { self.after_dqbuf(index, &b, r, fd)? };
                    }
                }
                VIDIOC_EXPBUF => {
                    let fd = fd.ok_or(Errno::IO)?;
                    // The buffer's memory is now the exported block: move our mappings onto it
                    // so the mmap view and the dmabuf view are the same memory.
                    if let (Some(index), Some(r)) = (dqbuf_index, block) {
                        for m in self.maps.iter_mut().filter(|m| m.index == Some(index)) {
                            let len = m.len.min(r.size as usize);
                            // SAFETY: a live mapping we created for this buffer; EXPBUF is called
                            // while the application is not streaming through it concurrently.
                            unsafe {
                                mapping::remap_buffer(
                                    m.addr as *mut u8,
                                    &fd,
                                    len,
                                    m.prot,
                                    m.backing,
                                )?
                            };
                            m.block = Some(r.id);
                        }
                    }
                    let raw = fd.into_raw_fd();
                    arg[16..20].copy_from_slice(&raw.to_le_bytes());
                }
                VIDIOC_STREAMOFF => self.cadence.forget(),
                VIDIOC_REQBUFS => {
                    self.cadence.forget();
                    let r: v4l2_requestbuffers = pod_read_unaligned(arg);
                    self.memory = if r.count > 0 { r.memory } else { 0 };
                    self.prepared.clear();
                    // Existing mappings now belong to a freed buffer set (orphaned, F14).
                    for m in &mut self.maps {
                        m.index = None;
                    }
                }
                VIDIOC_CREATE_BUFS => {
                    let c: v4l2_create_buffers = pod_read_unaligned(arg);
                    if c.count > 0 {
                        self.memory = c.memory;
                    }
                }
                _ => {}
            }
            return Ok(());
        }
    }

    /// A typed ioctl for requests that carry no pointers (everything except EXT_CTRLS and
    /// USERPTR buffers).
    pub fn xioctl<T: bytemuck::Pod>(&mut self, request: u32, arg: &mut T) -> Result<(), Errno> {
        if matches!(
            request,
            VIDIOC_G_EXT_CTRLS | VIDIOC_S_EXT_CTRLS | VIDIOC_TRY_EXT_CTRLS
        ) || self.memory == V4L2_MEMORY_USERPTR
        {
            return Err(Errno::INVAL);
        }
        let mut bytes = bytes_of(arg).to_vec();
        // SAFETY: the request carries no pointers (checked above); `bytes` is the argument.
        let r = unsafe { self.ioctl(request, &mut bytes) };
        *arg = pod_read_unaligned(&bytes);
        r
    }

    /// # Safety
    /// USERPTR: `b.m.userptr` must be readable for `length` bytes.
    unsafe fn stage_output(&mut self, b: &v4l2_buffer, mem: u32) -> Result<(), Errno> {
        let (resp, fd) = self.call(&Request::StagingBlock { index: b.index })?;
        let r = match resp {
            Response::Block(r) => r,
            Response::Error { errno, .. } => return Err(Errno::from_raw_os_error(errno)),
            _ => return Err(Errno::IO),
        };
        let view = self.cache.get(r, fd, true)?;
        let n = if b.bytesused == 0 {
            b.length
        } else {
            b.bytesused
        } as usize;
        let n = n.min(view.len());
        if mem == V4L2_MEMORY_USERPTR {
            if b.m_userptr() == 0 {
                return Err(Errno::INVAL);
            }
            // H12: a bad USERPTR range is EFAULT, checked by the copy itself.
            mapping::copy_from_user(&mut view.bytes_mut()[..n], b.m_userptr() as usize)?;
        } else {
            // DMABUF: the application passed an fd; map it and copy.
            let fd = b.m_fd();
            if fd < 0 {
                return Err(Errno::INVAL);
            }
            // SAFETY: borrowing the application's fd for the duration of this call only.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let src = Mapping::map_read(borrowed, n).map_err(|_| Errno::INVAL)?;
            view.bytes_mut()[..n].copy_from_slice(src.bytes());
        }
        Ok(())
    }

    /// Buffers whose every mapping already shows one block, with that block: sent with a
    /// DQBUF so that the daemon leaves the memfd out when the frame is in that block.
    fn shown(&self) -> Vec<(u32, u64)> {
        let mut out: Vec<(u32, u64)> = Vec::new();
        for m in self.maps.iter() {
            let Some(index) = m.index else { continue };
            if out.iter().any(|(i, _)| *i == index) {
                continue;
            }
            let mut of_index = self.maps.iter().filter(|o| o.index == Some(index));
            if let Some(id) = m.block {
                if of_index.all(|o| o.shows(id)) {
                    out.push((index, id));
                }
            }
        }
        out
    }

    /// After DQBUF: put the frame's memory behind the application's view of buffer `index`.
    /// `fd` is `None` when the request said the buffer's mappings show the block already.
    ///
    /// # Safety
    /// USERPTR: `b.m.userptr` must be writable for `b.bytesused` bytes.
    unsafe fn after_dqbuf(
        &mut self,
        index: u32,
        b: &v4l2_buffer,
        r: BlockRef,
        fd: Option<OwnedFd>,
    ) -> Result<(), Errno> {
        match b.memory {
            V4L2_MEMORY_MMAP => {
                for m in self.maps.iter_mut().filter(|m| m.index == Some(index)) {
                    let skip = m.shows(r.id);
                    // The buffer is the application's now: it may write it.
                    m.clean = false;
                    if skip {
                        continue;
                    }
                    let fd = fd.as_ref().ok_or(Errno::IO)?;
                    self.remaps += 1;
                    let len = m.len.min(r.size as usize);
                    // SAFETY: `m` is a live mapping we created for this buffer; V4L2 gives the
                    // buffer back to the application only now, so nothing relies on the old pages.
                    unsafe {
                        mapping::remap_buffer(m.addr as *mut u8, &fd, len, m.prot, m.backing)?
                    };
                    m.block = Some(r.id);
                }
            }
            V4L2_MEMORY_USERPTR if b.type_ == V4L2_BUF_TYPE_VIDEO_CAPTURE => {
                let view = self.cache.get(r, fd, false)?;
                let n = (b.bytesused as usize)
                    .min(view.len())
                    .min(b.length as usize);
                mapping::copy_to_user(b.m_userptr() as usize, &view.bytes()[..n])?;
            }
            V4L2_MEMORY_DMABUF if b.type_ == V4L2_BUF_TYPE_VIDEO_CAPTURE => {
                let n = b.bytesused as usize;
                let view = self.cache.get(r, fd, false)?;
                let src = view.bytes()[..n.min(view.len())].to_vec();
                // SAFETY: borrowing the application's dmabuf fd for this call only.
                let borrowed = unsafe { BorrowedFd::borrow_raw(b.m_fd()) };
                let mut dst = Mapping::map_write(borrowed, src.len()).map_err(|_| Errno::INVAL)?;
                dst.bytes_mut().copy_from_slice(&src);
            }
            _ => {}
        }
        Ok(())
    }

    /// mmap(2) of a buffer cookie. Returns the address handed to the application.
    pub fn mmap(
        &mut self,
        length: usize,
        prot: ProtFlags,
        shared: bool,
        offset: u64,
    ) -> Result<*mut u8, Errno> {
        let (resp, fd) = self.call(&Request::Mmap {
            offset,
            length: length as u64,
            prot_read: prot.contains(ProtFlags::READ),
            prot_write: prot.contains(ProtFlags::WRITE),
            shared,
        })?;
        let (handle, index, private, block) = match resp {
            Response::Mapped {
                handle,
                index,
                private,
                block,
            } => (handle, index, private, block),
            Response::Error { errno, .. } => return Err(Errno::from_raw_os_error(errno)),
            _ => return Err(Errno::IO),
        };
        let backing = if private {
            Backing::Private
        } else {
            Backing::Shared
        };
        let addr = match &fd {
            Some(fd) => mapping::map_buffer(Some(fd as &dyn AsFd), length, prot, backing),
            None => mapping::map_buffer(None, length, prot, backing),
        };
        let addr = match addr {
            Ok(a) => a,
            Err(e) => {
                let _ = self.call(&Request::Munmap { handle });
                return Err(e);
            }
        };
        self.maps.push(AppMap {
            addr: addr as usize,
            len: length,
            index: Some(index),
            handle,
            prot,
            backing,
            block: fd.as_ref().and(block).map(|b| b.id),
            clean: false,
        });
        Ok(addr)
    }

    /// Whether `addr` starts a mapping made by [`VirtualFd::mmap`].
    pub fn owns_mapping(&self, addr: usize) -> bool {
        self.maps.iter().any(|m| m.addr == addr)
    }

    /// munmap(2) of a mapping made by [`VirtualFd::mmap`], by address. EINVAL when `addr`
    /// does not start one of this fd's mappings (the caller then passes munmap through).
    pub fn munmap(&mut self, addr: usize, len: usize) -> Result<(), Errno> {
        let pos = self
            .maps
            .iter()
            .position(|m| m.addr == addr)
            .ok_or(Errno::INVAL)?;
        let m = self.maps.remove(pos);
        // SAFETY: `m` is a mapping this crate created for the application, which is unmapping
        // it (munmap contract: it will not touch the range again).
        unsafe { mapping::unmap_buffer(m.addr as *mut u8, len.max(m.len))? };
        let _ = self.call(&Request::Munmap { handle: m.handle });
        Ok(())
    }

    /// The application's view of buffer `index` (first mapping), for the Rust API.
    pub(crate) fn buffer_ptr(&self, index: u32) -> Option<(*mut u8, usize)> {
        self.maps
            .iter()
            .find(|m| m.index == Some(index))
            .map(|m| (m.addr as *mut u8, m.len))
    }

    /// read(2): at most one frame (K3); blocks unless non-blocking (K4).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let (resp, fd) = self.call(&Request::Read {
                count: buf.len().min(u32::MAX as usize) as u32,
            })?;
            match resp {
                Response::ReadChunk {
                    block: Some(r),
                    offset,
                    len,
                } => {
                    let view = self.cache.get(r, fd, false)?;
                    let (o, n) = (offset as usize, len as usize);
                    buf[..n].copy_from_slice(&view.bytes()[o..o + n]);
                    return Ok(n);
                }
                Response::ReadChunk { .. } => return Ok(0),
                Response::Error { errno, .. }
                    if errno == Errno::AGAIN.raw_os_error() && !self.nonblocking() =>
                {
                    self.block_on(PollFlags::IN)?;
                }
                Response::Error { errno, .. } => return Err(Errno::from_raw_os_error(errno)),
                _ => return Err(Errno::IO),
            }
        }
    }

    /// write(2): one frame per call (one copy into shared memory).
    pub fn write(&mut self, buf: &[u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (r, fd) = loop {
            let (resp, fd) = self.call(&Request::PrepareWrite)?;
            match resp {
                Response::Block(r) => break (r, fd),
                // No memory for the frame until a consumer returns one (core's EAGAIN): a
                // blocking write() waits for POLLOUT like a real device's full queue.
                Response::Error { errno, .. }
                    if errno == Errno::AGAIN.raw_os_error() && !self.nonblocking() =>
                {
                    self.block_on(PollFlags::OUT)?;
                }
                Response::Error { errno, .. } => return Err(Errno::from_raw_os_error(errno)),
                _ => return Err(Errno::IO),
            }
        };
        let view = self.cache.get(r, fd, true)?;
        let n = buf.len().min(view.len());
        view.bytes_mut()[..n].copy_from_slice(&buf[..n]);
        let (resp, _) = self.call(&Request::CommitWrite {
            len: buf.len().min(u32::MAX as usize) as u32,
        })?;
        match resp {
            Response::Written { len } => Ok(len as usize),
            Response::Error { errno, .. } => Err(Errno::from_raw_os_error(errno)),
            _ => Err(Errno::IO),
        }
    }

    /// The raw pollable fd number (the preload hands this to the application).
    pub fn raw_fd(&self) -> i32 {
        self.signal.as_raw_fd()
    }

    /// Builds from parts: for the preload's dup bookkeeping only.
    ///
    /// # Safety
    /// `raw` must be an fd this process owns.
    pub unsafe fn owned_fd_from_raw(raw: i32) -> OwnedFd {
        // SAFETY: guaranteed by the caller.
        unsafe { OwnedFd::from_raw_fd(raw) }
    }
}

impl Drop for VirtualFd {
    fn drop(&mut self) {
        // Application mappings outlive the fd (like a real V4L2 mapping after close); the
        // daemon forgets the opener when the connection closes.
        self.maps.clear();
    }
}
