//! Pixel formats, format negotiation and frame-size / frame-interval
//! enumeration (rules E1-E26 of `reference/v4l2-uapi-rules.md`, section E).
//!
//! Everything here is pure computation on plain values: no I/O, no unsafe,
//! and no dependency on the abi crate. The ioctl layer converts between these
//! types and the kernel structs; it is also the place that handles `priv`
//! (`V4L2_PIX_FMT_PRIV_MAGIC`, E8/E12), `type`, `index` and `reserved`.
//!
//! Decisions taken here (see the item docs for the reasons):
//! * sizes: `MIN_WIDTH`x`MIN_HEIGHT` = 2x1 .. `MAX_WIDTH`x`MAX_HEIGHT` =
//!   8192x8192, like v4l2loopback, plus the chroma alignment every format
//!   needs (even width for 4:2:2, even width and height for 4:2:0);
//! * strides are always tight (`bytesperline` is never padded) and raw
//!   `sizeimage` is exact;
//! * frame intervals from 1/1000 s (1000 fps, v4l2loopback's limit) to 60 s;
//! * default colorspace sRGB for every format except JPEG (JFIF => JPEG).

use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------------------
// Values mirrored from <linux/videodev2.h>. They are kept private so that this
// module stays independent of the abi crate; the numbers must not change.
// ---------------------------------------------------------------------------

/// `V4L2_FIELD_NONE`: progressive frames.
const FIELD_NONE: u32 = 1;

/// `V4L2_COLORSPACE_DEFAULT`.
const COLORSPACE_DEFAULT: u32 = 0;
/// `V4L2_COLORSPACE_SMPTE170M`.
const COLORSPACE_SMPTE170M: u32 = 1;
/// `V4L2_COLORSPACE_BT878`: deprecated, must never be returned (E9).
const COLORSPACE_BT878: u32 = 4;
/// `V4L2_COLORSPACE_JPEG`.
const COLORSPACE_JPEG: u32 = 7;
/// `V4L2_COLORSPACE_SRGB`.
const COLORSPACE_SRGB: u32 = 8;
/// `V4L2_COLORSPACE_DCI_P3`, the highest defined colorspace.
const COLORSPACE_LAST_DEFINED: u32 = 12;

/// `V4L2_YCBCR_ENC_SMPTE240M`, the highest defined Y'CbCr encoding.
const YCBCR_ENC_LAST_DEFINED: u32 = 8;
/// `V4L2_QUANTIZATION_LIM_RANGE`, the highest defined quantization.
const QUANTIZATION_LAST_DEFINED: u32 = 2;
/// `V4L2_XFER_FUNC_SMPTE2084`, the highest defined transfer function.
const XFER_FUNC_LAST_DEFINED: u32 = 7;

/// `V4L2_PIX_FMT_FLAG_PREMUL_ALPHA`.
const PIX_FMT_FLAG_PREMUL_ALPHA: u32 = 0x1;

/// `V4L2_FMT_FLAG_COMPRESSED` (struct v4l2_fmtdesc flags).
const FMT_FLAG_COMPRESSED: u32 = 0x1;

/// Page size used to round compressed buffer sizes.
const PAGE: u64 = 4096;

// ---------------------------------------------------------------------------
// Fourcc helpers
// ---------------------------------------------------------------------------

/// Builds a fourcc like the C macro `v4l2_fourcc(a, b, c, d)`: the first
/// character is the least significant byte.
pub const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*code)
}

/// Renders a fourcc as its four characters ("YUYV"); bytes that are not
/// printable ASCII become '?'. Trailing spaces are kept (fourccs such as
/// "Y4  " are space padded).
pub fn fourcc_str(f: u32) -> String {
    f.to_le_bytes()
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Format table
// ---------------------------------------------------------------------------

/// Memory layout of one pixel format, as far as buffer sizing needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One plane, every pixel the same size. 4:2:2 packed YUV (YUYV, UYVY,
    /// YVYU) additionally needs an even width.
    Packed { bits_per_pixel: u32 },
    /// Y plane followed by chroma at quarter resolution: NV12/NV21
    /// (`chroma_interleaved`, one CbCr plane) or YU12/YV12 (two planes).
    /// Width and height are even; the image is `w*h*3/2` bytes.
    Planar420 { chroma_interleaved: bool },
    /// YUV422P: Y plane then Cb and Cr planes at half width. Even width.
    Planar422,
    /// A compressed bitstream (E5); `bytesperline` is 0.
    Compressed,
}

/// One supported pixel format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatInfo {
    pub fourcc: u32,
    /// E4: exactly the string the kernel core (`v4l_fill_fmtdesc`) and
    /// v4l-utils `utils/common/v4l2-pix-formats.h` use for this fourcc.
    pub description: &'static str,
    /// E5: compressed formats carry `V4L2_FMT_FLAG_COMPRESSED`.
    pub compressed: bool,
    pub layout: Layout,
    /// E9: the colorspace reported when the application leaves it to us.
    pub default_colorspace: u32,
}

impl FormatInfo {
    /// E5: the `flags` of `struct v4l2_fmtdesc` for this format: only
    /// `V4L2_FMT_FLAG_COMPRESSED`, never EMULATED or any other bit.
    pub const fn fmtdesc_flags(&self) -> u32 {
        if self.compressed {
            FMT_FLAG_COMPRESSED
        } else {
            0
        }
    }

    /// Required alignment of (width, height) for this format.
    const fn alignment(&self) -> (u32, u32) {
        match self.layout {
            Layout::Planar420 { .. } => (2, 2),
            Layout::Planar422 => (2, 1),
            Layout::Packed { .. } if is_packed_422(self.fourcc) => (2, 1),
            Layout::Packed { .. } | Layout::Compressed => (1, 1),
        }
    }

    /// The inclusive size range (min_w, max_w, min_h, max_h) of this format:
    /// the global limits narrowed to multiples of the alignment.
    const fn size_range(&self) -> (u32, u32, u32, u32) {
        let (aw, ah) = self.alignment();
        (
            round_up(MIN_WIDTH, aw),
            round_down(MAX_WIDTH, aw),
            round_up(MIN_HEIGHT, ah),
            round_down(MAX_HEIGHT, ah),
        )
    }

    /// True if `width` x `height` is a size this format accepts unchanged
    /// (in range and aligned): exactly the sizes `try_format` keeps.
    pub const fn size_is_valid(&self, width: u32, height: u32) -> bool {
        let (aw, ah) = self.alignment();
        let (min_w, max_w, min_h, max_h) = self.size_range();
        width >= min_w
            && width <= max_w
            && height >= min_h
            && height <= max_h
            && width.is_multiple_of(aw)
            && height.is_multiple_of(ah)
    }
}

const fn round_up(v: u32, a: u32) -> u32 {
    v.div_ceil(a) * a
}

const fn round_down(v: u32, a: u32) -> u32 {
    v / a * a
}

const fn is_packed_422(f: u32) -> bool {
    f == PIX_FMT_YUYV || f == PIX_FMT_UYVY || f == PIX_FMT_YVYU
}

const PIX_FMT_YUYV: u32 = fourcc(b"YUYV");
const PIX_FMT_UYVY: u32 = fourcc(b"UYVY");
const PIX_FMT_YVYU: u32 = fourcc(b"YVYU");
const PIX_FMT_JPEG: u32 = fourcc(b"JPEG");
const PIX_FMT_MJPEG: u32 = fourcc(b"MJPG");
const PIX_FMT_RGB32: u32 = fourcc(b"RGB4");
const PIX_FMT_BGR32: u32 = fourcc(b"BGR4");

const fn raw(
    code: &[u8; 4],
    description: &'static str,
    layout: Layout,
    default_colorspace: u32,
) -> FormatInfo {
    FormatInfo {
        fourcc: fourcc(code),
        description,
        compressed: false,
        layout,
        default_colorspace,
    }
}

const fn packed(code: &[u8; 4], description: &'static str, bits_per_pixel: u32) -> FormatInfo {
    raw(
        code,
        description,
        Layout::Packed { bits_per_pixel },
        COLORSPACE_SRGB,
    )
}

const fn compressed(
    code: &[u8; 4],
    description: &'static str,
    default_colorspace: u32,
) -> FormatInfo {
    FormatInfo {
        fourcc: fourcc(code),
        description,
        compressed: true,
        layout: Layout::Compressed,
        default_colorspace,
    }
}

/// The format table, preferred first (E3).
///
/// Descriptions (E4) were checked against the kernel's `v4l_fill_fmtdesc`
/// (drivers/media/v4l2-core/v4l2-ioctl.c, 6.12) and v4l-utils'
/// `utils/common/v4l2-pix-formats.h`. NV12/NV21 use the pre-6.2 strings
/// "Y/CbCr 4:2:0" / "Y/CrCb 4:2:0": v4l2-compliance built against 6.2+
/// headers accepts them as the documented alternative of "Y/UV 4:2:0" /
/// "Y/VU 4:2:0", while older v4l2-compliance (e.g. Debian 12's) only knows
/// the old spelling, so the old strings pass with every version.
///
/// Default colorspace (E9): sRGB for every raw format, YUV included. That is
/// what v4l2loopback (DEFAULT/unknown -> SRGB), vivid's webcam input and
/// uvcvideo report: sRGB/Rec.709 primaries with the default Y'CbCr encoding
/// for sRGB (BT.601, limited range), i.e. the classic webcam convention.
/// The JPEG fourcc gets `COLORSPACE_JPEG` because JFIF mandates exactly that
/// (full-range BT.601) and old v4l2-compliance requires it. MJPG stays sRGB:
/// old v4l2-compliance rejects `COLORSPACE_JPEG` for anything but JPEG.
static FORMATS: [FormatInfo; 20] = [
    packed(b"YUYV", "YUYV 4:2:2", 16),
    packed(b"UYVY", "UYVY 4:2:2", 16),
    raw(
        b"NV12",
        "Y/CbCr 4:2:0",
        Layout::Planar420 {
            chroma_interleaved: true,
        },
        COLORSPACE_SRGB,
    ),
    raw(
        b"YU12",
        "Planar YUV 4:2:0",
        Layout::Planar420 {
            chroma_interleaved: false,
        },
        COLORSPACE_SRGB,
    ),
    packed(b"RGB3", "24-bit RGB 8-8-8", 24),
    packed(b"BGR3", "24-bit BGR 8-8-8", 24),
    packed(b"XR24", "32-bit BGRX 8-8-8-8", 32),
    packed(b"RGB4", "32-bit A/XRGB 8-8-8-8", 32),
    packed(b"BGR4", "32-bit BGRA/X 8-8-8-8", 32),
    packed(b"GREY", "8-bit Greyscale", 8),
    compressed(b"MJPG", "Motion-JPEG", COLORSPACE_SRGB),
    compressed(b"JPEG", "JFIF JPEG", COLORSPACE_JPEG),
    compressed(b"H264", "H.264", COLORSPACE_SRGB),
    // Additional formats, after the contract's list.
    packed(b"YVYU", "YVYU 4:2:2", 16),
    raw(
        b"NV21",
        "Y/CrCb 4:2:0",
        Layout::Planar420 {
            chroma_interleaved: true,
        },
        COLORSPACE_SRGB,
    ),
    raw(
        b"YV12",
        "Planar YVU 4:2:0",
        Layout::Planar420 {
            chroma_interleaved: false,
        },
        COLORSPACE_SRGB,
    ),
    raw(
        b"422P",
        "Planar YUV 4:2:2",
        Layout::Planar422,
        COLORSPACE_SRGB,
    ),
    packed(b"RGBP", "16-bit RGB 5-6-5", 16),
    packed(b"BX24", "32-bit XRGB 8-8-8-8", 32),
    compressed(b"HEVC", "HEVC", COLORSPACE_SRGB),
];

/// All supported formats, preferred first: YUYV, UYVY, NV12, YU12, RGB24,
/// BGR24, XBGR32, RGB32, BGR32, GREY, MJPG, JPEG, H264, then YVYU, NV21,
/// YV12, YUV422P, RGB565, XRGB32 and HEVC. No duplicates, no zero (E3).
pub fn formats() -> &'static [FormatInfo] {
    &FORMATS
}

/// The table entry for `fourcc`, if supported.
pub fn lookup(fourcc: u32) -> Option<&'static FormatInfo> {
    FORMATS.iter().find(|f| f.fourcc == fourcc)
}

// ---------------------------------------------------------------------------
// v4l2_pix_format
// ---------------------------------------------------------------------------

/// Mirrors `struct v4l2_pix_format` field for field, without `priv` (the
/// ioctl layer always returns `V4L2_PIX_FMT_PRIV_MAGIC` there, E8, and zeroes
/// the extended fields before calling `try_format` when the application's
/// `priv` was not the magic, E12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PixFormat {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub bytesperline: u32,
    pub sizeimage: u32,
    pub colorspace: u32,
    pub flags: u32,
    pub ycbcr_enc: u32,
    pub quantization: u32,
    pub xfer_func: u32,
}

/// Smallest accepted width. v4l2loopback's `V4L2LOOPBACK_SIZE_MIN_WIDTH`
/// (2 since 0.13, lowered from 48 for its issue #573); 2 is also the
/// smallest width every 4:2:2/4:2:0 format can represent.
pub const MIN_WIDTH: u32 = 2;
/// Largest accepted width: v4l2loopback's default `max_width` (8192). Every
/// raw frame stays below 2^28 bytes, so all sizes fit a u32 comfortably.
pub const MAX_WIDTH: u32 = 8192;
/// Smallest accepted height: v4l2loopback's `V4L2LOOPBACK_SIZE_MIN_HEIGHT`
/// (1). 4:2:0 formats need an even height, so their effective minimum is 2.
pub const MIN_HEIGHT: u32 = 1;
/// Largest accepted height: v4l2loopback's default `max_height` (8192).
pub const MAX_HEIGHT: u32 = 8192;

/// Size used when an application passes width or height 0 (v4l2loopback's
/// `V4L2LOOPBACK_SIZE_DEFAULT_WIDTH/HEIGHT`, also the default format).
const DEFAULT_WIDTH: u32 = 640;
const DEFAULT_HEIGHT: u32 = 480;

impl PixFormat {
    /// The format of a fresh device before anyone set one: YUYV 640x480
    /// progressive, sRGB with the other colorimetry fields DEFAULT. (E9 holds
    /// and `try_format(&default_format(), None) == default_format()`.)
    pub fn default_format() -> PixFormat {
        let info = &FORMATS[0];
        let (bytesperline, sizeimage) = frame_geometry(info, DEFAULT_WIDTH, DEFAULT_HEIGHT, 0, 0);
        PixFormat {
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
            pixelformat: info.fourcc,
            field: FIELD_NONE,
            bytesperline,
            sizeimage,
            colorspace: info.default_colorspace,
            flags: 0,
            ycbcr_enc: 0,
            quantization: 0,
            xfer_func: 0,
        }
    }
}

fn sat_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Smallest `sizeimage` for compressed formats: room for the headers (JPEG
/// tables, an EXIF APP1 segment of up to 64 KiB, H.264 SPS/PPS/SEI) even at
/// tiny frame sizes.
const COMPRESSED_SLACK: u64 = 64 * 1024;

/// Computes `(bytesperline, sizeimage)` for `width` x `height`.
///
/// Raw formats (E9): `bytesperline` is the tight stride, `width*bpp/8`
/// rounded up for packed formats (exactly `width*2` for YUYV) and the luma
/// stride (`width`) for planar ones; `sizeimage` is exact (`bpl*height` for
/// packed, `w*h*3/2` for 4:2:0 with even sizes, `w*h*2` for YUV422P; odd
/// sizes round the chroma planes up). `requested_bpl` is deliberately
/// ignored: loopback frames are passed through untouched, and consumers such
/// as ffmpeg, OpenCV and browsers assume tightly packed rows (ffmpeg even
/// rejects buffers whose size differs from its own computation), so padded
/// strides would buy nothing and break them. v4l2loopback also ignores it.
/// `requested_sizeimage` is ignored too: for raw formats `bytesused` must
/// equal `sizeimage` exactly.
///
/// Compressed formats: `bytesperline` = 0 and `sizeimage` is a bound for one
/// frame: `w*h*2 + 64 KiB`, rounded up to 4 KiB. Two bytes per pixel is far
/// above what real MJPEG/H.264 sources produce (about 0.1-1 B/px even at high
/// quality) yet half of v4l2loopback's `w*h*4`, whose 8 MB 1080p buffers were
/// criticised. A producer that knows better may request a larger
/// `sizeimage`; it is honoured (rounded up to 4 KiB) up to
/// `w*h*6 + 64 KiB`, libjpeg-turbo's worst case for 4:4:4 JPEG
/// (`tjBufSize`), so garbage such as 0xffffffff cannot ask for 4 GiB.
pub fn frame_geometry(
    info: &FormatInfo,
    width: u32,
    height: u32,
    requested_bpl: u32,
    requested_sizeimage: u32,
) -> (u32, u32) {
    let _ = requested_bpl; // never honoured, see above
    let w = u64::from(width);
    let h = u64::from(height);
    let cw = w.div_ceil(2); // chroma width for subsampled formats
    let ch = h.div_ceil(2);
    match info.layout {
        Layout::Packed { bits_per_pixel } => {
            let bpl = (w * u64::from(bits_per_pixel)).div_ceil(8);
            (sat_u32(bpl), sat_u32(bpl * h))
        }
        Layout::Planar420 { .. } => (sat_u32(w), sat_u32(w * h + 2 * cw * ch)),
        Layout::Planar422 => (sat_u32(w), sat_u32(w * h + 2 * cw * h)),
        Layout::Compressed => {
            let px = w * h;
            let min = (px * 2 + COMPRESSED_SLACK).next_multiple_of(PAGE);
            let max = (px * 6 + COMPRESSED_SLACK).next_multiple_of(PAGE);
            let req = u64::from(requested_sizeimage).next_multiple_of(PAGE);
            (0, sat_u32(req.clamp(min, max)))
        }
    }
}

/// Moves `v` into `[min, max]` and down to a multiple of `align` (`min` and
/// `max` are multiples of `align`, so the result stays in range).
fn clamp_align(v: u32, min: u32, max: u32, align: u32) -> u32 {
    round_down(v.clamp(min, max), align)
}

fn colorspace_is_valid(cs: u32, fourcc: u32) -> bool {
    match cs {
        COLORSPACE_DEFAULT | COLORSPACE_BT878 => false,
        // E9: JPEG only for MJPG/JPEG.
        COLORSPACE_JPEG => fourcc == PIX_FMT_JPEG || fourcc == PIX_FMT_MJPEG,
        COLORSPACE_SMPTE170M..=COLORSPACE_LAST_DEFINED => true,
        _ => false,
    }
}

/// E10/E11/E12: adjusts any request into a valid format; never fails.
///
/// * `pixelformat`: unknown -> the first allowed format (YUYV, or the fixed
///   caps' fourcc). With `allowed = Some(caps)` the result always has the
///   caps' fourcc and size.
/// * `width`/`height`: 0 -> 640/480 (as v4l2loopback), then clamped into
///   `MIN..=MAX` and rounded down to the format's alignment (even width for
///   4:2:2, even width and height for 4:2:0).
/// * `field`: always `V4L2_FIELD_NONE`; the device is progressive only, so
///   ANY, INTERLACED and every other value become NONE (E9).
/// * `bytesperline`/`sizeimage`: from [`frame_geometry`].
/// * `colorspace`: 0 (DEFAULT), BT878, undefined values (> DCI_P3, which
///   includes everything >= 0xff) and JPEG on a format other than MJPG/JPEG
///   -> the format's default (E9). The JPEG fourcc always gets
///   `COLORSPACE_JPEG` (JFIF defines its colorimetry). Other valid values are
///   kept: the producer's colorimetry is propagated (E16).
/// * `ycbcr_enc`, `quantization`, `xfer_func`: kept if defined by
///   videodev2.h, else 0 (DEFAULT). Stricter than the `< 0xff` of E9 so that
///   consumers never see a value they cannot interpret.
/// * `flags`: `V4L2_PIX_FMT_FLAG_PREMUL_ALPHA` is kept for the formats that
///   can carry alpha (RGB32 "A/XRGB", BGR32 "BGRA/X"); `SET_CSC` is always
///   cleared because no format advertises the `V4L2_FMT_FLAG_CSC_*` flags
///   that would allow it; undefined bits are cleared.
///
/// Idempotent (E11): `try_format(&try_format(x, a), a) == try_format(x, a)`.
pub fn try_format(req: &PixFormat, allowed: Option<&FixedCaps>) -> PixFormat {
    let info = match allowed {
        Some(caps) => lookup(caps.fourcc).unwrap_or(&FORMATS[0]),
        None => lookup(req.pixelformat).unwrap_or(&FORMATS[0]),
    };
    let (req_w, req_h) = match allowed {
        Some(caps) => (caps.width, caps.height),
        None => (req.width, req.height),
    };
    let req_w = if req_w == 0 { DEFAULT_WIDTH } else { req_w };
    let req_h = if req_h == 0 { DEFAULT_HEIGHT } else { req_h };
    let (aw, ah) = info.alignment();
    let (min_w, max_w, min_h, max_h) = info.size_range();
    let width = clamp_align(req_w, min_w, max_w, aw);
    let height = clamp_align(req_h, min_h, max_h, ah);

    let (bytesperline, sizeimage) =
        frame_geometry(info, width, height, req.bytesperline, req.sizeimage);

    let colorspace = if info.fourcc == PIX_FMT_JPEG {
        COLORSPACE_JPEG
    } else if colorspace_is_valid(req.colorspace, info.fourcc) {
        req.colorspace
    } else {
        info.default_colorspace
    };
    let keep = |v: u32, last: u32| if v <= last { v } else { 0 };

    let flags = if info.fourcc == PIX_FMT_RGB32 || info.fourcc == PIX_FMT_BGR32 {
        req.flags & PIX_FMT_FLAG_PREMUL_ALPHA
    } else {
        0
    };

    PixFormat {
        width,
        height,
        pixelformat: info.fourcc,
        field: FIELD_NONE,
        bytesperline,
        sizeimage,
        colorspace,
        flags,
        ycbcr_enc: keep(req.ycbcr_enc, YCBCR_ENC_LAST_DEFINED),
        quantization: keep(req.quantization, QUANTIZATION_LAST_DEFINED),
        xfer_func: keep(req.xfer_func, XFER_FUNC_LAST_DEFINED),
    }
}

// ---------------------------------------------------------------------------
// Frame intervals
// ---------------------------------------------------------------------------

/// A time per frame in seconds (`struct v4l2_fract`): 1/30 is 30 fps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fract {
    pub numerator: u32,
    pub denominator: u32,
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Fract {
    pub const fn new(numerator: u32, denominator: u32) -> Fract {
        Fract {
            numerator,
            denominator,
        }
    }

    /// The interval of `fps` frames per second (1/fps). `from_fps(0)` is the
    /// invalid 1/0, which [`clamp_interval`] turns into the default.
    pub const fn from_fps(fps: u32) -> Fract {
        Fract::new(1, fps)
    }

    /// Both parts non-zero (E23: a TIMEPERFRAME fraction must be).
    pub const fn is_valid(&self) -> bool {
        self.numerator != 0 && self.denominator != 0
    }

    /// The frame period in nanoseconds, rounded down; `u64::MAX` for a zero
    /// denominator. Cannot overflow otherwise (u32::MAX s < 2^63 ns).
    pub fn as_nanos(&self) -> u64 {
        if self.denominator == 0 {
            return u64::MAX;
        }
        u64::from(self.numerator) * 1_000_000_000 / u64::from(self.denominator)
    }

    /// `self` compared with `other` as durations (both must be valid).
    fn cmp_duration(&self, other: &Fract) -> std::cmp::Ordering {
        let a = u64::from(self.numerator) * u64::from(other.denominator);
        let b = u64::from(other.numerator) * u64::from(self.denominator);
        a.cmp(&b)
    }

    fn reduced(self) -> Fract {
        let g = gcd(self.numerator, self.denominator).max(1);
        Fract::new(self.numerator / g, self.denominator / g)
    }
}

/// The nominal interval of a fresh device: 1/30 s (v4l2loopback's
/// `V4L2LOOPBACK_FPS_DEFAULT`).
pub const DEFAULT_INTERVAL: Fract = Fract::new(1, 30);
/// Highest frame rate accepted by S_PARM (v4l2loopback's
/// `V4L2LOOPBACK_FPS_MAX`): the interval is advisory and drives the
/// sustain/timeout timers, which make no sense below a millisecond.
pub const MAX_FPS: u32 = 1000;
/// Shortest interval: 1/`MAX_FPS` s.
pub const MIN_INTERVAL: Fract = Fract::new(1, MAX_FPS);
/// Longest interval: one frame a minute. v4l2loopback allows up to
/// u32::MAX s, which has no use for a camera and turns sustain_framerate into
/// "never"; 60 s still covers slide shows and time-lapse producers (0.5 fps
/// and below). Being at least 1 s longer than `MIN_INTERVAL` also keeps the
/// 1/1 step valid if the range is reported as STEPWISE (E20).
pub const MAX_INTERVAL: Fract = Fract::new(60, 1);

/// E24: the interval actually used for a requested one. 0/x and x/0 reset to
/// [`DEFAULT_INTERVAL`]; values outside `MIN_INTERVAL..=MAX_INTERVAL` are
/// clamped; the result is reduced (2/60 -> 1/30) and always valid.
pub fn clamp_interval(req: Fract) -> Fract {
    if !req.is_valid() {
        return DEFAULT_INTERVAL;
    }
    if req.cmp_duration(&MIN_INTERVAL).is_lt() {
        return MIN_INTERVAL;
    }
    if req.cmp_duration(&MAX_INTERVAL).is_gt() {
        return MAX_INTERVAL;
    }
    req.reduced()
}

// ---------------------------------------------------------------------------
// Fixed caps ("YUYV:640x480@30")
// ---------------------------------------------------------------------------

/// A format fixed by configuration (v4l2loopback-ctl `set-caps` style): the
/// device offers exactly this fourcc, size and interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedCaps {
    pub fourcc: u32,
    pub width: u32,
    pub height: u32,
    /// Time per frame, e.g. 1001/60000 for "@60000/1001".
    pub interval: Fract,
}

/// Alternative names accepted for fourccs (upper case): common FFmpeg /
/// GStreamer / V4L2-macro spellings.
const ALIASES: &[(&str, &[u8; 4])] = &[
    ("I420", b"YU12"),
    ("IYUV", b"YU12"),
    ("YUV420", b"YU12"),
    ("YVU420", b"YV12"),
    ("YUY2", b"YUYV"),
    ("RGB24", b"RGB3"),
    ("BGR24", b"BGR3"),
    ("RGB32", b"RGB4"),
    ("BGR32", b"BGR4"),
    ("XBGR32", b"XR24"),
    ("BGRX", b"XR24"),
    ("XRGB32", b"BX24"),
    ("RGB565", b"RGBP"),
    ("GRAY", b"GREY"),
    ("GRAY8", b"GREY"),
    ("Y800", b"GREY"),
    ("YUV422P", b"422P"),
    ("MJPEG", b"MJPG"),
    ("H265", b"HEVC"),
];

fn parse_fourcc(s: &str) -> Result<&'static FormatInfo, String> {
    let upper = s.to_ascii_uppercase();
    let found = match ALIASES.iter().find(|(name, _)| *name == upper) {
        Some((_, code)) => lookup(fourcc(code)),
        None => <[u8; 4]>::try_from(upper.as_bytes())
            .ok()
            .and_then(|code| lookup(fourcc(&code))),
    };
    found.ok_or_else(|| {
        let names: Vec<String> = FORMATS.iter().map(|f| fourcc_str(f.fourcc)).collect();
        format!(
            "unknown pixel format \"{s}\" (supported: {})",
            names.join(", ")
        )
    })
}

fn parse_u32(s: &str, what: &str) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid {what} \"{s}\": expected a decimal number"));
    }
    s.parse::<u32>()
        .map_err(|_| format!("{what} \"{s}\" is too large"))
}

impl FromStr for FixedCaps {
    type Err = String;

    /// Parses `FOURCC:WIDTHxHEIGHT[@FPS]` where FPS is `num` or `num/den`
    /// frames per second, e.g. "YUYV:640x480@30", "MJPG:1920x1080@30/1",
    /// "YU12:1280x720@60000/1001". The fourcc is case-insensitive and may be
    /// an alias (I420, RGB24, BGR24, MJPEG, ...). As with v4l2loopback-ctl
    /// `set-caps`, the rate may be omitted; it then defaults to 30 fps.
    /// The size must be one `try_format` keeps unchanged for the format, and
    /// the rate must lie within `1/60..=1000` fps.
    fn from_str(s: &str) -> Result<FixedCaps, String> {
        const FORM: &str = "expected FOURCC:WIDTHxHEIGHT@FPS, e.g. YUYV:640x480@30";
        let s = s.trim();
        let (fcc, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("missing ':' after the pixel format in \"{s}\" ({FORM})"))?;
        if fcc.is_empty() {
            return Err(format!("missing pixel format in \"{s}\" ({FORM})"));
        }
        let info = parse_fourcc(fcc)?;
        let (size, rate) = match rest.split_once('@') {
            Some((size, rate)) => (size, Some(rate)),
            None => (rest, None),
        };
        if size.is_empty() {
            return Err(format!("missing frame size in \"{s}\" ({FORM})"));
        }
        let (w, h) = size
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("frame size \"{size}\" must be WIDTHxHEIGHT ({FORM})"))?;
        let width = parse_u32(w, "width")?;
        let height = parse_u32(h, "height")?;
        let name = fourcc_str(info.fourcc);
        if width == 0 || height == 0 {
            return Err(format!("frame size {width}x{height} must not be zero"));
        }
        if !(MIN_WIDTH..=MAX_WIDTH).contains(&width) || !(MIN_HEIGHT..=MAX_HEIGHT).contains(&height)
        {
            return Err(format!(
                "frame size {width}x{height} is outside \
                 {MIN_WIDTH}x{MIN_HEIGHT}..{MAX_WIDTH}x{MAX_HEIGHT}"
            ));
        }
        if !info.size_is_valid(width, height) {
            let need = match info.alignment() {
                (2, 2) => "an even width and height",
                _ => "an even width",
            };
            return Err(format!("{name} needs {need}, got {width}x{height}"));
        }
        let interval = match rate {
            None => DEFAULT_INTERVAL,
            Some("") => return Err(format!("missing frame rate after '@' in \"{s}\"")),
            Some(rate) => {
                let (num, den) = match rate.split_once('/') {
                    Some((n, d)) => (
                        parse_u32(n, "frame rate numerator")?,
                        parse_u32(d, "frame rate denominator")?,
                    ),
                    None => (parse_u32(rate, "frame rate")?, 1),
                };
                if num == 0 || den == 0 {
                    return Err(format!(
                        "frame rate \"{rate}\" must have a non-zero numerator and denominator"
                    ));
                }
                // fps num/den is a frame period of den/num seconds.
                let ival = Fract::new(den, num);
                if ival.cmp_duration(&MIN_INTERVAL).is_lt()
                    || ival.cmp_duration(&MAX_INTERVAL).is_gt()
                {
                    return Err(format!(
                        "frame rate {rate} fps is outside {}/{}..{MAX_FPS} fps",
                        MAX_INTERVAL.denominator, MAX_INTERVAL.numerator
                    ));
                }
                ival.reduced()
            }
        };
        Ok(FixedCaps {
            fourcc: info.fourcc,
            width,
            height,
            interval,
        })
    }
}

impl fmt::Display for FixedCaps {
    /// Canonical form "YUYV:640x480@30/1" (the rate as frames per second);
    /// parses back to an equal value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}x{}@{}/{}",
            fourcc_str(self.fourcc),
            self.width,
            self.height,
            self.interval.denominator,
            self.interval.numerator
        )
    }
}

// ---------------------------------------------------------------------------
// ENUM_FRAMESIZES / ENUM_FRAMEINTERVALS
// ---------------------------------------------------------------------------

/// The answer to ENUM_FRAMESIZES for one fourcc (E19).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameSizes {
    /// `V4L2_FRMSIZE_TYPE_DISCRETE`, one entry per index.
    Discrete(Vec<(u32, u32)>),
    /// Index 0 only. Report as `V4L2_FRMSIZE_TYPE_CONTINUOUS` when
    /// [`FrameSizes::is_continuous`] (both steps 1), else as STEPWISE.
    Stepwise {
        min_w: u32,
        max_w: u32,
        step_w: u32,
        min_h: u32,
        max_h: u32,
        step_h: u32,
    },
}

impl FrameSizes {
    /// True for a stepwise range with unit steps (`V4L2_FRMSIZE_TYPE_CONTINUOUS`).
    pub fn is_continuous(&self) -> bool {
        matches!(
            self,
            FrameSizes::Stepwise {
                step_w: 1,
                step_h: 1,
                ..
            }
        )
    }
}

/// E18/E19: the sizes offered for `fourcc`; `None` (-> EINVAL) when the
/// fourcc is not offered.
///
/// * `fixed` caps: `Discrete([(w, h)])` for the caps' fourcc only.
/// * else a `locked` format (keep_format / producer-owned format, E7):
///   `Discrete([its size])` for its fourcc only.
/// * else every supported format: `Stepwise` over the whole range, with the
///   format's alignment as step, so every size in the range is exactly one
///   that `try_format` returns unchanged. Formats without alignment
///   constraints (GREY, RGB, compressed) get unit steps, i.e. CONTINUOUS.
pub fn frame_sizes(
    fourcc: u32,
    fixed: Option<&FixedCaps>,
    locked: Option<&PixFormat>,
) -> Option<FrameSizes> {
    if let Some(caps) = fixed {
        if caps.fourcc != fourcc {
            return None;
        }
        let f = try_format(&PixFormat::default(), Some(caps));
        return Some(FrameSizes::Discrete(vec![(f.width, f.height)]));
    }
    if let Some(cur) = locked {
        if cur.pixelformat != fourcc {
            return None;
        }
        return Some(FrameSizes::Discrete(vec![(cur.width, cur.height)]));
    }
    let info = lookup(fourcc)?;
    let (step_w, step_h) = info.alignment();
    let (min_w, max_w, min_h, max_h) = info.size_range();
    Some(FrameSizes::Stepwise {
        min_w,
        max_w,
        step_w,
        min_h,
        max_h,
        step_h,
    })
}

/// The answer to ENUM_FRAMEINTERVALS for one (fourcc, size) (E20).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameIntervals {
    /// `V4L2_FRMIVAL_TYPE_DISCRETE`, one entry per index.
    Discrete(Vec<Fract>),
    /// Index 0 only. Report as `V4L2_FRMIVAL_TYPE_CONTINUOUS` when
    /// [`FrameIntervals::is_continuous`] (step 1/1), else as STEPWISE.
    Stepwise { min: Fract, max: Fract, step: Fract },
}

impl FrameIntervals {
    /// True for a range with step 1/1 (`V4L2_FRMIVAL_TYPE_CONTINUOUS`).
    pub fn is_continuous(&self) -> bool {
        matches!(
            self,
            FrameIntervals::Stepwise {
                step: Fract {
                    numerator: 1,
                    denominator: 1
                },
                ..
            }
        )
    }
}

/// E20: the intervals offered for `fourcc` at `width` x `height`; `None`
/// (-> EINVAL) for an unknown fourcc or a size that [`frame_sizes`] does not
/// offer (v4l2-compliance probes width+1 of discrete sizes and min_w-1 /
/// max_h+1 of stepwise ranges and expects EINVAL).
///
/// * `fixed` caps: `Discrete([caps.interval])` for the caps' fourcc and size.
/// * else a `locked` (format, interval): `Discrete([interval])` for exactly
///   that fourcc and size.
/// * else: the continuous range `MIN_INTERVAL..=MAX_INTERVAL`, step 1/1,
///   which is exactly what [`clamp_interval`] accepts unchanged.
pub fn frame_intervals(
    fourcc: u32,
    width: u32,
    height: u32,
    fixed: Option<&FixedCaps>,
    locked: Option<(&PixFormat, Fract)>,
) -> Option<FrameIntervals> {
    if let Some(caps) = fixed {
        let f = try_format(&PixFormat::default(), Some(caps));
        if caps.fourcc != fourcc || f.width != width || f.height != height {
            return None;
        }
        return Some(FrameIntervals::Discrete(vec![clamp_interval(
            caps.interval,
        )]));
    }
    if let Some((cur, ival)) = locked {
        if cur.pixelformat != fourcc || cur.width != width || cur.height != height {
            return None;
        }
        return Some(FrameIntervals::Discrete(vec![clamp_interval(ival)]));
    }
    let info = lookup(fourcc)?;
    if !info.size_is_valid(width, height) {
        return None;
    }
    Some(FrameIntervals::Stepwise {
        min: MIN_INTERVAL,
        max: MAX_INTERVAL,
        step: Fract::new(1, 1),
    })
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const FIELD_ANY: u32 = 0;
    const FIELD_INTERLACED: u32 = 4;
    const COLORSPACE_REC709: u32 = 3;
    const PIX_FMT_FLAG_SET_CSC: u32 = 0x2;

    fn all_ff() -> PixFormat {
        PixFormat {
            width: u32::MAX,
            height: u32::MAX,
            pixelformat: u32::MAX,
            field: FIELD_ANY,
            bytesperline: u32::MAX,
            sizeimage: u32::MAX,
            colorspace: u32::MAX,
            flags: u32::MAX,
            ycbcr_enc: u32::MAX,
            quantization: u32::MAX,
            xfer_func: u32::MAX,
        }
    }

    fn bpp(info: &FormatInfo) -> Option<u32> {
        match info.layout {
            Layout::Packed { bits_per_pixel } => Some(bits_per_pixel),
            _ => None,
        }
    }

    /// The E9 invariants of a returned format (as v4l2-compliance checks
    /// them, plus the exact raw sizes).
    fn assert_e9(f: &PixFormat) {
        let info = lookup(f.pixelformat).expect("E9: pixelformat is an enumerated one");
        assert!(f.width > 0 && f.height > 0, "E9 size {f:?}");
        assert_eq!(
            f.bytesperline == 0,
            info.compressed,
            "E9 bpl==0 iff compressed {f:?}"
        );
        if f.bytesperline != 0 {
            assert!(f.bytesperline >= f.width, "E9 bpl >= width {f:?}");
        }
        if let Some(bpp) = bpp(info) {
            assert!(u64::from(f.bytesperline) * 8 >= u64::from(f.width) * u64::from(bpp));
        }
        if info.fourcc == PIX_FMT_YUYV {
            assert_eq!(
                f.bytesperline,
                f.width * 2,
                "E9 YUYV bpl is exactly width*2"
            );
        }
        assert!(f.sizeimage > 0, "E9 sizeimage {f:?}");
        if !info.compressed {
            assert!(
                u64::from(f.sizeimage) >= u64::from(f.bytesperline) * u64::from(f.height),
                "E9 sizeimage >= bpl*h {f:?}"
            );
        }
        assert_eq!(f.field, FIELD_NONE, "E9 field");
        assert_ne!(f.colorspace, 0, "E9 colorspace != DEFAULT");
        assert_ne!(f.colorspace, COLORSPACE_BT878, "E9 colorspace != BT878");
        assert!(
            f.colorspace <= COLORSPACE_LAST_DEFINED,
            "E9 colorspace < 0xff"
        );
        if f.colorspace == COLORSPACE_JPEG {
            assert!(info.fourcc == PIX_FMT_JPEG || info.fourcc == PIX_FMT_MJPEG);
        }
        assert!(f.ycbcr_enc < 0xff && f.quantization < 0xff && f.xfer_func < 0xff);
        assert!(
            info.size_is_valid(f.width, f.height),
            "aligned and in range {f:?}"
        );
    }

    #[test]
    fn fourcc_helpers() {
        assert_eq!(fourcc(b"YUYV"), 0x5659_5559);
        assert_eq!(fourcc(b"MJPG"), 0x4750_4a4d);
        assert_eq!(fourcc_str(fourcc(b"YU12")), "YU12");
        assert_eq!(fourcc_str(0x0000_0159), "Y???");
        assert_eq!(fourcc_str(0x2020_2020), "    ");
    }

    /// E9/E10: an all-0xff request with field ANY yields a valid format, for
    /// every format (through the pixelformat) and for the unknown fourcc.
    #[test]
    fn e9_e10_all_ff_request_is_fixed_up() {
        let f = try_format(&all_ff(), None);
        assert_e9(&f);
        assert_eq!(
            f.pixelformat, PIX_FMT_YUYV,
            "E10 unknown fourcc -> first format"
        );
        assert_eq!((f.width, f.height), (MAX_WIDTH, MAX_HEIGHT));
        for info in formats() {
            let mut req = all_ff();
            req.pixelformat = info.fourcc;
            let f = try_format(&req, None);
            assert_eq!(f.pixelformat, info.fourcc);
            assert_e9(&f);
            assert_eq!(f.colorspace, info.default_colorspace);
            assert_eq!((f.ycbcr_enc, f.quantization, f.xfer_func), (0, 0, 0));
            assert_eq!(
                f.flags & !PIX_FMT_FLAG_PREMUL_ALPHA,
                0,
                "no SET_CSC, no undefined bits"
            );
            // All-zero request too (and 0 -> default size).
            let z = try_format(
                &PixFormat {
                    pixelformat: info.fourcc,
                    ..PixFormat::default()
                },
                None,
            );
            assert_e9(&z);
            assert_eq!((z.width, z.height), (640, 480));
        }
    }

    /// E9: field ANY and INTERLACED (and anything else) become NONE.
    #[test]
    fn e9_field_is_always_none() {
        for field in [
            FIELD_ANY,
            FIELD_NONE,
            2,
            3,
            FIELD_INTERLACED,
            7,
            9,
            10,
            u32::MAX,
        ] {
            let req = PixFormat {
                field,
                ..PixFormat::default_format()
            };
            assert_eq!(try_format(&req, None).field, FIELD_NONE);
        }
    }

    /// E9/E16: colorimetry is kept when valid and defaulted otherwise.
    #[test]
    fn e9_e16_colorimetry() {
        let base = PixFormat::default_format();
        let keep = PixFormat {
            colorspace: COLORSPACE_REC709,
            ycbcr_enc: 2,
            quantization: 2,
            xfer_func: 1,
            ..base
        };
        let f = try_format(&keep, None);
        assert_eq!(
            (f.colorspace, f.ycbcr_enc, f.quantization, f.xfer_func),
            (COLORSPACE_REC709, 2, 2, 1)
        );
        for cs in [
            0,
            COLORSPACE_BT878,
            COLORSPACE_JPEG,
            13,
            0xfe,
            0xff,
            u32::MAX,
        ] {
            let f = try_format(
                &PixFormat {
                    colorspace: cs,
                    ..base
                },
                None,
            );
            assert_eq!(f.colorspace, COLORSPACE_SRGB, "cs {cs}");
        }
        let bad = PixFormat {
            ycbcr_enc: 9,
            quantization: 3,
            xfer_func: 8,
            ..base
        };
        let f = try_format(&bad, None);
        assert_eq!((f.ycbcr_enc, f.quantization, f.xfer_func), (0, 0, 0));
        // JPEG colorspace allowed for MJPG, forced for JPEG.
        let mj = PixFormat {
            pixelformat: PIX_FMT_MJPEG,
            colorspace: COLORSPACE_JPEG,
            ..base
        };
        assert_eq!(try_format(&mj, None).colorspace, COLORSPACE_JPEG);
        let jp = PixFormat {
            pixelformat: PIX_FMT_JPEG,
            colorspace: COLORSPACE_SRGB,
            ..base
        };
        assert_eq!(try_format(&jp, None).colorspace, COLORSPACE_JPEG);
    }

    #[test]
    fn flags_sanitised() {
        let base = PixFormat::default_format();
        let all = PixFormat {
            flags: u32::MAX,
            ..base
        };
        assert_eq!(try_format(&all, None).flags, 0, "YUYV has no alpha");
        let rgb = PixFormat {
            pixelformat: PIX_FMT_BGR32,
            flags: PIX_FMT_FLAG_PREMUL_ALPHA | PIX_FMT_FLAG_SET_CSC | 0x100,
            ..base
        };
        assert_eq!(try_format(&rgb, None).flags, PIX_FMT_FLAG_PREMUL_ALPHA);
    }

    /// E11: try_format is idempotent, over a deterministic spread of inputs.
    #[test]
    fn e11_idempotent() {
        let sizes = [
            0u32,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            479,
            480,
            481,
            639,
            640,
            641,
            1079,
            1080,
            1920,
            4095,
            8191,
            8192,
            8193,
            65535,
            0x8000_0000,
            u32::MAX,
        ];
        let mut fourccs: Vec<u32> = formats().iter().map(|f| f.fourcc).collect();
        fourccs.extend([0, 0x2020_2020, fourcc(b"NV16"), u32::MAX]);
        let mut seed = 0x1234_5678u32;
        let mut next = || {
            // xorshift32: deterministic garbage for the other fields
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for &pf in &fourccs {
            for &w in &sizes {
                for &h in &sizes {
                    let req = PixFormat {
                        width: w,
                        height: h,
                        pixelformat: pf,
                        field: next() % 12,
                        bytesperline: next(),
                        sizeimage: next(),
                        colorspace: next() % 16,
                        flags: next() % 4,
                        ycbcr_enc: next() % 12,
                        quantization: next() % 4,
                        xfer_func: next() % 10,
                    };
                    let once = try_format(&req, None);
                    assert_e9(&once);
                    assert_eq!(try_format(&once, None), once, "E11 for {req:?}");
                }
            }
        }
        assert_eq!(
            try_format(&PixFormat::default_format(), None),
            PixFormat::default_format()
        );
        assert_e9(&PixFormat::default_format());
    }

    /// E11 with fixed caps: result is always the caps' fourcc and size.
    #[test]
    fn e11_fixed_caps_restrict_try_format() {
        let caps: FixedCaps = "NV12:1280x720@30".parse().unwrap();
        for req in [all_ff(), PixFormat::default(), PixFormat::default_format()] {
            let f = try_format(&req, Some(&caps));
            assert_eq!((f.pixelformat, f.width, f.height), (caps.fourcc, 1280, 720));
            assert_e9(&f);
            assert_eq!(try_format(&f, Some(&caps)), f);
        }
    }

    #[test]
    fn geometry() {
        let g = |code: &[u8; 4], w, h| frame_geometry(lookup(fourcc(code)).unwrap(), w, h, 0, 0);
        assert_eq!(g(b"YUYV", 640, 480), (1280, 614_400));
        assert_eq!(g(b"NV12", 1920, 1080), (1920, 3_110_400));
        assert_eq!(g(b"YU12", 1920, 1080), (1920, 3_110_400));
        assert_eq!(g(b"RGB3", 641, 480), (1923, 1923 * 480));
        assert_eq!(g(b"BGR3", 2, 1), (6, 6));
        assert_eq!(g(b"GREY", 641, 3), (641, 1923));
        assert_eq!(g(b"XR24", 640, 480), (2560, 1_228_800));
        assert_eq!(g(b"RGBP", 3, 2), (6, 12));
        assert_eq!(g(b"422P", 640, 480), (640, 614_400));
        // Requested strides are never honoured (tight packing).
        let yuyv = lookup(PIX_FMT_YUYV).unwrap();
        assert_eq!(
            frame_geometry(yuyv, 640, 480, 4096, 1 << 30),
            (1280, 614_400)
        );
        // Odd 4:2:0 sizes are rounded down to even by try_format.
        let f = try_format(
            &PixFormat {
                width: 641,
                height: 481,
                pixelformat: fourcc(b"YU12"),
                ..PixFormat::default()
            },
            None,
        );
        assert_eq!(
            (f.width, f.height, f.bytesperline, f.sizeimage),
            (640, 480, 640, 460_800)
        );
        let f = try_format(
            &PixFormat {
                width: 1,
                height: 1,
                pixelformat: fourcc(b"NV12"),
                ..PixFormat::default()
            },
            None,
        );
        assert_eq!((f.width, f.height, f.sizeimage), (2, 2, 6));
        // 4:2:2 packed: even width, any height.
        let f = try_format(
            &PixFormat {
                width: 641,
                height: 3,
                pixelformat: PIX_FMT_YUYV,
                ..PixFormat::default()
            },
            None,
        );
        assert_eq!((f.width, f.height, f.bytesperline), (640, 3, 1280));
    }

    #[test]
    fn compressed_sizeimage() {
        let mjpg = lookup(PIX_FMT_MJPEG).unwrap();
        let (bpl, min) = frame_geometry(mjpg, 1920, 1080, 0, 0);
        assert_eq!(bpl, 0);
        assert_eq!(min, 4_214_784); // 1920*1080*2 + 64 KiB, page rounded
        assert_eq!(min % 4096, 0);
        // A larger request is honoured (page rounded), up to the cap.
        assert_eq!(frame_geometry(mjpg, 1920, 1080, 0, min + 1).1, min + 4096);
        let (_, cap) = frame_geometry(mjpg, 1920, 1080, 0, u32::MAX);
        assert_eq!(cap, 12_509_184); // 1920*1080*6 + 64 KiB, page rounded
                                     // Tiny frames still have room for headers.
        assert!(frame_geometry(mjpg, 2, 1, 0, 0).1 >= 64 * 1024);
        // Largest size fits u32 without saturating.
        let (_, big) = frame_geometry(mjpg, MAX_WIDTH, MAX_HEIGHT, 0, u32::MAX);
        assert!(big < u32::MAX && u64::from(big) >= 8192 * 8192 * 6);
    }

    /// E3/E4/E5: the table itself.
    #[test]
    fn e3_e4_e5_format_table() {
        let list = formats();
        let expected_head: Vec<u32> = [
            b"YUYV", b"UYVY", b"NV12", b"YU12", b"RGB3", b"BGR3", b"XR24", b"RGB4", b"BGR4",
            b"GREY", b"MJPG", b"JPEG", b"H264",
        ]
        .iter()
        .map(|c| fourcc(c))
        .collect();
        let head: Vec<u32> = list.iter().take(13).map(|f| f.fourcc).collect();
        assert_eq!(head, expected_head, "E3 preferred order");
        for (i, f) in list.iter().enumerate() {
            assert_ne!(f.fourcc, 0, "E3 no zero fourcc");
            assert!(
                list[i + 1..].iter().all(|g| g.fourcc != f.fourcc),
                "E3 duplicate {}",
                fourcc_str(f.fourcc)
            );
            assert!(!f.description.is_empty() && f.description.len() < 32, "E4");
            assert!(f.description.is_ascii());
            assert_eq!(f.compressed, f.layout == Layout::Compressed, "E5");
            assert_eq!(f.fmtdesc_flags(), u32::from(f.compressed), "E5 flags");
            assert_eq!(lookup(f.fourcc), Some(f));
            assert!(
                colorspace_is_valid(f.default_colorspace, f.fourcc),
                "E9 default"
            );
        }
        assert_eq!(lookup(0x2020_2020), None);
        // E4: canonical strings (kernel v4l_fill_fmtdesc / v4l2-pix-formats.h).
        let canonical: &[(&[u8; 4], &str)] = &[
            (b"YUYV", "YUYV 4:2:2"),
            (b"UYVY", "UYVY 4:2:2"),
            (b"YVYU", "YVYU 4:2:2"),
            (b"NV12", "Y/CbCr 4:2:0"),
            (b"NV21", "Y/CrCb 4:2:0"),
            (b"YU12", "Planar YUV 4:2:0"),
            (b"YV12", "Planar YVU 4:2:0"),
            (b"422P", "Planar YUV 4:2:2"),
            (b"RGB3", "24-bit RGB 8-8-8"),
            (b"BGR3", "24-bit BGR 8-8-8"),
            (b"XR24", "32-bit BGRX 8-8-8-8"),
            (b"BX24", "32-bit XRGB 8-8-8-8"),
            (b"RGB4", "32-bit A/XRGB 8-8-8-8"),
            (b"BGR4", "32-bit BGRA/X 8-8-8-8"),
            (b"GREY", "8-bit Greyscale"),
            (b"RGBP", "16-bit RGB 5-6-5"),
            (b"MJPG", "Motion-JPEG"),
            (b"JPEG", "JFIF JPEG"),
            (b"H264", "H.264"),
            (b"HEVC", "HEVC"),
        ];
        assert_eq!(canonical.len(), list.len());
        for (code, descr) in canonical {
            assert_eq!(lookup(fourcc(code)).unwrap().description, *descr);
        }
        for code in [b"MJPG", b"JPEG", b"H264", b"HEVC"] {
            assert!(lookup(fourcc(code)).unwrap().compressed, "E5");
        }
    }

    #[test]
    fn fixed_caps_parse_and_print() {
        let c: FixedCaps = "YUYV:640x480@30".parse().unwrap();
        assert_eq!(
            c,
            FixedCaps {
                fourcc: PIX_FMT_YUYV,
                width: 640,
                height: 480,
                interval: Fract::new(1, 30)
            }
        );
        assert_eq!(c.to_string(), "YUYV:640x480@30/1");
        let c: FixedCaps = "MJPG:1920x1080@30/1".parse().unwrap();
        assert_eq!(c.interval, Fract::new(1, 30));
        let c: FixedCaps = "YU12:1280x720@60000/1001".parse().unwrap();
        assert_eq!(c.interval, Fract::new(1001, 60000));
        assert_eq!(c.to_string(), "YU12:1280x720@60000/1001");
        // Reduced, and the rate may be fractional below 1 fps.
        let c: FixedCaps = "grey:2x1@60/2".parse().unwrap();
        assert_eq!((c.fourcc, c.interval), (fourcc(b"GREY"), Fract::new(1, 30)));
        let c: FixedCaps = "RGB3:2x1@1/60".parse().unwrap();
        assert_eq!(c.interval, MAX_INTERVAL);
        let c: FixedCaps = " UYVY:8192X8192@1000 ".parse().unwrap();
        assert_eq!(c.interval, MIN_INTERVAL);
        // Rate omitted -> 30 fps (v4l2loopback-ctl set-caps compatibility).
        let c: FixedCaps = "NV12:640x480".parse().unwrap();
        assert_eq!(c.interval, DEFAULT_INTERVAL);
        // Round trip for every format.
        for info in formats() {
            let c = FixedCaps {
                fourcc: info.fourcc,
                width: 1280,
                height: 720,
                interval: Fract::new(1001, 30000),
            };
            let back: FixedCaps = c.to_string().parse().unwrap();
            assert_eq!(back, c, "{c}");
        }
    }

    #[test]
    fn fixed_caps_aliases() {
        let p = |s: &str| s.parse::<FixedCaps>().unwrap().fourcc;
        assert_eq!(p("I420:640x480@30"), fourcc(b"YU12"));
        assert_eq!(p("i420:640x480@30"), fourcc(b"YU12"));
        assert_eq!(p("RGB24:640x480@30"), fourcc(b"RGB3"));
        assert_eq!(p("rgb3:640x480@30"), fourcc(b"RGB3"));
        assert_eq!(p("BGR24:640x480@30"), fourcc(b"BGR3"));
        assert_eq!(p("BGR3:640x480@30"), fourcc(b"BGR3"));
        assert_eq!(p("MJPEG:640x480@30"), PIX_FMT_MJPEG);
        assert_eq!(p("mjpg:640x480@30"), PIX_FMT_MJPEG);
        assert_eq!(p("yuy2:640x480@30"), PIX_FMT_YUYV);
        assert_eq!(p("XBGR32:640x480@30"), fourcc(b"XR24"));
        assert_eq!(p("xr24:640x480@30"), fourcc(b"XR24"));
        assert_eq!(p("h265:640x480@30"), fourcc(b"HEVC"));
    }

    #[test]
    fn fixed_caps_errors() {
        let err = |s: &str| s.parse::<FixedCaps>().unwrap_err();
        let cases: &[(&str, &str)] = &[
            ("FOOO:640x480@30", "unknown pixel format"),
            ("YUV:640x480@30", "unknown pixel format"),
            ("YUYV:0x480@30", "must not be zero"),
            ("YUYV:640x0@30", "must not be zero"),
            ("YUYV:8194x480@30", "outside"),
            ("YUYV:640x9000@30", "outside"),
            ("GREY:1x480@30", "outside"),
            ("YUYV:99999999999x480@30", "too large"),
            ("NV12:641x480@30", "even width and height"),
            ("YU12:640x481@30", "even width and height"),
            ("YUYV:641x480@30", "even width"),
            ("YUYV:640x480@0", "non-zero"),
            ("YUYV:640x480@30/0", "non-zero"),
            ("YUYV:640x480@2000", "outside"),
            ("YUYV:640x480@1/61", "outside"),
            ("YUYV:640x480@abc", "invalid frame rate"),
            ("YUYV:640x480@-30", "invalid frame rate"),
            ("YUYV:640x480@", "missing frame rate"),
            ("YUYV640x480@30", "missing ':'"),
            (":640x480@30", "missing pixel format"),
            ("YUYV:@30", "missing frame size"),
            ("YUYV:640@30", "WIDTHxHEIGHT"),
            ("YUYV:640x@30", "invalid height"),
            ("YUYV:x480@30", "invalid width"),
            ("", "missing ':'"),
        ];
        for (input, needle) in cases {
            let e = err(input);
            assert!(e.contains(needle), "{input:?}: {e:?} lacks {needle:?}");
            assert!(!e.contains('\n'), "one line: {e:?}");
        }
    }

    /// E24: reset on 0/x and x/0, clamp, reduce.
    #[test]
    fn e24_clamp_interval() {
        assert_eq!(clamp_interval(Fract::new(0, 1)), DEFAULT_INTERVAL);
        assert_eq!(clamp_interval(Fract::new(1, 0)), DEFAULT_INTERVAL);
        assert_eq!(clamp_interval(Fract::new(0, 0)), DEFAULT_INTERVAL);
        assert_eq!(clamp_interval(Fract::new(1, 100_000)), MIN_INTERVAL);
        assert_eq!(clamp_interval(Fract::new(u32::MAX, 1)), MAX_INTERVAL);
        assert_eq!(clamp_interval(Fract::new(61, 1)), MAX_INTERVAL);
        assert_eq!(clamp_interval(Fract::new(2, 60)), Fract::new(1, 30));
        assert_eq!(
            clamp_interval(Fract::new(1001, 30000)),
            Fract::new(1001, 30000)
        );
        assert_eq!(clamp_interval(Fract::new(120, 2)), MAX_INTERVAL);
        assert_eq!(clamp_interval(Fract::new(2, 2000)), MIN_INTERVAL);
        assert_eq!(
            clamp_interval(Fract::new(u32::MAX, u32::MAX - 1)),
            Fract::new(u32::MAX, u32::MAX - 1)
        );
        for n in [1u32, 2, 7, 1000, 1001, 60000, u32::MAX] {
            for d in [0u32, 1, 3, 30, 1000, 30000, u32::MAX] {
                let c = clamp_interval(Fract::new(n, d));
                assert!(c.is_valid());
                assert_eq!(clamp_interval(c), c, "idempotent for {n}/{d}");
                assert!(!c.cmp_duration(&MIN_INTERVAL).is_lt());
                assert!(!c.cmp_duration(&MAX_INTERVAL).is_gt());
            }
        }
    }

    #[test]
    fn fract_helpers() {
        assert_eq!(Fract::from_fps(30), DEFAULT_INTERVAL);
        assert!(!Fract::from_fps(0).is_valid());
        assert_eq!(DEFAULT_INTERVAL.as_nanos(), 33_333_333);
        assert_eq!(Fract::new(1001, 30000).as_nanos(), 33_366_666);
        assert_eq!(Fract::new(1, 0).as_nanos(), u64::MAX);
        assert_eq!(
            Fract::new(u32::MAX, 1).as_nanos(),
            u64::from(u32::MAX) * 1_000_000_000
        );
    }

    fn fract_f64(f: Fract) -> f64 {
        f64::from(f.numerator) / f64::from(f.denominator)
    }

    /// E20 invariants of one answer, as v4l2-compliance checks them.
    fn assert_e20(ivals: &FrameIntervals) {
        match ivals {
            FrameIntervals::Discrete(list) => {
                assert!(!list.is_empty());
                assert!(list.iter().all(Fract::is_valid));
            }
            FrameIntervals::Stepwise { min, max, step } => {
                assert!(min.is_valid() && max.is_valid() && step.is_valid());
                assert!(fract_f64(*min) <= fract_f64(*max));
                // Holds whether it is reported as STEPWISE or CONTINUOUS.
                assert!(fract_f64(*step) <= fract_f64(*max) - fract_f64(*min));
                if ivals.is_continuous() {
                    assert_eq!(*step, Fract::new(1, 1));
                }
            }
        }
    }

    /// E18/E19/E20 for every format without fixed caps or lock.
    #[test]
    fn e18_e19_e20_unlocked_enumeration() {
        assert_eq!(frame_sizes(0x2020_2020, None, None), None, "E18");
        assert_eq!(
            frame_intervals(0x2020_2020, 640, 480, None, None),
            None,
            "E20"
        );
        for info in formats() {
            let sizes = frame_sizes(info.fourcc, None, None).expect("offered");
            let FrameSizes::Stepwise {
                min_w,
                max_w,
                step_w,
                min_h,
                max_h,
                step_h,
            } = sizes
            else {
                panic!("unlocked sizes are stepwise");
            };
            // E19 invariants.
            assert!(min_w > 0 && min_h > 0 && step_w > 0 && step_h > 0);
            assert!(min_w <= max_w && min_h <= max_h);
            assert!(step_w <= max_w - min_w && step_h <= max_h - min_h);
            assert_eq!((max_w - min_w) % step_w, 0);
            assert_eq!((max_h - min_h) % step_h, 0);
            assert_eq!(sizes.is_continuous(), (step_w, step_h) == (1, 1));
            if info.compressed {
                assert!(sizes.is_continuous());
            }
            // Every stepwise size is accepted unchanged by try_format.
            let ws = [
                min_w,
                min_w + step_w,
                640,
                1280,
                1920,
                max_w - step_w,
                max_w,
            ];
            let hs = [min_h, min_h + step_h, 480, 720, 1080, max_h - step_h, max_h];
            for &w in &ws {
                for &h in &hs {
                    let on_grid = (w - min_w) % step_w == 0 && (h - min_h) % step_h == 0;
                    assert!(on_grid);
                    let f = try_format(
                        &PixFormat {
                            width: w,
                            height: h,
                            pixelformat: info.fourcc,
                            ..PixFormat::default()
                        },
                        None,
                    );
                    assert_eq!((f.width, f.height), (w, h), "{}", fourcc_str(info.fourcc));
                    let iv = frame_intervals(info.fourcc, w, h, None, None).expect("E20");
                    assert_e20(&iv);
                    assert!(iv.is_continuous());
                }
            }
            // E20: the probes v4l2-compliance makes must fail.
            assert_eq!(
                frame_intervals(info.fourcc, min_w - 1, min_h, None, None),
                None
            );
            assert_eq!(
                frame_intervals(info.fourcc, max_w, max_h + 1, None, None),
                None
            );
            if step_w > 1 {
                assert_eq!(frame_intervals(info.fourcc, 641, 480, None, None), None);
            }
            // Range consistent with clamp_interval.
            if let Some(FrameIntervals::Stepwise { min, max, .. }) =
                frame_intervals(info.fourcc, 640, 480, None, None)
            {
                assert_eq!(clamp_interval(min), min);
                assert_eq!(clamp_interval(max), max);
            }
        }
    }

    /// E7/E19/E20: a locked (producer / keep_format) format offers exactly
    /// its size and interval, only for its fourcc.
    #[test]
    fn e7_e19_e20_locked_enumeration() {
        let cur = try_format(
            &PixFormat {
                width: 1280,
                height: 720,
                pixelformat: fourcc(b"NV12"),
                ..PixFormat::default()
            },
            None,
        );
        let ival = Fract::new(1, 25);
        assert_eq!(
            frame_sizes(cur.pixelformat, None, Some(&cur)),
            Some(FrameSizes::Discrete(vec![(1280, 720)]))
        );
        assert_eq!(frame_sizes(PIX_FMT_YUYV, None, Some(&cur)), None);
        let iv = frame_intervals(cur.pixelformat, 1280, 720, None, Some((&cur, ival)));
        assert_eq!(iv, Some(FrameIntervals::Discrete(vec![ival])));
        assert_e20(iv.as_ref().unwrap());
        assert_eq!(
            frame_intervals(cur.pixelformat, 1281, 720, None, Some((&cur, ival))),
            None
        );
        assert_eq!(
            frame_intervals(PIX_FMT_YUYV, 1280, 720, None, Some((&cur, ival))),
            None
        );
        // An invalid stored interval is still reported as a valid fraction.
        let iv = frame_intervals(
            cur.pixelformat,
            1280,
            720,
            None,
            Some((&cur, Fract::new(0, 0))),
        );
        assert_eq!(iv, Some(FrameIntervals::Discrete(vec![DEFAULT_INTERVAL])));
    }

    /// Fixed caps restrict enumeration to exactly one fourcc/size/interval.
    #[test]
    fn e19_e20_fixed_caps_enumeration() {
        let caps: FixedCaps = "MJPG:1920x1080@60000/1001".parse().unwrap();
        for info in formats() {
            let sizes = frame_sizes(info.fourcc, Some(&caps), None);
            if info.fourcc == caps.fourcc {
                assert_eq!(sizes, Some(FrameSizes::Discrete(vec![(1920, 1080)])));
            } else {
                assert_eq!(sizes, None);
                assert_eq!(
                    frame_intervals(info.fourcc, 1920, 1080, Some(&caps), None),
                    None
                );
            }
        }
        let iv = frame_intervals(caps.fourcc, 1920, 1080, Some(&caps), None);
        assert_eq!(
            iv,
            Some(FrameIntervals::Discrete(vec![Fract::new(1001, 60000)]))
        );
        // Discrete size + 1 -> EINVAL (E20 probe).
        assert_eq!(
            frame_intervals(caps.fourcc, 1921, 1080, Some(&caps), None),
            None
        );
        assert_eq!(
            frame_intervals(caps.fourcc, 1920, 1081, Some(&caps), None),
            None
        );
        // Fixed caps win over a (stale) locked format.
        let other = PixFormat::default_format();
        assert_eq!(
            frame_sizes(other.pixelformat, Some(&caps), Some(&other)),
            None
        );
    }
}
