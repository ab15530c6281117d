//! Frame readers for `loopcam feed --input FILE` (raw, YUV4MPEG2, MJPEG) and Y4M writing.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};

use crate::{fourcc, fourcc_name, layout, Layout, MediaError};

/// What kind of stream an input file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// Headerless frames of a known layout, back to back.
    Raw,
    /// A YUV4MPEG2 stream (`YUV4MPEG2 W.. H.. F.. C..` header, `FRAME` before each frame).
    Y4m,
    /// Concatenated JPEG images (Motion-JPEG "raw" stream, or a single JPEG file).
    Mjpeg,
}

/// Guesses the kind of an input from its first bytes (a `YUV4MPEG2` or JPEG SOI signature wins),
/// then from the file name's extension (`.y4m`; `.mjpeg`, `.mjpg`, `.jpg`, `.jpeg`), else raw.
pub fn detect_input(first_bytes: &[u8], path_hint: Option<&str>) -> InputKind {
    if first_bytes.starts_with(b"YUV4MPEG2") {
        return InputKind::Y4m;
    }
    if first_bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return InputKind::Mjpeg;
    }
    let ext = path_hint
        .and_then(|p| p.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("y4m") => InputKind::Y4m,
        Some("mjpeg" | "mjpg" | "jpg" | "jpeg") => InputKind::Mjpeg,
        _ => InputKind::Raw,
    }
}

/// Longest Y4M stream or frame header line accepted.
const MAX_Y4M_LINE: usize = 4096;
/// Largest JPEG accepted in an MJPEG stream.
const MAX_JPEG_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Copy, Debug)]
struct Y4mInfo {
    fps_num: u32,
    fps_den: u32,
}

/// Reads successive frames from a raw, Y4M or MJPEG stream.
///
/// * Raw: frames of `raw_layout.sizeimage` bytes (a raw format is required).
/// * Y4M: the header is parsed by [`FrameReader::new`]; colour spaces 420jpeg, 420mpeg2,
///   420paldv and 420 give YU12, 422 gives 422P, mono gives GREY; others are unsupported.
///   `raw_layout` is ignored.
/// * MJPEG: each frame is one JPEG from SOI to EOI, found by walking the marker segments
///   (segment lengths, 0xFF00 stuffing, RST markers and fill bytes in entropy-coded data), so
///   0xFFD9 bytes inside APPn/COM segments (e.g. EXIF thumbnails) do not end a frame. Bytes
///   between images are skipped. Frames are returned byte for byte as in the stream.
///   `raw_layout` is ignored.
#[derive(Debug)]
pub struct FrameReader<R: Read> {
    inner: BufReader<R>,
    kind: InputKind,
    layout: Option<Layout>,
    y4m: Option<Y4mInfo>,
    frames: u64,
}

impl<R: Read> FrameReader<R> {
    /// Opens a stream of `kind`. Raw input needs `raw_layout` with a raw fourcc; a Y4M stream's
    /// header is read and checked here.
    pub fn new(reader: R, kind: InputKind, raw_layout: Option<Layout>) -> Result<Self, MediaError> {
        let mut r = FrameReader {
            inner: BufReader::with_capacity(256 * 1024, reader),
            kind,
            layout: None,
            y4m: None,
            frames: 0,
        };
        match kind {
            InputKind::Raw => {
                let l = raw_layout.ok_or_else(|| {
                    MediaError::Invalid("raw input needs a pixel format and a frame size".into())
                })?;
                if l.is_compressed() || crate::geometry(l.fourcc).is_none() {
                    return Err(MediaError::Invalid(format!(
                        "raw input needs a raw pixel format, not '{}' (MJPEG files are read as MJPEG streams)",
                        fourcc_name(l.fourcc)
                    )));
                }
                r.layout = Some(l);
            }
            InputKind::Y4m => r.read_y4m_header()?,
            InputKind::Mjpeg => {}
        }
        Ok(r)
    }

    /// The stream kind.
    pub fn kind(&self) -> InputKind {
        self.kind
    }

    /// The frame layout for raw and Y4M input (`None` for MJPEG).
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    /// Number of frames returned so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// For Y4M input: (width, height, fps numerator, fps denominator, fourcc). A missing or
    /// zero frame rate reads as 25/1, as ffmpeg does.
    pub fn y4m_info(&self) -> Option<(u32, u32, u32, u32, u32)> {
        let (y, l) = (self.y4m?, self.layout?);
        Some((l.width, l.height, y.fps_num, y.fps_den, l.fourcc))
    }

    /// The next frame, `None` at a clean end of stream; an error for a truncated or corrupt frame.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, MediaError> {
        let frame = match self.kind {
            InputKind::Raw => self.next_sized()?,
            InputKind::Y4m => {
                let Some(line) = self.read_line("FRAME header")? else {
                    return Ok(None);
                };
                if !(line == b"FRAME" || line.starts_with(b"FRAME ")) {
                    return Err(MediaError::Invalid(format!(
                        "corrupt Y4M stream: expected FRAME before frame {}, got '{}'",
                        self.frames,
                        String::from_utf8_lossy(&line[..line.len().min(32)])
                    )));
                }
                match self.next_sized()? {
                    Some(f) => Some(f),
                    None => {
                        return Err(MediaError::Invalid(format!(
                            "truncated Y4M stream: frame {} has a header but no data",
                            self.frames
                        )))
                    }
                }
            }
            InputKind::Mjpeg => self.next_jpeg()?,
        };
        if frame.is_some() {
            self.frames += 1;
        }
        Ok(frame)
    }

    /// Reads one frame of `layout.sizeimage` bytes; `None` if the stream ends before its first
    /// byte.
    fn next_sized(&mut self) -> Result<Option<Vec<u8>>, MediaError> {
        let size = self.layout.map(|l| l.sizeimage).unwrap_or(0);
        let mut buf = vec![0u8; size];
        let mut got = 0;
        while got < size {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if got == 0 && size > 0 {
            return Ok(None);
        }
        if got < size {
            return Err(MediaError::Invalid(format!(
                "truncated frame {}: got {got} of {size} bytes",
                self.frames
            )));
        }
        Ok(Some(buf))
    }

    fn byte(&mut self) -> Result<Option<u8>, MediaError> {
        loop {
            match self.inner.fill_buf() {
                Ok([]) => return Ok(None),
                Ok(buf) => {
                    let b = buf[0];
                    self.inner.consume(1);
                    return Ok(Some(b));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A line without its '\n'; `None` at EOF before any byte; an error at EOF mid-line.
    fn read_line(&mut self, what: &str) -> Result<Option<Vec<u8>>, MediaError> {
        let mut line = Vec::new();
        loop {
            match self.byte()? {
                None if line.is_empty() => return Ok(None),
                None => {
                    return Err(MediaError::Invalid(format!(
                        "truncated Y4M stream: it ends inside a {what}"
                    )))
                }
                Some(b'\n') => return Ok(Some(line)),
                Some(b) => {
                    if line.len() >= MAX_Y4M_LINE {
                        return Err(MediaError::Invalid(format!(
                            "corrupt Y4M stream: {what} longer than {MAX_Y4M_LINE} bytes"
                        )));
                    }
                    line.push(b);
                }
            }
        }
    }

    fn read_y4m_header(&mut self) -> Result<(), MediaError> {
        let bad = |m: String| MediaError::Invalid(format!("bad Y4M header: {m}"));
        let line = self
            .read_line("stream header")?
            .ok_or_else(|| bad("the stream is empty".into()))?;
        let line = String::from_utf8_lossy(&line).into_owned();
        let mut tokens = line.split(' ').filter(|t| !t.is_empty());
        if tokens.next() != Some("YUV4MPEG2") {
            return Err(bad("it does not start with YUV4MPEG2".into()));
        }
        let (mut w, mut h) = (None, None);
        let (mut num, mut den) = (0u32, 0u32);
        let mut colour = "420jpeg".to_string();
        for t in tokens {
            let (tag, val) = t.split_at(1);
            match tag {
                "W" => {
                    w = Some(
                        val.parse::<u32>()
                            .map_err(|_| bad(format!("width '{val}'")))?,
                    )
                }
                "H" => {
                    h = Some(
                        val.parse::<u32>()
                            .map_err(|_| bad(format!("height '{val}'")))?,
                    )
                }
                "F" => {
                    let (n, d) = val
                        .split_once(':')
                        .ok_or_else(|| bad(format!("frame rate '{val}'")))?;
                    num = n.parse().map_err(|_| bad(format!("frame rate '{val}'")))?;
                    den = d.parse().map_err(|_| bad(format!("frame rate '{val}'")))?;
                }
                "C" => colour = val.to_string(),
                // Interlacing, aspect ratio and extensions do not change the frame bytes.
                _ => {}
            }
        }
        let (w, h) = (
            w.ok_or_else(|| bad("no width (W)".into()))?,
            h.ok_or_else(|| bad("no height (H)".into()))?,
        );
        if num == 0 || den == 0 {
            (num, den) = (25, 1);
        }
        let f = match colour.as_str() {
            "420jpeg" | "420mpeg2" | "420paldv" | "420" => fourcc::YU12,
            "422" => fourcc::YUV422P,
            "mono" => fourcc::GREY,
            other => {
                return Err(MediaError::Unsupported(format!(
                    "Y4M colour space '{other}' is not supported (420jpeg, 420mpeg2, 420paldv, 420, 422, mono)"
                )))
            }
        };
        self.layout = Some(layout(f, w, h).map_err(|e| bad(e.to_string()))?);
        self.y4m = Some(Y4mInfo {
            fps_num: num,
            fps_den: den,
        });
        Ok(())
    }

    fn need_byte(&mut self, out: &[u8]) -> Result<u8, MediaError> {
        self.byte()?.ok_or_else(|| self.truncated_jpeg(out))
    }

    fn truncated_jpeg(&self, out: &[u8]) -> MediaError {
        MediaError::Invalid(format!(
            "truncated MJPEG stream: JPEG {} ends after {} bytes without an EOI marker",
            self.frames,
            out.len()
        ))
    }

    fn corrupt_jpeg(&self, out: &[u8], what: &str) -> MediaError {
        MediaError::Invalid(format!(
            "corrupt MJPEG stream: JPEG {} at byte {}: {what}",
            self.frames,
            out.len()
        ))
    }

    fn next_jpeg(&mut self) -> Result<Option<Vec<u8>>, MediaError> {
        // Skip to the next SOI (0xFF 0xD8).
        let mut prev = 0u8;
        loop {
            let Some(b) = self.byte()? else {
                return Ok(None);
            };
            if prev == 0xff && b == 0xd8 {
                break;
            }
            prev = b;
        }
        let mut out = vec![0xff, 0xd8];
        let mut pending: Option<u8> = None;
        loop {
            if out.len() > MAX_JPEG_BYTES {
                return Err(self.corrupt_jpeg(&out, "frame larger than 64 MiB"));
            }
            let m = match pending.take() {
                Some(m) => m,
                None => {
                    let b = self.need_byte(&out)?;
                    if b != 0xff {
                        return Err(
                            self.corrupt_jpeg(&out, &format!("expected a marker, found 0x{b:02x}"))
                        );
                    }
                    out.push(b);
                    let mut m = self.need_byte(&out)?;
                    out.push(m);
                    while m == 0xff {
                        m = self.need_byte(&out)?;
                        out.push(m);
                    }
                    m
                }
            };
            match m {
                0xd9 => return Ok(Some(out)),
                0xd8 => return Err(self.corrupt_jpeg(&out, "SOI inside an image")),
                0x00 => return Err(self.corrupt_jpeg(&out, "stuffed 0xFF00 outside entropy data")),
                0x01 | 0xd0..=0xd7 => {}
                _ => {
                    let hi = self.need_byte(&out)?;
                    out.push(hi);
                    let lo = self.need_byte(&out)?;
                    out.push(lo);
                    let len = usize::from(u16::from_be_bytes([hi, lo]));
                    if len < 2 {
                        return Err(self.corrupt_jpeg(&out, "segment length below 2"));
                    }
                    self.copy_exact(&mut out, len - 2)?;
                    if m == 0xda {
                        pending = Some(self.copy_entropy(&mut out)?);
                    }
                }
            }
        }
    }

    fn copy_exact(&mut self, out: &mut Vec<u8>, mut n: usize) -> Result<(), MediaError> {
        while n > 0 {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if buf.is_empty() {
                return Err(self.truncated_jpeg(out));
            }
            let k = n.min(buf.len());
            out.extend_from_slice(&buf[..k]);
            self.inner.consume(k);
            n -= k;
        }
        Ok(())
    }

    /// Copies entropy-coded data after an SOS header up to and including the marker that ends
    /// it, and returns that marker's code. 0xFF00 (stuffing), RST0-7 and fill bytes are data.
    fn copy_entropy(&mut self, out: &mut Vec<u8>) -> Result<u8, MediaError> {
        loop {
            if out.len() > MAX_JPEG_BYTES {
                return Err(self.corrupt_jpeg(out, "frame larger than 64 MiB"));
            }
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if buf.is_empty() {
                return Err(self.truncated_jpeg(out));
            }
            match buf.iter().position(|&b| b == 0xff) {
                None => {
                    let k = buf.len();
                    out.extend_from_slice(buf);
                    self.inner.consume(k);
                    continue;
                }
                Some(p) => {
                    out.extend_from_slice(&buf[..=p]);
                    self.inner.consume(p + 1);
                }
            }
            let mut m = self.need_byte(out)?;
            out.push(m);
            while m == 0xff {
                m = self.need_byte(out)?;
                out.push(m);
            }
            if m != 0x00 && !(0xd0..=0xd7).contains(&m) {
                return Ok(m);
            }
        }
    }
}

/// The `FRAME` line that precedes every frame of a Y4M stream.
pub const Y4M_FRAME_MARKER: &[u8] = b"FRAME\n";

/// The YUV4MPEG2 stream header line (with its '\n') for YU12 (`C420jpeg`), 422P (`C422`) or
/// GREY (`Cmono`) frames: `YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n`. Other formats are
/// [`MediaError::Unsupported`] (`loopcam dump` writes them raw).
pub fn y4m_header(
    width: u32,
    height: u32,
    fps_num: u32,
    fps_den: u32,
    fourcc: u32,
) -> Result<String, MediaError> {
    let c = match fourcc {
        fourcc::YU12 => "420jpeg",
        fourcc::YUV422P => "422",
        fourcc::GREY => "mono",
        f => {
            return Err(MediaError::Unsupported(format!(
                "Y4M holds YU12, 422P or GREY frames, not '{}'",
                fourcc_name(f)
            )))
        }
    };
    layout(fourcc, width, height)?;
    if fps_num == 0 || fps_den == 0 {
        return Err(MediaError::Invalid(format!(
            "bad frame rate {fps_num}/{fps_den} for a Y4M header"
        )));
    }
    Ok(format!(
        "YUV4MPEG2 W{width} H{height} F{fps_num}:{fps_den} Ip A1:1 C{c}\n"
    ))
}

/// Writes one Y4M frame: [`Y4M_FRAME_MARKER`] then the frame bytes.
pub fn write_y4m_frame<W: Write>(w: &mut W, frame: &[u8]) -> Result<(), MediaError> {
    w.write_all(Y4M_FRAME_MARKER)?;
    w.write_all(frame)?;
    Ok(())
}
