//! Daemon and device management subcommands.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use loopcam_client::Manager;
use loopcam_daemon::{Daemon, DaemonOptions, NodeDir};
use loopcam_proto::{DeviceInfo, DeviceSpec};

#[derive(Args)]
pub struct DaemonArgs {
    /// Persistent devices (TOML) to create at start
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Create device nodes in this directory instead of /dev (root) or the runtime directory
    #[arg(long, value_name = "DIR")]
    node_dir: Option<PathBuf>,
    /// Permission bits of the socket (at most 0770: never world-accessible)
    #[arg(long, value_name = "MODE", default_value = "0660", value_parser = parse_mode)]
    socket_mode: u32,
    /// Group of the socket, e.g. video: its members may use the daemon
    #[arg(long, value_name = "GROUP", value_parser = parse_group)]
    socket_group: Option<u32>,
    /// Frame memory of all devices together (bytes, or K/M/G); beyond it requests get ENOMEM
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = parse_size)]
    max_memory: u64,
    /// Connections of all clients together (each open virtual fd is one)
    #[arg(long, value_name = "N", default_value_t = 4096)]
    max_clients: usize,
    /// Connections of one user (root is only bound by --max-clients)
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_clients_per_user: usize,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    loopcam_daemon::access::parse_mode(s)
}

fn parse_group(s: &str) -> Result<u32, String> {
    loopcam_daemon::access::resolve_group(s)
}

fn parse_user(s: &str) -> Result<u32, String> {
    loopcam_daemon::access::resolve_user(s)
}

fn parse_size(s: &str) -> Result<u64, String> {
    loopcam_daemon::parse_size(s)
}

pub fn daemon(a: DaemonArgs) -> Result<()> {
    crate::init_logging("info");
    let mut opts = DaemonOptions::for_user();
    opts.config = a.config;
    opts.socket_mode = a.socket_mode;
    opts.socket_group = a.socket_group;
    opts.limits = loopcam_daemon::Limits {
        max_memory: a.max_memory,
        max_clients: a.max_clients,
        max_clients_per_user: a.max_clients_per_user,
    };
    if let Some(d) = a.node_dir {
        opts.node_dir = NodeDir::Dir(d);
    }
    let d = Daemon::bind(&opts)?;
    d.stop_on_signals().context("installing signal handlers")?;
    d.run()?;
    Ok(())
}

#[derive(Args)]
pub struct AddArgs {
    /// Card label
    #[arg(short = 'n', long = "name", value_name = "LABEL")]
    label: Option<String>,
    /// exclusive_caps: announce OUTPUT or CAPTURE, never both (needed by browsers)
    #[arg(short = 'x', long = "exclusive-caps", value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    exclusive_caps: Option<u8>,
    /// Largest buffer count per queue (1..32)
    #[arg(short = 'b', long = "buffers", value_name = "MAX_BUFFERS")]
    max_buffers: Option<u32>,
    /// Largest number of simultaneous openers
    #[arg(short = 'o', long = "max-openers", value_name = "MAX_OPENERS")]
    max_openers: Option<u32>,
    /// Two nodes: an output node for the producer and an always-capture node for consumers
    #[arg(long)]
    split: bool,
    /// Fixed format FOURCC:WxH@FPS
    #[arg(long, value_name = "FOURCC:WxH@FPS")]
    caps: Option<String>,
    /// Repeat the last frame at the nominal rate when the producer is late
    #[arg(long)]
    sustain_framerate: bool,
    /// Show the timeout image after this many ms without a frame
    #[arg(long, value_name = "MS")]
    timeout: Option<u32>,
    /// Strict single-reader mode (vb2 ownership rules, for v4l2-compliance)
    #[arg(long)]
    strict: bool,
    /// Owner (user name or uid; default: you; another user needs root)
    #[arg(long, value_name = "USER", value_parser = parse_user)]
    owner: Option<u32>,
    /// Group (name or gid; default: your group; another needs root or membership)
    #[arg(long, value_name = "GROUP", value_parser = parse_group)]
    group: Option<u32>,
    /// Permission bits like a device node's: who may open it for reading/writing [default: 0660]
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    mode: Option<u32>,
    /// Cap on this device's frame memory (bytes, or K/M/G) [default: 1G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_memory: Option<u64>,
    /// Wanted device (/dev/videoN or N); default: the first free number
    device: Option<String>,
}

fn parse_number(dev: &str) -> Result<u32> {
    let s = dev.trim_start_matches("/dev/").trim_start_matches("video");
    s.parse()
        .with_context(|| format!("'{dev}' is not a device number or /dev/videoN path"))
}

fn manager() -> Result<Manager> {
    Ok(Manager::connect()?)
}

pub fn add(a: AddArgs) -> Result<()> {
    let spec = DeviceSpec {
        label: a.label,
        number: a.device.as_deref().map(parse_number).transpose()?,
        exclusive_caps: a.exclusive_caps == Some(1),
        max_buffers: a.max_buffers,
        max_openers: a.max_openers,
        split: a.split,
        caps: a.caps,
        sustain_framerate: a.sustain_framerate,
        timeout_ms: a.timeout,
        strict: a.strict,
        owner: a.owner,
        group: a.group,
        mode: a.mode,
        max_memory: a.max_memory,
    };
    let d = manager()?.add(spec)?;
    for n in &d.nodes {
        println!("{n}");
    }
    Ok(())
}

pub fn delete(device: &str) -> Result<()> {
    manager()?.delete(device)?;
    Ok(())
}

fn print_device(d: &DeviceInfo) {
    println!("{} ({})", d.nodes.join(", "), d.label);
    println!(
        "  format      {} {}x{} ({} bytes/frame) @ {}/{} s",
        d.fourcc, d.width, d.height, d.sizeimage, d.interval_num, d.interval_den
    );
    if let Some(c) = &d.caps {
        println!("  fixed caps  {c}");
    }
    println!(
        "  options     exclusive_caps={} split={} max_buffers={} max_openers={}",
        d.exclusive_caps as u8, d.split as u8, d.max_buffers, d.max_openers
    );
    println!(
        "  access      owner={} group={} mode={:04o} max_memory={} KiB",
        loopcam_daemon::access::user_name(d.owner),
        loopcam_daemon::access::group_name(d.group),
        d.mode,
        d.max_memory / 1024
    );
    println!(
        "  controls    keep_format={} sustain_framerate={} timeout={} ms",
        d.keep_format as u8, d.sustain_framerate as u8, d.timeout_ms
    );
    println!(
        "  state       producer={} streaming={} readers={} openers={} frames={} memory={} KiB",
        if d.producer { "yes" } else { "no" },
        if d.streaming { "yes" } else { "no" },
        d.readers,
        d.openers,
        d.frames,
        d.memory_bytes / 1024
    );
}

pub fn list(json: bool) -> Result<()> {
    let devs = manager()?.list()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&devs)?);
    } else if devs.is_empty() {
        println!("no devices (create one with `loopcam add`)");
    } else {
        for d in &devs {
            print_device(d);
        }
    }
    Ok(())
}

pub fn query(device: &str, json: bool) -> Result<()> {
    let d = manager()?.query(device)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print_device(&d);
    }
    Ok(())
}

pub fn set_caps(device: &str, caps: &str) -> Result<()> {
    manager()?.set_caps(device, caps)?;
    Ok(())
}

/// "30", "29.97", "30000/1001" → frame interval (numerator, denominator).
pub fn parse_fps(s: &str) -> Result<(u32, u32)> {
    let (num, den) = if let Some((a, b)) = s.split_once('/') {
        (a.trim().parse::<u32>().ok(), b.trim().parse::<u32>().ok())
    } else if let Ok(f) = s.trim().parse::<u32>() {
        (Some(f), Some(1))
    } else if let Ok(f) = s.trim().parse::<f64>() {
        (
            (f.is_finite() && f > 0.0).then(|| (f * 1000.0).round() as u32),
            Some(1000),
        )
    } else {
        (None, None)
    };
    match (num, den) {
        (Some(n), Some(d)) if n > 0 && d > 0 => Ok((d, n)),
        _ => bail!("invalid frame rate '{s}' (expected e.g. 30, 29.97 or 30000/1001)"),
    }
}

pub fn set_fps(device: &str, fps: &str) -> Result<()> {
    let (num, den) = parse_fps(fps)?;
    manager()?.set_fps(device, num, den)?;
    Ok(())
}

#[derive(Args)]
pub struct TimeoutImageArgs {
    /// Also set the timeout (ms without a frame before the image shows)
    #[arg(short = 't', long = "timeout", value_name = "MS")]
    timeout: Option<u32>,
    /// Device path, name or number
    device: String,
    /// PNG or JPEG file
    image: PathBuf,
}

pub fn set_timeout_image(a: TimeoutImageArgs) -> Result<()> {
    let bytes =
        std::fs::read(&a.image).with_context(|| format!("cannot read {}", a.image.display()))?;
    let img = loopcam_media::decode_image(&bytes).with_context(|| a.image.display().to_string())?;
    manager()?.set_timeout_image(&a.device, a.timeout, img.width, img.height, &img.data)?;
    Ok(())
}
