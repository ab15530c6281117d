//! Frame readers (raw, Y4M, MJPEG) and Y4M writing.

mod fixtures;

use std::io::{Cursor, Read};

use loopcam_media::{
    decode_image, detect_input, fourcc, layout, write_y4m_frame, y4m_header, FrameReader,
    InputKind, MediaError,
};

fn all_frames<R: Read>(r: &mut FrameReader<R>) -> Result<Vec<Vec<u8>>, MediaError> {
    let mut v = Vec::new();
    while let Some(f) = r.next_frame()? {
        v.push(f);
    }
    Ok(v)
}

#[test]
fn detect() {
    assert_eq!(detect_input(b"YUV4MPEG2 W2 H2", None), InputKind::Y4m);
    assert_eq!(
        detect_input(&[0xff, 0xd8, 0xff, 0xe0], Some("x.raw")),
        InputKind::Mjpeg
    );
    assert_eq!(
        detect_input(b"\x10\x80\x10\x80", Some("clip.Y4M")),
        InputKind::Y4m
    );
    assert_eq!(detect_input(b"", Some("/tmp/cam.mjpeg")), InputKind::Mjpeg);
    assert_eq!(detect_input(b"", Some("a.JPG")), InputKind::Mjpeg);
    assert_eq!(
        detect_input(b"\x10\x80\x10\x80", Some("frames.yuv")),
        InputKind::Raw
    );
    assert_eq!(detect_input(b"\x10\x80", None), InputKind::Raw);
}

#[test]
fn raw_frames() {
    let l = layout(fourcc::YUYV, 4, 2).unwrap();
    let data: Vec<u8> = (0..48).collect();
    let mut r = FrameReader::new(Cursor::new(data.clone()), InputKind::Raw, Some(l)).unwrap();
    assert_eq!(r.y4m_info(), None);
    assert_eq!(
        all_frames(&mut r).unwrap(),
        vec![
            data[..16].to_vec(),
            data[16..32].to_vec(),
            data[32..].to_vec()
        ]
    );
    assert_eq!(r.next_frame().unwrap(), None);
    assert_eq!(r.frames_read(), 3);

    let mut r = FrameReader::new(Cursor::new(&data[..40]), InputKind::Raw, Some(l)).unwrap();
    r.next_frame().unwrap().unwrap();
    r.next_frame().unwrap().unwrap();
    let e = r.next_frame().unwrap_err().to_string();
    assert_eq!(e, "truncated frame 2: got 8 of 16 bytes");

    assert!(FrameReader::new(Cursor::new(&data), InputKind::Raw, None).is_err());
    let mj = layout(fourcc::MJPG, 4, 2).unwrap();
    assert!(FrameReader::new(Cursor::new(&data), InputKind::Raw, Some(mj)).is_err());
}

fn y4m_stream(header: &str, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut s = header.as_bytes().to_vec();
    for f in frames {
        write_y4m_frame(&mut s, f).unwrap();
    }
    s
}

#[test]
fn y4m_two_frames() {
    let l = layout(fourcc::YU12, 4, 2).unwrap();
    assert_eq!(l.sizeimage, 12);
    let frames = vec![(0..12).collect::<Vec<u8>>(), (100..112).collect()];
    let header = y4m_header(4, 2, 30000, 1001, fourcc::YU12).unwrap();
    assert_eq!(header, "YUV4MPEG2 W4 H2 F30000:1001 Ip A1:1 C420jpeg\n");
    let stream = y4m_stream(&header, &frames);
    assert_eq!(detect_input(&stream, None), InputKind::Y4m);
    let mut r = FrameReader::new(Cursor::new(stream), InputKind::Y4m, None).unwrap();
    assert_eq!(r.y4m_info(), Some((4, 2, 30000, 1001, fourcc::YU12)));
    assert_eq!(r.layout(), Some(l));
    assert_eq!(all_frames(&mut r).unwrap(), frames);
}

#[test]
fn y4m_colour_spaces_and_params() {
    // ffmpeg-style header with extra parameters and frame parameters.
    let stream = y4m_stream(
        "YUV4MPEG2 W2 H2 F25:1 Ip A0:0 C420mpeg2 XYSCSS=420MPEG2\n",
        &[vec![1; 6]],
    );
    let mut r = FrameReader::new(Cursor::new(stream), InputKind::Y4m, None).unwrap();
    assert_eq!(r.y4m_info(), Some((2, 2, 25, 1, fourcc::YU12)));
    assert_eq!(all_frames(&mut r).unwrap(), vec![vec![1; 6]]);

    let mut s = b"YUV4MPEG2 W2 H1 F10:1 C422\nFRAME Ixyz\n".to_vec();
    s.extend_from_slice(&[9, 8, 7, 6]);
    let mut r = FrameReader::new(Cursor::new(s), InputKind::Y4m, None).unwrap();
    assert_eq!(r.y4m_info(), Some((2, 1, 10, 1, fourcc::YUV422P)));
    assert_eq!(all_frames(&mut r).unwrap(), vec![vec![9, 8, 7, 6]]);

    let stream = y4m_stream(
        &y4m_header(3, 1, 5, 1, fourcc::GREY).unwrap(),
        &[vec![1, 2, 3], vec![4, 5, 6]],
    );
    let mut r = FrameReader::new(Cursor::new(stream), InputKind::Y4m, None).unwrap();
    assert_eq!(r.y4m_info(), Some((3, 1, 5, 1, fourcc::GREY)));
    assert_eq!(all_frames(&mut r).unwrap().len(), 2);

    // No C: 4:2:0; no F: 25 fps.
    let r = FrameReader::new(Cursor::new(b"YUV4MPEG2 W8 H4\n"), InputKind::Y4m, None).unwrap();
    assert_eq!(r.y4m_info(), Some((8, 4, 25, 1, fourcc::YU12)));
    for c in ["420", "420jpeg", "420paldv"] {
        let h = format!("YUV4MPEG2 W8 H4 F1:1 C{c}\n");
        let r = FrameReader::new(Cursor::new(h), InputKind::Y4m, None).unwrap();
        assert_eq!(r.y4m_info().unwrap().4, fourcc::YU12);
    }
}

#[test]
fn y4m_errors() {
    let open =
        |s: &[u8]| FrameReader::new(Cursor::new(s.to_vec()), InputKind::Y4m, None).map(|_| ());
    assert!(matches!(
        open(b"YUV4MPEG2 W8 H4 C444\n"),
        Err(MediaError::Unsupported(_))
    ));
    assert!(matches!(
        open(b"YUV4MPEG2 W8 H4 C420p10\n"),
        Err(MediaError::Unsupported(_))
    ));
    assert!(matches!(
        open(b"YUV4MPEG2 W7 H4\n"),
        Err(MediaError::Invalid(_))
    ));
    assert!(matches!(
        open(b"YUV4MPEG2 H4\n"),
        Err(MediaError::Invalid(_))
    ));
    assert!(matches!(
        open(b"YUV4MPEG2 W8 H4"),
        Err(MediaError::Invalid(_))
    ));
    assert!(matches!(open(b"RIFF"), Err(MediaError::Invalid(_))));
    assert!(matches!(open(b""), Err(MediaError::Invalid(_))));
    assert!(matches!(open(&[b'Y'; 10000]), Err(MediaError::Invalid(_))));

    let header = "YUV4MPEG2 W2 H2 F1:1\n";
    // Truncated data, truncated FRAME line, header without data, junk instead of FRAME.
    for (tail, msg) in [
        (
            &b"FRAME\n\x01\x02"[..],
            "truncated frame 0: got 2 of 6 bytes",
        ),
        (
            b"FRA",
            "truncated Y4M stream: it ends inside a FRAME header",
        ),
        (
            b"FRAME\n",
            "truncated Y4M stream: frame 0 has a header but no data",
        ),
        (
            b"JUNK!\n",
            "corrupt Y4M stream: expected FRAME before frame 0, got 'JUNK!'",
        ),
    ] {
        let mut s = header.as_bytes().to_vec();
        s.extend_from_slice(tail);
        let mut r = FrameReader::new(Cursor::new(s), InputKind::Y4m, None).unwrap();
        assert_eq!(r.next_frame().unwrap_err().to_string(), msg);
    }
    assert!(matches!(
        y4m_header(4, 2, 30, 1, fourcc::YUYV),
        Err(MediaError::Unsupported(_))
    ));
    assert!(y4m_header(4, 2, 0, 1, fourcc::YU12).is_err());
    assert!(y4m_header(3, 2, 30, 1, fourcc::YU12).is_err());
    assert_eq!(
        y4m_header(4, 2, 30, 1, fourcc::YUV422P).unwrap(),
        "YUV4MPEG2 W4 H2 F30:1 Ip A1:1 C422\n"
    );
}

/// Inserts a COM segment whose payload holds fake EOI/SOI markers right after SOI.
fn with_tricky_comment(jpeg: &[u8]) -> Vec<u8> {
    let payload = [b'x', 0xff, 0xd9, 0xff, 0xd8, 0xff, 0x00, b'y'];
    let mut v = vec![0xff, 0xd8, 0xff, 0xfe, 0x00, (payload.len() + 2) as u8];
    v.extend_from_slice(&payload);
    v.extend_from_slice(&jpeg[2..]);
    v
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn mjpeg_split() {
    let a = fixtures::SOLID_RGB_8X8.to_vec();
    let b = fixtures::NOISE_GREY_16X16.to_vec();
    // The noise fixture really has stuffing and restart markers in its entropy data.
    assert!(contains(&b, &[0xff, 0x00]) && contains(&b, &[0xff, 0xd0]));
    let c = with_tricky_comment(&a);
    assert!(decode_image(&c).is_ok());
    let d = fixtures::PROGRESSIVE_16X8.to_vec();
    let mut stream = Vec::new();
    for f in [&a, &b, &a, &c, &d, &b] {
        stream.extend_from_slice(f);
    }
    assert_eq!(detect_input(&stream, None), InputKind::Mjpeg);
    let mut r = FrameReader::new(Cursor::new(stream), InputKind::Mjpeg, None).unwrap();
    let frames = all_frames(&mut r).unwrap();
    assert_eq!(
        frames,
        vec![a.clone(), b.clone(), a.clone(), c, d, b.clone()]
    );
    for f in &frames {
        decode_image(f).unwrap();
    }
    assert_eq!(r.y4m_info(), None);
    assert_eq!(r.frames_read(), 6);
}

#[test]
fn mjpeg_fill_bytes_and_junk_between_frames() {
    let a = fixtures::NOISE_GREY_16X16.to_vec();
    // Fill bytes before a marker (0xFF 0xFF 0xD9 at the end) are kept; bytes between images
    // are skipped.
    let mut filled = a[..a.len() - 2].to_vec();
    filled.extend_from_slice(&[0xff, 0xff, 0xff, 0xd9]);
    let mut stream = b"junk".to_vec();
    stream.extend_from_slice(&filled);
    stream.extend_from_slice(&[0, 0, 0x0a]);
    stream.extend_from_slice(&a);
    stream.extend_from_slice(b"\n");
    let mut r = FrameReader::new(Cursor::new(stream), InputKind::Mjpeg, None).unwrap();
    assert_eq!(all_frames(&mut r).unwrap(), vec![filled, a]);
}

#[test]
fn mjpeg_truncated_and_corrupt() {
    let a = fixtures::NOISE_GREY_16X16;
    for cut in [2, 3, 10, 100, a.len() - 40, a.len() - 1] {
        let mut stream = a.to_vec();
        stream.extend_from_slice(&a[..cut]);
        let mut r = FrameReader::new(Cursor::new(stream), InputKind::Mjpeg, None).unwrap();
        assert_eq!(r.next_frame().unwrap().unwrap(), a);
        let e = r.next_frame().unwrap_err().to_string();
        assert!(
            e.starts_with("truncated MJPEG stream: JPEG 1 ends after"),
            "cut {cut}: {e}"
        );
    }
    // A segment header where a marker is expected.
    let mut bad = a[..20].to_vec();
    bad[2] = 0x12;
    let mut r = FrameReader::new(Cursor::new(bad), InputKind::Mjpeg, None).unwrap();
    let e = r.next_frame().unwrap_err().to_string();
    assert!(
        e.starts_with("corrupt MJPEG stream: JPEG 0 at byte 2"),
        "{e}"
    );
    // Empty stream: clean EOF.
    let mut r = FrameReader::new(Cursor::new(Vec::new()), InputKind::Mjpeg, None).unwrap();
    assert_eq!(r.next_frame().unwrap(), None);
}
