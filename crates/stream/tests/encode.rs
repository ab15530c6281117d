//! The JPEG encoder: every raw format it takes, decoded back and checked against the bars.

mod common;

use loopcam_abi::*;
use loopcam_media::{layout, render, Pattern};
use loopcam_stream::jpeg::{can_encode, jpeg_payload, JpegEncoder};
use loopcam_stream::SourceFormat;

fn roundtrip(fourcc: u32, w: u32, h: u32, bpl_pad: u32) -> (u32, u32, Vec<u8>) {
    let l = layout(fourcc, w, h).unwrap();
    let mut frame = vec![0; l.sizeimage];
    render(&Pattern::Bars, &l, 0, &mut frame).unwrap();
    let mut bpl = l.bytes_per_line() as u32;
    if bpl_pad > 0 {
        // Re-stride a packed frame with padding at the end of each row (kernel drivers do).
        let src_bpl = bpl as usize;
        bpl += bpl_pad;
        let mut padded = vec![0xAA; bpl as usize * h as usize];
        for y in 0..h as usize {
            padded[y * bpl as usize..y * bpl as usize + src_bpl]
                .copy_from_slice(&frame[y * src_bpl..(y + 1) * src_bpl]);
        }
        frame = padded;
    }
    let f = SourceFormat {
        fourcc,
        width: w,
        height: h,
        bytesperline: bpl,
        sizeimage: frame.len() as u32,
    };
    let mut enc = JpegEncoder::new(90).unwrap();
    let jpeg = enc.encode(&f, &frame).unwrap();
    assert_eq!(jpeg_payload(&jpeg), Some(jpeg.len()), "complete JPEG");
    common::decode(&jpeg)
}

#[test]
fn every_raw_format_encodes_to_the_bars() {
    let yuv = [
        V4L2_PIX_FMT_YUYV,
        V4L2_PIX_FMT_UYVY,
        V4L2_PIX_FMT_YVYU,
        V4L2_PIX_FMT_NV12,
        V4L2_PIX_FMT_NV21,
        V4L2_PIX_FMT_YUV420,
        V4L2_PIX_FMT_YVU420,
        V4L2_PIX_FMT_YUV422P,
    ];
    let rgb = [
        V4L2_PIX_FMT_RGB24,
        V4L2_PIX_FMT_BGR24,
        V4L2_PIX_FMT_XBGR32,
        V4L2_PIX_FMT_XRGB32,
        V4L2_PIX_FMT_RGB565,
    ];
    for &f in yuv.iter().chain(&rgb) {
        assert!(can_encode(f), "{}", loopcam_media::fourcc_name(f));
        let (w, h, px) = roundtrip(f, 320, 240, 0);
        assert_eq!((w, h), (320, 240));
        // Y'CbCr sources keep V4L2's limited range; RGB sources are converted by libjpeg-turbo.
        common::check_bars(w, h, &px, 14, rgb.contains(&f))
            .unwrap_or_else(|e| panic!("{}: {e}", loopcam_media::fourcc_name(f)));
    }
    // GREY: full-range luma of the bars.
    let (w, h, px) = roundtrip(V4L2_PIX_FMT_GREY, 320, 240, 0);
    let o = (((h / 3) * w + w / 16) * 3) as usize;
    assert!(
        (i32::from(px[o]) - 191).abs() < 10,
        "white bar luma {}",
        px[o]
    );
    assert!(!can_encode(V4L2_PIX_FMT_MJPEG));
}

#[test]
fn padded_rows_are_honoured() {
    for f in [V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_RGB24] {
        let (w, h, px) = roundtrip(f, 320, 240, 64);
        common::check_bars(w, h, &px, 14, f == V4L2_PIX_FMT_RGB24).unwrap();
    }
}

#[test]
fn short_frames_are_errors_not_crashes() {
    let mut enc = JpegEncoder::new(80).unwrap();
    let f = SourceFormat {
        fourcc: V4L2_PIX_FMT_YUYV,
        width: 640,
        height: 480,
        bytesperline: 1280,
        sizeimage: 640 * 480 * 2,
    };
    assert!(enc.encode(&f, &[0u8; 1000]).is_err());
    let f = SourceFormat {
        fourcc: V4L2_PIX_FMT_NV12,
        ..f
    };
    assert!(enc.encode(&f, &vec![0u8; 640 * 480]).is_err());
}

#[test]
fn jpeg_validity_follows_ustreamer() {
    let mut j = vec![0xFF, 0xD8];
    j.resize(200, 0x11);
    j.extend_from_slice(&[0xFF, 0xD9]);
    assert_eq!(jpeg_payload(&j), Some(202));
    let mut padded = j.clone();
    padded.extend_from_slice(&[0; 100]);
    assert_eq!(jpeg_payload(&padded), Some(202), "zero padding after EOI");
    assert_eq!(jpeg_payload(&j[..150]), None, "no EOI");
    assert_eq!(jpeg_payload(&j[2..]), None, "no SOI");
    assert_eq!(jpeg_payload(&[0xFF, 0xD8, 0xFF, 0xD9]), None, "too short");
}
