//! Test patterns rendered straight into frame buffers, and the self-checking counter frames.
//!
//! Patterns are built from horizontal bands whose rows are all identical: each band's RGB row
//! is converted once (a 1- or 2-row frame in the target format) and its plane rows are then
//! copied down the band, so rendering costs about one memcpy of the frame. The counter format
//! is documented on [`Pattern`].

use std::fmt;
use std::str::FromStr;

use crate::convert::{not_raw, planes, rgb_to_frame, Plane};
use crate::image::RgbImage;
use crate::{fourcc, fourcc_name, layout, Layout, MediaError};

/// A test pattern, drawn by [`render`].
///
/// # Counter frames
///
/// `render(&Pattern::Counter, l, n, out)` writes, for any raw layout:
///
/// 1. a picture: colour bars scrolling left with `n`, a white block moving right, and the low 32
///    bits of `n` as binary cells (bit 31 on the left) along the bottom;
/// 2. over the whole frame, the low two bits of every byte XORed with a keyed hash of
///    `(n, byte offset / 8)` (invisible noise that makes nearly every byte depend on `n`, so a
///    frame torn or mixed at any byte offset is caught);
/// 3. a 16-byte header over the first 16 bytes of the buffer: `n` as little-endian u64, then a
///    64-bit check value of `n` (little-endian). Frames smaller than 16 bytes carry a truncated
///    header and cannot be decoded.
///
/// [`decode_counter`] reads the header; [`verify_counter`] re-renders frame `n` and compares
/// every byte. The byte stream is a pure function of `(layout, n)` with integer arithmetic only,
/// so it is identical across processes, builds and architectures.
///
/// Compressed formats (MJPG/JPEG) cannot be rendered: no JPEG encoder is available, so
/// [`render`] returns [`MediaError::Unsupported`] for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// 75% colour bars over a band with a block moving with the frame number.
    Bars,
    /// Self-describing frames carrying their frame number (see "Counter frames" above,
    /// [`decode_counter`], [`verify_counter`]).
    Counter,
    /// One colour.
    Solid {
        /// Red.
        r: u8,
        /// Green.
        g: u8,
        /// Blue.
        b: u8,
    },
}

impl FromStr for Pattern {
    type Err = String;

    /// `bars`, `counter` or `solid:RRGGBB` (hexadecimal, an optional `#` allowed), any case.
    fn from_str(s: &str) -> Result<Pattern, String> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "bars" => return Ok(Pattern::Bars),
            "counter" => return Ok(Pattern::Counter),
            "solid" => {
                return Err(
                    "pattern 'solid' needs a colour: solid:RRGGBB (e.g. solid:ff8000)".into(),
                )
            }
            _ => {}
        }
        if let Some(hex) = lower.strip_prefix("solid:") {
            let hex = hex.strip_prefix('#').unwrap_or(hex);
            if hex.len() != 6 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "bad colour in pattern '{t}': expected 6 hex digits, e.g. solid:ff8000"
                ));
            }
            let v = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            return Ok(Pattern::Solid {
                r: (v >> 16) as u8,
                g: (v >> 8) as u8,
                b: v as u8,
            });
        }
        Err(format!(
            "unknown pattern '{t}' (expected bars, counter or solid:RRGGBB)"
        ))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Bars => f.write_str("bars"),
            Pattern::Counter => f.write_str("counter"),
            Pattern::Solid { r, g, b } => write!(f, "solid:{r:02x}{g:02x}{b:02x}"),
        }
    }
}

/// 75% colour bars: white, yellow, cyan, green, magenta, red, blue, black.
const BARS: [[u8; 3]; 8] = [
    [191, 191, 191],
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
    [0, 0, 0],
];

fn bars_row(w: usize, shift: usize) -> Vec<u8> {
    let mut row = Vec::with_capacity(w * 3);
    for x in 0..w {
        let i = ((x + shift) % w) * 8 / w;
        row.extend_from_slice(&BARS[i]);
    }
    row
}

/// A `bg` row with a `fg` block of `bw` pixels starting at `x0` (wrapping around).
fn block_row(w: usize, x0: usize, bw: usize, bg: [u8; 3], fg: [u8; 3]) -> Vec<u8> {
    let mut row = Vec::with_capacity(w * 3);
    for x in 0..w {
        let inside = (x + w - x0) % w < bw;
        row.extend_from_slice(if inside { &fg } else { &bg });
    }
    row
}

/// The low 32 bits of `n` as cells, bit 31 on the left.
fn binary_row(w: usize, n: u64) -> Vec<u8> {
    let mut row = Vec::with_capacity(w * 3);
    for x in 0..w {
        let cell = x * 32 / w;
        let bit = (n >> (31 - cell)) & 1 == 1;
        let v = match (bit, cell % 2) {
            (true, 0) => 235,
            (true, _) => 200,
            (false, 0) => 48,
            (false, _) => 80,
        };
        row.extend_from_slice(&[v, v, v]);
    }
    row
}

/// Renders `p` for frame `frame_no` into `out` (at least `l.sizeimage` bytes; exactly
/// `l.sizeimage` bytes are written).
///
/// Errors: compressed formats ([`MediaError::Unsupported`]: no JPEG encoder), `out` too short.
pub fn render(p: &Pattern, l: &Layout, frame_no: u64, out: &mut [u8]) -> Result<(), MediaError> {
    let pl = planes(l)?;
    if out.len() < l.sizeimage {
        return Err(MediaError::Invalid(format!(
            "output buffer is {} bytes, the frame needs {}",
            out.len(),
            l.sizeimage
        )));
    }
    let out = &mut out[..l.sizeimage];
    let (w, h) = (l.width as usize, l.height as usize);
    // Band boundaries on even rows so that 4:2:0 chroma rows never straddle two bands.
    let even = |v: usize| v & !1;
    match *p {
        Pattern::Solid { r, g, b } => {
            let row = [r, g, b].repeat(w);
            render_bands(l, &pl, out, &[(0, h, &row)])?;
        }
        Pattern::Bars => {
            let ya = even(h * 3 / 4);
            let bars = bars_row(w, 0);
            let step = (w / 120).max(1) as u64;
            let x0 = (frame_no.wrapping_mul(step) % w as u64) as usize;
            let block = block_row(w, x0, (w / 16).max(1), [32, 32, 32], [255, 255, 255]);
            render_bands(l, &pl, out, &[(0, ya, &bars), (ya, h, &block)])?;
        }
        Pattern::Counter => render_counter(l, &pl, frame_no, out)?,
    }
    Ok(())
}

fn render_counter(l: &Layout, pl: &[Plane], n: u64, out: &mut [u8]) -> Result<(), MediaError> {
    let (w, h) = (l.width as usize, l.height as usize);
    let even = |v: usize| v & !1;
    let (ya, yb) = (even(h * 2 / 3), even(h * 5 / 6));
    let wu = w as u64;
    let shift = (n.wrapping_mul((w / 64).max(1) as u64) % wu) as usize;
    let bars = bars_row(w, shift);
    let x0 = (n.wrapping_mul((w / 32).max(1) as u64) % wu) as usize;
    let block = block_row(w, x0, (w / 16).max(1), [32, 32, 32], [255, 255, 255]);
    let binary = binary_row(w, n);
    render_bands(
        l,
        pl,
        out,
        &[(0, ya, &bars), (ya, yb, &block), (yb, h, &binary)],
    )?;
    noise_xor(out, n);
    let header = counter_header(n);
    let k = header.len().min(out.len());
    out[..k].copy_from_slice(&header[..k]);
    Ok(())
}

/// Fills rows `y0..y1` of every plane with the conversion of the band's RGB row.
/// Bands must cover `0..height` and start on even rows.
fn render_bands(
    l: &Layout,
    pl: &[Plane],
    out: &mut [u8],
    bands: &[(usize, usize, &[u8])],
) -> Result<(), MediaError> {
    let w = l.width as usize;
    let mh = if pl.iter().any(|p| p.vsub == 2) { 2 } else { 1 };
    let ml = layout(l.fourcc, l.width, mh as u32)?;
    let mpl = planes(&ml)?;
    let mut img = RgbImage {
        width: l.width,
        height: mh as u32,
        data: vec![0; w * 3 * mh],
    };
    let mut mini = vec![0u8; ml.sizeimage];
    for &(y0, y1, row) in bands {
        if y0 >= y1 {
            continue;
        }
        for k in 0..mh {
            img.data[k * w * 3..(k + 1) * w * 3].copy_from_slice(row);
        }
        rgb_to_frame(&img, &ml, &mut mini)?;
        for (p, mp) in pl.iter().zip(&mpl) {
            let src = &mini[mp.offset..mp.offset + mp.stride];
            let (r0, r1) = (y0 / p.vsub, y1.div_ceil(p.vsub).min(p.rows));
            let dst = &mut out[p.offset + r0 * p.stride..p.offset + r1 * p.stride];
            for d in dst.chunks_exact_mut(p.stride) {
                d.copy_from_slice(src);
            }
        }
    }
    Ok(())
}

const NOISE_KEY: u64 = 0x6c6f_6f70_6361_6d21; // "loopcam!"
const HEADER_KEY: u64 = 0x636f_756e_7465_7221; // "counter!"
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
const LOW2: u64 = 0x0303_0303_0303_0303;

/// splitmix64's finaliser: a bijective 64-bit mix.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn counter_header(n: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..8].copy_from_slice(&n.to_le_bytes());
    h[8..].copy_from_slice(&mix(n ^ HEADER_KEY).to_le_bytes());
    h
}

/// XORs the low two bits of every byte with a hash of (n, offset / 8).
fn noise_xor(buf: &mut [u8], n: u64) {
    let seed = mix(n ^ NOISE_KEY);
    let word = |i: usize| mix(seed.wrapping_add((i as u64).wrapping_mul(GOLDEN))) & LOW2;
    let mut chunks = buf.chunks_exact_mut(8);
    let mut i = 0;
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ word(i);
        c.copy_from_slice(&v.to_le_bytes());
        i += 1;
    }
    let tail = chunks.into_remainder();
    for (b, k) in tail.iter_mut().zip(word(i).to_le_bytes()) {
        *b ^= k;
    }
}

/// The frame number of a counter frame, from its 16-byte header; `None` if `frame` is shorter
/// than 16 bytes, the layout is compressed, or the header's check value does not match.
pub fn decode_counter(l: &Layout, frame: &[u8]) -> Option<u64> {
    if l.is_compressed() || crate::geometry(l.fourcc).is_none() || frame.len() < 16 {
        return None;
    }
    let n = u64::from_le_bytes(frame[..8].try_into().ok()?);
    (frame[..16] == counter_header(n)).then_some(n)
}

/// Checks that `frame` is exactly counter frame `n` for layout `l`, byte for byte, and returns
/// `n`.
///
/// `frame` must be exactly `l.sizeimage` bytes (pass `bytesused`, not the whole buffer). The
/// error says what is wrong: a size mismatch, a bad header, or the first differing byte (plane,
/// row, byte in row), how many bytes differ, and whether the data from there on belongs to
/// frame `n ± 1` (a torn or mixed frame).
pub fn verify_counter(l: &Layout, frame: &[u8]) -> Result<u64, String> {
    let pl = planes(l).map_err(|_| not_raw(l.fourcc).to_string())?;
    if frame.len() != l.sizeimage {
        return Err(format!(
            "frame is {} bytes, expected {} for {} {}x{}",
            frame.len(),
            l.sizeimage,
            fourcc_name(l.fourcc),
            l.width,
            l.height
        ));
    }
    let n = decode_counter(l, frame).ok_or_else(|| {
        let head: Vec<String> = frame.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!(
            "no valid counter header in the first 16 bytes ({})",
            head.join(" ")
        )
    })?;
    let mut expected = vec![0u8; l.sizeimage];
    render(&Pattern::Counter, l, n, &mut expected).map_err(|e| e.to_string())?;
    if frame == expected.as_slice() {
        return Ok(n);
    }
    // Find the first difference quickly: compare 4 KiB blocks, then bytes.
    const BLOCK: usize = 4096;
    let block = frame
        .chunks(BLOCK)
        .zip(expected.chunks(BLOCK))
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    let start = block * BLOCK;
    let off = start
        + frame[start..]
            .iter()
            .zip(&expected[start..])
            .position(|(a, b)| a != b)
            .unwrap_or(0);
    let differing = frame
        .iter()
        .zip(&expected)
        .skip(off)
        .filter(|(a, b)| a != b)
        .count();
    let mut msg = format!(
        "frame {n}: first mismatch at byte {off} of {} ({}): expected 0x{:02x}, got 0x{:02x}; {differing} bytes differ",
        l.sizeimage,
        describe_offset(l, &pl, off),
        expected[off],
        frame[off]
    );
    for other in [n.wrapping_add(1), n.wrapping_sub(1)] {
        let mut cand = vec![0u8; l.sizeimage];
        if render(&Pattern::Counter, l, other, &mut cand).is_ok() {
            let end = (off + 64 * 1024).min(l.sizeimage);
            if frame[off..end] == cand[off..end] {
                msg.push_str(&format!(
                    "; the bytes from there on are frame {other} (torn or mixed frame)"
                ));
                break;
            }
        }
    }
    Err(msg)
}

/// "row R, byte B (pixel P)" or "Cb plane row R, byte B".
fn describe_offset(l: &Layout, pl: &[Plane], off: usize) -> String {
    let idx = pl.iter().rposition(|p| p.offset <= off).unwrap_or(0);
    let p = pl[idx];
    let (row, col) = ((off - p.offset) / p.stride, (off - p.offset) % p.stride);
    if pl.len() == 1 {
        let bpp = p.stride / l.width as usize;
        return format!("row {row}, byte {col} = pixel {}", col / bpp.max(1));
    }
    let names: [&str; 3] = match l.fourcc {
        fourcc::NV12 => ["Y", "CbCr", ""],
        fourcc::NV21 => ["Y", "CrCb", ""],
        fourcc::YV12 => ["Y", "Cr", "Cb"],
        _ => ["Y", "Cb", "Cr"],
    };
    format!("{} plane row {row}, byte {col}", names[idx])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_keyed_by_frame() {
        let mut a = vec![100u8; 1001];
        let mut b = a.clone();
        noise_xor(&mut a, 7);
        noise_xor(&mut b, 8);
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same < 400, "{same} of 1001 bytes equal");
        assert!(a.iter().all(|&v| (100 & !3..=(100 | 3)).contains(&v)));
    }

    #[test]
    fn header_roundtrip() {
        let l = layout(fourcc::GREY, 4, 4).unwrap();
        for n in [0, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(decode_counter(&l, &counter_header(n)), Some(n));
        }
        let mut h = counter_header(5);
        h[9] ^= 1;
        assert_eq!(decode_counter(&l, &h), None);
    }
}
