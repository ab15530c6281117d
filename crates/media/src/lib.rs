//! `loopcam-media`: the pixel toolbox shared by the loopcam daemon (timeout image) and the CLI
//! (`loopcam feed` test patterns and file input, `loopcam dump` output).
//!
//! * [`layout`]: frame geometry for a V4L2 fourcc, with V4L2's rules for tightly packed frames.
//! * [`decode_image`], [`scale`], [`fit`]: PNG/JPEG to [`RgbImage`], resizing.
//! * [`rgb_to_frame`], [`frame_to_rgb`]: RGB24 to and from every raw format (BT.601 limited
//!   range for Y'CbCr, full range for GREY).
//! * [`render`]: test patterns ([`Pattern`]) drawn straight into a frame buffer; the
//!   [`Pattern::Counter`] frames carry their frame number and can be checked byte for byte with
//!   [`verify_counter`] (the format is described at [`Pattern`]).
//! * [`FrameReader`]: successive frames from raw files, YUV4MPEG2 streams and MJPEG streams;
//!   [`y4m_header`] / [`write_y4m_frame`] for writing Y4M.
//!
//! Fourcc values are V4L2's: `u32::from_le_bytes(*b"YUYV")`, see [`fourcc`].
//!
//! Byte orders of the 32-bit RGB formats (Linux `Documentation/userspace-api/media/v4l/
//! pixfmt-rgb.rst`, "RGB Formats With 8 Bits Per Component" and "Deprecated RGB Formats"):
//!
//! | fourcc | V4L2 name | bytes in memory |
//! |---|---|---|
//! | `XR24` | `V4L2_PIX_FMT_XBGR32` | B, G, R, X |
//! | `BX24` | `V4L2_PIX_FMT_XRGB32` | X, R, G, B |
//! | `BGR4` | `V4L2_PIX_FMT_BGR32` (deprecated) | B, G, R, A |
//! | `RGB4` | `V4L2_PIX_FMT_RGB32` (deprecated) | A, R, G, B |
//!
//! The X/A byte is written as 0xFF and ignored when reading.
//!
//! No JPEG encoder is available, so compressed formats (MJPG, JPEG, H264, HEVC) are described by
//! [`layout`] and readable (JPEG) by [`frame_to_rgb`], but [`rgb_to_frame`] and [`render`]
//! return [`MediaError::Unsupported`] for them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod convert;
mod image;
mod pattern;
mod reader;

pub use convert::{frame_to_rgb, rgb_to_frame};
pub use image::{decode_image, fit, scale, RgbImage};
pub use pattern::{decode_counter, render, verify_counter, Pattern};
pub use reader::{
    detect_input, write_y4m_frame, y4m_header, FrameReader, InputKind, Y4M_FRAME_MARKER,
};

/// Errors of this crate. Every `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The operation is not available for this format or input (e.g. a compressed fourcc
    /// where raw pixels are needed, a Y4M colour space without a V4L2 equivalent).
    #[error("{0}")]
    Unsupported(String),
    /// Bad input: corrupt or truncated data, impossible sizes, buffers too small.
    #[error("{0}")]
    Invalid(String),
    /// An I/O error from the underlying reader or writer.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// V4L2 fourcc codes (`v4l2_fourcc(a, b, c, d)` = `u32::from_le_bytes([a, b, c, d])`).
pub mod fourcc {
    const fn code(c: &[u8; 4]) -> u32 {
        u32::from_le_bytes(*c)
    }
    /// `V4L2_PIX_FMT_YUYV`: packed 4:2:2, bytes Y0 U Y1 V.
    pub const YUYV: u32 = code(b"YUYV");
    /// `V4L2_PIX_FMT_UYVY`: packed 4:2:2, bytes U Y0 V Y1.
    pub const UYVY: u32 = code(b"UYVY");
    /// `V4L2_PIX_FMT_YVYU`: packed 4:2:2, bytes Y0 V Y1 U.
    pub const YVYU: u32 = code(b"YVYU");
    /// `V4L2_PIX_FMT_RGB24`: bytes R G B.
    pub const RGB3: u32 = code(b"RGB3");
    /// `V4L2_PIX_FMT_BGR24`: bytes B G R.
    pub const BGR3: u32 = code(b"BGR3");
    /// `V4L2_PIX_FMT_XBGR32`: bytes B G R X.
    pub const XR24: u32 = code(b"XR24");
    /// `V4L2_PIX_FMT_XRGB32`: bytes X R G B.
    pub const BX24: u32 = code(b"BX24");
    /// `V4L2_PIX_FMT_RGB32` (deprecated): bytes A R G B (read as XRGB32).
    pub const RGB4: u32 = code(b"RGB4");
    /// `V4L2_PIX_FMT_BGR32` (deprecated): bytes B G R A (read as XBGR32).
    pub const BGR4: u32 = code(b"BGR4");
    /// `V4L2_PIX_FMT_RGB565`: one little-endian u16 per pixel, R in bits 15-11, G 10-5, B 4-0.
    pub const RGBP: u32 = code(b"RGBP");
    /// `V4L2_PIX_FMT_GREY`: 8-bit luma (full range here).
    pub const GREY: u32 = code(b"GREY");
    /// `V4L2_PIX_FMT_NV12`: Y plane, then interleaved Cb Cr at half width and height.
    pub const NV12: u32 = code(b"NV12");
    /// `V4L2_PIX_FMT_NV21`: Y plane, then interleaved Cr Cb at half width and height.
    pub const NV21: u32 = code(b"NV21");
    /// `V4L2_PIX_FMT_YUV420` (I420): Y, Cb, Cr planes, chroma at half width and height.
    pub const YU12: u32 = code(b"YU12");
    /// `V4L2_PIX_FMT_YVU420`: Y, Cr, Cb planes, chroma at half width and height.
    pub const YV12: u32 = code(b"YV12");
    /// `V4L2_PIX_FMT_YUV422P`: Y, Cb, Cr planes, chroma at half width, full height.
    pub const YUV422P: u32 = code(b"422P");
    /// `V4L2_PIX_FMT_MJPEG`: Motion-JPEG (compressed).
    pub const MJPG: u32 = code(b"MJPG");
    /// `V4L2_PIX_FMT_JPEG`: JFIF JPEG (compressed).
    pub const JPEG: u32 = code(b"JPEG");
    /// `V4L2_PIX_FMT_H264` (compressed; layout only).
    pub const H264: u32 = code(b"H264");
    /// `V4L2_PIX_FMT_HEVC` (compressed; layout only).
    pub const HEVC: u32 = code(b"HEVC");

    /// Every raw (uncompressed) fourcc this crate converts and renders.
    pub const RAW: &[u32] = &[
        YUYV, UYVY, YVYU, RGB3, BGR3, XR24, BX24, RGB4, BGR4, RGBP, GREY, NV12, NV21, YU12, YV12,
        YUV422P,
    ];
    /// The compressed fourccs [`layout`](crate::layout) knows.
    pub const COMPRESSED: &[u32] = &[MJPG, JPEG, H264, HEVC];
}

/// Geometry of one frame: fourcc, size and the exact byte size of a tightly packed frame
/// (`bytesperline` = width × bytes per pixel for packed formats, the luma width for planar
/// ones), as V4L2 computes it.
///
/// For compressed formats `sizeimage` is an upper bound for one frame,
/// `w*h*2 + 64 KiB` rounded up to 4 KiB, the same as the loopcam device model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// V4L2 fourcc.
    pub fourcc: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes of one frame (exact for raw formats, a bound for compressed ones).
    pub sizeimage: usize,
}

impl Layout {
    /// True for MJPG, JPEG, H264 and HEVC.
    pub fn is_compressed(&self) -> bool {
        fourcc::COMPRESSED.contains(&self.fourcc)
    }

    /// V4L2's `bytesperline`: the stride of the first plane (0 for compressed formats).
    pub fn bytes_per_line(&self) -> usize {
        let w = self.width as usize;
        match geometry(self.fourcc) {
            Some(Geometry::Packed { bytes_per_pixel }) => w * bytes_per_pixel,
            Some(Geometry::Semi420 | Geometry::Planar420 | Geometry::Planar422) => w,
            Some(Geometry::Compressed) | None => 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Geometry {
    Packed { bytes_per_pixel: usize },
    Semi420,
    Planar420,
    Planar422,
    Compressed,
}

pub(crate) fn geometry(f: u32) -> Option<Geometry> {
    use fourcc::*;
    Some(match f {
        YUYV | UYVY | YVYU | RGBP => Geometry::Packed { bytes_per_pixel: 2 },
        RGB3 | BGR3 => Geometry::Packed { bytes_per_pixel: 3 },
        XR24 | BX24 | RGB4 | BGR4 => Geometry::Packed { bytes_per_pixel: 4 },
        GREY => Geometry::Packed { bytes_per_pixel: 1 },
        NV12 | NV21 => Geometry::Semi420,
        YU12 | YV12 => Geometry::Planar420,
        YUV422P => Geometry::Planar422,
        MJPG | JPEG | H264 | HEVC => Geometry::Compressed,
        _ => return None,
    })
}

/// Largest width or height accepted by [`layout`] (V4L2 loopback's limit).
pub const MAX_DIMENSION: u32 = 16384;

/// Frame layout for `fourcc` at `width` x `height`.
///
/// Errors: an unknown fourcc ([`MediaError::Unsupported`]); a zero or too large size, an odd
/// width for 4:2:2 formats (YUYV, UYVY, YVYU, 422P), an odd width or height for 4:2:0 formats
/// (NV12, NV21, YU12, YV12) ([`MediaError::Invalid`]).
pub fn layout(fourcc: u32, width: u32, height: u32) -> Result<Layout, MediaError> {
    let geo = geometry(fourcc).ok_or_else(|| {
        MediaError::Unsupported(format!(
            "unsupported pixel format '{}'",
            fourcc_name(fourcc)
        ))
    })?;
    let name = || fourcc_name(fourcc);
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(MediaError::Invalid(format!(
            "bad frame size {width}x{height} for {} (1..={MAX_DIMENSION} each)",
            name()
        )));
    }
    let needs_even_w = matches!(
        geo,
        Geometry::Semi420 | Geometry::Planar420 | Geometry::Planar422
    ) || matches!(fourcc, fourcc::YUYV | fourcc::UYVY | fourcc::YVYU);
    let needs_even_h = matches!(geo, Geometry::Semi420 | Geometry::Planar420);
    if needs_even_w && width % 2 != 0 {
        return Err(MediaError::Invalid(format!(
            "{} needs an even width, got {width}x{height}",
            name()
        )));
    }
    if needs_even_h && height % 2 != 0 {
        return Err(MediaError::Invalid(format!(
            "{} needs an even height, got {width}x{height}",
            name()
        )));
    }
    let (w, h) = (width as usize, height as usize);
    let sizeimage = match geo {
        Geometry::Packed { bytes_per_pixel } => w * h * bytes_per_pixel,
        Geometry::Semi420 | Geometry::Planar420 => w * h + 2 * (w / 2) * (h / 2),
        Geometry::Planar422 => w * h * 2,
        Geometry::Compressed => (w * h * 2 + 64 * 1024).div_ceil(4096) * 4096,
    };
    Ok(Layout {
        fourcc,
        width,
        height,
        sizeimage,
    })
}

/// Parses a pixel format name: a fourcc in any case ("YUYV", "yuyv", "422p") or an alias
/// (I420 → YU12, MJPEG → MJPG, RGB24 → RGB3, BGR24 → BGR3, GRAY/GRAY8/Y8 → GREY, XBGR32 → XR24,
/// XRGB32 → BX24, RGB32 → RGB4, BGR32 → BGR4, RGB565 → RGBP, YUV420 → YU12, YVU420 → YV12,
/// YUV422P → 422P). Any other four printable ASCII characters are taken verbatim as a fourcc
/// (so [`layout`] decides whether it is supported), and `0x...` as a hexadecimal value.
pub fn parse_fourcc(s: &str) -> Result<u32, MediaError> {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    let alias = match upper.as_str() {
        "I420" | "YUV420" | "YUV420P" => Some(fourcc::YU12),
        "YVU420" => Some(fourcc::YV12),
        "YUV422P" => Some(fourcc::YUV422P),
        "MJPEG" => Some(fourcc::MJPG),
        "RGB24" => Some(fourcc::RGB3),
        "BGR24" => Some(fourcc::BGR3),
        "GRAY" | "GRAY8" | "Y8" => Some(fourcc::GREY),
        "XBGR32" => Some(fourcc::XR24),
        "XRGB32" => Some(fourcc::BX24),
        "RGB32" => Some(fourcc::RGB4),
        "BGR32" => Some(fourcc::BGR4),
        "RGB565" => Some(fourcc::RGBP),
        _ => None,
    };
    if let Some(f) = alias {
        return Ok(f);
    }
    if let Some(hex) = upper.strip_prefix("0X") {
        return u32::from_str_radix(hex, 16)
            .map_err(|_| MediaError::Invalid(format!("bad fourcc '{t}': not a hexadecimal u32")));
    }
    let bytes = t.as_bytes();
    if bytes.len() == 4 && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        let up: [u8; 4] = [
            upper.as_bytes()[0],
            upper.as_bytes()[1],
            upper.as_bytes()[2],
            upper.as_bytes()[3],
        ];
        let up = u32::from_le_bytes(up);
        // Known codes match case-insensitively; unknown ones are kept as typed.
        if geometry(up).is_some() {
            return Ok(up);
        }
        return Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
    }
    Err(MediaError::Invalid(format!(
        "bad pixel format '{t}' (expected a fourcc such as YUYV, NV12, MJPG, or an alias such as I420, RGB24)"
    )))
}

/// The four characters of a fourcc ("YUYV"), or `0x%08x` if any byte is not printable ASCII.
pub fn fourcc_name(f: u32) -> String {
    let b = f.to_le_bytes();
    if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        b.iter().map(|&c| c as char).collect()
    } else {
        format!("0x{f:08x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourcc_values() {
        assert_eq!(fourcc::YUYV, 0x5659_5559);
        assert_eq!(fourcc::MJPG, 0x4750_4a4d);
        assert_eq!(fourcc_name(fourcc::YUV422P), "422P");
        assert_eq!(fourcc_name(0), "0x00000000");
    }

    #[test]
    fn parse_names() {
        assert_eq!(parse_fourcc("yuyv").unwrap(), fourcc::YUYV);
        assert_eq!(parse_fourcc("422p").unwrap(), fourcc::YUV422P);
        assert_eq!(parse_fourcc("i420").unwrap(), fourcc::YU12);
        assert_eq!(parse_fourcc("0x56595559").unwrap(), fourcc::YUYV);
        assert_eq!(parse_fourcc("avc1").unwrap(), u32::from_le_bytes(*b"avc1"));
        assert!(parse_fourcc("toolong").is_err());
        assert!(parse_fourcc("").is_err());
    }
}
