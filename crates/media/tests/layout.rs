//! Frame geometry, fourcc parsing and naming.

use loopcam_media::{fourcc, fourcc_name, layout, parse_fourcc, MediaError};

#[test]
fn sizes_of_every_format() {
    let cases: &[(u32, u32, u32, usize)] = &[
        (fourcc::YUYV, 640, 480, 614_400),
        (fourcc::UYVY, 640, 480, 614_400),
        (fourcc::YVYU, 2, 1, 4),
        (fourcc::RGB3, 641, 1, 1923),
        (fourcc::BGR3, 3, 3, 27),
        (fourcc::XR24, 1920, 1080, 8_294_400),
        (fourcc::BX24, 5, 1, 20),
        (fourcc::RGB4, 7, 3, 84),
        (fourcc::BGR4, 1, 1, 4),
        (fourcc::RGBP, 3, 2, 12),
        (fourcc::GREY, 641, 3, 1923),
        (fourcc::NV12, 1920, 1080, 3_110_400),
        (fourcc::NV21, 640, 480, 460_800),
        (fourcc::YU12, 1280, 720, 1_382_400),
        (fourcc::YV12, 2, 2, 6),
        (fourcc::YUV422P, 640, 480, 614_400),
    ];
    for &(f, w, h, size) in cases {
        let l = layout(f, w, h).unwrap();
        assert_eq!(l.sizeimage, size, "{} {w}x{h}", fourcc_name(f));
        assert_eq!((l.fourcc, l.width, l.height), (f, w, h));
        assert!(!l.is_compressed());
    }
    assert_eq!(
        layout(fourcc::YUYV, 640, 480).unwrap().bytes_per_line(),
        1280
    );
    assert_eq!(
        layout(fourcc::NV12, 640, 480).unwrap().bytes_per_line(),
        640
    );
    assert_eq!(layout(fourcc::BX24, 10, 1).unwrap().bytes_per_line(), 40);
}

#[test]
fn compressed_sizes_are_a_bound() {
    let l = layout(fourcc::MJPG, 1920, 1080).unwrap();
    assert!(l.is_compressed());
    assert_eq!(
        l.sizeimage,
        (1920 * 1080 * 2 + 65536usize).div_ceil(4096) * 4096
    );
    assert_eq!(l.bytes_per_line(), 0);
    // Odd sizes are fine for compressed formats.
    assert!(layout(fourcc::JPEG, 7, 7).unwrap().sizeimage >= 65536);
}

#[test]
fn odd_sizes_rejected_where_chroma_needs_pairs() {
    for f in [fourcc::YUYV, fourcc::UYVY, fourcc::YVYU, fourcc::YUV422P] {
        assert!(matches!(layout(f, 641, 480), Err(MediaError::Invalid(_))));
        assert!(layout(f, 640, 481).is_ok());
    }
    for f in [fourcc::NV12, fourcc::NV21, fourcc::YU12, fourcc::YV12] {
        assert!(matches!(layout(f, 641, 480), Err(MediaError::Invalid(_))));
        assert!(matches!(layout(f, 640, 481), Err(MediaError::Invalid(_))));
    }
    for f in [fourcc::RGB3, fourcc::GREY, fourcc::XR24, fourcc::RGBP] {
        assert!(layout(f, 641, 481).is_ok());
    }
    assert!(matches!(
        layout(fourcc::GREY, 0, 1),
        Err(MediaError::Invalid(_))
    ));
    assert!(matches!(
        layout(fourcc::GREY, 1, 100_000),
        Err(MediaError::Invalid(_))
    ));
}

#[test]
fn unknown_fourcc_is_unsupported() {
    let e = layout(u32::from_le_bytes(*b"ABCD"), 640, 480).unwrap_err();
    assert!(matches!(e, MediaError::Unsupported(_)));
    assert_eq!(e.to_string(), "unsupported pixel format 'ABCD'");
}

#[test]
fn parse_and_name() {
    for (s, f) in [
        ("YUYV", fourcc::YUYV),
        ("yuyv", fourcc::YUYV),
        (" nv12 ", fourcc::NV12),
        ("I420", fourcc::YU12),
        ("i420", fourcc::YU12),
        ("YU12", fourcc::YU12),
        ("MJPEG", fourcc::MJPG),
        ("mjpg", fourcc::MJPG),
        ("RGB24", fourcc::RGB3),
        ("BGR24", fourcc::BGR3),
        ("GRAY", fourcc::GREY),
        ("grey", fourcc::GREY),
        ("422p", fourcc::YUV422P),
        ("xbgr32", fourcc::XR24),
        ("XRGB32", fourcc::BX24),
        ("rgb32", fourcc::RGB4),
        ("BGR32", fourcc::BGR4),
    ] {
        assert_eq!(parse_fourcc(s).unwrap(), f, "{s}");
    }
    for f in fourcc::RAW.iter().chain(fourcc::COMPRESSED) {
        assert_eq!(parse_fourcc(&fourcc_name(*f)).unwrap(), *f);
    }
    assert_eq!(fourcc_name(fourcc::YUYV), "YUYV");
    assert_eq!(fourcc_name(0x0102_0304), "0x01020304");
    let e = parse_fourcc("YUYV2").unwrap_err().to_string();
    assert!(e.contains("YUYV2") && !e.contains('\n'), "{e}");
}
