//! RGB24 images: decoding PNG/JPEG, scaling.

use std::io::Cursor;

use crate::MediaError;

/// An RGB24 image: row-major, 3 bytes per pixel (R, G, B), no padding
/// (`data.len() == width * height * 3`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

impl RgbImage {
    /// An image filled with one colour.
    pub fn solid(width: u32, height: u32, r: u8, g: u8, b: u8) -> RgbImage {
        let n = width as usize * height as usize;
        let mut data = Vec::with_capacity(n * 3);
        for _ in 0..n {
            data.extend_from_slice(&[r, g, b]);
        }
        RgbImage {
            width,
            height,
            data,
        }
    }

    /// The pixel at (x, y). Panics when out of bounds.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(x < self.width && y < self.height, "pixel out of bounds");
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// Largest decoded image accepted, in bytes of decoder output (guards against images whose
/// header claims gigantic sizes).
const MAX_DECODED_BYTES: usize = 512 * 1024 * 1024;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Decodes a PNG or JPEG (detected by its magic bytes) to RGB24.
///
/// PNG: every colour type and bit depth (palette, grey, grey+alpha, RGB, RGBA; 1-16 bits);
/// 16-bit samples are reduced to 8 bits and alpha is composited over black. JPEG: baseline and
/// progressive, greyscale, YCbCr/RGB and CMYK/YCCK. Errors are one line: "not a PNG or JPEG
/// image", "corrupt PNG: ...", "corrupt JPEG: ...".
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage, MediaError> {
    if bytes.starts_with(PNG_MAGIC) {
        decode_png(bytes)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        decode_jpeg(bytes)
    } else {
        Err(MediaError::Invalid("not a PNG or JPEG image".into()))
    }
}

fn one_line(s: impl std::fmt::Display) -> String {
    s.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn decode_png(bytes: &[u8]) -> Result<RgbImage, MediaError> {
    let err = |e: png::DecodingError| MediaError::Invalid(format!("corrupt PNG: {}", one_line(e)));
    let mut dec = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: MAX_DECODED_BYTES,
        },
    );
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(err)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| MediaError::Invalid("corrupt PNG: image too large".into()))?;
    if size > MAX_DECODED_BYTES {
        return Err(MediaError::Invalid("corrupt PNG: image too large".into()));
    }
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(err)?;
    let (w, h) = (info.width, info.height);
    let n = w as usize * h as usize;
    let line = info.line_size;
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(MediaError::Invalid(
                "corrupt PNG: palette was not expanded".into(),
            ))
        }
    };
    if info.bit_depth != png::BitDepth::Eight || line < w as usize * channels {
        return Err(MediaError::Invalid(format!(
            "corrupt PNG: unexpected decoder output ({:?}, {:?})",
            info.color_type, info.bit_depth
        )));
    }
    let mut data = Vec::with_capacity(n * 3);
    for row in buf.chunks(line).take(h as usize) {
        let row = &row[..w as usize * channels];
        match channels {
            1 => row.iter().for_each(|&v| data.extend_from_slice(&[v, v, v])),
            2 => row.chunks_exact(2).for_each(|p| {
                let v = over_black(p[0], p[1]);
                data.extend_from_slice(&[v, v, v]);
            }),
            3 => data.extend_from_slice(row),
            _ => row.chunks_exact(4).for_each(|p| {
                data.extend_from_slice(&[
                    over_black(p[0], p[3]),
                    over_black(p[1], p[3]),
                    over_black(p[2], p[3]),
                ])
            }),
        }
    }
    if data.len() != n * 3 {
        return Err(MediaError::Invalid("corrupt PNG: short image data".into()));
    }
    Ok(RgbImage {
        width: w,
        height: h,
        data,
    })
}

#[inline]
fn over_black(c: u8, a: u8) -> u8 {
    ((u32::from(c) * u32::from(a) + 127) / 255) as u8
}

fn decode_jpeg(bytes: &[u8]) -> Result<RgbImage, MediaError> {
    let err =
        |e: jpeg_decoder::Error| MediaError::Invalid(format!("corrupt JPEG: {}", one_line(e)));
    // jpeg-decoder is not hardened against every malformed input; a panic inside it must not
    // take down the daemon or the CLI.
    let result = std::panic::catch_unwind(|| {
        let mut dec = jpeg_decoder::Decoder::new(bytes);
        dec.set_max_decoding_buffer_size(MAX_DECODED_BYTES);
        let pixels = dec.decode().map_err(err)?;
        let info = dec
            .info()
            .ok_or_else(|| MediaError::Invalid("corrupt JPEG: no frame header".into()))?;
        Ok::<_, MediaError>((pixels, info))
    });
    let (pixels, info) = match result {
        Ok(r) => r?,
        Err(_) => {
            return Err(MediaError::Invalid(
                "corrupt JPEG: the decoder failed on malformed data".into(),
            ))
        }
    };
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let n = w as usize * h as usize;
    let bpp = info.pixel_format.pixel_bytes();
    if pixels.len() < n * bpp {
        return Err(MediaError::Invalid("corrupt JPEG: short image data".into()));
    }
    let mut data = Vec::with_capacity(n * 3);
    let px = &pixels[..n * bpp];
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => data.extend_from_slice(px),
        jpeg_decoder::PixelFormat::L8 => {
            px.iter().for_each(|&v| data.extend_from_slice(&[v, v, v]))
        }
        // 16-bit samples are big-endian: keep the high byte.
        jpeg_decoder::PixelFormat::L16 => px
            .chunks_exact(2)
            .for_each(|p| data.extend_from_slice(&[p[0], p[0], p[0]])),
        // jpeg-decoder hands out CMYK as ink amounts (0 = no ink), already un-inverting
        // Adobe's storage: R = (255 - C) * (255 - K) / 255, and so on.
        jpeg_decoder::PixelFormat::CMYK32 => px.chunks_exact(4).for_each(|p| {
            let k = 255 - u32::from(p[3]);
            let f = |c: u8| (((255 - u32::from(c)) * k + 127) / 255) as u8;
            data.extend_from_slice(&[f(p[0]), f(p[1]), f(p[2])]);
        }),
    }
    Ok(RgbImage {
        width: w,
        height: h,
        data,
    })
}

/// Resizes `img` to `w` x `h` (stretching; see [`fit`] to keep the aspect ratio) with bilinear
/// interpolation (pixel centres aligned, edges clamped). A zero target size gives an empty image;
/// an empty source gives a black one.
pub fn scale(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (dw, dh) = (w as usize, h as usize);
    let (sw, sh) = (img.width as usize, img.height as usize);
    if dw == 0 || dh == 0 || sw == 0 || sh == 0 || img.data.len() < sw * sh * 3 {
        return RgbImage::solid(w, h, 0, 0, 0);
    }
    if (sw, sh) == (dw, dh) {
        return img.clone();
    }
    // Source coordinate of each destination column/row in 16.16 fixed point, split into the
    // left/top index and an 8-bit weight of the right/bottom neighbour.
    fn axis(src: usize, dst: usize) -> Vec<(usize, usize, u32)> {
        (0..dst)
            .map(|d| {
                let pos = ((2 * d + 1) as i64 * src as i64 * 65536 / (2 * dst) as i64) - 32768;
                let pos = pos.clamp(0, (src as i64 - 1) * 65536);
                let i0 = (pos >> 16) as usize;
                let i1 = (i0 + 1).min(src - 1);
                let wgt = ((pos & 0xffff) >> 8) as u32;
                (i0, i1, wgt)
            })
            .collect()
    }
    let xs = axis(sw, dw);
    let ys = axis(sh, dh);
    let mut data = vec![0u8; dw * dh * 3];
    let mut row = vec![0u32; sw * 3];
    for (dy, &(y0, y1, wy)) in ys.iter().enumerate() {
        let r0 = &img.data[y0 * sw * 3..(y0 + 1) * sw * 3];
        let r1 = &img.data[y1 * sw * 3..(y1 + 1) * sw * 3];
        // Vertical blend first (scaled by 256), then horizontal.
        for ((t, &a), &b) in row.iter_mut().zip(r0).zip(r1) {
            *t = u32::from(a) * (256 - wy) + u32::from(b) * wy;
        }
        let out = &mut data[dy * dw * 3..(dy + 1) * dw * 3];
        for (px, &(x0, x1, wx)) in out.chunks_exact_mut(3).zip(&xs) {
            for c in 0..3 {
                let v = row[x0 * 3 + c] * (256 - wx) + row[x1 * 3 + c] * wx;
                px[c] = ((v + 32768) >> 16) as u8;
            }
        }
    }
    RgbImage {
        width: w,
        height: h,
        data,
    }
}

/// Scales `img` to fit inside `w` x `h` keeping its aspect ratio, centred on black
/// (letterbox / pillarbox).
pub fn fit(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (sw, sh) = (u64::from(img.width), u64::from(img.height));
    if sw == 0 || sh == 0 || w == 0 || h == 0 {
        return RgbImage::solid(w, h, 0, 0, 0);
    }
    // The largest size with the source's aspect ratio inside w x h.
    let (mut fw, mut fh) = (u64::from(w), (sh * u64::from(w) / sw).max(1));
    if fh > u64::from(h) {
        fh = u64::from(h);
        fw = (sw * fh / sh).clamp(1, u64::from(w));
    }
    let (fw, fh) = (fw as u32, fh as u32);
    let scaled = scale(img, fw, fh);
    if (fw, fh) == (w, h) {
        return scaled;
    }
    let mut out = RgbImage::solid(w, h, 0, 0, 0);
    let (ox, oy) = ((w - fw) / 2, (h - fh) / 2);
    let (ws, fs) = (w as usize * 3, fw as usize * 3);
    for y in 0..fh as usize {
        let dst = (oy as usize + y) * ws + ox as usize * 3;
        out.data[dst..dst + fs].copy_from_slice(&scaled.data[y * fs..(y + 1) * fs]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_solid_stays_solid() {
        let img = RgbImage::solid(7, 5, 10, 200, 30);
        for (w, h) in [(1, 1), (3, 2), (14, 10), (100, 3)] {
            let s = scale(&img, w, h);
            assert_eq!(s, RgbImage::solid(w, h, 10, 200, 30));
        }
    }

    #[test]
    fn scale_gradient() {
        // 2x1 black/white upscaled to 4x1: centres map to -0.25, 0.25, 0.75, 1.25.
        let img = RgbImage {
            width: 2,
            height: 1,
            data: vec![0, 0, 0, 255, 255, 255],
        };
        let s = scale(&img, 4, 1);
        let r: Vec<u8> = s.data.chunks(3).map(|p| p[0]).collect();
        assert_eq!(r, vec![0, 64, 191, 255]);
    }

    #[test]
    fn fit_letterboxes() {
        let img = RgbImage::solid(4, 2, 255, 0, 0);
        let f = fit(&img, 8, 8);
        assert_eq!((f.width, f.height), (8, 8));
        assert_eq!(f.pixel(0, 0), [0, 0, 0]);
        assert_eq!(f.pixel(4, 4), [255, 0, 0]);
        assert_eq!(f.pixel(4, 1), [0, 0, 0]);
        assert_eq!(f.pixel(4, 2), [255, 0, 0]);
        let f = fit(&img, 2, 8);
        assert_eq!((f.pixel(1, 3), f.pixel(1, 4)), ([255, 0, 0], [0, 0, 0]));
    }
}
