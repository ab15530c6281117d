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
use rustix::net::RecvFlags;
use tracing::{debug, info, warn};

use crate::access::Peer;
use crate::registry::{Registry, RegistryError};
use crate::signal::Signal;
use crate::Limits;

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
    peer: Peer,
    role: Role,
    /// A blocking DQBUF waiting for a buffer (`Request::Ioctl { wait }`): its argument and
    /// `shown` buffers, answered from [`Server::update_signals`] when the opener is woken.
    parked: Option<Parked>,
}

/// A parked DQBUF: its argument and the request's `shown` buffers.
type Parked = (Vec<u8>, Vec<(u32, u64)>);

/// At most one log line per second for a kind of refusal a client can provoke in a loop, so
/// a flood cannot fill the journal (the lines say how many were suppressed).
#[derive(Default)]
struct Throttle {
    last: u64,
    suppressed: u64,
}

impl Throttle {
    /// Whether to log now; `Some(n)`: log, `n` lines were suppressed since the last one.
    fn allow(&mut self, now: u64) -> Option<u64> {
        if self.last != 0 && now.saturating_sub(self.last) < 1_000_000_000 {
            self.suppressed += 1;
            return None;
        }
        self.last = now;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// What a handler answers: a response and at most one fd to attach.
struct Reply {
    resp: Response,
    fd: Option<OwnedFd>,
    /// No answer now: the request is parked and answered later.
    deferred: bool,
}

impl Reply {
    fn ok(resp: Response) -> Reply {
        Reply {
            resp,
            fd: None,
            deferred: false,
        }
    }
    fn deferred() -> Reply {
        Reply {
            resp: Response::Ok,
            fd: None,
            deferred: true,
        }
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
    limits: Limits,
    /// Connections per uid (for `max_clients_per_user`).
    per_uid: HashMap<u32, usize>,
    log_clients: Throttle,
    log_memory: Throttle,
    log_openers: Throttle,
    /// Frame memory of all devices at the end of the last loop turn (see `rebalance_memory`).
    memory_total: u64,
}

impl Server {
    pub(crate) fn new(
        listener: OwnedFd,
        stop: OwnedFd,
        registry: Registry,
        socket_path: PathBuf,
        limits: Limits,
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
            limits,
            per_uid: HashMap::new(),
            log_clients: Throttle::default(),
            log_memory: Throttle::default(),
            memory_total: 0,
            log_openers: Throttle::default(),
        })
    }

    /// Removes a connection from the table (and the per-uid count); the socket closes when the
    /// returned value is dropped.
    fn remove_conn(&mut self, key: u64) -> Option<Conn> {
        let conn = self.conns.remove(&key)?;
        let _ = epoll::delete(&self.epoll, &conn.sock);
        if let Some(n) = self.per_uid.get_mut(&conn.peer.uid) {
            *n -= 1;
            if *n == 0 {
                self.per_uid.remove(&conn.peer.uid);
            }
        }
        Some(conn)
    }

    /// Why a new connection of `peer` is refused, if it is (the client limits).
    fn over_client_limit(&self, peer: &Peer) -> Option<String> {
        if self.conns.len() >= self.limits.max_clients {
            return Some(format!(
                "too many connections ({} of max_clients {})",
                self.conns.len(),
                self.limits.max_clients
            ));
        }
        let mine = self.per_uid.get(&peer.uid).copied().unwrap_or(0);
        if !peer.is_root() && mine >= self.limits.max_clients_per_user {
            return Some(format!(
                "too many connections of uid {} ({mine} of max_clients_per_user {})",
                peer.uid, self.limits.max_clients_per_user
            ));
        }
        None
    }

    /// Tells device `n` how much frame memory it may hold under the daemon-wide cap: the cap
    /// minus what every other device holds (core enforces it: ENOMEM beyond).
    fn apply_memory_ceiling(&mut self, n: u32) {
        let others: u64 = self
            .registry
            .devices
            .iter()
            .filter(|(k, _)| **k != n)
            .map(|(_, d)| d.dev.memory_bytes())
            .sum();
        let ceiling = self.limits.max_memory.saturating_sub(others);
        if let Some(d) = self.registry.devices.get_mut(&n) {
            d.dev.set_memory_ceiling(ceiling);
        }
    }

    /// Frame memory held by every device together (what `max_memory` caps).
    fn memory_of_all_devices(&self) -> u64 {
        self.registry
            .devices
            .values()
            .map(|d| d.dev.memory_bytes())
            .sum()
    }

    /// The log line for a request that failed with ENOMEM on device `n` (throttled).
    fn log_enomem(&mut self, n: u32, peer: &Peer) {
        let Some(suppressed) = self.log_memory.allow(now_ns()) else {
            return;
        };
        let total = self.memory_of_all_devices();
        let Some(d) = self.registry.devices.get(&n) else {
            return;
        };
        warn!(
            "device {n}: frame memory limit reached for pid {} (device holds {} of max_memory {} KiB; all devices {} of {} KiB); request failed with ENOMEM{}",
            peer.pid,
            d.dev.memory_bytes() / 1024,
            d.dev.config().memory_limit / 1024,
            total / 1024,
            self.limits.max_memory / 1024,
            suppressed_note(suppressed)
        );
    }

    /// The refusal of a management request on device `n`, unless the peer owns it or is root.
    fn refuse_manage(&self, key: u64, n: u32) -> Option<Reply> {
        let (Some(c), Some(d)) = (self.conns.get(&key), self.registry.devices.get(&n)) else {
            return Some(Reply::errno(Errno::ENODEV));
        };
        if d.access.may_manage(&c.peer) {
            return None;
        }
        info!(
            dev = n,
            uid = c.peer.uid,
            "management request refused: not the owner"
        );
        Some(Reply::err(
            Errno::EPERM.0,
            format!(
                "permission denied: only its owner ({}) or root may change /dev/video{n}",
                crate::access::user_name(d.access.owner)
            ),
        ))
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
            self.rebalance_memory();
        }
    }

    /// Memory one device gave back raises every other device's ceiling under `max_memory`:
    /// a producer there waiting for memory (DQBUF/write() EAGAIN, no POLLOUT) must hear of it,
    /// so every device gets its new ceiling and its changed readiness pushed.
    fn rebalance_memory(&mut self) {
        let total = self.memory_of_all_devices();
        let shrank = total < self.memory_total;
        self.memory_total = total;
        if !shrank {
            return;
        }
        let devices: Vec<u32> = self.registry.devices.keys().copied().collect();
        for n in devices {
            self.apply_memory_ceiling(n);
            self.update_signals(n, None);
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
            self.apply_memory_ceiling(n);
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
                    let Some(peer) = Peer::of_socket(&sock) else {
                        warn!("a client without peer credentials was refused");
                        continue;
                    };
                    if let Some(why) = self.over_client_limit(&peer) {
                        if let Some(n) = self.log_clients.allow(now_ns()) {
                            warn!(
                                "connection of pid {} refused with EBUSY: {why}{}",
                                peer.pid,
                                suppressed_note(n)
                            );
                        }
                        let _ = send(
                            &sock,
                            &Response::Error {
                                errno: Errno::EBUSY.0,
                                message: format!("loopcam daemon: {why}"),
                            },
                            &[],
                        );
                        continue;
                    }
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
                    debug!(key, pid = peer.pid, uid = peer.uid, "client connected");
                    *self.per_uid.entry(peer.uid).or_default() += 1;
                    self.conns.insert(
                        key,
                        Conn {
                            sock,
                            peer,
                            role: Role::New,
                            parked: None,
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
        // One request per wake-up: epoll is level-triggered, so a connection with more queued
        // comes back in the next round, after every other ready connection had its turn — a
        // client flooding requests slows only itself (issue 7, limits).
        let Some(conn) = self.conns.get(&key) else {
            return;
        };
        let msg = match recv(&conn.sock, RecvFlags::DONTWAIT) {
            Ok(Some(msg)) => msg,
            Ok(None) => {
                if flags.intersects(
                    epoll::EventFlags::HUP | epoll::EventFlags::RDHUP | epoll::EventFlags::ERR,
                ) {
                    self.drop_conn(key);
                }
                return;
            }
            Err(ProtoError::Closed) | Err(ProtoError::Io(_)) => return self.drop_conn(key),
            Err(ProtoError::Malformed(m)) => return self.protocol_error(key, m),
        };
        let req = match msg.decode::<Request>() {
            Ok(req) => req,
            Err(e) => return self.protocol_error(key, e.to_string()),
        };
        let reply = self.handle(key, req, msg.fds);
        if reply.deferred {
            return;
        }
        let Some(conn) = self.conns.get(&key) else {
            return;
        };
        let fds: Vec<BorrowedFd<'_>> = reply.fd.iter().map(|f| f.as_fd()).collect();
        if let Err(e) = send(&conn.sock, &reply.resp, &fds) {
            // Also a client that sends requests without reading the answers: its socket
            // buffer fills and it is disconnected, never waited for.
            debug!(key, "reply failed: {e}");
            self.drop_conn(key);
        }
    }

    /// Garbage never reaches the device model; the client is told once and disconnected
    /// (DESIGN: bad input gets a clear error).
    fn protocol_error(&mut self, key: u64, message: String) {
        warn!(key, "protocol error: {message}");
        if let Some(c) = self.conns.get(&key) {
            let _ = send(
                &c.sock,
                &Response::Error {
                    errno: Errno::EPROTO.0,
                    message,
                },
                &[],
            );
        }
        self.drop_conn(key);
    }

    /// A connection ended: like close() of the last fd of that opener (B10), also when the
    /// client process was killed.
    fn drop_conn(&mut self, key: u64) {
        let Some(conn) = self.remove_conn(key) else {
            return;
        };
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
    /// `also` (the requester, whose own call may have changed its readiness). Parked DQBUFs of
    /// woken openers are answered first, so the frame leaves with the wake-up; what those
    /// DQBUFs change wakes others in turn (the loop).
    fn update_signals(&mut self, dev: u32, also: Option<u64>) {
        let mut also = also;
        loop {
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
            if woken.is_empty() && also.is_none() {
                return;
            }
            let parked: Vec<u64> = self
                .conns
                .iter()
                .filter(|(_, c)| {
                    c.parked.is_some()
                        && matches!(c.role, Role::Opener { dev: cd, id, .. } if cd == dev && woken.contains(&id))
                })
                .map(|(k, _)| *k)
                .collect();
            let answered: BTreeSet<u64> = parked
                .into_iter()
                .filter(|k| self.answer_parked(*k))
                .collect();
            let Some(d) = self.registry.devices.get(&dev) else {
                return;
            };
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
                    if edge || also == Some(*key) || answered.contains(key) {
                        signal.set(d.dev.signal_readiness(*id), edge);
                    }
                }
            }
            if answered.is_empty() {
                return;
            }
            also = None;
        }
    }

    /// Retries the parked DQBUF of connection `key`; sends the answer unless it would still
    /// block. Returns whether it was answered.
    fn answer_parked(&mut self, key: u64) -> bool {
        let Some(Conn {
            role: Role::Opener { dev, id, .. },
            parked: Some((arg, shown)),
            ..
        }) = self.conns.get(&key)
        else {
            return false;
        };
        let (n, id, mut arg, shown) = (*dev, *id, arg.clone(), shown.clone());
        self.apply_memory_ceiling(n);
        let Some(d) = self.registry.devices.get_mut(&n) else {
            return false;
        };
        let (resp, block, read_only) =
            run_ioctl(d, id, loopcam_abi::VIDIOC_DQBUF, &mut arg, Vec::new());
        if matches!(resp, Response::Ioctl { result, .. } if result == Errno::EAGAIN.0) {
            return false;
        }
        let (resp, fd) = attach_block(d, resp, block, read_only, &shown);
        let Some(conn) = self.conns.get_mut(&key) else {
            return false;
        };
        conn.parked = None;
        let fds: Vec<BorrowedFd<'_>> = fd.iter().map(|f| f.as_fd()).collect();
        if let Err(e) = send(&conn.sock, &resp, &fds) {
            debug!(key, "parked answer failed: {e}");
            self.drop_conn(key);
        }
        true
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
            Request::AddDevice(spec) => match self.registry.add(spec, &conn.peer.clone(), now_ns())
            {
                Ok(n) => {
                    let info = self.registry.devices[&n].info();
                    info!(nodes = ?info.nodes, "device added");
                    Reply::ok(Response::Device(info))
                }
                Err(e) => reg_err(e),
            },
            Request::DeleteDevice { device } => match self.registry.find(&device) {
                Ok(n) => {
                    if let Some(r) = self.refuse_manage(key, n) {
                        return r;
                    }
                    // Openers of the device are disconnected: their next call gets ENODEV and
                    // their signal sockets hang up (B13).
                    let keys: Vec<u64> = self
                        .conns
                        .iter()
                        .filter(|(_, c)| matches!(c.role, Role::Opener { dev, .. } if dev == n))
                        .map(|(k, _)| *k)
                        .collect();
                    for k in keys {
                        self.remove_conn(k);
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
                if let Some(r) = self.refuse_manage(key, n) {
                    return r;
                }
                self.apply_memory_ceiling(n);
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
                    if let Some(r) = self.refuse_manage(key, n) {
                        return r;
                    }
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
                if let Some(r) = self.refuse_manage(key, n) {
                    return r;
                }
                self.apply_memory_ceiling(n);
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
        if !d.access.may_open(&conn.peer, read, write) {
            info!(
                "open of {device} by pid {} (uid {}) refused with EACCES: owner {} group {} mode {:o}",
                conn.peer.pid, conn.peer.uid, d.access.owner, d.access.group, d.access.mode
            );
            return Reply::err(
                Errno::EACCES.0,
                format!(
                    "permission denied: {device} is {}:{} mode {:o}",
                    crate::access::user_name(d.access.owner),
                    crate::access::group_name(d.access.group),
                    d.access.mode
                ),
            );
        }
        let node = d.node_for(device);
        let id = match d.dev.open(node, OpenMode { read, write }) {
            Ok(id) => id,
            Err(e) => {
                if e == Errno::EBUSY {
                    let max = d.dev.config().max_openers;
                    let pid = conn.peer.pid;
                    if let Some(s) = self.log_openers.allow(now_ns()) {
                        warn!(
                            "device {n}: max_openers ({max}) reached; open by pid {pid} refused with EBUSY{}",
                            suppressed_note(s)
                        );
                    }
                }
                return Reply::errno(e);
            }
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
        debug!(dev = n, id, uid = conn.peer.uid, "opened");
        if let Some(c) = self.conns.get_mut(&key) {
            c.role = Role::Opener { dev: n, id, signal };
        }
        Reply {
            resp: Response::Opened { device: info },
            fd: Some(app),
            deferred: false,
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
        if matches!(req, Request::Cancel) {
            return self.cancel_parked(key);
        }
        if self.conns.get(&key).is_some_and(|c| c.parked.is_some()) {
            return Reply::err(
                Errno::EBUSY.0,
                "a DQBUF is parked on this connection: only Cancel may follow",
            );
        }
        self.apply_memory_ceiling(n);
        let Some(d) = self.registry.devices.get_mut(&n) else {
            return Reply::errno(Errno::ENODEV);
        };
        let now = now_ns();
        let mut block = None;
        // DQBUF: buffers whose mappings show a block already (no fd goes with that block).
        let mut shown = Vec::new();
        // Consumer-side answers carry a read-only memfd (isolation).
        let mut read_only = false;
        let is_mmap = matches!(req, Request::Mmap { .. });
        let resp = match req {
            Request::Ioctl {
                request,
                mut arg,
                extra,
                wait,
                shown: s,
            } => {
                let original = arg.clone();
                let (resp, b, ro) = run_ioctl(d, id, request, &mut arg, extra);
                (block, read_only) = (b, ro);
                if request == loopcam_abi::VIDIOC_DQBUF {
                    shown = s;
                }
                if wait
                    && request == loopcam_abi::VIDIOC_DQBUF
                    && matches!(resp, Response::Ioctl { result, .. } if result == Errno::EAGAIN.0)
                {
                    // A failed call left the argument untouched: park the original.
                    if let Some(c) = self.conns.get_mut(&key) {
                        c.parked = Some((original, shown));
                    }
                    self.update_signals(n, Some(key));
                    return Reply::deferred();
                }
                resp
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
                    read_only = m.dir == loopcam_core::Dir::Capture;
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
                    read_only = true;
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
        let (resp, fd) = attach_block(d, resp, block, read_only, &shown);
        let enomem = match &resp {
            Response::Ioctl { result, .. } => *result == Errno::ENOMEM.0,
            Response::Error { errno, .. } => *errno == Errno::ENOMEM.0,
            _ => false,
        };
        if enomem {
            if let Some(peer) = self.conns.get(&key).map(|c| c.peer.clone()) {
                if is_mmap {
                    if let Some(s) = self.log_memory.allow(now_ns()) {
                        warn!(
                            "device {n}: pid {} holds too many mappings ({}); mmap refused with ENOMEM{}",
                            peer.pid,
                            loopcam_core::device::MAX_MAPS_PER_OPENER,
                            suppressed_note(s)
                        );
                    }
                } else {
                    self.log_enomem(n, &peer);
                }
            }
        }
        self.update_signals(n, Some(key));
        Reply {
            resp,
            fd,
            deferred: false,
        }
    }

    /// `Request::Cancel`: a signal interrupted the client's parked DQBUF. The parked request is
    /// answered with EINTR (the buffer stays queued), then the Cancel itself with `Ok`. If the
    /// DQBUF was answered already, the client reads that answer first and keeps the buffer.
    fn cancel_parked(&mut self, key: u64) -> Reply {
        let Some(conn) = self.conns.get_mut(&key) else {
            return Reply::errno(Errno::ENODEV);
        };
        if let Some((arg, _)) = conn.parked.take() {
            let answer = Response::Ioctl {
                result: Errno::EINTR.0,
                copy_back: false,
                arg,
                extra: Vec::new(),
                dqbuf_index: None,
                block: None,
            };
            if let Err(e) = send(&conn.sock, &answer, &[]) {
                debug!(key, "cancel answer failed: {e}");
            }
        }
        Reply::ok(Response::Ok)
    }
}

/// Runs one ioctl on the device model: the answer, the block whose memfd goes with it, and
/// whether that memfd goes read-only (a capture DQBUF: the consumer side).
fn run_ioctl(
    d: &mut crate::registry::DeviceEntry,
    id: OpenerId,
    request: u32,
    arg: &mut Vec<u8>,
    mut extra: Vec<u8>,
) -> (Response, Option<loopcam_core::BlockId>, bool) {
    // An empty argument is a NULL pointer: the model answers ENOTTY or EFAULT (A4).
    arg.truncate(loopcam_core::ioctl::arg_size(request));
    let r = dispatch(&mut d.dev, id, request, arg, &mut extra, now_ns());
    let always_copy = matches!(
        request,
        loopcam_abi::VIDIOC_G_EXT_CTRLS
            | loopcam_abi::VIDIOC_S_EXT_CTRLS
            | loopcam_abi::VIDIOC_TRY_EXT_CTRLS
    );
    let (mut dqbuf_index, mut block, mut read_only) = (None, None, false);
    match r {
        Ok(Outcome::Dqbuf(out)) => {
            dqbuf_index = Some(out.index);
            block = out.block;
            // v4l2_buffer.type is the u32 at offset 4.
            let type_ = arg
                .get(4..8)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            read_only = matches!(
                type_,
                loopcam_abi::V4L2_BUF_TYPE_VIDEO_CAPTURE
                    | loopcam_abi::V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
            );
        }
        // EXPBUF memory is pinned to the exporting buffer (a private copy for a consumer), so
        // the exporter may write it like a dmabuf of its own.
        Ok(Outcome::Expbuf(out)) => {
            dqbuf_index = Some(out.index);
            block = Some(out.block);
        }
        _ => {}
    }
    let resp = Response::Ioctl {
        result: r.err().map_or(0, |e| e.0),
        copy_back: r.is_ok() || always_copy,
        arg: std::mem::take(arg),
        extra,
        dqbuf_index,
        block: None,
    };
    (resp, block, read_only)
}

/// Applies the model's memory effects, then attaches the block's memfd (a dup the kernel
/// installs in the client) to the answer — unless it is a DQBUF of a buffer whose mappings
/// show that block already (`shown`, from the request).
fn attach_block(
    d: &mut crate::registry::DeviceEntry,
    mut resp: Response,
    block: Option<loopcam_core::BlockId>,
    read_only: bool,
    shown: &[(u32, u64)],
) -> (Response, Option<OwnedFd>) {
    if let Err(e) = d.sync_memory() {
        warn!(dev = d.number, "cannot allocate frame memory: {e}");
    }
    let Some(b) = block else {
        return (resp, None);
    };
    let index = match &resp {
        Response::Ioctl {
            dqbuf_index: Some(i),
            ..
        } => Some(*i),
        _ => None,
    };
    if index.is_some_and(|i| shown.contains(&(i, b.0))) {
        if let Some(m) = d.blocks.get(&b) {
            set_block(
                &mut resp,
                BlockRef {
                    id: b.0,
                    size: m.size(),
                },
            );
            return (resp, None);
        }
    }
    match d
        .blocks
        .get(&b)
        .map(|m| (m.dup_for_client(read_only), m.size()))
    {
        Some((Ok(f), size)) => {
            set_block(&mut resp, BlockRef { id: b.0, size });
            (resp, Some(f))
        }
        _ => (
            Response::Error {
                errno: Errno::ENOMEM.0,
                message: "frame memory unavailable".into(),
            },
            None,
        ),
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

fn suppressed_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} similar lines suppressed)")
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
