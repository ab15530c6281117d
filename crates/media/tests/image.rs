//! PNG and JPEG decoding, scaling.

mod fixtures;

use loopcam_media::{decode_image, fit, scale, MediaError, RgbImage};

fn png(w: u32, h: u32, colour: png::ColorType, depth: png::BitDepth, data: &[u8]) -> Vec<u8> {
    png_with(w, h, colour, depth, data, |_| {})
}

fn png_with(
    w: u32,
    h: u32,
    colour: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    setup: impl FnOnce(&mut png::Encoder<'_, &mut Vec<u8>>),
) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(colour);
        enc.set_depth(depth);
        setup(&mut enc);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(data).unwrap();
    }
    out
}

fn assert_close(img: &RgbImage, expect: [u8; 3], tol: u8) {
    for p in img.data.chunks(3) {
        for c in 0..3 {
            assert!(
                p[c].abs_diff(expect[c]) <= tol,
                "pixel {p:?}, expected {expect:?} ±{tol}"
            );
        }
    }
}

#[test]
fn png_rgb8() {
    let data: Vec<u8> = (0..2 * 3 * 3).map(|i| i as u8 * 10).collect();
    let img = decode_image(&png(3, 2, png::ColorType::Rgb, png::BitDepth::Eight, &data)).unwrap();
    assert_eq!((img.width, img.height), (3, 2));
    assert_eq!(img.data, data);
}

#[test]
fn png_rgba_composited_over_black() {
    let data = [
        200, 100, 50, 255, 200, 100, 50, 0, 200, 100, 50, 128, 255, 255, 255, 51,
    ];
    let img = decode_image(&png(
        2,
        2,
        png::ColorType::Rgba,
        png::BitDepth::Eight,
        &data,
    ))
    .unwrap();
    assert_eq!(
        img.data,
        vec![200, 100, 50, 0, 0, 0, 100, 50, 25, 51, 51, 51]
    );
}

#[test]
fn png_grey_and_grey_alpha() {
    let img = decode_image(&png(
        2,
        1,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        &[0, 77],
    ))
    .unwrap();
    assert_eq!(img.data, vec![0, 0, 0, 77, 77, 77]);
    // 1-bit grey: 0b1010_0000 -> white, black, white, black.
    let img = decode_image(&png(
        4,
        1,
        png::ColorType::Grayscale,
        png::BitDepth::One,
        &[0b1010_0000],
    ))
    .unwrap();
    assert_eq!(
        img.data,
        vec![255, 255, 255, 0, 0, 0, 255, 255, 255, 0, 0, 0]
    );
    let img = decode_image(&png(
        1,
        1,
        png::ColorType::GrayscaleAlpha,
        png::BitDepth::Eight,
        &[200, 128],
    ))
    .unwrap();
    assert_eq!(img.data, vec![100, 100, 100]);
}

#[test]
fn png_16_bit() {
    // Big-endian 16-bit samples: the high byte survives.
    let data = [
        0x12, 0x34, 0xab, 0xcd, 0xff, 0xff, 0x00, 0x00, 0x80, 0x00, 0x40, 0x00,
    ];
    let img = decode_image(&png(
        2,
        1,
        png::ColorType::Rgb,
        png::BitDepth::Sixteen,
        &data,
    ))
    .unwrap();
    assert_eq!(img.data, vec![0x12, 0xab, 0xff, 0x00, 0x80, 0x40]);
    let img = decode_image(&png(
        1,
        1,
        png::ColorType::Grayscale,
        png::BitDepth::Sixteen,
        &[0x9a, 0xbc],
    ))
    .unwrap();
    assert_eq!(img.data, vec![0x9a, 0x9a, 0x9a]);
    let rgba16 = [0xff, 0xff, 0, 0, 0, 0, 0x80, 0x00];
    let img = decode_image(&png(
        1,
        1,
        png::ColorType::Rgba,
        png::BitDepth::Sixteen,
        &rgba16,
    ))
    .unwrap();
    assert_eq!(img.data, vec![128, 0, 0]);
}

#[test]
fn png_palette_with_transparency() {
    let data = png_with(
        2,
        1,
        png::ColorType::Indexed,
        png::BitDepth::Eight,
        &[0, 1],
        |enc| {
            enc.set_palette(vec![10, 20, 30, 250, 200, 100]);
            enc.set_trns(vec![255, 0]);
        },
    );
    let img = decode_image(&data).unwrap();
    assert_eq!(img.data, vec![10, 20, 30, 0, 0, 0]);
}

#[test]
fn jpeg_baseline_colour() {
    let img = decode_image(fixtures::SOLID_RGB_8X8).unwrap();
    assert_eq!((img.width, img.height), (8, 8));
    assert_close(&img, [200, 100, 50], 3);
}

#[test]
fn jpeg_grey() {
    let img = decode_image(fixtures::GREY_8X8).unwrap();
    assert_eq!((img.width, img.height), (8, 8));
    assert_close(&img, [77, 77, 77], 1);
}

#[test]
fn jpeg_progressive() {
    let img = decode_image(fixtures::PROGRESSIVE_16X8).unwrap();
    assert_eq!((img.width, img.height), (16, 8));
    assert_close(&img, [20, 40, 220], 4);
}

#[test]
fn jpeg_cmyk() {
    let img = decode_image(fixtures::CMYK_8X8).unwrap();
    assert_eq!((img.width, img.height), (8, 8));
    assert_close(&img, [255, 0, 0], 3);
}

#[test]
fn jpeg_noise_matches_libjpeg() {
    let img = decode_image(fixtures::NOISE_GREY_16X16).unwrap();
    assert_eq!((img.width, img.height), (16, 16));
    let grey: Vec<u8> = img.data.chunks(3).map(|p| p[0]).collect();
    let worst = grey
        .iter()
        .zip(fixtures::NOISE_GREY_16X16_PIXELS)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 3, "differs from libjpeg by up to {worst}");
}

#[test]
fn garbage_and_truncated() {
    for bad in [&b""[..], b"hello world", b"GIF89a......", &[0xff, 0xd8]] {
        let e = decode_image(bad).unwrap_err();
        assert!(matches!(e, MediaError::Invalid(_)));
        assert_eq!(e.to_string(), "not a PNG or JPEG image");
    }
    let good = png(4, 4, png::ColorType::Rgb, png::BitDepth::Eight, &[7; 48]);
    for cut in [8, 20, 33, good.len() - 13] {
        let e = decode_image(&good[..cut]).unwrap_err().to_string();
        assert!(e.starts_with("corrupt PNG: "), "{e}");
        assert!(!e.contains('\n'));
    }
    let mut flipped = good.clone();
    let n = flipped.len();
    flipped[n - 20] ^= 0x55; // inside IDAT: CRC mismatch or bad deflate data
    assert!(decode_image(&flipped)
        .unwrap_err()
        .to_string()
        .starts_with("corrupt PNG: "));

    let jpeg = fixtures::SOLID_RGB_8X8;
    for cut in [3, 20, 100, 170, 250] {
        let e = decode_image(&jpeg[..cut]).unwrap_err().to_string();
        assert!(e.starts_with("corrupt JPEG: "), "cut {cut}: {e}");
        assert!(!e.contains('\n'));
    }
    let mut zeroed = jpeg.to_vec();
    zeroed[20..200].fill(0);
    assert!(decode_image(&zeroed)
        .unwrap_err()
        .to_string()
        .starts_with("corrupt JPEG: "));
}

#[test]
fn scale_and_fit_decoded() {
    let img = decode_image(fixtures::SOLID_RGB_8X8).unwrap();
    let big = scale(&img, 64, 48);
    assert_eq!(
        (big.width, big.height, big.data.len()),
        (64, 48, 64 * 48 * 3)
    );
    assert_close(&big, [200, 100, 50], 3);
    let boxed = fit(&img, 32, 16);
    assert_eq!((boxed.width, boxed.height), (32, 16));
    assert_eq!(boxed.pixel(0, 8), [0, 0, 0]);
    assert_eq!(boxed.pixel(31, 8), [0, 0, 0]);
    assert_close(&scale(&boxed, 1, 1), [0, 0, 0], 255);
    let inner = scale(&img, 16, 16);
    assert_eq!(boxed.pixel(16, 8), inner.pixel(8, 8));
}
