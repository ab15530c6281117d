//! RGB24 <-> raw frame conversions.

use loopcam_media::{
    fourcc, fourcc_name, frame_to_rgb, layout, rgb_to_frame, MediaError, RgbImage,
};

const COLOURS: &[[u8; 3]] = &[
    [0, 0, 0],
    [255, 255, 255],
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [200, 100, 50],
    [17, 230, 128],
    [128, 128, 128],
];

fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn solid_colours_round_trip_in_every_raw_format() {
    for &f in fourcc::RAW {
        for &[r, g, b] in COLOURS {
            let l = layout(f, 6, 4).unwrap();
            let img = RgbImage::solid(6, 4, r, g, b);
            let mut frame = vec![0xAA; l.sizeimage + 3];
            rgb_to_frame(&img, &l, &mut frame).unwrap();
            assert_eq!(&frame[l.sizeimage..], &[0xAA; 3], "wrote past sizeimage");
            let back = frame_to_rgb(&l, &frame).unwrap();
            assert_eq!((back.width, back.height), (6, 4));
            let tol = match f {
                fourcc::GREY => 255, // luma only, checked below
                fourcc::RGBP => 7,
                fourcc::RGB3
                | fourcc::BGR3
                | fourcc::XR24
                | fourcc::BX24
                | fourcc::RGB4
                | fourcc::BGR4 => 0,
                _ => 3, // BT.601 limited range quantisation
            };
            let d = max_diff(&img.data, &back.data);
            assert!(d <= tol, "{} {r},{g},{b}: diff {d}", fourcc_name(f));
        }
    }
}

#[test]
fn grey_is_full_range_luma() {
    let l = layout(fourcc::GREY, 2, 1).unwrap();
    let mut frame = [0u8; 2];
    for (rgb, y) in [
        ([0, 0, 0], 0),
        ([255, 255, 255], 255),
        ([255, 0, 0], 77),
        ([90, 90, 90], 90),
    ] {
        rgb_to_frame(
            &RgbImage::solid(2, 1, rgb[0], rgb[1], rgb[2]),
            &l,
            &mut frame,
        )
        .unwrap();
        assert_eq!(frame, [y, y]);
    }
    assert_eq!(
        frame_to_rgb(&l, &[7, 9]).unwrap().data,
        vec![7, 7, 7, 9, 9, 9]
    );
}

#[test]
fn byte_orders() {
    let px = RgbImage::solid(2, 1, 0x11, 0x22, 0x33);
    let cases: &[(u32, &[u8])] = &[
        (fourcc::RGB3, &[0x11, 0x22, 0x33]),
        (fourcc::BGR3, &[0x33, 0x22, 0x11]),
        (fourcc::XR24, &[0x33, 0x22, 0x11, 0xff]), // XBGR32: B G R X
        (fourcc::BGR4, &[0x33, 0x22, 0x11, 0xff]), // BGR32: B G R A
        (fourcc::BX24, &[0xff, 0x11, 0x22, 0x33]), // XRGB32: X R G B
        (fourcc::RGB4, &[0xff, 0x11, 0x22, 0x33]), // RGB32: A R G B
        (fourcc::RGBP, &[0x06, 0x11]),             // 0x1106 = 00010 001000 00110, little-endian
    ];
    for &(f, bytes) in cases {
        let l = layout(f, 2, 1).unwrap();
        let mut frame = vec![0; l.sizeimage];
        rgb_to_frame(&px, &l, &mut frame).unwrap();
        assert_eq!(&frame[..bytes.len()], bytes, "{}", fourcc_name(f));
        assert_eq!(&frame[bytes.len()..], bytes, "{}", fourcc_name(f));
    }
    // YUV byte positions: red is Y=82 Cb=90 Cr=240.
    let red = RgbImage::solid(2, 2, 255, 0, 0);
    let cases: &[(u32, &[u8])] = &[
        (fourcc::YUYV, &[82, 90, 82, 240, 82, 90, 82, 240]),
        (fourcc::UYVY, &[90, 82, 240, 82, 90, 82, 240, 82]),
        (fourcc::YVYU, &[82, 240, 82, 90, 82, 240, 82, 90]),
        (fourcc::NV12, &[82, 82, 82, 82, 90, 240]),
        (fourcc::NV21, &[82, 82, 82, 82, 240, 90]),
        (fourcc::YU12, &[82, 82, 82, 82, 90, 240]),
        (fourcc::YV12, &[82, 82, 82, 82, 240, 90]),
        (fourcc::YUV422P, &[82, 82, 82, 82, 90, 90, 240, 240]),
    ];
    for &(f, bytes) in cases {
        let l = layout(f, 2, 2).unwrap();
        let mut frame = vec![0; l.sizeimage];
        rgb_to_frame(&red, &l, &mut frame).unwrap();
        assert_eq!(frame, bytes, "{}", fourcc_name(f));
    }
}

#[test]
fn chroma_is_averaged_and_luma_kept_per_pixel() {
    // Left column black, right column white: 4:2:0 and 4:2:2 average the chroma (neutral
    // anyway), luma stays per pixel.
    let mut img = RgbImage::solid(4, 2, 0, 0, 0);
    for y in 0..2 {
        for x in [1usize, 3] {
            let i = (y * 4 + x) * 3;
            img.data[i..i + 3].copy_from_slice(&[255, 255, 255]);
        }
    }
    for &f in fourcc::RAW {
        let l = layout(f, 4, 2).unwrap();
        let mut frame = vec![0; l.sizeimage];
        rgb_to_frame(&img, &l, &mut frame).unwrap();
        let back = frame_to_rgb(&l, &frame).unwrap();
        let tol = if f == fourcc::RGBP { 7 } else { 2 };
        assert!(max_diff(&img.data, &back.data) <= tol, "{}", fourcc_name(f));
    }
}

#[test]
fn errors() {
    let l = layout(fourcc::YUYV, 4, 2).unwrap();
    let img = RgbImage::solid(4, 2, 1, 2, 3);
    assert!(matches!(
        rgb_to_frame(&img, &l, &mut [0; 15]),
        Err(MediaError::Invalid(_))
    ));
    let small = RgbImage::solid(2, 2, 1, 2, 3);
    let e = rgb_to_frame(&small, &l, &mut [0; 16]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "image is 2x2 but the frame is 4x2 (scale it first)"
    );
    assert!(matches!(
        frame_to_rgb(&l, &[0; 15]),
        Err(MediaError::Invalid(_))
    ));
    let mj = layout(fourcc::MJPG, 4, 2).unwrap();
    assert!(matches!(
        rgb_to_frame(&img, &mj, &mut vec![0; mj.sizeimage]),
        Err(MediaError::Unsupported(_))
    ));
    let h264 = layout(fourcc::H264, 4, 2).unwrap();
    assert!(matches!(
        frame_to_rgb(&h264, &[0; 16]),
        Err(MediaError::Unsupported(_))
    ));
}
