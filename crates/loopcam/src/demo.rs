//! `loopcam demo`: an embedded daemon, one device and a moving test pattern, in one process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use loopcam_client::Manager;
use loopcam_daemon::{Daemon, DaemonOptions, NodeDir};
use loopcam_proto::DeviceSpec;

use crate::feed::FeedArgs;

#[derive(Args)]
pub struct DemoArgs {
    /// Frame size WxH
    #[arg(long, default_value = "1280x720")]
    size: String,
    /// Pixel format
    #[arg(long, default_value = "YUYV")]
    format: String,
    /// Frames per second
    #[arg(long, default_value = "30")]
    fps: String,
    /// Stop after this many seconds (default: until Ctrl-C)
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Web viewer port (0: any free port)
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Web viewer address
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
}

pub fn run(a: DemoArgs) -> Result<()> {
    crate::init_logging("warn");
    let dir = std::env::temp_dir().join(format!("loopcam-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let socket = dir.join("loopcam.sock");
    let opts = DaemonOptions {
        socket: socket.clone(),
        node_dir: NodeDir::Dir(dir.join("dev")),
        ..DaemonOptions::for_user()
    };
    let daemon = Daemon::bind(&opts)?;
    let stop = daemon.stop_handle();
    daemon
        .stop_on_signals()
        .context("installing signal handlers")?;
    let daemon_thread = std::thread::spawn(move || daemon.run());
    std::env::set_var("LOOPCAM_SOCKET", &socket);

    let info = Manager::connect()?.add(DeviceSpec {
        label: Some("loopcam demo".into()),
        sustain_framerate: true,
        ..DeviceSpec::default()
    })?;
    let device = info.nodes[0].clone();
    // The web viewer (loopcam stream) reads the device like any consumer. A busy port falls
    // back to any free one rather than failing the demo.
    let mut opts = loopcam_stream::StreamOptions {
        source: loopcam_stream::Source::Device {
            path: device.clone(),
            backend: loopcam_stream::Backend::Loopcam,
        },
        listen: loopcam_stream::Listen::Tcp {
            host: a.host.clone(),
            port: a.port,
        },
        resolution: None,
        format: None,
        ..loopcam_stream::StreamOptions::default()
    };
    let viewer = match loopcam_stream::serve(opts.clone()) {
        Ok(v) => v,
        Err(_) if a.port != 0 => {
            opts.listen = loopcam_stream::Listen::Tcp {
                host: a.host.clone(),
                port: 0,
            };
            loopcam_stream::serve(opts)?
        }
        Err(e) => return Err(e.into()),
    };
    println!("loopcam demo");
    println!("  daemon socket : {}", socket.display());
    println!(
        "  device        : {device}  ({} {} @ {} fps, moving colour bars)",
        a.format, a.size, a.fps
    );
    let url = viewer.url().trim_end_matches('/').to_string();
    println!("  web viewer    : {url}/   (MJPEG stream {url}/stream, snapshot {url}/snapshot)");
    println!();
    println!("Open the viewer in a browser. In another terminal:");
    println!("  export LOOPCAM_SOCKET={}", socket.display());
    println!("  loopcam list");
    println!("  loopcam dump {device} --count 300");
    println!();
    println!("Press Ctrl-C to stop.");

    let finished = Arc::new(AtomicBool::new(false));
    let feed_args = FeedArgs {
        device: device.clone(),
        pattern: "bars".into(),
        format: a.format.clone(),
        size: a.size.clone(),
        fps: a.fps.clone(),
        count: None,
        input: None,
        buffers: 4,
        start: 0,
    };
    let deadline = a
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let f2 = finished.clone();
    let feeder = std::thread::spawn(move || {
        crate::feed::run_until(feed_args, move || {
            f2.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d)
        })
    });
    let feed_result = feeder.join().expect("feed thread");
    finished.store(true, Ordering::Relaxed);
    viewer.stop();
    stop.stop();
    let daemon_result = daemon_thread.join().expect("daemon thread");
    let _ = std::fs::remove_dir_all(&dir);
    // A Ctrl-C stops the daemon first; the feeder then sees the device go away: not an error.
    if deadline.is_some() {
        feed_result?;
    }
    daemon_result?;
    Ok(())
}
