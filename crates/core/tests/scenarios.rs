//! Replays of the ioctl sequences real applications issue (reference/clients.md B.1–B.10 and the
//! per-client checklist E.0–E.13), against the device model through the raw ioctl dispatcher
//! (`h.ioctl`), so request numbers and struct contents are exercised exactly as the daemon will
//! forward them. Frames carry the counter pattern: every test checks order and integrity of what
//! the application would see, not only return codes.
//!
//! Core never blocks: where an application would sleep in DQBUF, the replay sees EAGAIN, lets
//! the producer run, and retries — the wake-up half is checked through `take_wakeups`.
//!
//! Not here: E.12 (v4l2-compliance) is covered rule by rule in the rules test files and by the
//! compliance CI job against the daemon; E.14 (LD_PRELOAD symbol coverage, real nodes for
//! stat/sysfs) is not a core concern and is covered by the preload crate's tests.

use std::collections::VecDeque;

use loopcam_abi::*;
use loopcam_core::testing::{check_counter, counter_pattern, Harness};
use loopcam_core::{DeviceConfig, Dir, Errno, MapInfo, Node, OpenMode, OpenerId, VResult};

mod common;
use common::*;

// open(2) flags used by EXPBUF.
const O_RDWR: u32 = 2;
const O_CLOEXEC: u32 = 0o2_000_000;

// ---------------------------------------------------------------------------------------------
// Raw ioctl helpers used only here (the shared ones are in `common`): each fills the struct the
// way the C applications do.
// ---------------------------------------------------------------------------------------------

fn cstr(b: &[u8]) -> String {
    let n = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n]).into_owned()
}

fn try_fmt(
    h: &mut Harness,
    fd: OpenerId,
    type_: u32,
    p: v4l2_pix_format,
) -> VResult<v4l2_pix_format> {
    fmt_ioctl(h, fd, VIDIOC_TRY_FMT, type_, p)
}

fn g_parm(h: &mut Harness, fd: OpenerId, type_: u32) -> VResult<v4l2_streamparm> {
    let mut p = v4l2_streamparm {
        type_,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_G_PARM, &mut p)?;
    Ok(p)
}

/// ENUM_FRAMESIZES for one fourcc: the discrete sizes, or `Err(type)` for a stepwise answer.
fn discrete_sizes(h: &mut Harness, fd: OpenerId, fourcc: u32) -> Result<Vec<(u32, u32)>, u32> {
    let mut out = Vec::new();
    for index in 0..64 {
        let mut s = v4l2_frmsizeenum {
            index,
            pixel_format: fourcc,
            ..Default::default()
        };
        if h.ioctl(fd, VIDIOC_ENUM_FRAMESIZES, &mut s).is_err() {
            break;
        }
        if s.type_ != V4L2_FRMSIZE_TYPE_DISCRETE {
            return Err(s.type_);
        }
        let d = s.discrete();
        out.push((d.width, d.height));
    }
    Ok(out)
}

/// ENUM_FRAMEINTERVALS: the discrete intervals, or `Err(type)` for a stepwise answer.
fn discrete_intervals(
    h: &mut Harness,
    fd: OpenerId,
    fourcc: u32,
    w: u32,
    ht: u32,
) -> Result<Vec<(u32, u32)>, u32> {
    let mut out = Vec::new();
    for index in 0..64 {
        let mut e = v4l2_frmivalenum {
            index,
            pixel_format: fourcc,
            width: w,
            height: ht,
            ..Default::default()
        };
        if h.ioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &mut e).is_err() {
            break;
        }
        if e.type_ != V4L2_FRMIVAL_TYPE_DISCRETE {
            return Err(e.type_);
        }
        let d = e.discrete();
        out.push((d.numerator, d.denominator));
    }
    Ok(out)
}

/// A plain MMAP capture client after negotiation: REQBUFS, QUERYBUF + mmap, QBUF all,
/// STREAMON. What Chromium, Firefox, GStreamer and v4l2-ctl have in common.
struct Capture {
    fd: OpenerId,
    n: u32,
    maps: Vec<MapInfo>,
    last_seq: Option<u32>,
    last_ts: u64,
}

impl Capture {
    fn start(h: &mut Harness, fd: OpenerId, count: u32) -> Capture {
        let r = reqbufs(h, fd, CAP, MMAP, count).expect("REQBUFS(CAPTURE)");
        assert!(r.count >= 1);
        assert_ne!(r.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP, 0, "E.0");
        let maps = (0..r.count).map(|i| map(h, fd, CAP, i, true)).collect();
        for i in 0..r.count {
            let b = qbuf(h, fd, CAP, i, 0).expect("QBUF");
            assert_ne!(b.flags & V4L2_BUF_FLAG_QUEUED, 0, "H: QUEUED after QBUF");
        }
        streamon(h, fd, CAP).expect("STREAMON(CAPTURE)");
        Capture {
            fd,
            n: r.count,
            maps,
            last_seq: None,
            last_ts: 0,
        }
    }

    /// Checks what every client relies on (E.0): flags, field, exact bytesused, increasing
    /// sequence and monotonic timestamps not in the future.
    fn check(&mut self, h: &Harness, b: &v4l2_buffer) -> u64 {
        assert!(b.index < self.n, "DQBUF index in range");
        assert_eq!(b.type_, CAP);
        assert_eq!(b.field, V4L2_FIELD_NONE, "E.0: field NONE");
        assert_ne!(b.flags & V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, 0, "E.0");
        assert_eq!(b.flags & V4L2_BUF_FLAG_QUEUED, 0);
        assert_eq!(b.flags & V4L2_BUF_FLAG_DONE, 0, "DONE clears at DQBUF");
        assert_eq!(b.bytesused as usize, sizeimage(h), "E.1: bytesused exact");
        if let Some(prev) = self.last_seq {
            assert!(b.sequence > prev, "sequence increases");
        }
        self.last_seq = Some(b.sequence);
        let ts = ts_ns(b);
        assert!(
            ts >= self.last_ts,
            "monotonic timestamps (GStreamer, v4l2-ctl)"
        );
        assert!(
            ts <= h.now,
            "a timestamp is never in the future (GStreamer)"
        );
        self.last_ts = ts;
        frame_of(h, self.fd, b)
    }

    /// DQBUF until EAGAIN, checking and re-queueing each buffer.
    fn drain(&mut self, h: &mut Harness) -> Vec<u64> {
        let mut got = Vec::new();
        loop {
            match dqbuf(h, self.fd, CAP) {
                Ok(b) => {
                    got.push(self.check(h, &b));
                    qbuf(h, self.fd, CAP, b.index, 0).expect("re-QBUF");
                }
                Err(e) => {
                    assert_eq!(e, Errno::EAGAIN, "nothing ready: EAGAIN, never an error");
                    return got;
                }
            }
        }
    }

    fn unmap(&mut self, h: &mut Harness) {
        for m in self.maps.drain(..) {
            h.dev.munmap(self.fd, m.handle);
        }
    }
}

/// An MMAP producer (v4l2-ctl --stream-out-mmap, GStreamer v4l2sink): buffers never queued
/// yet are used first, then recycled ones, then whatever DQBUF(OUTPUT) returns.
struct MmapProducer {
    fd: OpenerId,
    n: u32,
    fresh: u32,
    free: VecDeque<u32>,
    queued: VecDeque<u32>,
    next_seq: u32,
}

impl MmapProducer {
    fn new(fd: OpenerId, n: u32) -> MmapProducer {
        MmapProducer {
            fd,
            n,
            fresh: 0,
            free: VecDeque::new(),
            queued: VecDeque::new(),
            next_seq: 0,
        }
    }

    /// DQBUF(OUTPUT) of one consumed buffer: the oldest queued one (FIFO, B.3 v4l2sink).
    fn recycle(&mut self, h: &mut Harness) -> u32 {
        let b = dqbuf(h, self.fd, OUT).expect("DQBUF(OUTPUT) of a consumed buffer");
        let oldest = self.queued.pop_front().expect("something was queued");
        assert_eq!(
            b.index, oldest,
            "O5/E.4: output buffers come back in FIFO order"
        );
        assert_eq!(b.sequence, self.next_seq, "O6: output sequence 0, 1, 2, …");
        self.next_seq += 1;
        b.index
    }

    /// A buffer to fill.
    fn free_buffer(&mut self, h: &mut Harness) -> u32 {
        if self.fresh < self.n {
            self.fresh += 1;
            return self.fresh - 1;
        }
        match self.free.pop_front() {
            Some(i) => i,
            None => self.recycle(h),
        }
    }

    fn push(&mut self, h: &mut Harness, n: u64) {
        let i = self.free_buffer(h);
        let size = sizeimage(h);
        h.fill(self.fd, i, &counter_pattern(n, size));
        let b = qbuf(h, self.fd, OUT, i, size as u32).expect("QBUF(OUTPUT)");
        assert_eq!(b.index, i);
        self.queued.push_back(i);
    }
}

// ---------------------------------------------------------------------------------------------
// E.0 cross-cutting
// ---------------------------------------------------------------------------------------------

#[test]
fn e0_querycap_identity_is_well_formed_and_unique() {
    let mut a = Harness::default_device();
    let mut b = Harness::new(DeviceConfig {
        number: 1,
        ..Default::default()
    });
    let fa = a.open();
    let fb = b.open();
    let ca = querycap(&mut a, fa);
    let cb = querycap(&mut b, fb);
    for c in [&ca, &cb] {
        assert!(!cstr(&c.driver).is_empty() && !cstr(&c.card).is_empty());
        assert!(
            cstr(&c.bus_info).starts_with("platform:"),
            "E.0 bus_info prefix"
        );
        assert_eq!(
            c.capabilities,
            c.device_caps | V4L2_CAP_DEVICE_CAPS,
            "E.0: capabilities = device_caps | DEVICE_CAPS on a single node"
        );
        assert_ne!(c.capabilities & V4L2_CAP_EXT_PIX_FORMAT, 0);
        assert_ne!(c.device_caps & V4L2_CAP_STREAMING, 0);
        assert!(c.version >= (3 << 16), "version ≥ 3.0");
        assert_eq!(c.reserved, [0; 3]);
    }
    assert_ne!(
        cstr(&ca.bus_info),
        cstr(&cb.bus_info),
        "E.8: bus_info is the unique device id"
    );
    a.dev.check_invariants().unwrap();
}

#[test]
fn e0_absent_ioctls_are_enotty_and_many_opens_succeed() {
    let mut h = Harness::default_device();
    let fd = h.open();
    // GStreamer walks ENUMSTD until ENOTTY, ustreamer's G_JPEGCOMP may fail, v4l2-ctl probes
    // DV timings, GStreamer CROPCAP: an absent feature must be ENOTTY (E.0, B14).
    let mut std = v4l2_standard::default();
    assert_eq!(h.ioctl(fd, VIDIOC_ENUMSTD, &mut std), Err(Errno::ENOTTY));
    let mut id = 0u64;
    assert_eq!(h.ioctl(fd, VIDIOC_G_STD, &mut id), Err(Errno::ENOTTY));
    let mut j: v4l2_jpegcompression = bytemuck::Zeroable::zeroed();
    assert_eq!(h.ioctl(fd, VIDIOC_G_JPEGCOMP, &mut j), Err(Errno::ENOTTY));
    let mut dv = v4l2_dv_timings::default();
    assert_eq!(
        h.ioctl(fd, VIDIOC_QUERY_DV_TIMINGS, &mut dv),
        Err(Errno::ENOTTY)
    );
    let mut cc = v4l2_cropcap {
        type_: CAP,
        ..Default::default()
    };
    assert_eq!(h.ioctl(fd, VIDIOC_CROPCAP, &mut cc), Err(Errno::ENOTTY));
    // E.0 / v4l2-compliance: at least 100 simultaneous opens.
    let fds: Vec<OpenerId> = (0..100)
        .map(|_| {
            h.open_as(Node::Combined, OpenMode::RDWR)
                .expect("100 opens")
        })
        .collect();
    for f in fds {
        h.close(f);
    }
    h.close(fd);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// B.1 / B.2 / E.1 / E.2: ffmpeg
// ---------------------------------------------------------------------------------------------

/// Packed frame size as ffmpeg computes it (`av_image_get_buffer_size(..., align 1)`).
fn packed_size(fourcc: u32, w: u32, ht: u32) -> u32 {
    match fourcc {
        V4L2_PIX_FMT_YUYV | V4L2_PIX_FMT_UYVY => w * ht * 2,
        V4L2_PIX_FMT_YUV420 | V4L2_PIX_FMT_NV12 => w * ht * 3 / 2,
        V4L2_PIX_FMT_GREY => w * ht,
        _ => unreachable!("not used here"),
    }
}

/// `ffmpeg -f v4l2 -nonblock 1 -i /dev/videoN` (libavdevice/v4l2.c), with its buffer
/// accounting: it asserts ≥1 buffer stays queued after every DQBUF, keeps packets zero-copy
/// until only buffers/8 remain queued, then copies.
struct FfmpegInput {
    fd: OpenerId,
    buffers: u32,
    queued: u32,
    packets: VecDeque<u32>,
    frame_size: u32,
    frames: Vec<u64>,
    last_ts: u64,
}

impl FfmpegInput {
    fn open(h: &mut Harness) -> FfmpegInput {
        let fd = h.open();
        let cap = querycap(h, fd);
        // ffmpeg looks at `capabilities`, not device_caps.
        assert_ne!(
            cap.capabilities & V4L2_CAP_VIDEO_CAPTURE,
            0,
            "Not a video capture device"
        );
        assert_ne!(cap.capabilities & V4L2_CAP_STREAMING, 0, "ENOSYS in ffmpeg");
        // No -channel: G_INPUT, then ENUMINPUT of that index; both fatal.
        let mut input = 7u32;
        h.ioctl(fd, VIDIOC_G_INPUT, &mut input)
            .expect("E.1: G_INPUT");
        let mut inp = v4l2_input {
            index: input,
            ..Default::default()
        };
        h.ioctl(fd, VIDIOC_ENUMINPUT, &mut inp)
            .expect("E.1: ENUMINPUT");
        // No -video_size: G_FMT for the current size.
        let cur = g_fmt(h, fd, CAP).expect("G_FMT");
        // No -input_format: walk the conversion table; EINVAL or another fourcc means "next",
        // any other errno (EBUSY) aborts.
        let table = [
            V4L2_PIX_FMT_YUV420,
            V4L2_PIX_FMT_YVU420,
            V4L2_PIX_FMT_YUV422P,
            V4L2_PIX_FMT_YUYV,
            V4L2_PIX_FMT_UYVY,
            V4L2_PIX_FMT_NV12,
            V4L2_PIX_FMT_GREY,
        ];
        let mut chosen = None;
        for fcc in table {
            match s_fmt(h, fd, CAP, pix(cur.width, cur.height, fcc)) {
                Ok(p) if p.pixelformat == fcc => {
                    chosen = Some(p);
                    break;
                }
                Ok(_) | Err(Errno::EINVAL) => continue,
                Err(e) => panic!("E.1: S_FMT({}) failed with {e:?}", fourcc_to_string(fcc)),
            }
        }
        let f = chosen.expect("E.1: the table walk finds the device's format");
        let frame_size = packed_size(f.pixelformat, f.width, f.height);
        if f.pixelformat == V4L2_PIX_FMT_YUYV {
            assert_eq!(f.bytesperline, f.width * 2, "E.1: packed stride");
        }
        // G_PARM: failure would only be a warning, but it must work for S_PARM users.
        g_parm(h, fd, CAP).expect("G_PARM");
        let r = reqbufs(h, fd, CAP, MMAP, 256).expect("REQBUFS(256)");
        assert!(
            (2..=32).contains(&r.count),
            "E.1: clamped, ≥2 ({})",
            r.count
        );
        for i in 0..r.count {
            let b = querybuf(h, fd, CAP, i).unwrap();
            assert!(b.length >= frame_size, "E.1: buffer length ≥ frame size");
            map(h, fd, CAP, i, true);
        }
        for i in 0..r.count {
            qbuf(h, fd, CAP, i, 0).unwrap();
        }
        streamon(h, fd, CAP).expect("STREAMON");
        FfmpegInput {
            fd,
            buffers: r.count,
            queued: r.count,
            packets: VecDeque::new(),
            frame_size,
            frames: Vec::new(),
            last_ts: 0,
        }
    }

    /// `mmap_read_frame` until EAGAIN.
    fn read_available(&mut self, h: &mut Harness) {
        loop {
            let b = match dqbuf(h, self.fd, CAP) {
                Ok(b) => b,
                Err(Errno::EAGAIN) => return,
                Err(e) => panic!("ioctl(VIDIOC_DQBUF): {e:?}"),
            };
            assert!(b.index < self.buffers, "Invalid buffer index received.");
            self.queued -= 1;
            // "always keep at least one buffer queued": a driver that hands out a buffer
            // ffmpeg did not queue trips this assertion.
            assert!(self.queued >= 1, "av_assert0(buffers_queued >= 1)");
            assert_eq!(b.flags & V4L2_BUF_FLAG_ERROR, 0);
            assert_eq!(
                b.bytesused, self.frame_size,
                "Dequeued v4l2 buffer contains X bytes, but Y were expected"
            );
            let ts = ts_ns(&b);
            assert!(ts >= self.last_ts && ts <= h.now, "-ts default: monotonic");
            self.last_ts = ts;
            self.frames.push(frame_of(h, self.fd, &b));
            if self.queued == (self.buffers / 8).max(1) {
                // Low on queued buffers: copy and give the buffer back at once.
                qbuf(h, self.fd, CAP, b.index, 0).unwrap();
                self.queued += 1;
            } else {
                self.packets.push_back(b.index);
            }
        }
    }

    /// The muxer frees packets; each free re-queues the buffer (`mmap_release_buffer`).
    fn release_packets(&mut self, h: &mut Harness, keep: usize) {
        while self.packets.len() > keep {
            let i = self.packets.pop_front().unwrap();
            qbuf(h, self.fd, CAP, i, 0).expect("mmap_release_buffer QBUF");
            self.queued += 1;
        }
    }

    /// STREAMOFF, munmap, close; no REQBUFS(0), possibly with packets still held.
    fn close(self, h: &mut Harness) {
        streamoff(h, self.fd, CAP).expect("STREAMOFF");
        h.close(self.fd);
    }
}

#[test]
fn b1_ffmpeg_input_mmap_from_mmap_producer() {
    let mut h = Harness::default_device();
    let p = h.open();
    s_fmt(&mut h, p, OUT, pix(320, 240, V4L2_PIX_FMT_YUYV)).unwrap();
    let n = reqbufs(&mut h, p, OUT, MMAP, 4).unwrap().count;
    for i in 0..n {
        map(&mut h, p, OUT, i, true);
    }
    streamon(&mut h, p, OUT).unwrap();
    let mut prod = MmapProducer::new(p, n);
    let mut ff = FfmpegInput::open(&mut h);
    for k in 0..40u64 {
        prod.push(&mut h, k);
        h.advance(FRAME_NS);
        ff.read_available(&mut h);
        // A slow muxer holds up to 3 packets (zero copy) before freeing them.
        ff.release_packets(&mut h, 3);
        h.dev.check_invariants().unwrap();
    }
    assert_eq!(
        ff.frames,
        (0..40).collect::<Vec<_>>(),
        "every frame, in order"
    );
    // -nonblock: nothing new → EAGAIN, not an error.
    assert_eq!(dqbuf(&mut h, ff.fd, CAP).unwrap_err(), Errno::EAGAIN);
    ff.close(&mut h);
    h.close(p);
    h.dev.check_invariants().unwrap();
}

#[test]
fn b2_ffmpeg_output_write_feeds_ffmpeg_input() {
    let mut h = Harness::default_device();
    // ffmpeg -f v4l2 /dev/videoN: open O_RDWR, no QUERYCAP, G_FMT(OUTPUT) must succeed first.
    let out = h.open();
    let g = g_fmt(&mut h, out, OUT).expect("E.2: G_FMT(OUTPUT) before any S_FMT");
    let (w, ht) = (320, 240);
    // S_FMT with width/height/fourcc and the packed sizeimage; bytesperline and field are
    // whatever G_FMT returned (for the old 640-wide format): the device must recompute them.
    let f = s_fmt(
        &mut h,
        out,
        OUT,
        v4l2_pix_format {
            width: w,
            height: ht,
            pixelformat: V4L2_PIX_FMT_YUYV,
            field: g.field,
            bytesperline: g.bytesperline,
            sizeimage: w * ht * 2,
            ..Default::default()
        },
    )
    .expect("S_FMT(OUTPUT)");
    assert_eq!(f.bytesperline, w * 2, "E.2: bytesperline recomputed");
    assert_eq!(f.sizeimage, w * ht * 2);
    let mut ff = FfmpegInput::open(&mut h);
    assert_eq!(ff.frame_size, w * ht * 2);
    for k in 0..30u64 {
        // One packet, one write(); no REQBUFS/STREAMON/poll.
        write_frame(&mut h, out, k);
        h.advance(FRAME_NS);
        ff.read_available(&mut h);
        ff.release_packets(&mut h, 2);
    }
    assert_eq!(ff.frames, (0..30).collect::<Vec<_>>());
    h.close(out);
    // The reader outlives the writer: no error, just EAGAIN.
    assert_eq!(dqbuf(&mut h, ff.fd, CAP).unwrap_err(), Errno::EAGAIN);
    ff.close(&mut h);
    assert_eq!(h.dev.status().openers, 0);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// B.3 / E.3 / E.4: GStreamer
// ---------------------------------------------------------------------------------------------

/// GStreamer `v4l2src` (io-mode=mmap).
struct GstSrc {
    cap: Capture,
}

impl GstSrc {
    /// open, QUERYCAP, input/std/control walks, caps probing, S_FMT, S_PARM, allocator probe,
    /// then REQBUFS/mmap/QBUF/STREAMON.
    fn start(h: &mut Harness, node: Node, count: u32) -> GstSrc {
        let fd = h.open_as(node, OpenMode::RDWR).expect("open O_RDWR");
        let c = querycap(h, fd);
        assert_ne!(c.capabilities & V4L2_CAP_DEVICE_CAPS, 0);
        assert_ne!(
            c.device_caps & V4L2_CAP_VIDEO_CAPTURE,
            0,
            "is not a capture device"
        );
        // ENUMINPUT until EINVAL/ENOTTY, ENUMSTD until EINVAL/ENOTTY/ENODATA.
        for index in 0..8 {
            let mut i = v4l2_input {
                index,
                ..Default::default()
            };
            if let Err(e) = h.ioctl(fd, VIDIOC_ENUMINPUT, &mut i) {
                assert!(e == Errno::EINVAL || e == Errno::ENOTTY);
                assert!(index >= 1, "E.3: input 0 exists");
                break;
            }
        }
        let mut std = v4l2_standard::default();
        let e = h.ioctl(fd, VIDIOC_ENUMSTD, &mut std).unwrap_err();
        assert!(e == Errno::EINVAL || e == Errno::ENOTTY);
        // Control walk with NEXT_CTRL terminates.
        let mut id = 0;
        let mut n = 0;
        loop {
            let mut q = v4l2_queryctrl {
                id: id | V4L2_CTRL_FLAG_NEXT_CTRL,
                ..Default::default()
            };
            match h.ioctl(fd, VIDIOC_QUERYCTRL, &mut q) {
                Ok(_) => {
                    assert!(q.id > id, "NEXT_CTRL advances");
                    id = q.id;
                    n += 1;
                    assert!(n < 100, "control walk terminates");
                }
                Err(e) => {
                    assert_eq!(e, Errno::EINVAL);
                    break;
                }
            }
        }
        // Caps probing: ENUM_FMT × ENUM_FRAMESIZES × ENUM_FRAMEINTERVALS (any type understood).
        let fmts = enum_fmts(h, fd, CAP);
        assert!(!fmts.is_empty(), "E.3: ENUM_FMT lists the format");
        for &f in &fmts {
            let mut s = v4l2_frmsizeenum {
                pixel_format: f,
                ..Default::default()
            };
            h.ioctl(fd, VIDIOC_ENUM_FRAMESIZES, &mut s)
                .expect("E.3: frame sizes for every listed format");
        }
        // Driver minimum: failure is tolerated.
        let mut ctl = v4l2_control {
            id: V4L2_CID_MIN_BUFFERS_FOR_CAPTURE,
            value: 0,
        };
        let _ = h.ioctl(fd, VIDIOC_G_CTRL, &mut ctl);
        // Negotiate the current format: same fourcc, size not smaller than asked.
        let cur = g_fmt(h, fd, CAP).expect("G_FMT");
        let got = s_fmt(h, fd, CAP, pix(cur.width, cur.height, cur.pixelformat)).expect("S_FMT");
        assert_eq!(got.pixelformat, cur.pixelformat, "E.3: same fourcc");
        assert!(got.width >= cur.width && got.height >= cur.height);
        // G_PARM, then S_PARM with the caps rate: failure is "did not accept new frame rate".
        let parm = g_parm(h, fd, CAP).expect("G_PARM");
        assert_ne!(parm.capture().capability & V4L2_CAP_TIMEPERFRAME, 0);
        let t = parm.capture().timeperframe;
        let r = s_parm(h, fd, CAP, t.numerator, t.denominator).expect("E.3: S_PARM");
        assert!(r.numerator != 0 && r.denominator != 0);
        // SOURCE_CHANGE subscription during allocation (failure tolerated, but we support it).
        subscribe(h, fd, V4L2_EVENT_SOURCE_CHANGE, 0, 0).expect("SUBSCRIBE SOURCE_CHANGE");
        // Allocator probe: REQBUFS(0) per memory type, CREATE_BUFS(0).
        let r = reqbufs(h, fd, CAP, MMAP, 0).expect("E.3: REQBUFS(0) probe for MMAP");
        assert_eq!(r.count, 0);
        assert_ne!(r.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP, 0);
        let mut cb = v4l2_create_buffers {
            count: 0,
            memory: MMAP,
            ..Default::default()
        };
        cb.format.type_ = CAP;
        cb.format.set_pix(&got);
        h.ioctl(fd, VIDIOC_CREATE_BUFS, &mut cb)
            .expect("E.3: CREATE_BUFS(0) works or fails cleanly");
        // The io-mode=auto DMABUF probe: EXPBUF(index -1, plane -1). It must fail; ENOTTY
        // would mean "no dmabuf export" (see the report: anything else makes auto pick DMABUF).
        let mut ex = v4l2_exportbuffer {
            type_: CAP,
            index: u32::MAX,
            plane: u32::MAX,
            flags: O_CLOEXEC | O_RDWR,
            ..Default::default()
        };
        assert!(h.ioctl(fd, VIDIOC_EXPBUF, &mut ex).is_err());
        let cap = Capture::start(h, fd, count);
        assert!(
            cap.n >= 2,
            "we received N buffer from device, we want at least 2"
        );
        GstSrc { cap }
    }

    /// GstPoll on POLLIN|POLLPRI, DQEVENT on POLLPRI, DQBUF/QBUF on POLLIN.
    fn pull(&mut self, h: &mut Harness) -> (Vec<u64>, Vec<v4l2_event>) {
        let mut frames = Vec::new();
        let mut events = Vec::new();
        loop {
            let rev = h.poll(self.cap.fd, POLLIN | POLLPRI);
            assert_eq!(
                rev & POLLERR,
                0,
                "streaming with queued buffers: no POLLERR"
            );
            if rev & POLLPRI != 0 {
                events.push(dqevent(h, self.cap.fd).expect("POLLPRI → DQEVENT"));
                continue;
            }
            if rev & POLLIN == 0 {
                return (frames, events);
            }
            let b = dqbuf(h, self.cap.fd, CAP).expect("POLLIN → DQBUF succeeds (L6)");
            frames.push(self.cap.check(h, &b));
            let e = qbuf(h, self.cap.fd, CAP, b.index, 0);
            assert!(e.is_ok(), "the buffer was not queued: QBUF must succeed");
            // QBUF of an already-queued buffer is an error GStreamer reports.
            assert_eq!(
                qbuf(h, self.cap.fd, CAP, b.index, 0).unwrap_err(),
                Errno::EINVAL,
                "the buffer %i was already queued"
            );
        }
    }

    /// Stop: STREAMOFF, then REQBUFS(0) (E.3).
    fn stop(mut self, h: &mut Harness) -> OpenerId {
        streamoff(h, self.cap.fd, CAP).expect("STREAMOFF");
        self.cap.unmap(h);
        let r = reqbufs(h, self.cap.fd, CAP, MMAP, 0).expect("E.3: REQBUFS(0) after STREAMOFF");
        assert_eq!(r.count, 0);
        self.cap.fd
    }
}

#[test]
fn b3_gstreamer_v4l2src_streams_and_stops_with_reqbufs0() {
    let mut h = Harness::default_device();
    let p = h.producer(320, 240, V4L2_PIX_FMT_YUYV, 3);
    let mut prod = MmapProducer::new(p, 3);
    let mut src = GstSrc::start(&mut h, Node::Combined, 4);
    let mut got = Vec::new();
    for k in 0..20 {
        prod.push(&mut h, k);
        h.advance(FRAME_NS);
        got.extend(src.pull(&mut h).0);
    }
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    let fd = src.stop(&mut h);
    assert_eq!(h.dev.reader_count(), 0);
    // Pipeline restart on the same fd (PAUSED → PLAYING after renegotiation).
    let mut again = GstSrc {
        cap: Capture::start(&mut h, fd, 4),
    };
    for k in 20..25 {
        prod.push(&mut h, k);
        h.advance(FRAME_NS);
    }
    let (frames, _) = again.pull(&mut h);
    assert_eq!(
        frames,
        (20..24).collect::<Vec<_>>(),
        "first 4 buffers' worth"
    );
    let fd = again.stop(&mut h);
    h.close(fd);
    h.close(p);
    h.dev.check_invariants().unwrap();
}

#[test]
fn b3_two_v4l2src_readers_one_stops_other_keeps_receiving() {
    let mut h = Harness::default_device();
    let p = h.producer(320, 240, V4L2_PIX_FMT_YUYV, 4);
    let mut prod = MmapProducer::new(p, 4);
    let mut a = GstSrc::start(&mut h, Node::Combined, 4);
    let mut b = GstSrc::start(&mut h, Node::Combined, 3);
    let mut got_a = Vec::new();
    let mut got_b = Vec::new();
    for k in 0..10 {
        prod.push(&mut h, k);
        h.advance(FRAME_NS);
        got_a.extend(a.pull(&mut h).0);
        got_b.extend(b.pull(&mut h).0);
    }
    assert_eq!(got_b, (0..10).collect::<Vec<_>>());
    // Reader B stops: STREAMOFF + REQBUFS(0) + close (v4l2loopback #454/#447 killed A here).
    let fd_b = b.stop(&mut h);
    h.close(fd_b);
    h.dev.check_invariants().unwrap();
    for k in 10..30 {
        prod.push(&mut h, k);
        h.advance(FRAME_NS);
        let (frames, events) = a.pull(&mut h);
        assert!(events.is_empty(), "no SOURCE_CHANGE/EOS for A");
        got_a.extend(frames);
    }
    assert_eq!(got_a, (0..30).collect::<Vec<_>>(), "A never missed a frame");
    let fd_a = a.stop(&mut h);
    h.close(fd_a);
    h.close(p);
    h.dev.check_invariants().unwrap();
}

/// GStreamer `v4l2sink`: MMAP output queue, STREAMON after the first QBUF, POLLOUT + DQBUF to
/// recycle once min-latency buffers are queued, STREAMOFF + REQBUFS(0) on stop.
fn gst_v4l2sink_run(h: &mut Harness, first: u64, frames: u64, consumer: &mut Option<Capture>) {
    let fd = h.open();
    let c = querycap(h, fd);
    assert_ne!(c.device_caps & V4L2_CAP_VIDEO_OUTPUT, 0, "E.4: OUTPUT");
    assert_eq!(
        c.device_caps & V4L2_CAP_VIDEO_CAPTURE,
        0,
        "E.4: not also CAPTURE (exclusive caps)"
    );
    assert!(enum_fmts(h, fd, OUT).contains(&V4L2_PIX_FMT_YUYV));
    let mut ctl = v4l2_control {
        id: V4L2_CID_MIN_BUFFERS_FOR_OUTPUT,
        value: 0,
    };
    let _ = h.ioctl(fd, VIDIOC_G_CTRL, &mut ctl);
    let f = s_fmt(h, fd, OUT, pix(160, 120, V4L2_PIX_FMT_YUYV)).expect("S_FMT(OUTPUT)");
    assert_eq!(f.pixelformat, V4L2_PIX_FMT_YUYV);
    s_parm(h, fd, OUT, 1, 30).expect("E.4: S_PARM on OUTPUT");
    reqbufs(h, fd, OUT, MMAP, 0).expect("allocator probe REQBUFS(0)");
    let n = reqbufs(h, fd, OUT, MMAP, 4).expect("REQBUFS(4)").count;
    assert!(n >= 2);
    for i in 0..n {
        map(h, fd, OUT, i, true);
    }
    let mut prod = MmapProducer::new(fd, n);
    let min_latency = 2;
    for k in first..first + frames {
        prod.push(h, k);
        if k == first {
            streamon(h, fd, OUT).expect("STREAMON right after the first QBUF");
            // Exclusive caps flip: consumers now see a capture device.
            let probe = h.open();
            let pc = querycap(h, probe);
            assert_eq!(pc.device_caps & V4L2_CAP_VIDEO_OUTPUT, 0);
            h.close(probe);
            if consumer.is_none() {
                let cfd = h.open();
                *consumer = Some(Capture::start(h, cfd, 4));
            }
        }
        // Once min-latency buffers are queued: wait for POLLOUT, DQBUF one to recycle.
        while prod.queued.len() >= min_latency {
            let rev = h.poll(fd, POLLOUT);
            assert_ne!(rev & POLLOUT, 0, "E.4: POLLOUT once a buffer was consumed");
            let i = prod.recycle(h);
            prod.free.push_back(i);
        }
        // Output completion does not wait for consumers (O5): POLLOUT iff something is
        // queued, i.e. already consumed.
        assert_eq!(
            h.poll(fd, POLLOUT) & POLLOUT != 0,
            !prod.queued.is_empty(),
            "L7: POLLOUT exactly when DQBUF(OUTPUT) would succeed"
        );
        h.advance(FRAME_NS);
        if let Some(c) = consumer.as_mut() {
            let got = c.drain(h);
            if k > first {
                assert_eq!(got, vec![k], "consumer sees every sink frame in order");
            }
        }
    }
    streamoff(h, fd, OUT).expect("STREAMOFF");
    let r = reqbufs(h, fd, OUT, MMAP, 0).expect("E.4: REQBUFS(0) on stop");
    assert_eq!(r.count, 0);
    h.close(fd);
}

#[test]
fn b3_gstreamer_v4l2sink_mmap_output_fifo_and_restart() {
    let mut h = Harness::new(exclusive());
    let mut consumer = None;
    gst_v4l2sink_run(&mut h, 0, 12, &mut consumer);
    // After REQBUFS(0) + close the node is an output device again, and a second pipeline runs.
    let probe = h.open();
    assert_ne!(
        querycap(&mut h, probe).device_caps & V4L2_CAP_VIDEO_OUTPUT,
        0
    );
    h.close(probe);
    gst_v4l2sink_run(&mut h, 100, 12, &mut consumer);
    let mut c = consumer.unwrap();
    assert!(c.drain(&mut h).is_empty());
    h.close(c.fd);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// A.3 / A.4 / E.10: ustreamer
// ---------------------------------------------------------------------------------------------

/// ustreamer's capture side (src/libs/capture.c): O_NONBLOCK, select(), a drain loop that
/// DQBUFs until EAGAIN keeping only the newest frame, a `grabbed` flag per buffer, and one
/// worker holding the frame it encodes.
struct Ustreamer {
    fd: OpenerId,
    grabbed: Vec<bool>,
    /// The worker's buffer and frame, and how many steps it keeps encoding.
    worker: Option<(u32, u64, u32)>,
    encode_steps: u32,
    last_seq: Option<u32>,
    last_ts: u64,
    delivered: u64,
    frames: Vec<u64>,
}

impl Ustreamer {
    fn start(h: &mut Harness, buffers: u32, encode_steps: u32) -> Ustreamer {
        let fd = h.open(); // open(O_RDWR|O_NONBLOCK): core never blocks anyway
        let c = querycap(h, fd);
        // ustreamer reads `capabilities`.
        assert_ne!(c.capabilities & V4L2_CAP_VIDEO_CAPTURE, 0);
        assert_ne!(c.capabilities & V4L2_CAP_STREAMING, 0);
        let mut input = 0u32;
        h.ioctl(fd, VIDIOC_S_INPUT, &mut input)
            .expect("E.10: S_INPUT(0) is mandatory");
        // S_FMT 640x480 YUYV, bytesperline = align32(w)*2: the device adjusts to the
        // producer's size instead of EBUSY, ustreamer adopts it and retries once.
        let req = v4l2_pix_format {
            bytesperline: 640 * 2,
            ..pix(640, 480, V4L2_PIX_FMT_YUYV)
        };
        let got = s_fmt(h, fd, CAP, req).expect("E.10: S_FMT adjusts, never EBUSY");
        let again =
            s_fmt(h, fd, CAP, pix(got.width, got.height, got.pixelformat)).expect("retry S_FMT");
        assert_eq!(got, again);
        assert_eq!(
            again.pixelformat, V4L2_PIX_FMT_YUYV,
            "a format in ustreamer's list"
        );
        // G_PARM, then S_PARM 1/0xFFFFFFFF ("maximum possible fps"): numerator stays 1.
        let p = g_parm(h, fd, CAP).unwrap();
        assert_ne!(p.capture().capability & V4L2_CAP_TIMEPERFRAME, 0);
        let t = s_parm(h, fd, CAP, 1, u32::MAX).expect("S_PARM");
        assert_eq!(t.numerator, 1, "E.10: numerator stays 1");
        assert_ne!(t.denominator, 0);
        let r = reqbufs(h, fd, CAP, MMAP, buffers).unwrap();
        assert_eq!(r.count, buffers, "Requested N device buffers, got N");
        for i in 0..r.count {
            map(h, fd, CAP, i, true);
            qbuf(h, fd, CAP, i, 0).unwrap();
        }
        streamon(h, fd, CAP).unwrap();
        Ustreamer {
            fd,
            grabbed: vec![false; r.count as usize],
            worker: None,
            encode_steps,
            last_seq: None,
            last_ts: 0,
            delivered: 0,
            frames: Vec::new(),
        }
    }

    fn release(&mut self, h: &mut Harness, index: u32) {
        qbuf(h, self.fd, CAP, index, 0).expect("QBUF of a grabbed buffer");
        self.grabbed[index as usize] = false;
    }

    /// One loop iteration: the worker progresses, then select() and the drain loop.
    /// Returns the ustreamer error message, if any.
    fn step(&mut self, h: &mut Harness) -> Result<(), String> {
        if let Some((index, frame, left)) = self.worker.take() {
            // No tearing: the held frame is intact and still the same frame.
            let data = h.view(self.fd, index, sizeimage(h)).unwrap();
            if check_counter(&data) != Some(frame) {
                return Err(format!("buffer={index} changed while held (tearing)"));
            }
            if left == 0 {
                self.release(h, index);
            } else {
                self.worker = Some((index, frame, left - 1));
            }
        }
        let rev = h.poll(self.fd, POLLIN | POLLRDNORM | POLLPRI);
        if rev & POLLERR != 0 {
            return Err("select() exception".into());
        }
        if rev & POLLIN == 0 {
            return Ok(());
        }
        let mut newest: Option<(u32, u64)> = None;
        loop {
            let b = match dqbuf(h, self.fd, CAP) {
                Ok(b) => b,
                Err(Errno::EAGAIN) => break,
                Err(e) => return Err(format!("Can't grab HW buffer: {e:?}")),
            };
            if b.index as usize >= self.grabbed.len() {
                return Err(format!("grabbed invalid HW buffer={}", b.index));
            }
            if self.grabbed[b.index as usize] {
                return Err(format!("grabbed device buffer={} is already used", b.index));
            }
            self.grabbed[b.index as usize] = true;
            if b.bytesused < 128 {
                return Err("broken frame".into());
            }
            if let Some(prev) = self.last_seq {
                assert!(b.sequence > prev, "every delivery has a new sequence");
            }
            self.last_seq = Some(b.sequence);
            let ts = ts_ns(&b);
            assert!(ts > self.last_ts, "every delivery has a fresh timestamp");
            self.last_ts = ts;
            self.delivered += 1;
            let frame = frame_of(h, self.fd, &b);
            if let Some((old, _)) = newest.replace((b.index, frame)) {
                self.release(h, old);
            }
        }
        if let Some((index, frame)) = newest {
            if self.frames.last().is_some_and(|l| *l > frame) {
                return Err("frames went backwards".into());
            }
            self.frames.push(frame);
            if self.worker.is_none() {
                self.worker = Some((index, frame, self.encode_steps));
            } else {
                self.release(h, index); // no free worker: skip
            }
        }
        Ok(())
    }
}

/// A write() producer at `prod_every` steps, ustreamer stepping every `step_ns`.
fn run_ustreamer(
    cfg: DeviceConfig,
    buffers: u32,
    encode_steps: u32,
    prod_every: u64,
    steps: u64,
) -> Ustreamer {
    let mut h = Harness::new(cfg);
    let p = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, p, 0);
    let mut us = Ustreamer::start(&mut h, buffers, encode_steps);
    let step_ns = FRAME_NS / 3;
    let mut n = 1;
    for s in 0..steps {
        if s % prod_every == 0 {
            write_frame(&mut h, p, n);
            n += 1;
        }
        h.advance(step_ns);
        if let Err(e) = us.step(&mut h) {
            panic!("step {s}: V4L2 error: {e}");
        }
        h.dev.check_invariants().unwrap();
    }
    // Close: STREAMOFF, munmap, close — no REQBUFS(0).
    streamoff(&mut h, us.fd, CAP).unwrap();
    h.close(us.fd);
    h.close(p);
    h.dev.check_invariants().unwrap();
    us
}

#[test]
fn a4_ustreamer_drain_loop_two_buffers_never_gets_a_held_buffer() {
    // Producer at 30 fps, worker holding each frame for 3 frame periods.
    let us = run_ustreamer(DeviceConfig::default(), 2, 9, 3, 900);
    assert!(us.frames.len() >= 60, "{} frames", us.frames.len());
}

#[test]
fn a4_ustreamer_drain_loop_one_buffer() {
    let us = run_ustreamer(DeviceConfig::default(), 1, 9, 3, 900);
    // One buffer held by the worker for 10 steps: frames arrive whenever it is back.
    assert!(us.frames.len() >= 20, "{} frames", us.frames.len());
}

#[test]
fn a4_ustreamer_drain_loop_with_sustain_framerate() {
    let cfg = DeviceConfig {
        sustain_framerate: true,
        ..Default::default()
    };
    for buffers in [1, 2] {
        // Producer at 10 fps, device nominal 30 fps: two repeats per real frame, and the
        // repeats must never land in the buffer the worker holds (one frame period).
        let us = run_ustreamer(cfg.clone(), buffers, 3, 9, 900);
        let real = 900 / 9;
        assert!(
            us.delivered > real,
            "{buffers} buffers: sustain delivers repeats ({} deliveries for {real} frames)",
            us.delivered
        );
        let repeats = us.frames.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(repeats > 0, "the newest frame was a repeat at least once");
    }
}

// ---------------------------------------------------------------------------------------------
// B.4 / E.5: OBS virtual camera
// ---------------------------------------------------------------------------------------------

/// One OBS start/stop round. `streamon` selects the OBS ≤ 31 / caps-workaround path
/// (S_FMT → STREAMON → write()); without it, modern OBS only writes.
fn obs_round(h: &mut Harness, round: u64, streamon_quirk: bool, watchers: &mut Vec<Capture>) {
    let (w, ht) = (160, 120);
    let obs = h.open();
    let c = querycap(h, obs);
    assert_ne!(
        c.device_caps & V4L2_CAP_VIDEO_OUTPUT,
        0,
        "round {round}: OBS finds an output device"
    );
    g_fmt(h, obs, OUT).expect("G_FMT(OUTPUT)");
    s_parm(h, obs, OUT, 1, 30).expect("S_PARM(OUTPUT, TIMEPERFRAME)");
    let f = s_fmt(
        h,
        obs,
        OUT,
        v4l2_pix_format {
            sizeimage: w * ht * 2,
            ..pix(w, ht, V4L2_PIX_FMT_YUYV)
        },
    )
    .expect("S_FMT(OUTPUT, YUYV)");
    assert_eq!((f.width, f.height), (w, ht));
    if streamon_quirk {
        streamon(h, obs, OUT).expect("E.5: STREAMON(OUTPUT) without REQBUFS");
    }
    for k in 0..10 {
        write_frame(h, obs, round * 100 + k);
        if k == 0 {
            // E.5: once OBS writes, browsers see a capture-only node.
            let probe = h.open();
            let pc = querycap(h, probe);
            assert_eq!(pc.device_caps & V4L2_CAP_VIDEO_OUTPUT, 0);
            assert_ne!(pc.device_caps & V4L2_CAP_VIDEO_CAPTURE, 0);
            h.close(probe);
            // A browser joining this round.
            let b = h.open();
            watchers.push(Capture::start(h, b, 4));
        }
        h.advance(FRAME_NS);
        let count = watchers.len();
        for (i, wch) in watchers.iter_mut().enumerate() {
            let got = wch.drain(h);
            let last = i + 1 == count;
            if !(last && k == 0) {
                assert_eq!(got, vec![round * 100 + k], "round {round}, watcher {i}");
            }
        }
    }
    if streamon_quirk {
        // OBS only logs a failing STREAMOFF; vb2 refuses streaming ioctls while write() I/O
        // is active (EBUSY). close() below is what releases the device.
        let r = streamoff(h, obs, OUT);
        assert!(matches!(r, Ok(()) | Err(Errno::EBUSY)), "{r:?}");
    }
    h.close(obs);
    let probe = h.open();
    let pc = querycap(h, probe);
    assert_ne!(
        pc.device_caps & V4L2_CAP_VIDEO_OUTPUT,
        0,
        "round {round}: the node reports OUTPUT again after stop"
    );
    h.close(probe);
}

#[test]
fn b4_obs_virtual_camera_five_rounds_streamon_then_write() {
    let mut h = Harness::new(exclusive());
    let mut watchers = Vec::new();
    for round in 0..5 {
        obs_round(&mut h, round, true, &mut watchers);
        h.dev.check_invariants().unwrap();
    }
    // The browsers that joined in earlier rounds kept their streams through every restart.
    assert_eq!(watchers.len(), 5);
    assert_eq!(h.dev.reader_count(), 5);
    for w in watchers {
        h.close(w.fd);
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn b4_obs_virtual_camera_five_rounds_write_only() {
    let mut h = Harness::new(exclusive());
    let mut watchers = Vec::new();
    for round in 0..5 {
        obs_round(&mut h, round, false, &mut watchers);
    }
    assert_eq!(h.dev.reader_count(), 5);
    h.dev.check_invariants().unwrap();
}

#[test]
fn b4_obs_caps_reset_probe_fails_cleanly_while_another_producer_streams() {
    // Modern OBS: if the node is capture-only, try_reset_output_caps opens a second fd and
    // does G_FMT(OUTPUT) → S_FMT → STREAMON → STREAMOFF. While another producer streams that
    // must fail (OBS then tries the next /dev/video*), and must not disturb the producer.
    let mut h = Harness::new(exclusive());
    let p = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, p, 0);
    let c = h.open();
    let mut cap = Capture::start(&mut h, c, 2);
    let obs = h.open();
    assert_eq!(querycap(&mut h, obs).device_caps & V4L2_CAP_VIDEO_OUTPUT, 0);
    assert!(
        g_fmt(&mut h, obs, OUT).is_err(),
        "no OUTPUT on this node now"
    );
    assert!(streamon(&mut h, obs, OUT).is_err());
    h.close(obs);
    write_frame(&mut h, p, 1);
    h.advance(FRAME_NS);
    assert_eq!(cap.drain(&mut h), vec![1]);
    h.close(c);
    h.close(p);
    h.dev.check_invariants().unwrap();
}

/// E.6: OBS's "Video Capture Device (V4L2)" source, a consumer: libv4l2-style setup, REQBUFS 4,
/// select() with a timeout of 5 frame periods; on timeout LOG_STATUS and an auto-reset
/// (STREAMOFF, QBUF all, STREAMON).
#[test]
fn b4_obs_v4l2_source_consumer_with_auto_reset() {
    let mut h = Harness::default_device();
    let p = write_producer(&mut h, Node::Combined, 320, 240, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, p, 0);
    let fd = h.open(); // v4l2_open(O_RDWR|O_NONBLOCK)
    let c = querycap(&mut h, fd);
    assert_ne!(c.device_caps & V4L2_CAP_VIDEO_CAPTURE, 0, "E.6");
    let mut input = 0u32;
    h.ioctl(fd, VIDIOC_G_INPUT, &mut input).expect("G_INPUT");
    let mut inp = v4l2_input {
        index: input,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_ENUMINPUT, &mut inp).expect("ENUMINPUT");
    assert_eq!(inp.status & V4L2_IN_ST_NO_SIGNAL, 0, "a producer streams");
    h.ioctl(fd, VIDIOC_S_INPUT, &mut input).expect("S_INPUT");
    // Optional standards and DV timings: absent is fine, as ENOTTY.
    let mut std = 0u64;
    assert_eq!(h.ioctl(fd, VIDIOC_G_STD, &mut std), Err(Errno::ENOTTY));
    let mut dv = v4l2_enum_dv_timings::default();
    assert_eq!(
        h.ioctl(fd, VIDIOC_ENUM_DV_TIMINGS, &mut dv),
        Err(Errno::ENOTTY)
    );
    let cur = g_fmt(&mut h, fd, CAP).unwrap();
    let f = s_fmt(&mut h, fd, CAP, pix(cur.width, cur.height, cur.pixelformat)).unwrap();
    assert_eq!((f.width, f.height), (320, 240));
    let fps = g_parm(&mut h, fd, CAP).unwrap().capture().timeperframe;
    s_parm(&mut h, fd, CAP, fps.numerator, fps.denominator).unwrap();
    let mut cap = Capture::start(&mut h, fd, 4);
    assert_eq!(cap.n, 4);
    let timeout = 5 * FRAME_NS;
    let mut got = Vec::new();
    for k in 1..10 {
        write_frame(&mut h, p, k);
        h.advance(FRAME_NS);
        assert_ne!(h.poll(fd, POLLIN) & POLLIN, 0, "select() readable in time");
        got.extend(cap.drain(&mut h));
    }
    assert_eq!(got, (1..10).collect::<Vec<_>>());
    // The producer pauses: select() times out after 5 frame periods.
    h.advance(timeout);
    assert_eq!(h.poll(fd, POLLIN), 0);
    h.ioctl(fd, VIDIOC_LOG_STATUS, &mut ())
        .expect("VIDIOC_LOG_STATUS");
    streamoff(&mut h, fd, CAP).unwrap();
    for i in 0..cap.n {
        qbuf(&mut h, fd, CAP, i, 0).expect("QBUF after STREAMOFF");
    }
    streamon(&mut h, fd, CAP).unwrap();
    cap.last_seq = None; // sequences restart at STREAMON
    write_frame(&mut h, p, 10);
    h.advance(FRAME_NS);
    assert_eq!(
        cap.drain(&mut h),
        vec![10],
        "frames flow again after the reset"
    );
    h.close(fd);
    h.close(p);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// B.5 / B.6 / E.7 / E.8: Chromium and Firefox
// ---------------------------------------------------------------------------------------------

/// Chromium's enumeration test (video_capture_device_factory_v4l2.cc): open O_RDONLY,
/// QUERYCAP, reject OUTPUT+CAPTURE nodes, HasUsableFormats, discrete sizes and intervals.
/// Returns the usable (fourcc, w, h) triples.
fn chromium_enumerate(h: &mut Harness, node: Node) -> Option<Vec<(u32, u32, u32)>> {
    let fd = h.open_as(node, OpenMode::RDONLY).expect("open O_RDONLY");
    let c = querycap(h, fd);
    let caps_ok =
        c.capabilities & V4L2_CAP_VIDEO_CAPTURE != 0 && c.capabilities & V4L2_CAP_VIDEO_OUTPUT == 0;
    let dcaps_ok = c.capabilities & V4L2_CAP_DEVICE_CAPS != 0
        && c.device_caps & V4L2_CAP_VIDEO_CAPTURE != 0
        && c.device_caps & V4L2_CAP_VIDEO_OUTPUT == 0;
    if !(caps_ok || dcaps_ok) || c.capabilities & V4L2_CAP_VIDEO_CAPTURE == 0 {
        h.close(fd);
        return None;
    }
    let usable = [
        V4L2_PIX_FMT_YUV420,
        V4L2_PIX_FMT_NV12,
        V4L2_PIX_FMT_YUYV,
        V4L2_PIX_FMT_RGB24,
        V4L2_PIX_FMT_MJPEG,
        V4L2_PIX_FMT_JPEG,
    ];
    let mut out = Vec::new();
    for f in enum_fmts(h, fd, CAP) {
        if !usable.contains(&f) {
            continue;
        }
        // Only DISCRETE sizes and intervals are used.
        for (w, ht) in discrete_sizes(h, fd, f).unwrap_or_default() {
            let iv = discrete_intervals(h, fd, f, w, ht).unwrap_or_default();
            assert!(iv.iter().all(|(n, d)| *n != 0 && *d != 0));
            out.push((f, w, ht));
        }
    }
    h.close(fd);
    // "No supported formats" → the device is dropped.
    (!out.is_empty()).then_some(out)
}

/// Chromium's capture delegate: S_FMT, G_PARM + S_PARM (fatal), REQBUFS 4, mmap RW, STREAMON.
fn chromium_start(h: &mut Harness, fd: OpenerId, f: (u32, u32, u32)) -> Capture {
    let c = querycap(h, fd);
    assert_ne!(c.capabilities & V4L2_CAP_VIDEO_CAPTURE, 0);
    let got = s_fmt(h, fd, CAP, pix(f.1, f.2, f.0)).expect("S_FMT");
    assert_eq!(got.pixelformat, f.0);
    let p = g_parm(h, fd, CAP).expect("G_PARM");
    if p.capture().capability & V4L2_CAP_TIMEPERFRAME != 0 {
        // timeperframe 10000 / (fps × 10000): failure is "Failed to set camera framerate".
        s_parm(h, fd, CAP, 10_000, 300_000).expect("E.7: S_PARM must succeed");
    }
    Capture::start(h, fd, 4)
}

/// Chromium's stop path: STREAMOFF, munmap, REQBUFS(0) — failures are errors.
fn chromium_stop(h: &mut Harness, cap: &mut Capture) {
    streamoff(h, cap.fd, CAP).expect("STREAMOFF");
    cap.unmap(h);
    reqbufs(h, cap.fd, CAP, MMAP, 0).expect("E.7: REQBUFS(0) on stop");
}

#[test]
fn b5_chromium_lists_exclusive_caps_node_once_a_producer_streams_and_captures() {
    let mut h = Harness::new(exclusive());
    // Before any producer an exclusive-caps node is an output device: not listed.
    assert!(chromium_enumerate(&mut h, Node::Combined).is_none());
    let p = write_producer(&mut h, Node::Combined, 320, 240, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, p, 0);
    let formats = chromium_enumerate(&mut h, Node::Combined).expect("listed (E.7)");
    assert_eq!(formats, vec![(V4L2_PIX_FMT_YUYV, 320, 240)]);
    let fd = h.open();
    let mut cap = chromium_start(&mut h, fd, formats[0]);
    let mut got = Vec::new();
    for k in 1..16 {
        write_frame(&mut h, p, k);
        h.advance(FRAME_NS);
        // poll(POLLIN, 1000 ms) fires, DQBUF, bytesused ≥ the allocation size, QBUF.
        assert_ne!(h.poll(fd, POLLIN) & POLLIN, 0);
        got.extend(cap.drain(&mut h));
    }
    assert_eq!(got, (1..16).collect::<Vec<_>>());
    // The producer stalls for a second: poll times out once, Chromium restarts the stream
    // (StopStream + StartStream), which must work, and frames flow again.
    h.advance(1_000_000_000);
    assert_eq!(h.poll(fd, POLLIN), 0, "no frame: a timeout, not an error");
    chromium_stop(&mut h, &mut cap);
    let mut cap = Capture::start(&mut h, fd, 4);
    write_frame(&mut h, p, 16);
    h.advance(FRAME_NS);
    assert_eq!(cap.drain(&mut h), vec![16]);
    chromium_stop(&mut h, &mut cap);
    h.close(fd);
    h.close(p);
    h.dev.check_invariants().unwrap();
}

#[test]
fn b5_chromium_lists_split_capture_node_before_any_producer() {
    // With `--caps` the capture node has one discrete size and interval from the start.
    let mut h = Harness::new(DeviceConfig {
        fixed_caps: Some(
            "YUYV:320x240@30"
                .parse::<loopcam_core::format::FixedCaps>()
                .expect("caps string"),
        ),
        ..split()
    });
    let c = h.open_as(Node::Capture, OpenMode::RDONLY).unwrap();
    let q = querycap(&mut h, c);
    assert_ne!(q.device_caps & V4L2_CAP_VIDEO_CAPTURE, 0);
    assert_eq!(q.device_caps & V4L2_CAP_VIDEO_OUTPUT, 0, "B.5: no OUTPUT");
    h.close(c);
    let formats = chromium_enumerate(&mut h, Node::Capture).expect("listed before a producer");
    assert_eq!(formats, vec![(V4L2_PIX_FMT_YUYV, 320, 240)]);
    // Chromium captures before the producer exists; frames flow once it starts.
    let fd = h.open_as(Node::Capture, OpenMode::RDWR).unwrap();
    let mut cap = chromium_start(&mut h, fd, formats[0]);
    h.advance(FRAME_NS);
    assert!(cap.drain(&mut h).is_empty());
    // The output node is an output device, invisible to Chromium.
    assert!(chromium_enumerate(&mut h, Node::Output).is_none());
    let p = write_producer(&mut h, Node::Output, 320, 240, V4L2_PIX_FMT_YUYV);
    for k in 0..5 {
        write_frame(&mut h, p, k);
        h.advance(FRAME_NS);
    }
    assert_eq!(
        cap.drain(&mut h),
        (0..4).collect::<Vec<_>>(),
        "4 buffers' worth"
    );
    assert_eq!(cap.drain(&mut h), Vec::<u64>::new());
    write_frame(&mut h, p, 5);
    assert_eq!(cap.drain(&mut h), vec![5]);
    chromium_stop(&mut h, &mut cap);
    h.close(fd);
    h.close(p);
    h.dev.check_invariants().unwrap();
}

#[test]
fn b5_chromium_lists_split_capture_node_before_any_producer_without_caps() {
    let mut h = Harness::new(split());
    assert!(chromium_enumerate(&mut h, Node::Capture).is_some());
}

/// Firefox's V4L2 enumeration (device_info_v4l2.cc): O_RDONLY, device_caps CAPTURE, bus_info
/// as id, TRY_FMT over 15 fourccs × 13 sizes keeping the pairs that come back unchanged.
fn firefox_enumerate(h: &mut Harness, node: Node) -> Vec<(u32, u32, u32)> {
    let fd = h.open_as(node, OpenMode::RDONLY).unwrap();
    let c = querycap(h, fd);
    assert_ne!(c.device_caps & V4L2_CAP_VIDEO_CAPTURE, 0, "E.8");
    assert!(
        !cstr(&c.bus_info).is_empty(),
        "E.8: bus_info is the unique id"
    );
    let fourccs = [
        V4L2_PIX_FMT_MJPEG,
        V4L2_PIX_FMT_JPEG,
        V4L2_PIX_FMT_YUV420,
        V4L2_PIX_FMT_YVU420,
        V4L2_PIX_FMT_YUYV,
        V4L2_PIX_FMT_UYVY,
        V4L2_PIX_FMT_NV12,
        V4L2_PIX_FMT_BGR24,
        V4L2_PIX_FMT_RGB24,
        V4L2_PIX_FMT_RGB565,
        V4L2_PIX_FMT_ABGR32,
        V4L2_PIX_FMT_ARGB32,
        V4L2_PIX_FMT_RGBA32,
        V4L2_PIX_FMT_BGR32,
        V4L2_PIX_FMT_RGB32,
    ];
    let sizes = [
        (128, 96),
        (160, 120),
        (176, 144),
        (320, 240),
        (352, 288),
        (640, 480),
        (704, 576),
        (800, 600),
        (960, 720),
        (1280, 720),
        (1024, 768),
        (1440, 1080),
        (1920, 1080),
    ];
    let mut out = Vec::new();
    for f in fourccs {
        for (w, ht) in sizes {
            if let Ok(p) = try_fmt(h, fd, CAP, pix(w, ht, f)) {
                if (p.width, p.height) == (w, ht) {
                    out.push((f, w, ht));
                }
            }
        }
    }
    h.close(fd);
    out
}

#[test]
fn b6_firefox_enumerates_split_capture_node_and_captures() {
    let mut h = Harness::new(split());
    let fmt_before = h.dev.format();
    let caps = firefox_enumerate(&mut h, Node::Capture);
    // DESIGN §3.9: the split capture node offers exactly the format the producer side set
    // (here the device default), so every probe lands on it.
    assert!(caps.contains(&(V4L2_PIX_FMT_YUYV, 640, 480)), "E.8");
    assert!(
        caps.iter().all(|&(_, w, ht)| (w, ht) == (640, 480)),
        "only the device's size: {caps:?}"
    );
    assert_eq!(h.dev.format(), fmt_before, "TRY_FMT has no side effect");
    // Capture: O_RDWR|O_NONBLOCK, ENUM_FMT, S_FMT, S_PARM (non-fatal), REQBUFS 4, mmap,
    // STREAMON, poll(POLLIN, 1 s), DQBUF/QBUF; stop: munmap, STREAMOFF, close.
    let fd = h.open_as(Node::Capture, OpenMode::RDWR).unwrap();
    assert!(enum_fmts(&mut h, fd, CAP).contains(&V4L2_PIX_FMT_YUYV));
    s_fmt(&mut h, fd, CAP, pix(640, 480, V4L2_PIX_FMT_YUYV)).unwrap();
    let _ = s_parm(&mut h, fd, CAP, 1, 30);
    let mut cap = Capture::start(&mut h, fd, 4);
    assert!(cap.n <= 4);
    assert_eq!(h.poll(fd, POLLIN), 0, "poll times out, Firefox loops");
    // The producer comes later and uses the format the consumer asked for.
    let p = write_producer(&mut h, Node::Output, 640, 480, V4L2_PIX_FMT_YUYV);
    let mut got = Vec::new();
    for k in 0..8 {
        write_frame(&mut h, p, k);
        h.advance(FRAME_NS);
        assert_ne!(h.poll(fd, POLLIN) & POLLIN, 0);
        got.extend(cap.drain(&mut h));
    }
    assert_eq!(got, (0..8).collect::<Vec<_>>());
    cap.unmap(&mut h);
    streamoff(&mut h, fd, CAP).unwrap();
    h.close(fd);
    h.close(p);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// B.7 / E.9: OpenCV
// ---------------------------------------------------------------------------------------------

#[test]
fn b7_opencv_prot_read_mmap_four_buffers() {
    let mut h = Harness::default_device();
    let p = write_producer(&mut h, Node::Combined, 320, 240, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, p, 0);
    let fd = h.open(); // O_RDWR|O_NONBLOCK
    let c = querycap(&mut h, fd);
    assert_ne!(c.capabilities & V4L2_CAP_VIDEO_CAPTURE, 0, "E.9");
    g_fmt(&mut h, fd, CAP).expect("E.9: G_FMT is fatal on failure");
    // S_FMT in OpenCV's order until the fourcc is echoed; EBUSY would close the device.
    let order = [
        V4L2_PIX_FMT_BGR24,
        V4L2_PIX_FMT_RGB24,
        V4L2_PIX_FMT_YVU420,
        V4L2_PIX_FMT_YUV420,
        V4L2_PIX_FMT_YUV411P,
        V4L2_PIX_FMT_YUYV,
    ];
    let mut chosen = None;
    for f in order {
        let r = s_fmt(&mut h, fd, CAP, pix(640, 480, f));
        assert_ne!(r, Err(Errno::EBUSY), "E.9: never EBUSY");
        if r.is_ok_and(|p| p.pixelformat == f) {
            chosen = Some(f);
            break;
        }
    }
    assert_eq!(chosen, Some(V4L2_PIX_FMT_YUYV));
    let _ = s_parm(&mut h, fd, CAP, 1, 30);
    let _ = g_parm(&mut h, fd, CAP);
    let r = reqbufs(&mut h, fd, CAP, MMAP, 4).unwrap();
    assert_eq!(r.count, 4, "E.9: REQBUFS(4) grants 4");
    let mut lengths = Vec::new();
    for i in 0..4 {
        let b = querybuf(&mut h, fd, CAP, i).unwrap();
        lengths.push(b.length);
        // mmap(PROT_READ, MAP_SHARED): read-only mapping.
        let m = h
            .dev
            .mmap(fd, b.m_offset().into(), b.length.into(), true, false, true)
            .expect("E.9: PROT_READ-only mmap");
        assert_eq!(m.dir, Dir::Capture);
    }
    for i in 0..4 {
        qbuf(&mut h, fd, CAP, i, 0).unwrap();
    }
    streamon(&mut h, fd, CAP).unwrap();
    // ioctl wrapper: EAGAIN → select() (10 s), retry.
    let mut frames = Vec::new();
    let mut k = 1;
    while frames.len() < 10 {
        match dqbuf(&mut h, fd, CAP) {
            Ok(b) => {
                assert_eq!(b.length, lengths[b.index as usize], "E.9: length constant");
                frames.push(frame_of(&h, fd, &b));
                qbuf(&mut h, fd, CAP, b.index, 0).unwrap();
            }
            Err(Errno::EAGAIN) => {
                assert_eq!(h.poll(fd, POLLIN), 0, "select() waits");
                write_frame(&mut h, p, k);
                k += 1;
                h.advance(FRAME_NS);
                assert_ne!(h.poll(fd, POLLIN) & POLLIN, 0, "readiness arrives");
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    // The first grab is discarded by OpenCV; the rest are consecutive.
    assert_eq!(frames, (1..11).collect::<Vec<_>>());
    h.close(fd);
    h.close(p);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// B.8 / E.11: v4l2-ctl
// ---------------------------------------------------------------------------------------------

#[test]
fn b8_v4l2_ctl_stream_out_mmap_feeds_stream_mmap() {
    let mut h = Harness::default_device();
    // --stream-buf-caps: REQBUFS(0) prints the buffer capabilities.
    let probe = h.open();
    let r = reqbufs(&mut h, probe, CAP, MMAP, 0).unwrap();
    assert_ne!(r.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP, 0);
    h.close(probe);
    // v4l2-ctl -d0 --stream-out-mmap (4 buffers): G_FMT, REQBUFS, fill all, QBUF all,
    // STREAMON, then DQBUF → refill → QBUF.
    let out = h.open();
    s_fmt(&mut h, out, OUT, pix(160, 120, V4L2_PIX_FMT_YUYV)).unwrap();
    let f = g_fmt(&mut h, out, OUT).unwrap();
    assert_eq!(f.sizeimage, 160 * 120 * 2);
    let n = reqbufs(&mut h, out, OUT, MMAP, 4).unwrap().count;
    assert_eq!(n, 4);
    for i in 0..n {
        map(&mut h, out, OUT, i, true);
    }
    let mut prod = MmapProducer::new(out, n);
    // v4l2-ctl -d0 --stream-mmap (3 buffers) starts first.
    let cap_fd = h.open();
    subscribe(&mut h, cap_fd, V4L2_EVENT_EOS, 0, 0).expect("E.11: EOS subscription");
    let mut input = 0;
    h.ioctl(cap_fd, VIDIOC_G_INPUT, &mut input).unwrap();
    let mut inp = v4l2_input {
        index: input,
        ..Default::default()
    };
    h.ioctl(cap_fd, VIDIOC_ENUMINPUT, &mut inp).unwrap();
    let mut cap = Capture::start(&mut h, cap_fd, 3);
    assert_eq!(cap.n, 3);
    for k in 0..4 {
        prod.push(&mut h, k);
    }
    streamon(&mut h, out, OUT).unwrap();
    let mut seqs = Vec::new();
    let mut got = Vec::new();
    let mut k = 4;
    while got.len() < 30 {
        // Blocking DQBUF on the capture side: EAGAIN here means "wait".
        match dqbuf(&mut h, cap_fd, CAP) {
            Ok(b) => {
                seqs.push(b.sequence);
                got.push(cap.check(&h, &b));
                qbuf(&mut h, cap_fd, CAP, b.index, 0).unwrap();
            }
            Err(Errno::EAGAIN) => {
                prod.push(&mut h, k);
                k += 1;
                h.advance(FRAME_NS);
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    // The first three frames filled the three queued buffers; frame 3 found no buffer.
    assert_eq!(&got[..3], &[0, 1, 2]);
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    // fps from timestamps over sequence deltas: sequences are relative to STREAMON, strictly
    // increasing; gaps are exactly the frames that found no queued buffer.
    assert_eq!(seqs[0], 0);
    for (s, g) in seqs.iter().zip(&got) {
        assert_eq!(*s as u64, *g, "sequence == frames since STREAMON");
    }
    // Producer stops: v4l2-ctl's select() on exceptions sees the EOS event.
    streamoff(&mut h, out, OUT).unwrap();
    assert_ne!(h.poll(cap_fd, POLLPRI) & POLLPRI, 0);
    assert_eq!(dqevent(&mut h, cap_fd).unwrap().type_, V4L2_EVENT_EOS);
    h.close(out);
    h.close(cap_fd);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// B.10 / E.13: pyvirtualcam
// ---------------------------------------------------------------------------------------------

#[test]
fn b10_pyvirtualcam_wronly_write_each_format() {
    for cfg in [DeviceConfig::default(), exclusive()] {
        for fourcc in [
            V4L2_PIX_FMT_YUV420,
            V4L2_PIX_FMT_NV12,
            V4L2_PIX_FMT_YUYV,
            V4L2_PIX_FMT_UYVY,
            V4L2_PIX_FMT_GREY,
        ] {
            let mut h = Harness::new(cfg.clone());
            // open(O_WRONLY|O_SYNC), QUERYCAP: OUTPUT and driver == "v4l2 loopback".
            let fd = h
                .open_as(Node::Combined, OpenMode::WRONLY)
                .expect("O_WRONLY");
            let c = querycap(&mut h, fd);
            assert_ne!(c.capabilities & V4L2_CAP_VIDEO_OUTPUT, 0, "E.13");
            assert_eq!(cstr(&c.driver), "v4l2 loopback", "E.13: exact driver name");
            // S_FMT(OUTPUT) without G_FMT.
            let f = s_fmt(&mut h, fd, OUT, pix(320, 240, fourcc)).expect("S_FMT");
            assert_eq!(f.pixelformat, fourcc);
            assert_eq!(f.sizeimage, packed_size(fourcc, 320, 240));
            write_frame(&mut h, fd, 0);
            let c = h.open();
            let mut cap = Capture::start(&mut h, c, 4);
            for k in 1..6 {
                write_frame(&mut h, fd, k);
                h.advance(FRAME_NS);
            }
            assert_eq!(cap.drain(&mut h), (1..5).collect::<Vec<_>>());
            // A write-only fd cannot read.
            assert_eq!(h.read(fd, 16).unwrap_err(), Errno::EBADF);
            h.close(fd);
            h.close(c);
            h.dev.check_invariants().unwrap();
        }
    }
}
