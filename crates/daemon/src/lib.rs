//! `loopcam-daemon`: hosts loopcam devices for every process on the machine.
//!
//! It owns all device state (through `loopcam-core`, where every V4L2 rule lives), listens on
//! a unix socket, backs frame memory with memfds passed to clients with SCM_RIGHTS, and
//! drives one signal socket per opener so applications can poll/select/epoll. It is the
//! kernel's stand-in: a client that disappears is cleaned up like a closed fd.
//!
//! The daemon can run as its own process (`loopcam daemon`) or embedded in a thread
//! (`loopcam demo`, tests): [`Daemon::bind`] then [`Daemon::run`], stopped through a
//! [`StopHandle`].

pub mod access;
mod config;
mod memory;
mod nodes;
mod registry;
mod server;
mod signal;

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

pub use config::{load_config, parse_size, ConfigFile};
pub use nodes::NodeDir;
use rustix::net::{
    bind, listen, socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType,
};
pub use server::now_ns;
use server::Server;
use tracing::info;

/// How to run the daemon.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// Socket path.
    pub socket: PathBuf,
    /// Where device nodes are created.
    pub node_dir: NodeDir,
    /// Devices to create at start (persistent configuration).
    pub config: Option<PathBuf>,
    /// Permission bits of the socket (never world-writable: at most 0o770).
    pub socket_mode: u32,
    /// Group of the socket (root only; e.g. `video`, so its members may use loopcam).
    pub socket_group: Option<u32>,
    /// Limits on what clients may make the daemon hold.
    pub limits: Limits,
}

/// Daemon-wide limits (issue 7): requests beyond them fail with an errno and a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Frame memory of all devices together, in bytes; growth beyond it gets ENOMEM.
    pub max_memory: u64,
    /// Connections (open virtual fds and management connections) of all clients.
    pub max_clients: usize,
    /// Connections of one uid (root is only bound by `max_clients`).
    pub max_clients_per_user: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_memory: 4 << 30,
            max_clients: 4096,
            max_clients_per_user: 1024,
        }
    }
}

impl DaemonOptions {
    /// Defaults for this user: the standard socket path and node directory.
    pub fn for_user() -> DaemonOptions {
        DaemonOptions {
            socket: loopcam_proto::default_socket_path(),
            node_dir: NodeDir::default_for_user(),
            config: None,
            socket_mode: 0o660,
            socket_group: None,
            limits: Limits::default(),
        }
    }
}

/// Errors starting the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Socket setup failed.
    #[error("cannot listen on {path}: {err}")]
    Listen {
        /// Socket path.
        path: String,
        /// Cause.
        err: String,
    },
    /// Another daemon answers on the socket.
    #[error("another loopcam daemon is already listening on {0}")]
    AlreadyRunning(String),
    /// The configuration file is bad.
    #[error("{0}")]
    Config(String),
    /// A system call failed.
    #[error("{0}")]
    Io(#[from] rustix::io::Errno),
}

/// Stops a running daemon from another thread or a signal handler context.
#[derive(Clone)]
pub struct StopHandle {
    fd: std::sync::Arc<OwnedFd>,
}

impl StopHandle {
    /// Asks the daemon loop to return.
    pub fn stop(&self) {
        let _ = rustix::io::write(self.fd.as_fd(), &[1]);
    }
}

/// A bound, not yet running daemon.
pub struct Daemon {
    server: Server,
    stop: StopHandle,
    socket: PathBuf,
}

impl Daemon {
    /// Binds the socket (mode 0660), creates configured devices.
    pub fn bind(opts: &DaemonOptions) -> Result<Daemon, DaemonError> {
        let path = &opts.socket;
        let listen_err = |err: String| DaemonError::Listen {
            path: path.display().to_string(),
            err,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| listen_err(e.to_string()))?;
        }
        if path.exists() {
            // A stale socket from a dead daemon is replaced; a live one is an error.
            if std::os::unix::net::UnixStream::connect(path).is_ok() || seqpacket_alive(path) {
                return Err(DaemonError::AlreadyRunning(path.display().to_string()));
            }
            let _ = std::fs::remove_file(path);
        }
        let sock = socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        let addr = SocketAddrUnix::new(path.as_path()).map_err(|e| listen_err(e.to_string()))?;
        bind(&sock, &addr).map_err(|e| listen_err(e.to_string()))?;
        // The socket is the first gate (issue 7: never world-writable); each device's owner,
        // group and mode are the second (crate::access).
        if opts.socket_mode & 0o007 != 0 || opts.socket_mode > 0o770 {
            return Err(listen_err(format!(
                "socket mode {:o}: must not give others access (at most 0770)",
                opts.socket_mode
            )));
        }
        if let Some(g) = opts.socket_group {
            rustix::fs::chown(
                path.as_path(),
                None,
                Some(rustix::process::Gid::from_raw(g)),
            )
            .map_err(|e| listen_err(format!("cannot give the socket to group {g}: {e}")))?;
        }
        rustix::fs::chmod(
            path.as_path(),
            rustix::fs::Mode::from_bits_truncate(opts.socket_mode),
        )
        .map_err(|e| listen_err(e.to_string()))?;
        raise_fd_limit();
        listen(&sock, 128)?;
        let (stop_r, stop_w) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        let mut registry = registry::Registry::new(opts.node_dir.clone());
        // A daemon killed on this socket (SIGKILL, power loss) left its nodes: remove them
        // before the configuration asks for the same numbers.
        let ledger = nodes::Ledger::for_socket(path);
        for p in ledger.reclaim() {
            info!(node = %p.display(), "removed a node left by a previous daemon");
        }
        registry.set_ledger(ledger);
        if let Some(cfg) = &opts.config {
            let file = load_config(cfg).map_err(DaemonError::Config)?;
            for spec in file.specs().map_err(DaemonError::Config)? {
                registry
                    .add(spec, &access::Peer::myself(), now_ns())
                    .map_err(|e| DaemonError::Config(format!("{}: {e}", cfg.display())))?;
            }
        }
        let server = Server::new(sock, stop_r, registry, path.clone(), opts.limits.clone())?;
        Ok(Daemon {
            server,
            stop: StopHandle {
                fd: std::sync::Arc::new(stop_w),
            },
            socket: path.clone(),
        })
    }

    /// A handle that stops [`Daemon::run`].
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops the daemon on SIGINT and SIGTERM (for the foreground `loopcam daemon`).
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let fd = rustix::io::fcntl_dupfd_cloexec(self.stop.fd.as_fd(), 0)?;
            signal_hook::low_level::pipe::register(sig, std::os::unix::net::UnixStream::from(fd))?;
        }
        Ok(())
    }

    /// Serves until stopped; then removes the socket and the device nodes.
    pub fn run(mut self) -> Result<(), DaemonError> {
        let r = self.server.run();
        let _ = std::fs::remove_file(&self.socket);
        info!("daemon stopped");
        r.map_err(DaemonError::from)
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

/// Every client connection is an fd in the daemon: raise the soft RLIMIT_NOFILE to the hard
/// limit so `max_clients`, not the default 1024, is what bounds them.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if l.current != l.maximum {
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
    }
}

fn seqpacket_alive(path: &Path) -> bool {
    let Ok(s) = socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    ) else {
        return false;
    };
    let Ok(addr) = SocketAddrUnix::new(path) else {
        return false;
    };
    rustix::net::connect(&s, &addr).is_ok()
}
