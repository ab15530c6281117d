//! `loopcam feed`: a producer of test patterns or file frames.

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use loopcam_client::Producer;
use loopcam_media::{detect_input, layout, parse_fourcc, render, FrameReader, InputKind, Pattern};

#[derive(Args, Clone)]
pub struct FeedArgs {
    /// Device path, name or number
    pub device: String,
    /// Test pattern: bars, counter (frame number encoded for integrity checks), solid:RRGGBB
    #[arg(long, default_value = "bars")]
    pub pattern: String,
    /// Pixel format fourcc (YUYV, UYVY, NV12, YU12, RGB3, BGR3, XR24, GREY, MJPG, ...)
    #[arg(long, default_value = "YUYV")]
    pub format: String,
    /// Frame size WxH
    #[arg(long, default_value = "640x480")]
    pub size: String,
    /// Frames per second (30, 29.97, 30000/1001)
    #[arg(long, default_value = "30")]
    pub fps: String,
    /// Stop after N frames (default: run until interrupted or the input ends)
    #[arg(long)]
    pub count: Option<u64>,
    /// Read frames from a raw, Y4M or MJPEG file ("-" for stdin) instead of a pattern
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Buffers to allocate
    #[arg(long, default_value_t = 4)]
    pub buffers: u32,
    /// Number of the first frame (the `counter` pattern continues a sequence across producers)
    #[arg(long, default_value_t = 0)]
    pub start: u64,
}

/// Parses "WxH".
pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("invalid size '{s}' (expected WxH, e.g. 1280x720)"))?;
    let w: u32 = w
        .trim()
        .parse()
        .with_context(|| format!("invalid width in '{s}'"))?;
    let h: u32 = h
        .trim()
        .parse()
        .with_context(|| format!("invalid height in '{s}'"))?;
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        bail!("invalid size '{s}': width and height must be between 1 and 8192");
    }
    Ok((w, h))
}

enum Source {
    Pattern(Pattern),
    File(FrameReader<Box<dyn Read>>),
}

pub fn run(a: FeedArgs) -> Result<()> {
    run_until(a, || false)
}

/// Runs the producer until `count`, the end of the input, or `stop()` returns true.
pub fn run_until(a: FeedArgs, stop: impl Fn() -> bool) -> Result<()> {
    let (mut interval_num, mut interval_den) = crate::manage::parse_fps(&a.fps)?;
    let mut fourcc = parse_fourcc(&a.format)?;
    let (mut w, mut h) = parse_size(&a.size)?;
    let mut source = match &a.input {
        None => Source::Pattern(
            a.pattern
                .parse::<Pattern>()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        Some(path) => {
            let reader: Box<dyn Read> = if path.as_os_str() == "-" {
                Box::new(std::io::stdin())
            } else {
                Box::new(
                    std::fs::File::open(path)
                        .with_context(|| format!("cannot open {}", path.display()))?,
                )
            };
            let mut reader = BufReader::with_capacity(1 << 20, reader);
            let head = reader.fill_buf().context("reading input")?.to_vec();
            let kind = detect_input(&head, path.to_str());
            let raw = (kind == InputKind::Raw)
                .then(|| layout(fourcc, w, h))
                .transpose()?;
            let r = FrameReader::new(Box::new(reader) as Box<dyn Read>, kind, raw)?;
            if let Some((yw, yh, fnum, fden, f)) = r.y4m_info() {
                (w, h, fourcc) = (yw, yh, f);
                if fnum > 0 && fden > 0 {
                    (interval_num, interval_den) = (fden, fnum);
                }
            }
            if kind == InputKind::Mjpeg {
                fourcc = loopcam_media::fourcc::MJPG;
            }
            Source::File(r)
        }
    };
    let fps_round = (interval_den as f64 / interval_num as f64).round().max(1.0) as u32;
    let mut p = Producer::open(&a.device, fourcc, w, h, fps_round, a.buffers)
        .with_context(|| format!("cannot open {} as a producer", a.device))?;
    let f = p.format();
    if (f.fourcc, f.width, f.height) != (fourcc, w, h) {
        if matches!(source, Source::File(_)) {
            bail!(
                "the device uses {} {}x{}, the input is {} {}x{}",
                loopcam_media::fourcc_name(f.fourcc),
                f.width,
                f.height,
                loopcam_media::fourcc_name(fourcc),
                w,
                h
            );
        }
        eprintln!(
            "loopcam: the device adjusted the format to {} {}x{}",
            loopcam_media::fourcc_name(f.fourcc),
            f.width,
            f.height
        );
    }
    let l = layout(f.fourcc, f.width, f.height)?;
    // Patterns in MJPG/JPEG: render YUYV, encode with the streamer's libjpeg-turbo encoder.
    let mut jpeg = match (&source, l.is_compressed()) {
        (Source::Pattern(_), true) => {
            if !matches!(
                f.fourcc,
                loopcam_media::fourcc::MJPG | loopcam_abi::V4L2_PIX_FMT_JPEG
            ) {
                bail!(
                    "patterns can be fed as raw formats, MJPG or JPEG, not {}",
                    loopcam_media::fourcc_name(f.fourcc)
                );
            }
            let yuyv = layout(loopcam_abi::V4L2_PIX_FMT_YUYV, f.width, f.height)?;
            let enc = loopcam_stream::jpeg::JpegEncoder::new(80)?;
            Some((enc, yuyv, vec![0u8; 0]))
        }
        _ => None,
    };
    let period_ns = 1_000_000_000u64 * interval_num as u64 / interval_den.max(1) as u64;
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut last_report = start;
    let mut n: u64 = 0;
    while a.count.is_none_or(|c| n < c) && !stop() {
        let frame = match &mut source {
            Source::File(r) => match r.next_frame()? {
                Some(fr) => Some(fr),
                None => break,
            },
            Source::Pattern(_) => None,
        };
        let mut buf = p.next_buffer()?;
        let data = buf.data();
        let used = match (&source, frame) {
            (_, Some(fr)) => {
                if fr.len() > data.len() {
                    bail!(
                        "frame {n} is {} bytes, larger than the device's {} bytes",
                        fr.len(),
                        data.len()
                    );
                }
                data[..fr.len()].copy_from_slice(&fr);
                fr.len()
            }
            (Source::Pattern(pat), None) => match &mut jpeg {
                Some((enc, yuyv, raw)) => {
                    raw.resize(yuyv.sizeimage, 0);
                    render(pat, yuyv, a.start + n, raw)?;
                    let sf = loopcam_stream::SourceFormat {
                        fourcc: yuyv.fourcc,
                        width: yuyv.width,
                        height: yuyv.height,
                        bytesperline: yuyv.width * 2,
                        sizeimage: yuyv.sizeimage as u32,
                    };
                    let jpg = enc.encode(&sf, raw)?;
                    if jpg.len() > data.len() {
                        bail!(
                            "frame {n} encodes to {} bytes, larger than the device's {} bytes",
                            jpg.len(),
                            data.len()
                        );
                    }
                    data[..jpg.len()].copy_from_slice(&jpg);
                    jpg.len()
                }
                None => {
                    render(pat, &l, a.start + n, data)?;
                    l.sizeimage
                }
            },
            (Source::File(_), None) => unreachable!("file frames are read above"),
        };
        // Pace: frame n goes out at start + n × period. The frame is rendered before the wait,
        // so its publication keeps the cadence exactly instead of jittering with the render
        // time (consumers predict the next frame from it, see loopcam_client::cadence).
        let due = start + Duration::from_nanos(period_ns.saturating_mul(n));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        buf.publish(used as u32)?;
        n += 1;
        if tty && last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            eprint!("\rloopcam feed: {n} frames, {:.1} fps   ", n as f64 / secs);
        }
    }
    if tty {
        eprintln!();
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "feed: frames={n} seconds={secs:.2} fps={:.2}",
        n as f64 / secs
    );
    Ok(())
}
