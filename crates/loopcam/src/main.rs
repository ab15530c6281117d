//! `loopcam`: the one command-line tool. Option letters of `add` follow v4l2loopback-ctl.

mod bench;
mod demo;
mod dump;
mod feed;
mod manage;
mod run;
mod stream_cmd;
mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// A userspace V4L2 loopback camera.
#[derive(Parser)]
#[command(name = "loopcam", version, about, propagate_version = true)]
struct Cli {
    /// Daemon socket (default: $LOOPCAM_SOCKET, $XDG_RUNTIME_DIR/loopcam.sock, /run/loopcam/loopcam.sock)
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon in the foreground
    Daemon(manage::DaemonArgs),
    /// Create a device; prints its path(s)
    Add(manage::AddArgs),
    /// Remove a device
    Delete {
        /// Device path (/dev/video10), name (video10) or number (10)
        device: String,
    },
    /// List devices
    List {
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Show one device
    Query {
        /// Device path, name or number
        device: String,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Fix the format: FOURCC:WxH@NUM/DEN (e.g. MJPG:1920x1080@30/1)
    SetCaps {
        /// Device path, name or number
        device: String,
        /// Caps string
        caps: String,
    },
    /// Set the nominal frame rate
    SetFps {
        /// Device path, name or number
        device: String,
        /// Frames per second (e.g. 30 or 30000/1001)
        fps: String,
    },
    /// Set the image shown when the producer stops (PNG or JPEG)
    SetTimeoutImage(manage::TimeoutImageArgs),
    /// Produce frames: a test pattern or a file
    Feed(feed::FeedArgs),
    /// Consume frames: write them to a file and report fps, drops and latency
    Dump(dump::DumpArgs),
    /// Everything in one process: a daemon, a device and a moving test pattern
    Demo(demo::DemoArgs),
    /// Run an unmodified application so that it sees loopcam devices (LD_PRELOAD)
    Run {
        /// The command and its arguments
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "CMD"
        )]
        cmd: Vec<String>,
    },
    /// Check a file of frames against the `counter` test pattern
    Verify(verify::VerifyArgs),
    /// Serve a capture device over HTTP: MJPEG stream, snapshot, state, viewer (ustreamer-compatible)
    Stream(stream_cmd::StreamArgs),
    /// Measure throughput, latency and overhead (the table of docs/PERFORMANCE.md)
    Bench(bench::BenchArgs),
    /// Benchmark helper: open/ioctl/close on /dev/null, prints ns per iteration
    #[command(hide = true)]
    BenchSyscalls {
        #[arg(long, default_value_t = 100000)]
        iterations: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Some(s) = &cli.socket {
        std::env::set_var("LOOPCAM_SOCKET", s);
    }
    if matches!(cli.cmd, Cmd::List { .. } | Cmd::Query { .. } | Cmd::Add(_)) {
        // `loopcam list | head`: end quietly on a closed pipe like other Unix tools, instead
        // of Rust's panic on a failed print. (Not for the daemon or the streamer, which must
        // survive a closed socket.)
        // SAFETY: FFI edge: setting a signal disposition to its default has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let r = match cli.cmd {
        Cmd::Daemon(a) => manage::daemon(a),
        Cmd::Add(a) => manage::add(a),
        Cmd::Delete { device } => manage::delete(&device),
        Cmd::List { json } => manage::list(json),
        Cmd::Query { device, json } => manage::query(&device, json),
        Cmd::SetCaps { device, caps } => manage::set_caps(&device, &caps),
        Cmd::SetFps { device, fps } => manage::set_fps(&device, &fps),
        Cmd::SetTimeoutImage(a) => manage::set_timeout_image(a),
        Cmd::Feed(a) => feed::run(a),
        Cmd::Dump(a) => dump::run(a),
        Cmd::Demo(a) => demo::run(a),
        Cmd::Run { cmd } => run::run(cmd),
        Cmd::Verify(a) => verify::run(a),
        Cmd::Stream(a) => stream_cmd::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::BenchSyscalls { iterations } => bench::syscall_loop(iterations),
    };
    if let Err(e) = r {
        // One line, no backtrace: the message chain joined.
        let msg = e
            .chain()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        eprintln!("loopcam: {msg}");
        std::process::exit(1);
    }
}

/// Logging to stderr; `RUST_LOG` overrides the default level.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
