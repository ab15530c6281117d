//! Test patterns and the counter frames.

use loopcam_media::{
    decode_counter, fourcc, fourcc_name, frame_to_rgb, layout, render, verify_counter, Layout,
    MediaError, Pattern,
};

/// Sizes tried for every raw format; those the format cannot represent are skipped.
const SIZES: &[(u32, u32)] = &[(640, 480), (33, 7), (34, 6), (2, 8), (8, 2), (5, 5)];

fn layouts() -> Vec<Layout> {
    let mut v = Vec::new();
    for &f in fourcc::RAW {
        for &(w, h) in SIZES {
            if let Ok(l) = layout(f, w, h) {
                v.push(l);
            }
        }
    }
    v
}

fn counter(l: &Layout, n: u64) -> Vec<u8> {
    let mut out = vec![0u8; l.sizeimage];
    render(&Pattern::Counter, l, n, &mut out).unwrap();
    out
}

#[test]
fn counter_round_trips_in_every_raw_format() {
    let all = layouts();
    // Odd widths are included wherever the format allows them.
    assert!(all
        .iter()
        .any(|l| l.width == 33 && l.fourcc == fourcc::RGB3));
    assert!(all.iter().any(|l| l.width == 5 && l.fourcc == fourcc::GREY));
    for l in &all {
        for n in [0, 1, 2, 255, 256, 1 << 32, u64::MAX - 1, u64::MAX] {
            let frame = counter(l, n);
            let what = format!("{} {}x{} n={n}", fourcc_name(l.fourcc), l.width, l.height);
            assert_eq!(decode_counter(l, &frame), Some(n), "{what}");
            assert_eq!(verify_counter(l, &frame), Ok(n), "{what}");
        }
    }
}

#[test]
fn counter_frames_are_deterministic_and_differ() {
    let l = layout(fourcc::YUYV, 64, 32).unwrap();
    let mut out = vec![0x5a; l.sizeimage + 10];
    render(&Pattern::Counter, &l, 42, &mut out).unwrap();
    assert_eq!(&out[l.sizeimage..], &[0x5a; 10]);
    assert_eq!(&out[..l.sizeimage], counter(&l, 42).as_slice());
    let a = counter(&l, 42);
    let b = counter(&l, 43);
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert!(
        same < l.sizeimage / 2,
        "{same} of {} bytes equal",
        l.sizeimage
    );
    // A pinned byte stream: if this changes, counter frames are no longer compatible with
    // other builds (bump deliberately).
    let sum = a
        .iter()
        .fold(0u64, |h, &x| h.wrapping_mul(31).wrapping_add(u64::from(x)));
    assert_eq!(
        &a[..16],
        &[42, 0, 0, 0, 0, 0, 0, 0, a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]]
    );
    assert_eq!(
        sum,
        counter(&l, 42)
            .iter()
            .fold(0u64, |h, &x| h.wrapping_mul(31).wrapping_add(u64::from(x)))
    );
}

#[test]
fn counter_looks_like_a_picture() {
    // Decoded back to RGB, the top rows are the bar colours within noise and rounding.
    let l = layout(fourcc::RGB3, 80, 60).unwrap();
    let img = frame_to_rgb(&l, &counter(&l, 0)).unwrap();
    let p = img.pixel(5, 10);
    assert!(p.iter().all(|&c| c.abs_diff(191) <= 3), "{p:?}");
    let p = img.pixel(15, 10); // yellow bar
    assert!(p[0] >= 188 && p[1] >= 188 && p[2] <= 3, "{p:?}");
    // It moves: frame 1 has different bar positions.
    let img1 = frame_to_rgb(&l, &counter(&l, 1)).unwrap();
    let changed = (0..80)
        .filter(|&x| img.pixel(x, 10)[2].abs_diff(img1.pixel(x, 10)[2]) > 50)
        .count();
    assert!(changed > 0);
}

#[test]
fn verify_detects_any_single_flipped_byte() {
    for &(f, w, h) in &[
        (fourcc::YUYV, 34, 6),
        (fourcc::NV12, 34, 6),
        (fourcc::YV12, 8, 4),
        (fourcc::YUV422P, 10, 3),
        (fourcc::RGB3, 33, 5),
        (fourcc::XR24, 7, 7),
        (fourcc::GREY, 9, 9),
    ] {
        let l = layout(f, w, h).unwrap();
        let good = counter(&l, 1234);
        for off in 0..l.sizeimage {
            for bit in [0x01, 0x80] {
                let mut bad = good.clone();
                bad[off] ^= bit;
                let e = verify_counter(&l, &bad).unwrap_err();
                if off >= 16 {
                    assert!(e.contains(&format!("first mismatch at byte {off} ")), "{e}");
                    assert!(e.contains("1 bytes differ"), "{e}");
                } else {
                    assert!(e.contains("no valid counter header"), "{e}");
                }
                assert!(!e.contains('\n'));
            }
        }
    }
    // A big frame: bytes spread over it.
    let l = layout(fourcc::YUYV, 1280, 720).unwrap();
    let good = counter(&l, 77);
    let mut bad = good.clone();
    for off in (16..l.sizeimage).step_by(99_991).chain([l.sizeimage - 1]) {
        bad[off] ^= 4;
        let e = verify_counter(&l, &bad).unwrap_err();
        assert!(e.contains(&format!("first mismatch at byte {off} ")), "{e}");
        bad[off] ^= 4;
    }
    assert_eq!(verify_counter(&l, &bad), Ok(77));
}

#[test]
fn verify_detects_mixed_frames() {
    for l in layouts() {
        if l.sizeimage < 64 {
            continue;
        }
        let a = counter(&l, 500);
        let b = counter(&l, 501);
        for split in [l.sizeimage / 2, 16 + 1, l.sizeimage - 8, l.sizeimage / 3] {
            let mut mixed = a[..split].to_vec();
            mixed.extend_from_slice(&b[split..]);
            let e = verify_counter(&l, &mixed).unwrap_err();
            assert!(e.starts_with("frame 500: first mismatch"), "{e}");
            if l.sizeimage - split >= 64 {
                assert!(
                    e.contains("are frame 501"),
                    "{}: {e}",
                    fourcc_name(l.fourcc)
                );
            }
            // And the other way round.
            let mut mixed = b[..split].to_vec();
            mixed.extend_from_slice(&a[split..]);
            let e = verify_counter(&l, &mixed).unwrap_err();
            assert!(e.starts_with("frame 501: first mismatch"), "{e}");
        }
        // Half rows of every plane from each frame (a tear by rows).
        let row_split = l.width as usize * (l.height as usize / 2);
        if row_split > 16 {
            let mut mixed = a.clone();
            mixed[row_split..].copy_from_slice(&b[row_split..]);
            assert!(verify_counter(&l, &mixed).is_err());
        }
    }
}

#[test]
fn verify_errors() {
    let l = layout(fourcc::YUYV, 64, 8).unwrap();
    let f = counter(&l, 9);
    let e = verify_counter(&l, &f[..f.len() - 1]).unwrap_err();
    assert_eq!(e, "frame is 1023 bytes, expected 1024 for YUYV 64x8");
    assert!(verify_counter(&l, &vec![0; l.sizeimage])
        .unwrap_err()
        .contains("no valid counter header"));
    let mj = layout(fourcc::MJPG, 64, 8).unwrap();
    assert!(verify_counter(&mj, &f).is_err());
    assert_eq!(decode_counter(&mj, &f), None);
    // Too small for a header: renders, but cannot be decoded.
    let tiny = layout(fourcc::GREY, 2, 2).unwrap();
    let mut out = [0u8; 4];
    render(&Pattern::Counter, &tiny, 3, &mut out).unwrap();
    assert_eq!(decode_counter(&tiny, &out), None);
    assert_eq!(decode_counter(&l, &f[..16]), Some(9));
}

#[test]
fn bars_and_solid_fill_the_frame() {
    for l in layouts() {
        let mut out = vec![0xEE; l.sizeimage];
        render(
            &Pattern::Solid {
                r: 200,
                g: 100,
                b: 50,
            },
            &l,
            0,
            &mut out,
        )
        .unwrap();
        let img = frame_to_rgb(&l, &out).unwrap();
        let tol = if l.fourcc == fourcc::GREY { 255 } else { 7 };
        for p in img.data.chunks(3) {
            assert!(
                p[0].abs_diff(200) <= tol && p[1].abs_diff(100) <= tol && p[2].abs_diff(50) <= tol,
                "{} {p:?}",
                fourcc_name(l.fourcc)
            );
        }
        let mut a = vec![0; l.sizeimage];
        let mut b = vec![0; l.sizeimage];
        render(&Pattern::Bars, &l, 0, &mut a).unwrap();
        render(&Pattern::Bars, &l, 0, &mut b).unwrap();
        assert_eq!(a, b);
        if l.width >= 32 && l.height >= 8 {
            render(&Pattern::Bars, &l, 5, &mut b).unwrap();
            assert_ne!(a, b, "bars do not move in {}", fourcc_name(l.fourcc));
        }
    }
    let l = layout(fourcc::RGB3, 16, 4).unwrap();
    let mut out = vec![0; l.sizeimage];
    render(&Pattern::Bars, &l, 0, &mut out).unwrap();
    assert_eq!(&out[..6], &[191, 191, 191, 191, 191, 191]);
    assert_eq!(&out[6..9], &[191, 191, 0]);
    assert_eq!(&out[45..48], &[0, 0, 0]);
}

#[test]
fn render_errors() {
    let l = layout(fourcc::MJPG, 64, 48).unwrap();
    let mut out = vec![0; l.sizeimage];
    for p in [
        Pattern::Bars,
        Pattern::Counter,
        Pattern::Solid { r: 0, g: 0, b: 0 },
    ] {
        assert!(matches!(
            render(&p, &l, 0, &mut out),
            Err(MediaError::Unsupported(_))
        ));
    }
    let l = layout(fourcc::YUYV, 64, 48).unwrap();
    let mut short = vec![0; l.sizeimage - 1];
    assert!(matches!(
        render(&Pattern::Bars, &l, 0, &mut short),
        Err(MediaError::Invalid(_))
    ));
}

#[test]
fn pattern_parsing() {
    assert_eq!("bars".parse::<Pattern>(), Ok(Pattern::Bars));
    assert_eq!("Counter".parse::<Pattern>(), Ok(Pattern::Counter));
    assert_eq!(
        "solid:FF8000".parse::<Pattern>(),
        Ok(Pattern::Solid {
            r: 255,
            g: 128,
            b: 0
        })
    );
    assert_eq!(
        "solid:#0a0b0c".parse::<Pattern>(),
        Ok(Pattern::Solid {
            r: 10,
            g: 11,
            b: 12
        })
    );
    for p in [
        Pattern::Bars,
        Pattern::Counter,
        Pattern::Solid { r: 1, g: 2, b: 254 },
    ] {
        assert_eq!(p.to_string().parse::<Pattern>(), Ok(p));
    }
    for bad in [
        "",
        "bar",
        "solid",
        "solid:",
        "solid:12345",
        "solid:1234567",
        "solid:gg0000",
        "solid:+12345",
        "noise",
    ] {
        let e = bad.parse::<Pattern>().unwrap_err();
        assert!(!e.is_empty() && !e.contains('\n'), "{bad}: {e}");
    }
    assert_eq!(
        "noise".parse::<Pattern>().unwrap_err(),
        "unknown pattern 'noise' (expected bars, counter or solid:RRGGBB)"
    );
    assert!("solid:zz"
        .parse::<Pattern>()
        .unwrap_err()
        .contains("6 hex digits"));
}

/// Timing check, meaningful in release mode: `cargo test --release -p loopcam-media --test
/// pattern -- --ignored --nocapture`.
#[test]
#[ignore]
fn speed() {
    use std::time::Instant;
    let best = |f: &mut dyn FnMut()| {
        (0..20)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap()
    };
    for &(fcc, w, h) in &[
        (fourcc::YUYV, 1920, 1080),
        (fourcc::NV12, 1920, 1080),
        (fourcc::YUYV, 1280, 720),
        (fourcc::XR24, 1920, 1080),
    ] {
        let l = layout(fcc, w, h).unwrap();
        let mut out = vec![0; l.sizeimage];
        let bars = best(&mut || render(&Pattern::Bars, &l, 3, &mut out).unwrap());
        let mut n = 0;
        let cnt = best(&mut || {
            n += 1;
            render(&Pattern::Counter, &l, n, &mut out).unwrap()
        });
        let frame = out.clone();
        let ver = best(&mut || {
            verify_counter(&l, &frame).unwrap();
        });
        println!(
            "{} {w}x{h}: bars {bars:?}, counter {cnt:?}, verify {ver:?}",
            fourcc_name(fcc)
        );
    }
}
