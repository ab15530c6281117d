//! RGB24 <-> raw frame conversions.
//!
//! Y'CbCr uses BT.601 limited range (Y' 16..235, Cb/Cr 16..240), the default of webcams and of
//! V4L2's sRGB colorspace for YUV formats. GREY is full-range luma (0..255, BT.601 weights).
//! Chroma is subsampled by averaging the covered pixels and upsampled by replication.

use crate::fourcc::*;
use crate::image::RgbImage;
use crate::{fourcc_name, geometry, Geometry, Layout, MediaError};

/// One plane of a raw frame: where it starts, its stride, its row count, and how many frame
/// rows share one of its rows (2 for 4:2:0 chroma).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plane {
    pub offset: usize,
    pub stride: usize,
    pub rows: usize,
    pub vsub: usize,
}

/// The planes of a raw layout (one for packed formats), in memory order.
pub(crate) fn planes(l: &Layout) -> Result<Vec<Plane>, MediaError> {
    let (w, h) = (l.width as usize, l.height as usize);
    let luma = Plane {
        offset: 0,
        stride: w,
        rows: h,
        vsub: 1,
    };
    Ok(match geometry(l.fourcc) {
        Some(Geometry::Packed { bytes_per_pixel }) => vec![Plane {
            stride: w * bytes_per_pixel,
            ..luma
        }],
        Some(Geometry::Semi420) => vec![
            luma,
            Plane {
                offset: w * h,
                stride: w,
                rows: h / 2,
                vsub: 2,
            },
        ],
        Some(Geometry::Planar420) => {
            let c = (w / 2) * (h / 2);
            vec![
                luma,
                Plane {
                    offset: w * h,
                    stride: w / 2,
                    rows: h / 2,
                    vsub: 2,
                },
                Plane {
                    offset: w * h + c,
                    stride: w / 2,
                    rows: h / 2,
                    vsub: 2,
                },
            ]
        }
        Some(Geometry::Planar422) => {
            let c = (w / 2) * h;
            vec![
                luma,
                Plane {
                    offset: w * h,
                    stride: w / 2,
                    rows: h,
                    vsub: 1,
                },
                Plane {
                    offset: w * h + c,
                    stride: w / 2,
                    rows: h,
                    vsub: 1,
                },
            ]
        }
        Some(Geometry::Compressed) | None => return Err(not_raw(l.fourcc)),
    })
}

pub(crate) fn not_raw(f: u32) -> MediaError {
    MediaError::Unsupported(format!(
        "'{}' is not a raw pixel format (no encoder for compressed frames)",
        fourcc_name(f)
    ))
}

// --- BT.601 limited range, 8-bit fixed point -------------------------------------------------

#[inline(always)]
fn luma(r: i32, g: i32, b: i32) -> u8 {
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

/// Cb and Cr from the sums of `1 << shift` pixels' R, G and B.
#[inline(always)]
fn chroma(r: i32, g: i32, b: i32, shift: u32) -> (u8, u8) {
    let round = 1 << (7 + shift);
    let s = 8 + shift;
    let cb = ((-38 * r - 74 * g + 112 * b + round) >> s) + 128;
    let cr = ((112 * r - 94 * g - 18 * b + round) >> s) + 128;
    (cb as u8, cr as u8)
}

#[inline(always)]
fn grey_of(r: i32, g: i32, b: i32) -> u8 {
    ((77 * r + 150 * g + 29 * b + 128) >> 8) as u8
}

#[inline(always)]
fn clamp8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

#[inline(always)]
fn yuv_to_rgb(y: u8, cb: u8, cr: u8, px: &mut [u8]) {
    let c = 298 * (i32::from(y) - 16) + 128;
    let d = i32::from(cb) - 128;
    let e = i32::from(cr) - 128;
    px[0] = clamp8((c + 409 * e) >> 8);
    px[1] = clamp8((c - 100 * d - 208 * e) >> 8);
    px[2] = clamp8((c + 516 * d) >> 8);
}

#[inline(always)]
fn rgb(s: &[u8]) -> (i32, i32, i32) {
    (i32::from(s[0]), i32::from(s[1]), i32::from(s[2]))
}

fn check_image(img: &RgbImage, l: &Layout) -> Result<(), MediaError> {
    if img.width != l.width || img.height != l.height {
        return Err(MediaError::Invalid(format!(
            "image is {}x{} but the frame is {}x{} (scale it first)",
            img.width, img.height, l.width, l.height
        )));
    }
    let need = img.width as usize * img.height as usize * 3;
    if img.data.len() != need {
        return Err(MediaError::Invalid(format!(
            "RGB image data is {} bytes, expected {need} for {}x{}",
            img.data.len(),
            img.width,
            img.height
        )));
    }
    Ok(())
}

/// Converts an RGB24 image to the raw format of `l`, writing exactly `l.sizeimage` bytes at the
/// start of `out`.
///
/// The image must have the layout's size. Y'CbCr output is BT.601 limited range; GREY is
/// full-range luma; the X/A byte of 32-bit formats is 0xFF. Errors: compressed formats
/// ([`MediaError::Unsupported`]), size mismatch or `out` shorter than `sizeimage`.
pub fn rgb_to_frame(img: &RgbImage, l: &Layout, out: &mut [u8]) -> Result<(), MediaError> {
    let planes = planes(l)?;
    check_image(img, l)?;
    if out.len() < l.sizeimage {
        return Err(MediaError::Invalid(format!(
            "output buffer is {} bytes, the frame needs {}",
            out.len(),
            l.sizeimage
        )));
    }
    let out = &mut out[..l.sizeimage];
    let src = img.data.as_slice();
    let w = l.width as usize;
    match l.fourcc {
        YUYV => pack422::<0, 1, 2, 3>(src, out),
        UYVY => pack422::<1, 0, 3, 2>(src, out),
        YVYU => pack422::<0, 3, 2, 1>(src, out),
        RGB3 => out.copy_from_slice(src),
        BGR3 => {
            for (s, d) in src.chunks_exact(3).zip(out.chunks_exact_mut(3)) {
                d[0] = s[2];
                d[1] = s[1];
                d[2] = s[0];
            }
        }
        XR24 | BGR4 => pack32::<2, 1, 0, 3>(src, out),
        BX24 | RGB4 => pack32::<1, 2, 3, 0>(src, out),
        RGBP => {
            for (s, d) in src.chunks_exact(3).zip(out.chunks_exact_mut(2)) {
                let v = (u16::from(s[0] >> 3) << 11)
                    | (u16::from(s[1] >> 2) << 5)
                    | u16::from(s[2] >> 3);
                d.copy_from_slice(&v.to_le_bytes());
            }
        }
        GREY => {
            for (s, d) in src.chunks_exact(3).zip(out.iter_mut()) {
                let (r, g, b) = rgb(s);
                *d = grey_of(r, g, b);
            }
        }
        NV12 | NV21 | YU12 | YV12 => {
            let (y_plane, rest) = out.split_at_mut(planes[1].offset);
            let swap = matches!(l.fourcc, NV21 | YV12);
            let semi = matches!(l.fourcc, NV12 | NV21);
            let cw = w / 2;
            let (c1, c2) = if semi {
                (rest, &mut [][..])
            } else {
                rest.split_at_mut(planes[2].offset - planes[1].offset)
            };
            for (cy, (rows, yrows)) in src
                .chunks_exact(w * 6)
                .zip(y_plane.chunks_exact_mut(w * 2))
                .enumerate()
            {
                let (r0, r1) = rows.split_at(w * 3);
                let (y0, y1) = yrows.split_at_mut(w);
                for x in 0..cw {
                    let a = &r0[x * 6..x * 6 + 6];
                    let b = &r1[x * 6..x * 6 + 6];
                    let (ra, ga, ba) = rgb(a);
                    let (rb, gb, bb) = rgb(&a[3..]);
                    let (rc, gc, bc) = rgb(b);
                    let (rd, gd, bd) = rgb(&b[3..]);
                    y0[2 * x] = luma(ra, ga, ba);
                    y0[2 * x + 1] = luma(rb, gb, bb);
                    y1[2 * x] = luma(rc, gc, bc);
                    y1[2 * x + 1] = luma(rd, gd, bd);
                    let (cb, cr) =
                        chroma(ra + rb + rc + rd, ga + gb + gc + gd, ba + bb + bc + bd, 2);
                    let (first, second) = if swap { (cr, cb) } else { (cb, cr) };
                    if semi {
                        let i = cy * w + 2 * x;
                        c1[i] = first;
                        c1[i + 1] = second;
                    } else {
                        let i = cy * cw + x;
                        c1[i] = first;
                        c2[i] = second;
                    }
                }
            }
        }
        YUV422P => {
            let (y_plane, rest) = out.split_at_mut(planes[1].offset);
            let (cb_plane, cr_plane) = rest.split_at_mut(planes[2].offset - planes[1].offset);
            for (i, s) in src.chunks_exact(6).enumerate() {
                let (ra, ga, ba) = rgb(s);
                let (rb, gb, bb) = rgb(&s[3..]);
                y_plane[2 * i] = luma(ra, ga, ba);
                y_plane[2 * i + 1] = luma(rb, gb, bb);
                let (cb, cr) = chroma(ra + rb, ga + gb, ba + bb, 1);
                cb_plane[i] = cb;
                cr_plane[i] = cr;
            }
        }
        f => return Err(not_raw(f)),
    }
    Ok(())
}

/// Packed 4:2:2: each pixel pair becomes 4 bytes with Y0, Cb, Y1, Cr at the given positions.
fn pack422<const Y0: usize, const CB: usize, const Y1: usize, const CR: usize>(
    src: &[u8],
    out: &mut [u8],
) {
    for (s, d) in src.chunks_exact(6).zip(out.chunks_exact_mut(4)) {
        let (ra, ga, ba) = rgb(s);
        let (rb, gb, bb) = rgb(&s[3..]);
        d[Y0] = luma(ra, ga, ba);
        d[Y1] = luma(rb, gb, bb);
        let (cb, cr) = chroma(ra + rb, ga + gb, ba + bb, 1);
        d[CB] = cb;
        d[CR] = cr;
    }
}

/// 32-bit RGB with R, G, B and X/A at the given byte positions.
fn pack32<const R: usize, const G: usize, const B: usize, const X: usize>(
    src: &[u8],
    out: &mut [u8],
) {
    for (s, d) in src.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
        d[R] = s[0];
        d[G] = s[1];
        d[B] = s[2];
        d[X] = 0xff;
    }
}

/// Converts a raw frame (at least `l.sizeimage` bytes; extra bytes are ignored) to RGB24.
///
/// The inverse of [`rgb_to_frame`] up to rounding and chroma subsampling (chroma is replicated
/// over the pixels it covers). For MJPG/JPEG frames the JPEG is decoded
/// ([`decode_image`](crate::decode_image)) and its own size returned; H264/HEVC are
/// [`MediaError::Unsupported`].
pub fn frame_to_rgb(l: &Layout, frame: &[u8]) -> Result<RgbImage, MediaError> {
    if matches!(l.fourcc, MJPG | JPEG) {
        return crate::image::decode_image(frame);
    }
    let planes = planes(l)?;
    if frame.len() < l.sizeimage {
        return Err(MediaError::Invalid(format!(
            "frame is {} bytes, {} {}x{} needs {}",
            frame.len(),
            fourcc_name(l.fourcc),
            l.width,
            l.height,
            l.sizeimage
        )));
    }
    let frame = &frame[..l.sizeimage];
    let (w, h) = (l.width as usize, l.height as usize);
    let mut data = vec![0u8; w * h * 3];
    match l.fourcc {
        YUYV => unpack422::<0, 1, 2, 3>(frame, &mut data),
        UYVY => unpack422::<1, 0, 3, 2>(frame, &mut data),
        YVYU => unpack422::<0, 3, 2, 1>(frame, &mut data),
        RGB3 => data.copy_from_slice(frame),
        BGR3 => {
            for (s, d) in frame.chunks_exact(3).zip(data.chunks_exact_mut(3)) {
                d[0] = s[2];
                d[1] = s[1];
                d[2] = s[0];
            }
        }
        XR24 | BGR4 => unpack32::<2, 1, 0>(frame, &mut data),
        BX24 | RGB4 => unpack32::<1, 2, 3>(frame, &mut data),
        RGBP => {
            for (s, d) in frame.chunks_exact(2).zip(data.chunks_exact_mut(3)) {
                let v = u16::from_le_bytes([s[0], s[1]]);
                let r = (v >> 11) as u8;
                let g = ((v >> 5) & 0x3f) as u8;
                let b = (v & 0x1f) as u8;
                d[0] = (r << 3) | (r >> 2);
                d[1] = (g << 2) | (g >> 4);
                d[2] = (b << 3) | (b >> 2);
            }
        }
        GREY => {
            for (s, d) in frame.iter().zip(data.chunks_exact_mut(3)) {
                d.fill(*s);
            }
        }
        NV12 | NV21 | YU12 | YV12 => {
            let semi = matches!(l.fourcc, NV12 | NV21);
            let swap = matches!(l.fourcc, NV21 | YV12);
            let cw = w / 2;
            for y in 0..h {
                let yrow = &frame[y * w..y * w + w];
                let cy = y / 2;
                let drow = &mut data[y * w * 3..(y + 1) * w * 3];
                for x in 0..w {
                    let cx = x / 2;
                    let (a, b) = if semi {
                        let i = planes[1].offset + cy * w + 2 * cx;
                        (frame[i], frame[i + 1])
                    } else {
                        let i = cy * cw + cx;
                        (frame[planes[1].offset + i], frame[planes[2].offset + i])
                    };
                    let (cb, cr) = if swap { (b, a) } else { (a, b) };
                    yuv_to_rgb(yrow[x], cb, cr, &mut drow[x * 3..x * 3 + 3]);
                }
            }
        }
        YUV422P => {
            for (i, d) in data.chunks_exact_mut(6).enumerate() {
                let cb = frame[planes[1].offset + i];
                let cr = frame[planes[2].offset + i];
                yuv_to_rgb(frame[2 * i], cb, cr, &mut d[..3]);
                yuv_to_rgb(frame[2 * i + 1], cb, cr, &mut d[3..]);
            }
        }
        f => return Err(not_raw(f)),
    }
    Ok(RgbImage {
        width: l.width,
        height: l.height,
        data,
    })
}

fn unpack422<const Y0: usize, const CB: usize, const Y1: usize, const CR: usize>(
    frame: &[u8],
    data: &mut [u8],
) {
    for (s, d) in frame.chunks_exact(4).zip(data.chunks_exact_mut(6)) {
        yuv_to_rgb(s[Y0], s[CB], s[CR], &mut d[..3]);
        yuv_to_rgb(s[Y1], s[CB], s[CR], &mut d[3..]);
    }
}

fn unpack32<const R: usize, const G: usize, const B: usize>(frame: &[u8], data: &mut [u8]) {
    for (s, d) in frame.chunks_exact(4).zip(data.chunks_exact_mut(3)) {
        d[0] = s[R];
        d[1] = s[G];
        d[2] = s[B];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bt601_reference_values() {
        // White, black and the primaries in BT.601 limited range.
        assert_eq!(luma(255, 255, 255), 235);
        assert_eq!(luma(0, 0, 0), 16);
        assert_eq!(chroma(0, 0, 0, 0), (128, 128));
        assert_eq!(chroma(255, 255, 255, 0), (128, 128));
        let (cb, cr) = chroma(255, 0, 0, 0);
        assert_eq!((luma(255, 0, 0), cb, cr), (82, 90, 240));
        let (cb, cr) = chroma(0, 0, 255, 0);
        assert_eq!((luma(0, 0, 255), cb, cr), (41, 240, 110));
        let mut px = [0u8; 3];
        yuv_to_rgb(235, 128, 128, &mut px);
        assert_eq!(px, [255, 255, 255]);
        yuv_to_rgb(16, 128, 128, &mut px);
        assert_eq!(px, [0, 0, 0]);
    }

    #[test]
    fn plane_offsets() {
        let l = crate::layout(YV12, 4, 2).unwrap();
        let p = planes(&l).unwrap();
        assert_eq!((p[1].offset, p[2].offset, p[1].stride), (8, 10, 2));
        assert_eq!(l.sizeimage, 12);
    }
}
