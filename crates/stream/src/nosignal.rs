//! The "NO SIGNAL" picture shown while the device is unavailable: light text on black, at the
//! source's last known size, with a second line saying why. Rendered once per (size, reason)
//! into an I420 frame with a built-in 5×7 font and encoded by the same JPEG encoder.

use std::collections::HashMap;
use std::sync::Arc;

use loopcam_abi::V4L2_PIX_FMT_YUV420;

use crate::capture::SourceFormat;
use crate::exposed::{now_monotonic, Frame};
use crate::jpeg::JpegEncoder;

/// 5×7 glyphs, one byte per row, bit 4 = leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ' ' => [0; 7],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

/// Draws `text` into a luma plane of `w`×`h` (stride `w`), centred horizontally at row `top`,
/// each font pixel `scale`×`scale`.
fn draw_text(y: &mut [u8], w: usize, h: usize, text: &str, top: usize, scale: usize, luma: u8) {
    let n = text.chars().count();
    if n == 0 || scale == 0 {
        return;
    }
    let text_w = (n * 6 - 1) * scale;
    let left = w.saturating_sub(text_w) / 2;
    for (i, c) in text.chars().enumerate() {
        let g = glyph(c);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                let x0 = left + (i * 6 + col) * scale;
                let y0 = top + row * scale;
                for yy in y0..(y0 + scale).min(h) {
                    let line = &mut y[yy * w..yy * w + w];
                    for px in line.iter_mut().take((x0 + scale).min(w)).skip(x0) {
                        *px = luma;
                    }
                }
            }
        }
    }
}

/// Renders the picture as an I420 frame.
pub fn render_i420(width: u32, height: u32, reason: &str) -> (SourceFormat, Vec<u8>) {
    let (w, h) = (width.max(2) as usize, height.max(2) as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut buf = vec![16u8; w * h];
    buf.resize(w * h + 2 * cw * ch, 128);
    let title = "NO SIGNAL";
    let scale = ((w / 2) / (title.len() * 6)).clamp(1, 64);
    let small = scale.div_ceil(2).max(1);
    let block = 7 * scale + 4 * small + 7 * small;
    let top = h.saturating_sub(block) / 2;
    let (y, _) = buf.split_at_mut(w * h);
    draw_text(y, w, h, title, top, scale, 200);
    draw_text(y, w, h, reason, top + 7 * scale + 4 * small, small, 140);
    (
        SourceFormat {
            fourcc: V4L2_PIX_FMT_YUV420,
            width: w as u32,
            height: h as u32,
            bytesperline: w as u32,
            sizeimage: buf.len() as u32,
        },
        buf,
    )
}

/// Caches NO SIGNAL frames by (size, reason).
#[derive(Default)]
pub struct NoSignal {
    cache: HashMap<(u32, u32, String), Arc<Vec<u8>>>,
}

impl NoSignal {
    /// The frame for this size and reason (offline, timestamps now).
    pub fn frame(&mut self, enc: &mut JpegEncoder, width: u32, height: u32, reason: &str) -> Frame {
        let key = (width, height, reason.to_string());
        let jpeg = match self.cache.get(&key) {
            Some(j) => j.clone(),
            None => {
                let (f, data) = render_i420(width, height, reason);
                let j = Arc::new(enc.encode(&f, &data).unwrap_or_default());
                if self.cache.len() > 16 {
                    self.cache.clear();
                }
                self.cache.insert(key, j.clone());
                j
            }
        };
        let now = now_monotonic();
        Frame {
            jpeg: jpeg.as_ref().clone(),
            width: width.max(2),
            height: height.max(2),
            online: false,
            grab_ts: now,
            grab_end_ts: now,
            encode_begin_ts: now,
            encode_end_ts: now,
        }
    }
}
