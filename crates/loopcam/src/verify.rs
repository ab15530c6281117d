//! `loopcam verify`: check a file of frames written by any application against the `counter`
//! test pattern (order and every byte).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use loopcam_media::{detect_input, layout, parse_fourcc, verify_counter, FrameReader, InputKind};

#[derive(Args)]
pub struct VerifyArgs {
    /// Pixel format of a raw file (Y4M files carry their own)
    #[arg(long, default_value = "YUYV")]
    format: String,
    /// Frame size WxH of a raw file
    #[arg(long, default_value = "640x480")]
    size: String,
    /// Fail unless at least this many frames are present
    #[arg(long)]
    min_frames: Option<u64>,
    /// The file ("-" for stdin)
    file: PathBuf,
}

pub fn run(a: VerifyArgs) -> Result<()> {
    let (w, h) = crate::feed::parse_size(&a.size)?;
    let fourcc = parse_fourcc(&a.format)?;
    let reader: Box<dyn std::io::Read> = if a.file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&a.file)
                .with_context(|| format!("cannot open {}", a.file.display()))?,
        )
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let head = reader.fill_buf()?.to_vec();
    let kind = detect_input(&head, a.file.to_str());
    if kind == InputKind::Mjpeg {
        bail!(
            "{} holds MJPEG: the counter pattern is checked on raw frames only",
            a.file.display()
        );
    }
    let raw = (kind == InputKind::Raw)
        .then(|| layout(fourcc, w, h))
        .transpose()?;
    let mut r = FrameReader::new(Box::new(reader) as Box<dyn std::io::Read>, kind, raw)?;
    let l = match r.y4m_info() {
        Some((yw, yh, _, _, f)) => layout(f, yw, yh)?,
        None => raw.expect("raw layout"),
    };
    let (mut frames, mut corrupt, mut disorder) = (0u64, 0u64, 0u64);
    let (mut first, mut last): (Option<u64>, Option<u64>) = (None, None);
    let mut first_error = None;
    while let Some(frame) = r.next_frame()? {
        frames += 1;
        match verify_counter(&l, &frame) {
            Ok(n) => {
                if last.is_some_and(|p| n <= p) {
                    disorder += 1;
                    first_error.get_or_insert(format!(
                        "frame {frames}: counter {n} after {}",
                        last.unwrap_or(0)
                    ));
                }
                first.get_or_insert(n);
                last = Some(n);
            }
            Err(e) => {
                corrupt += 1;
                first_error.get_or_insert(format!("frame {frames}: {e}"));
            }
        }
    }
    println!(
        "frames={frames} corrupt={corrupt} out_of_order={disorder} first={} last={}",
        first.map_or("-".into(), |v| v.to_string()),
        last.map_or("-".into(), |v| v.to_string())
    );
    if let Some(e) = first_error {
        bail!("{e}");
    }
    if let Some(min) = a.min_frames {
        if frames < min {
            bail!("only {frames} frames, expected at least {min}");
        }
    }
    Ok(())
}
