//! The event loop: one thread, epoll over the listening socket, every client connection and
//! a stop pipe; device timers become the epoll timeout. No request ever blocks the loop: the
//! device model never waits, blocking calls wait in the client on the signal socket.

use std::collections::{BTreeSet, HashMap};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use loopcam_core::device::OpenMode;
use loopcam_core::ioctl::{dispatch, Outcome};
use loopcam_core::{Errno, OpenerId};
use loopcam_proto::{recv, send, BlockRef, ProtoError, Request, Response, PROTOCOL_VERSION};
use rustix::event::epoll;
use rustix::net::{RecvFlags, UCred};
use tracing::{debug, info, warn};

use crate::registry::{Registry, RegistryError};
use crate::signal::Signal;

const KEY_LISTENER: u64 = 0;
const KEY_STOP: u64 = 1;
const FIRST_CONN: u64 = 16;

/// CLOCK_MONOTONIC in ns.
pub fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

enum Role {
    /// Before `Hello`.
    New,
    /// Management connection.
    Mgmt,
    /// An open file description of a device.
    Opener {
        dev: u32,
        id: OpenerId,
        signal: Signal,
    },
}

struct Conn {
    sock: OwnedFd,
    peer: Option<UCred>,
    role: Role,
}

/// What a handler answers: a response and at most one fd to attach.
struct Reply {
    resp: Response,
    fd: Option<OwnedFd>,
}

impl Reply {
    fn ok(resp: Response) -> Reply {
        Reply { resp, fd: None }
    }
    fn err(errno: i32, message: impl Into<String>) -> Reply {
        Reply::ok(Response::Error {
            errno,
            message: message.into(),
        })
    }
    fn errno(e: Errno) -> Reply {
        Reply::err(e.0, e.to_string())
    }
}

/// The running daemon state.
pub struct Server {
    epoll: OwnedFd,
    listener: OwnedFd,
    /// Kept open: readable when the daemon must stop.
    _stop: OwnedFd,
    conns: HashMap<u64, Conn>,
    next_key: u64,
    /// The devices.
    pub registry: Registry,
    socket_path: PathBuf,
}

impl Server {
    pub(crate) fn new(
        listener: OwnedFd,
        stop: OwnedFd,
        registry: Registry,
        socket_path: PathBuf,
    ) -> rustix::io::Result<Server> {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(
            &ep,
            &listener,
            epoll::EventData::new_u64(KEY_LISTENER),
            epoll::EventFlags::IN,
        )?;
        epoll::add(
            &ep,
            &stop,
            epoll::EventData::new_u64(KEY_STOP),
            epoll::EventFlags::IN,
        )?;
        Ok(Server {
            epoll: ep,
            listener,
            _stop: stop,
            conns: HashMap::new(),
            next_key: FIRST_CONN,
            registry,
            socket_path,
        })
    }

    /// Runs until the stop fd becomes readable.
    pub fn run(&mut self) -> rustix::io::Result<()> {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(64);
        info!(socket = %self.socket_path.display(), "loopcam daemon ready");
        loop {
            let timeout = self.next_timeout();
            events.clear();
            match epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut events),
                timeout.as_ref(),
            ) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                let key = ev.data.u64();
                match key {
                    KEY_LISTENER => self.accept(),
                    KEY_STOP => {
                        info!("stopping");
                        return Ok(());
                    }
                    k => self.readable(k, ev.flags),
                }
            }
            self.run_timers();
        }
    }

    fn next_timeout(&self) -> Option<rustix::time::Timespec> {
        let now = now_ns();
        let next = self
            .registry
            .devices
            .values()
            .filter_map(|d| d.dev.next_deadline())
            .min()?;
        let d = next.saturating_sub(now);
        Some(rustix::time::Timespec {
            tv_sec: (d / 1_000_000_000) as i64,
            tv_nsec: (d % 1_000_000_000) as i64,
        })
    }

    fn run_timers(&mut self) {
        let now = now_ns();
        let due: Vec<u32> = self
            .registry
            .devices
            .iter()
            .filter(|(_, d)| d.dev.next_deadline().is_some_and(|t| t <= now))
            .map(|(n, _)| *n)
            .collect();
        for n in due {
            if let Some(d) = self.registry.devices.get_mut(&n) {
                d.dev.tick(now);
                let _ = d.sync_memory();
            }
            self.update_signals(n, None);
        }
    }

    fn accept(&mut self) {
        loop {
            match rustix::net::accept_with(
                &self.listener,
                rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
            ) {
                Ok(sock) => {
                    let peer = rustix::net::sockopt::socket_peercred(&sock).ok();
                    let key = self.next_key;
                    self.next_key += 1;
                    if let Err(e) = epoll::add(
                        &self.epoll,
                        &sock,
                        epoll::EventData::new_u64(key),
                        epoll::EventFlags::IN | epoll::EventFlags::RDHUP,
                    ) {
                        warn!("epoll add failed: {e}");
                        continue;
                    }
                    debug!(
                        key,
                        pid = peer.map(|p| p.pid.as_raw_nonzero().get()),
                        "client connected"
                    );
                    self.conns.insert(
                        key,
                        Conn {
                            sock,
                            peer,
                            role: Role::New,
                        },
                    );
                }
                Err(rustix::io::Errno::AGAIN) => return,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn readable(&mut self, key: u64, flags: epoll::EventFlags) {
        // Serve every queued request; a request/response protocol has at most one, but a
        // closing peer may leave one behind.
        loop {
            let Some(conn) = self.conns.get(&key) else {
                return;
            };
            match recv(&conn.sock, RecvFlags::DONTWAIT) {
                Ok(Some(msg)) => {
                    let reply = match msg.decode::<Request>() {
                        Ok(req) => self.handle(key, req, msg.fds),
                        Err(e) => {
                            // Garbage never reaches the device model; the client is told once
                            // and disconnected (DESIGN: bad input gets a clear error).
                            let msg = e.to_string();
                            warn!(key, "protocol error: {msg}");
                            if let Some(c) = self.conns.get(&key) {
                                let _ = send(
                                    &c.sock,
                                    &Response::Error {
                                        errno: Errno::EPROTO.0,
                                        message: msg,
                                    },
                                    &[],
                                );
                            }
                            self.drop_conn(key);
                            return;
                        }
                    };
                    let Some(conn) = self.conns.get(&key) else {
                        return;
                    };
                    let fds: Vec<BorrowedFd<'_>> = reply.fd.iter().map(|f| f.as_fd()).collect();
                    if let Err(e) = send(&conn.sock, &reply.resp, &fds) {
                        debug!(key, "reply failed: {e}");
                        self.drop_conn(key);
                        return;
                    }
                }
                Ok(None) => {
                    if flags.intersects(
                        epoll::EventFlags::HUP | epoll::EventFlags::RDHUP | epoll::EventFlags::ERR,
                    ) {
                        self.drop_conn(key);
                    }
                    return;
                }
                Err(ProtoError::Closed) | Err(ProtoError::Io(_)) => {
                    self.drop_conn(key);
                    return;
                }
                Err(ProtoError::Malformed(m)) => {
                    warn!(key, "protocol error: {m}");
                    if let Some(c) = self.conns.get(&key) {
                        let _ = send(
                            &c.sock,
                            &Response::Error {
                                errno: Errno::EPROTO.0,
                                message: m,
                            },
                            &[],
                        );
                    }
                    self.drop_conn(key);
                    return;
                }
            }
        }
    }

    /// A connection ended: like close() of the last fd of that opener (B10), also when the
    /// client process was killed.
    fn drop_conn(&mut self, key: u64) {
        let Some(conn) = self.conns.remove(&key) else {
            return;
        };
        let _ = epoll::delete(&self.epoll, &conn.sock);
        if let Role::Opener { dev, id, .. } = conn.role {
            if let Some(d) = self.registry.devices.get_mut(&dev) {
                d.dev.close(id, now_ns());
                let _ = d.sync_memory();
                debug!(dev, id, "opener closed");
            }
            self.update_signals(dev, None);
        }
    }

    /// Pushes readiness to the signal sockets of every woken opener of device `dev`, and of
    /// `also` (the requester, whose own call may have changed its readiness).
    fn update_signals(&mut self, dev: u32, also: Option<u64>) {
        let Some(d) = self.registry.devices.get_mut(&dev) else {
            return;
        };
        // The format changed under a stored timeout image: render it again.
        if d.timeout_rgb.is_some() && d.timeout_gen != d.dev.format_generation() {
            if let Err(e) = d.render_timeout_image(now_ns()) {
                warn!(dev, "timeout image not shown: {e}");
            }
        }
        let woken: BTreeSet<OpenerId> = d.dev.take_wakeups().into_iter().collect();
        for (key, conn) in self.conns.iter_mut() {
            if let Role::Opener {
                dev: cd,
                id,
                signal,
            } = &mut conn.role
            {
                if *cd != dev {
                    continue;
                }
                let edge = woken.contains(id);
                if edge || also == Some(*key) {
                    signal.set(d.dev.signal_readiness(*id), edge);
                }
            }
        }
    }

    fn handle(&mut self, key: u64, req: Request, fds: Vec<OwnedFd>) -> Reply {
        let conn = self.conns.get(&key).expect("caller checked");
        if matches!(conn.role, Role::New) && !matches!(req, Request::Hello { .. }) {
            return Reply::err(Errno::EPROTO.0, "the first request must be Hello");
        }
        match req {
            Request::Hello { version } => {
                if version != PROTOCOL_VERSION {
                    return Reply::err(Errno::EPROTO.0, format!("protocol version {version} not supported (daemon speaks {PROTOCOL_VERSION})"));
                }
                if let Some(c) = self.conns.get_mut(&key) {
                    if matches!(c.role, Role::New) {
                        c.role = Role::Mgmt;
                    }
                }
                Reply::ok(Response::Hello {
                    version: PROTOCOL_VERSION,
                })
            }
            Request::AddDevice(spec) => match self.registry.add(spec, now_ns()) {
                Ok(n) => {
                    let info = self.registry.devices[&n].info();
                    info!(nodes = ?info.nodes, "device added");
                    Reply::ok(Response::Device(info))
                }
                Err(e) => reg_err(e),
            },
            Request::DeleteDevice { device } => match self.registry.find(&device) {
                Ok(n) => {
                    // Openers of the device are disconnected: their next call gets ENODEV and
                    // their signal sockets hang up (B13).
                    let keys: Vec<u64> = self
                        .conns
                        .iter()
                        .filter(|(_, c)| matches!(c.role, Role::Opener { dev, .. } if dev == n))
                        .map(|(k, _)| *k)
                        .collect();
                    for k in keys {
                        if let Some(c) = self.conns.remove(&k) {
                            let _ = epoll::delete(&self.epoll, &c.sock);
                        }
                    }
                    self.registry.remove(n, now_ns());
                    info!(number = n, "device deleted");
                    Reply::ok(Response::Ok)
                }
                Err(e) => reg_err(e),
            },
            Request::ListDevices => Reply::ok(Response::Devices(
                self.registry.devices.values().map(|d| d.info()).collect(),
            )),
            Request::QueryDevice { device } => match self.registry.find(&device) {
                Ok(n) => Reply::ok(Response::Device(self.registry.devices[&n].info())),
                Err(e) => reg_err(e),
            },
            Request::SetCaps { device, caps } => {
                let n = match self.registry.find(&device) {
                    Ok(n) => n,
                    Err(e) => return reg_err(e),
                };
                let c = match caps.parse::<loopcam_core::format::FixedCaps>() {
                    Ok(c) => c,
                    Err(e) => {
                        return Reply::err(Errno::EINVAL.0, format!("invalid caps '{caps}': {e}"))
                    }
                };
                let d = self.registry.devices.get_mut(&n).expect("found");
                let r = d.dev.set_caps(&c, now_ns());
                let _ = d.sync_memory();
                self.update_signals(n, None);
                match r {
                    Ok(()) => Reply::ok(Response::Device(self.registry.devices[&n].info())),
                    Err(e) => Reply::err(e.0, format!("cannot change caps now: {e} (a producer holds buffers of another format)")),
                }
            }
            Request::SetFps {
                device,
                numerator,
                denominator,
            } => match self.registry.find(&device) {
                Ok(n) => {
                    if numerator == 0 || denominator == 0 {
                        return Reply::err(Errno::EINVAL.0, "frame rate must be positive");
                    }
                    let d = self.registry.devices.get_mut(&n).expect("found");
                    d.dev
                        .set_interval(loopcam_core::format::Fract::new(numerator, denominator));
                    Reply::ok(Response::Device(d.info()))
                }
                Err(e) => reg_err(e),
            },
            Request::SetTimeoutImage {
                device,
                timeout_ms,
                width,
                height,
            } => {
                let n = match self.registry.find(&device) {
                    Ok(n) => n,
                    Err(e) => return reg_err(e),
                };
                let len = width as u64 * height as u64 * 3;
                if fds.len() != 1 || width == 0 || height == 0 || width > 8192 || height > 8192 {
                    return Reply::err(Errno::EINVAL.0, "set-timeout-image needs one memfd with width*height*3 bytes of RGB (at most 8192x8192)");
                }
                let rgb = match read_exact_fd(&fds[0], len as usize) {
                    Ok(v) => v,
                    Err(e) => {
                        return Reply::err(
                            Errno::EINVAL.0,
                            format!("cannot read the image data: {e}"),
                        )
                    }
                };
                let now = now_ns();
                let d = self.registry.devices.get_mut(&n).expect("found");
                if let Some(ms) = timeout_ms {
                    if let Err(e) =
                        d.dev
                            .host_set_ctrl(loopcam_core::controls::CID_TIMEOUT, ms.into(), now)
                    {
                        return Reply::errno(e);
                    }
                }
                let r = d.set_timeout_rgb(width, height, rgb, now);
                self.update_signals(n, None);
                match r {
                    Ok(()) => Reply::ok(Response::Device(self.registry.devices[&n].info())),
                    Err(e) => reg_err(e),
                }
            }
            Request::Open {
                device,
                read,
                write,
            } => self.open(key, &device, read, write),
            other => self.opener_request(key, other),
        }
    }

    fn open(&mut self, key: u64, device: &str, read: bool, write: bool) -> Reply {
        let conn = self.conns.get(&key).expect("caller checked");
        if matches!(conn.role, Role::Opener { .. }) {
            return Reply::err(Errno::EBUSY.0, "this connection is already an opener");
        }
        let n = match self.registry.find(device) {
            Ok(n) => n,
            Err(e) => return Reply::err(Errno::ENOENT.0, e.to_string()),
        };
        let d = self.registry.devices.get_mut(&n).expect("found");
        let node = d.node_for(device);
        let id = match d.dev.open(node, OpenMode { read, write }) {
            Ok(id) => id,
            Err(e) => return Reply::errno(e),
        };
        let (mut signal, app) = match Signal::new() {
            Ok(s) => s,
            Err(e) => {
                d.dev.close(id, now_ns());
                return Reply::err(Errno::EIO.0, format!("cannot create signal socket: {e}"));
            }
        };
        signal.set(d.dev.signal_readiness(id), false);
        let info = d.info();
        debug!(
            dev = n,
            id,
            uid = conn.peer.map(|p| p.uid.as_raw()),
            "opened"
        );
        if let Some(c) = self.conns.get_mut(&key) {
            c.role = Role::Opener { dev: n, id, signal };
        }
        Reply {
            resp: Response::Opened { device: info },
            fd: Some(app),
        }
    }

    fn opener_request(&mut self, key: u64, req: Request) -> Reply {
        let Some(Conn {
            role: Role::Opener { dev, id, .. },
            ..
        }) = self.conns.get(&key)
        else {
            return Reply::err(Errno::EBADF.0, "not an opener connection (send Open first)");
        };
        let (n, id) = (*dev, *id);
        let Some(d) = self.registry.devices.get_mut(&n) else {
            return Reply::errno(Errno::ENODEV);
        };
        let now = now_ns();
        let mut block = None;
        let resp = match req {
            Request::Ioctl {
                request,
                mut arg,
                mut extra,
            } => {
                // An empty argument is a NULL pointer: the model answers ENOTTY or EFAULT (A4).
                arg.truncate(loopcam_core::ioctl::arg_size(request));
                let r = dispatch(&mut d.dev, id, request, &mut arg, &mut extra, now);
                let always_copy = matches!(
                    request,
                    loopcam_abi::VIDIOC_G_EXT_CTRLS
                        | loopcam_abi::VIDIOC_S_EXT_CTRLS
                        | loopcam_abi::VIDIOC_TRY_EXT_CTRLS
                );
                let mut dqbuf_index = None;
                match r {
                    Ok(Outcome::Dqbuf(out)) => {
                        dqbuf_index = Some(out.index);
                        block = out.block;
                    }
                    Ok(Outcome::Expbuf(out)) => {
                        dqbuf_index = Some(out.index);
                        block = Some(out.block);
                    }
                    _ => {}
                }
                Response::Ioctl {
                    result: r.err().map_or(0, |e| e.0),
                    copy_back: r.is_ok() || always_copy,
                    arg,
                    extra,
                    dqbuf_index,
                    block: None,
                }
            }
            Request::Mmap {
                offset,
                length,
                prot_read,
                prot_write,
                shared,
            } => match d
                .dev
                .mmap(id, offset, length, prot_read, prot_write, shared)
            {
                Ok(m) => {
                    block = m.block;
                    Response::Mapped {
                        handle: m.handle,
                        index: m.index,
                        block: None,
                        private: m.dir == loopcam_core::Dir::Capture,
                    }
                }
                Err(e) => errno_resp(e),
            },
            Request::Munmap { handle } => {
                d.dev.munmap(id, handle);
                Response::Ok
            }
            Request::Read { count } => match d.dev.read(id, count, now) {
                Ok(Some(c)) => {
                    block = Some(c.block);
                    Response::ReadChunk {
                        block: None,
                        offset: c.offset,
                        len: c.len,
                    }
                }
                Ok(None) => Response::ReadChunk {
                    block: None,
                    offset: 0,
                    len: 0,
                },
                Err(e) => errno_resp(e),
            },
            Request::PrepareWrite => match d.dev.prepare_write(id, now) {
                Ok(b) => {
                    block = Some(b);
                    Response::Block(BlockRef { id: b.0, size: 0 })
                }
                Err(e) => errno_resp(e),
            },
            Request::CommitWrite { len } => match d.dev.commit_write(id, len, now) {
                Ok(n) => Response::Written { len: n },
                Err(e) => errno_resp(e),
            },
            Request::StagingBlock { index } => match d.dev.output_staging_block(id, index) {
                Ok(b) => {
                    block = Some(b);
                    Response::Block(BlockRef { id: b.0, size: 0 })
                }
                Err(e) => errno_resp(e),
            },
            Request::Readiness => Response::Readiness {
                events: d.dev.signal_readiness(id),
            },
            _ => Response::Error {
                errno: Errno::EPROTO.0,
                message: "unexpected request".into(),
            },
        };
        if let Err(e) = d.sync_memory() {
            warn!(dev = n, "cannot allocate frame memory: {e}");
        }
        // Attach the block's memfd (a dup the kernel installs in the client).
        let mut fd = None;
        let mut resp = resp;
        if let Some(b) = block {
            match d
                .blocks
                .get(&b)
                .map(|m| (rustix::io::fcntl_dupfd_cloexec(m, 0), m.size()))
            {
                Some((Ok(f), size)) => {
                    let r = BlockRef { id: b.0, size };
                    set_block(&mut resp, r);
                    fd = Some(f);
                }
                _ => {
                    resp = Response::Error {
                        errno: Errno::ENOMEM.0,
                        message: "frame memory unavailable".into(),
                    }
                }
            }
        }
        self.update_signals(n, Some(key));
        Reply { resp, fd }
    }
}

/// Reads exactly `len` bytes from the start of a client's memfd (one copy; a rare request).
fn read_exact_fd(fd: &OwnedFd, len: usize) -> Result<Vec<u8>, String> {
    let mut v = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match rustix::io::pread(fd, &mut v[done..], done as u64) {
            Ok(0) => return Err(format!("{done} of {len} bytes present")),
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(v)
}

fn set_block(resp: &mut Response, r: BlockRef) {
    match resp {
        Response::Ioctl { block, .. }
        | Response::Mapped { block, .. }
        | Response::ReadChunk { block, .. } => *block = Some(r),
        Response::Block(b) => *b = r,
        _ => {}
    }
}

fn errno_resp(e: Errno) -> Response {
    Response::Error {
        errno: e.0,
        message: e.to_string(),
    }
}

fn reg_err(e: RegistryError) -> Reply {
    Reply::err(e.errno(), e.to_string())
}
