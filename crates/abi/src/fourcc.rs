//! Pixel format four-character codes (`V4L2_PIX_FMT_*`).
//!
//! A fourcc is stored little-endian: the first character is the lowest byte,
//! so the bytes of the `u32` in memory spell the code (`YUYV` → `b"YUYV"`).

/// `v4l2_fourcc(a, b, c, d)`.
pub const fn fourcc(a: u8, b: u8, c: u8, d: u8) -> u32 {
    (a as u32) | ((b as u32) << 8) | ((c as u32) << 16) | ((d as u32) << 24)
}

/// `v4l2_fourcc_be(a, b, c, d)`: the big-endian variant of a format (bit 31 set).
pub const fn fourcc_be(a: u8, b: u8, c: u8, d: u8) -> u32 {
    fourcc(a, b, c, d) | (1 << 31)
}

/// Renders a fourcc as its four characters, e.g. `"YUYV"`. Non-printable
/// bytes become `'.'`; a big-endian code (bit 31 set) is rendered without
/// that bit and suffixed with `"-BE"`.
pub fn fourcc_to_string(code: u32) -> String {
    let be = code & (1 << 31) != 0;
    let bytes = (code & !(1 << 31)).to_le_bytes();
    let mut s: String = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    if be {
        s.push_str("-BE");
    }
    s
}

// Packed YUV 4:2:2
pub const V4L2_PIX_FMT_YUYV: u32 = fourcc(b'Y', b'U', b'Y', b'V');
pub const V4L2_PIX_FMT_YVYU: u32 = fourcc(b'Y', b'V', b'Y', b'U');
pub const V4L2_PIX_FMT_UYVY: u32 = fourcc(b'U', b'Y', b'V', b'Y');
pub const V4L2_PIX_FMT_VYUY: u32 = fourcc(b'V', b'Y', b'U', b'Y');
pub const V4L2_PIX_FMT_YYUV: u32 = fourcc(b'Y', b'Y', b'U', b'V');

// Packed YUV 4:4:4
pub const V4L2_PIX_FMT_YUV24: u32 = fourcc(b'Y', b'U', b'V', b'3');
pub const V4L2_PIX_FMT_YUV32: u32 = fourcc(b'Y', b'U', b'V', b'4');
pub const V4L2_PIX_FMT_AYUV32: u32 = fourcc(b'A', b'Y', b'U', b'V');
pub const V4L2_PIX_FMT_XYUV32: u32 = fourcc(b'X', b'Y', b'U', b'V');

// Semi-planar YUV (two planes, one buffer)
pub const V4L2_PIX_FMT_NV12: u32 = fourcc(b'N', b'V', b'1', b'2');
pub const V4L2_PIX_FMT_NV21: u32 = fourcc(b'N', b'V', b'2', b'1');
pub const V4L2_PIX_FMT_NV16: u32 = fourcc(b'N', b'V', b'1', b'6');
pub const V4L2_PIX_FMT_NV61: u32 = fourcc(b'N', b'V', b'6', b'1');
pub const V4L2_PIX_FMT_NV24: u32 = fourcc(b'N', b'V', b'2', b'4');
pub const V4L2_PIX_FMT_NV42: u32 = fourcc(b'N', b'V', b'4', b'2');

// Planar YUV (three planes, one buffer)
/// `YU12`.
pub const V4L2_PIX_FMT_YUV420: u32 = fourcc(b'Y', b'U', b'1', b'2');
/// `YV12`.
pub const V4L2_PIX_FMT_YVU420: u32 = fourcc(b'Y', b'V', b'1', b'2');
/// `422P`.
pub const V4L2_PIX_FMT_YUV422P: u32 = fourcc(b'4', b'2', b'2', b'P');
/// `411P`.
pub const V4L2_PIX_FMT_YUV411P: u32 = fourcc(b'4', b'1', b'1', b'P');

// Multi-planar (non-contiguous) variants
pub const V4L2_PIX_FMT_NV12M: u32 = fourcc(b'N', b'M', b'1', b'2');
pub const V4L2_PIX_FMT_NV21M: u32 = fourcc(b'N', b'M', b'2', b'1');
pub const V4L2_PIX_FMT_YUV420M: u32 = fourcc(b'Y', b'M', b'1', b'2');
pub const V4L2_PIX_FMT_YVU420M: u32 = fourcc(b'Y', b'M', b'2', b'1');

// RGB
/// `RGB3`.
pub const V4L2_PIX_FMT_RGB24: u32 = fourcc(b'R', b'G', b'B', b'3');
/// `BGR3`.
pub const V4L2_PIX_FMT_BGR24: u32 = fourcc(b'B', b'G', b'R', b'3');
/// `RGB4` (deprecated: alpha/padding ambiguous).
pub const V4L2_PIX_FMT_RGB32: u32 = fourcc(b'R', b'G', b'B', b'4');
/// `BGR4` (deprecated: alpha/padding ambiguous).
pub const V4L2_PIX_FMT_BGR32: u32 = fourcc(b'B', b'G', b'R', b'4');
/// `AR24`: memory order B, G, R, A.
pub const V4L2_PIX_FMT_ABGR32: u32 = fourcc(b'A', b'R', b'2', b'4');
/// `XR24`: memory order B, G, R, X.
pub const V4L2_PIX_FMT_XBGR32: u32 = fourcc(b'X', b'R', b'2', b'4');
/// `RA24`: memory order A, B, G, R.
pub const V4L2_PIX_FMT_BGRA32: u32 = fourcc(b'R', b'A', b'2', b'4');
/// `RX24`: memory order X, B, G, R.
pub const V4L2_PIX_FMT_BGRX32: u32 = fourcc(b'R', b'X', b'2', b'4');
/// `AB24`: memory order R, G, B, A.
pub const V4L2_PIX_FMT_RGBA32: u32 = fourcc(b'A', b'B', b'2', b'4');
/// `XB24`: memory order R, G, B, X.
pub const V4L2_PIX_FMT_RGBX32: u32 = fourcc(b'X', b'B', b'2', b'4');
/// `BA24`: memory order A, R, G, B.
pub const V4L2_PIX_FMT_ARGB32: u32 = fourcc(b'B', b'A', b'2', b'4');
/// `BX24`: memory order X, R, G, B.
pub const V4L2_PIX_FMT_XRGB32: u32 = fourcc(b'B', b'X', b'2', b'4');
/// `RGBP`.
pub const V4L2_PIX_FMT_RGB565: u32 = fourcc(b'R', b'G', b'B', b'P');
/// `RGBR` (big-endian RGB565).
pub const V4L2_PIX_FMT_RGB565X: u32 = fourcc(b'R', b'G', b'B', b'R');
/// `RGBO`.
pub const V4L2_PIX_FMT_RGB555: u32 = fourcc(b'R', b'G', b'B', b'O');
/// `RGB1`.
pub const V4L2_PIX_FMT_RGB332: u32 = fourcc(b'R', b'G', b'B', b'1');

// Greyscale
pub const V4L2_PIX_FMT_GREY: u32 = fourcc(b'G', b'R', b'E', b'Y');
pub const V4L2_PIX_FMT_Y10: u32 = fourcc(b'Y', b'1', b'0', b' ');
pub const V4L2_PIX_FMT_Y12: u32 = fourcc(b'Y', b'1', b'2', b' ');
pub const V4L2_PIX_FMT_Y16: u32 = fourcc(b'Y', b'1', b'6', b' ');
pub const V4L2_PIX_FMT_Y16_BE: u32 = fourcc_be(b'Y', b'1', b'6', b' ');

// Bayer (8-bit)
pub const V4L2_PIX_FMT_SBGGR8: u32 = fourcc(b'B', b'A', b'8', b'1');
pub const V4L2_PIX_FMT_SGBRG8: u32 = fourcc(b'G', b'B', b'R', b'G');
pub const V4L2_PIX_FMT_SGRBG8: u32 = fourcc(b'G', b'R', b'B', b'G');
pub const V4L2_PIX_FMT_SRGGB8: u32 = fourcc(b'R', b'G', b'G', b'B');

// Compressed
/// `MJPG`.
pub const V4L2_PIX_FMT_MJPEG: u32 = fourcc(b'M', b'J', b'P', b'G');
pub const V4L2_PIX_FMT_JPEG: u32 = fourcc(b'J', b'P', b'E', b'G');
/// `dvsd`.
pub const V4L2_PIX_FMT_DV: u32 = fourcc(b'd', b'v', b's', b'd');
pub const V4L2_PIX_FMT_MPEG: u32 = fourcc(b'M', b'P', b'E', b'G');
pub const V4L2_PIX_FMT_H264: u32 = fourcc(b'H', b'2', b'6', b'4');
/// `AVC1`.
pub const V4L2_PIX_FMT_H264_NO_SC: u32 = fourcc(b'A', b'V', b'C', b'1');
pub const V4L2_PIX_FMT_H263: u32 = fourcc(b'H', b'2', b'6', b'3');
/// `MPG1`.
pub const V4L2_PIX_FMT_MPEG1: u32 = fourcc(b'M', b'P', b'G', b'1');
/// `MPG2`.
pub const V4L2_PIX_FMT_MPEG2: u32 = fourcc(b'M', b'P', b'G', b'2');
/// `MPG4`.
pub const V4L2_PIX_FMT_MPEG4: u32 = fourcc(b'M', b'P', b'G', b'4');
pub const V4L2_PIX_FMT_XVID: u32 = fourcc(b'X', b'V', b'I', b'D');
/// `VP80`.
pub const V4L2_PIX_FMT_VP8: u32 = fourcc(b'V', b'P', b'8', b'0');
/// `VP90`.
pub const V4L2_PIX_FMT_VP9: u32 = fourcc(b'V', b'P', b'9', b'0');
pub const V4L2_PIX_FMT_HEVC: u32 = fourcc(b'H', b'E', b'V', b'C');
pub const V4L2_PIX_FMT_FWHT: u32 = fourcc(b'F', b'W', b'H', b'T');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_reference() {
        assert_eq!(V4L2_PIX_FMT_YUYV, 0x5659_5559);
        assert_eq!(V4L2_PIX_FMT_UYVY, 0x5956_5955);
        assert_eq!(V4L2_PIX_FMT_MJPEG, 0x4750_4a4d);
        assert_eq!(V4L2_PIX_FMT_NV12, 0x3231_564e);
        assert_eq!(V4L2_PIX_FMT_YUV420, 0x3231_5559);
        assert_eq!(V4L2_PIX_FMT_RGB24, 0x3342_4752);
        assert_eq!(V4L2_PIX_FMT_BGR24, 0x3352_4742);
        assert_eq!(V4L2_PIX_FMT_GREY, 0x5945_5247);
        assert_eq!(V4L2_PIX_FMT_XBGR32, 0x3432_5258);
        assert_eq!(V4L2_PIX_FMT_BGR32, 0x3452_4742);
        assert_eq!(V4L2_PIX_FMT_RGB32, 0x3442_4752);
    }

    #[test]
    fn to_string() {
        assert_eq!(fourcc_to_string(V4L2_PIX_FMT_YUYV), "YUYV");
        assert_eq!(fourcc_to_string(V4L2_PIX_FMT_MJPEG), "MJPG");
        assert_eq!(fourcc_to_string(V4L2_PIX_FMT_Y16), "Y16 ");
        assert_eq!(fourcc_to_string(V4L2_PIX_FMT_Y16_BE), "Y16 -BE");
        assert_eq!(fourcc_to_string(0x0000_0041), "A...");
        assert_eq!(V4L2_PIX_FMT_YUYV.to_le_bytes(), *b"YUYV");
    }
}
