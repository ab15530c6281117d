//! `loopcam stream`: the ustreamer-compatible MJPEG HTTP streamer (crate `loopcam-stream`).
//! Option names, short letters, defaults and ranges follow ustreamer.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{value_parser, Args};
use loopcam_stream::{Backend, Listen, Source, StreamOptions};

#[derive(Args)]
pub struct StreamArgs {
    /// V4L2 capture device: a loopcam device or a kernel camera
    #[arg(short = 'd', long, default_value = "/dev/video0", value_name = "PATH")]
    device: String,
    /// Listen address
    #[arg(short = 's', long, default_value = "127.0.0.1")]
    host: String,
    /// TCP port (0: any free port)
    #[arg(short = 'p', long, default_value_t = 8080)]
    port: u16,
    /// Listen on a UNIX socket instead of TCP
    #[arg(short = 'U', long, value_name = "PATH")]
    unix: Option<PathBuf>,
    /// Remove an existing file at the UNIX socket path
    #[arg(short = 'D', long)]
    unix_rm: bool,
    /// Permissions of the UNIX socket (octal)
    #[arg(short = 'M', long, value_name = "MODE", value_parser = parse_octal)]
    unix_mode: Option<u32>,
    /// JPEG encoder threads [default: CPUs, at most 4]
    #[arg(short = 'w', long, value_parser = value_parser!(u32).range(1..=32))]
    workers: Option<u32>,
    /// JPEG quality (MJPEG sources pass through unchanged)
    #[arg(short = 'q', long, default_value_t = 80, value_parser = value_parser!(u8).range(1..=100))]
    quality: u8,
    /// Requested frame size (the device may adjust it)
    #[arg(short = 'r', long, default_value = "640x480", value_name = "WxH")]
    resolution: String,
    /// Requested pixel format: YUYV, UYVY, YVYU, NV12, YUV420, YVU420, RGB24, BGR24, RGB565, GREY, MJPEG, JPEG …
    #[arg(short = 'm', long, default_value = "YUYV", value_name = "FOURCC")]
    format: String,
    /// Encode at most N frames per second (0: every frame)
    #[arg(short = 'f', long, default_value_t = 0, value_parser = value_parser!(u32).range(0..=120))]
    desired_fps: u32,
    /// Drop up to N identical frames in a row (0: off)
    #[arg(short = 'e', long, default_value_t = 0, value_parser = value_parser!(u32).range(0..=120))]
    drop_same_frames: u32,
    /// Device buffers [default: workers + 1]
    #[arg(short = 'b', long, value_parser = value_parser!(u32).range(1..=32))]
    buffers: Option<u32>,
    /// On a device timeout keep the device open (showing NO SIGNAL) instead of reopening it
    #[arg(short = 'n', long)]
    persistent: bool,
    /// Seconds without a frame before the device counts as failed
    #[arg(long, default_value_t = 1, value_name = "SEC", value_parser = value_parser!(u32).range(1..=60))]
    device_timeout: u32,
    /// Seconds to wait before reopening the device after an error
    #[arg(long, default_value_t = 1, value_name = "SEC", value_parser = value_parser!(u32).range(1..=60))]
    device_error_delay: u32,
    /// Access-Control-Allow-Origin header value (CORS)
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Option<String>,
    /// HTTP read/write timeout in seconds
    #[arg(long, default_value_t = 10, value_name = "SEC", value_parser = value_parser!(u32).range(1..=60))]
    server_timeout: u32,
    /// Drop frames smaller than this many bytes
    #[arg(short = 'z', long, default_value_t = 128, value_parser = value_parser!(u32).range(1..=8192))]
    min_frame_size: u32,
    /// Instance id shown in /state and appended to the stream cookie name
    #[arg(long, default_value = "")]
    instance_id: String,
    /// Read the device with plain V4L2 ioctl/mmap even if it is a loopcam device (tests the
    /// kernel path through `loopcam run`)
    #[arg(long, hide = true, alias = "force-kernel-path")]
    kernel_path: bool,
}

fn parse_octal(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|e| format!("not an octal mode: {e}"))
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("bad --resolution '{s}': expected WxH, e.g. 1280x720"))?;
    let (w, h): (u32, u32) = (
        w.trim()
            .parse()
            .with_context(|| format!("bad width in '{s}'"))?,
        h.trim()
            .parse()
            .with_context(|| format!("bad height in '{s}'"))?,
    );
    if !(1..=16384).contains(&w) || !(1..=16384).contains(&h) {
        bail!("bad --resolution '{s}': width and height must be 1..16384");
    }
    Ok((w, h))
}

pub fn run(a: StreamArgs) -> Result<()> {
    crate::init_logging("info");
    if !a
        .instance_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "./+_-".contains(c))
    {
        bail!(
            "bad --instance-id '{}': only [a-zA-Z0-9./+_-]",
            a.instance_id
        );
    }
    let format = loopcam_media::parse_fourcc(&a.format)?;
    let workers = a
        .workers
        .map(|w| w as usize)
        .unwrap_or_else(loopcam_stream::default_workers);
    let listen = match &a.unix {
        Some(path) => Listen::Unix {
            path: path.clone(),
            remove: a.unix_rm,
            mode: a.unix_mode,
        },
        None => Listen::Tcp {
            host: a.host.clone(),
            port: a.port,
        },
    };
    let opts = StreamOptions {
        source: Source::Device {
            path: a.device.clone(),
            backend: if a.kernel_path {
                Backend::Kernel
            } else {
                Backend::Auto
            },
        },
        listen,
        workers,
        quality: a.quality,
        resolution: Some(parse_size(&a.resolution)?),
        format: Some(format),
        desired_fps: a.desired_fps,
        drop_same_frames: a.drop_same_frames,
        buffers: a.buffers,
        persistent: a.persistent,
        device_timeout: Duration::from_secs(a.device_timeout.into()),
        device_error_delay: Duration::from_secs(a.device_error_delay.into()),
        allow_origin: a.allow_origin.clone(),
        server_timeout: Duration::from_secs(a.server_timeout.into()),
        min_frame_size: a.min_frame_size as usize,
        instance_id: a.instance_id.clone(),
        log: None,
    };
    let handle = loopcam_stream::serve(opts)?;
    println!("loopcam stream: {} (device {})", handle.url(), a.device);
    handle.wait();
    Ok(())
}
