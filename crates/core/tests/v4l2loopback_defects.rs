//! One test per user-reported v4l2loopback defect (reference/v4l2loopback.md §6, "25 most
//! important user-reported bugs", rows 1–25) and per row of "Additional defects found by
//! reading the 0.15.4 code", each replaying the row's test scenario against the device model.
//! A test is named after its row; rows that are not about the device model say where they are
//! covered instead.
//!
//! Conventions: `kill -9` of a process is modelled as `close()` of its fds (DESIGN §2: a dead
//! client is cleaned up exactly like a closed fd); "blocking" is EAGAIN from core plus a wake-up
//! of the opener (core never blocks); time advances through `h.advance(ns)`, which runs the
//! sustain/timeout timers.

use std::collections::BTreeSet;

use loopcam_abi::*;
use loopcam_core::events::EVENT_PRI_CLIENT_USAGE;
use loopcam_core::testing::{check_counter, counter_pattern, Harness};
use loopcam_core::{DeviceConfig, Dir, Errno, Node, NodeLayout, OpenMode, OpenerId, VResult};

mod common;
use common::*;

// poll(2) bits as on Linux (the others are in `common`).
const POLLWRNORM: u32 = 0x100;

const SECOND: u64 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Raw ioctl helpers used only here (the shared ones are in `common`; the C applications' struct
// contents).
// ---------------------------------------------------------------------------------------------

fn qbuf_mem(
    h: &mut Harness,
    fd: OpenerId,
    type_: u32,
    memory: u32,
    index: u32,
    bytesused: u32,
) -> VResult<v4l2_buffer> {
    let mut b = v4l2_buffer {
        index,
        type_,
        memory,
        bytesused,
        field: V4L2_FIELD_NONE,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_QBUF, &mut b)?;
    Ok(b)
}

fn dqbuf_mem(h: &mut Harness, fd: OpenerId, type_: u32, memory: u32) -> VResult<v4l2_buffer> {
    let mut b = v4l2_buffer {
        type_,
        memory,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_DQBUF, &mut b)?;
    Ok(b)
}

fn g_parm_capture(h: &mut Harness, fd: OpenerId) -> v4l2_fract {
    let mut p = v4l2_streamparm {
        type_: CAP,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_G_PARM, &mut p).expect("G_PARM");
    p.capture().timeperframe
}

fn caps_of(h: &mut Harness, node: Node) -> u32 {
    let fd = h.open_as(node, OpenMode::RDONLY).unwrap();
    let c = querycap(h, fd).device_caps;
    h.close(fd);
    c
}

/// An MMAP capture client: REQBUFS, mmap, QBUF all, STREAMON.
struct Capture {
    fd: OpenerId,
    n: u32,
    last_seq: Option<u32>,
    last_ts: u64,
}

impl Capture {
    fn open(h: &mut Harness, node: Node, count: u32) -> Capture {
        let fd = h.open_as(node, OpenMode::RDWR).expect("open consumer");
        Capture::start(h, fd, count)
    }

    fn start(h: &mut Harness, fd: OpenerId, count: u32) -> Capture {
        let n = reqbufs(h, fd, CAP, MMAP, count).expect("REQBUFS").count;
        for i in 0..n {
            map(h, fd, CAP, i, true);
            qbuf(h, fd, CAP, i, 0).expect("QBUF");
        }
        streamon(h, fd, CAP).expect("STREAMON");
        Capture {
            fd,
            n,
            last_seq: None,
            last_ts: 0,
        }
    }

    fn check(&mut self, h: &Harness, b: &v4l2_buffer) {
        assert!(b.index < self.n);
        if let Some(prev) = self.last_seq {
            assert!(b.sequence > prev, "sequence increases");
        }
        self.last_seq = Some(b.sequence);
        let ts = ts_ns(b);
        assert!(ts >= self.last_ts, "monotonic timestamps");
        assert!(ts <= h.now);
        self.last_ts = ts;
    }

    /// DQBUF until EAGAIN, re-queueing; returns the counter frames.
    fn drain(&mut self, h: &mut Harness) -> Vec<u64> {
        let mut got = Vec::new();
        loop {
            match dqbuf(h, self.fd, CAP) {
                Ok(b) => {
                    self.check(h, &b);
                    assert_eq!(b.bytesused as usize, sizeimage(h));
                    got.push(frame_of(h, self.fd, &b));
                    qbuf(h, self.fd, CAP, b.index, 0).expect("re-QBUF");
                }
                Err(e) => {
                    assert_eq!(e, Errno::EAGAIN);
                    return got;
                }
            }
        }
    }
}

/// Chromium's acceptance test of a node: capture without output in `capabilities` or in
/// `device_caps` (crbug 139356), and a usable format.
fn chromium_accepts(h: &mut Harness, node: Node) -> bool {
    let fd = h.open_as(node, OpenMode::RDONLY).unwrap();
    let c = querycap(h, fd);
    let caps_ok =
        c.capabilities & V4L2_CAP_VIDEO_CAPTURE != 0 && c.capabilities & V4L2_CAP_VIDEO_OUTPUT == 0;
    let dcaps_ok = c.capabilities & V4L2_CAP_DEVICE_CAPS != 0
        && c.device_caps & V4L2_CAP_VIDEO_CAPTURE != 0
        && c.device_caps & V4L2_CAP_VIDEO_OUTPUT == 0;
    let usable = enum_fmts(h, fd, CAP)
        .iter()
        .any(|f| [V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_NV12, V4L2_PIX_FMT_MJPEG].contains(f));
    h.close(fd);
    (caps_ok || dcaps_ok) && c.capabilities & V4L2_CAP_VIDEO_CAPTURE != 0 && usable
}

// ---------------------------------------------------------------------------------------------
// §6 rows 1–25
// ---------------------------------------------------------------------------------------------

/// Row 1 (#78, #40, …): Chrome does not list the loopback camera.
#[test]
fn row01_chrome_lists_the_camera_before_and_after_the_producer_starts() {
    // Split mode: the capture node is listed before and after the producer starts.
    let mut h = Harness::new(split());
    assert!(
        chromium_accepts(&mut h, Node::Capture),
        "before the producer"
    );
    assert!(
        !chromium_accepts(&mut h, Node::Output),
        "the output node is not a camera"
    );
    let p = write_producer(&mut h, Node::Output, 320, 240, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, p, 0);
    assert!(
        chromium_accepts(&mut h, Node::Capture),
        "after the producer"
    );
    // Chromium keeps only DISCRETE sizes: once the producer owns the format there is one.
    // (Before a producer, DISCRETE sizes need `--caps`; see scenarios.rs, b5_*_without_caps.)
    let fd = h.open_as(Node::Capture, OpenMode::RDONLY).unwrap();
    let mut s = v4l2_frmsizeenum {
        pixel_format: V4L2_PIX_FMT_YUYV,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_ENUM_FRAMESIZES, &mut s).unwrap();
    assert_eq!(s.type_, V4L2_FRMSIZE_TYPE_DISCRETE);
    assert_eq!((s.discrete().width, s.discrete().height), (320, 240));
    h.close(fd);
    // Single node with exclusive caps: listed once the producer streams.
    let mut h = Harness::new(exclusive());
    assert!(!chromium_accepts(&mut h, Node::Combined));
    let p = write_producer(&mut h, Node::Combined, 320, 240, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, p, 0);
    assert!(chromium_accepts(&mut h, Node::Combined));
    h.dev.check_invariants().unwrap();
}

/// Row 2 (zoom-snap #49, #373, #378): apps that enumerate once at startup miss the device.
#[test]
fn row02_enumerate_once_apps_see_a_capture_node_with_a_valid_format_before_any_producer() {
    let mut h = Harness::new(split());
    // Zoom-style: enumerate once, with no producer anywhere.
    let fd = h.open_as(Node::Capture, OpenMode::RDWR).unwrap();
    let c = querycap(&mut h, fd);
    assert_ne!(c.device_caps & V4L2_CAP_VIDEO_CAPTURE, 0);
    assert_eq!(c.device_caps & V4L2_CAP_VIDEO_OUTPUT, 0);
    let f = g_fmt(&mut h, fd, CAP).expect("a valid placeholder format");
    assert!(f.width > 0 && f.height > 0 && f.sizeimage >= f.width * f.height);
    assert!(enum_fmts(&mut h, fd, CAP).contains(&f.pixelformat));
    let mut inp = v4l2_input::default();
    h.ioctl(fd, VIDIOC_ENUMINPUT, &mut inp).expect("ENUMINPUT");
    assert_ne!(inp.status & V4L2_IN_ST_NO_SIGNAL, 0, "no producer yet");
    // Later the user starts the camera in the app, then the producer; frames flow.
    let mut cap = Capture::start(&mut h, fd, 4);
    let p = write_producer(&mut h, Node::Output, f.width, f.height, f.pixelformat);
    for k in 0..3 {
        write_frame(&mut h, p, k);
        h.advance(FRAME_NS);
    }
    assert_eq!(cap.drain(&mut h), vec![0, 1, 2]);
    h.dev.check_invariants().unwrap();
}

/// Row 3 (#470, #442, #504, obs #4808…): OBS works once; after stop the node is no longer an
/// output device.
#[test]
fn row03_obs_restart_five_rounds_node_reports_output_again() {
    for with_streamon in [false, true] {
        let mut h = Harness::new(exclusive());
        for round in 0..5u64 {
            assert_ne!(
                caps_of(&mut h, Node::Combined) & V4L2_CAP_VIDEO_OUTPUT,
                0,
                "round {round} (STREAMON {with_streamon}): OUTPUT before OBS starts"
            );
            let obs = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
            if with_streamon {
                streamon(&mut h, obs, OUT).unwrap();
            }
            write_frame(&mut h, obs, round * 1000);
            let mut cap = Capture::open(&mut h, Node::Combined, 4);
            for k in 1..30 {
                write_frame(&mut h, obs, round * 1000 + k);
                h.advance(FRAME_NS);
            }
            assert_eq!(
                cap.drain(&mut h),
                (1..5).map(|k| round * 1000 + k).collect::<Vec<_>>()
            );
            h.close(obs);
            h.close(cap.fd);
            h.dev.check_invariants().unwrap();
        }
        assert_ne!(caps_of(&mut h, Node::Combined) & V4L2_CAP_VIDEO_OUTPUT, 0);
    }
}

/// Row 4 (#622, #625, #642): 0.14.0 broke OBS (STREAMON EINVAL without REQBUFS).
#[test]
fn row04_obs_streamon_before_reqbufs_then_write_is_accepted() {
    for cfg in [DeviceConfig::default(), exclusive()] {
        let mut h = Harness::new(cfg);
        let obs = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
        streamon(&mut h, obs, OUT).expect("DESIGN §3.6: STREAMON(OUTPUT) before REQBUFS");
        assert_ne!(h.poll(obs, POLLOUT) & POLLOUT, 0, "writable at once");
        // The stream counts as started: exclusive caps already flipped.
        let mut cap = Capture::open(&mut h, Node::Combined, 4);
        for k in 0..6 {
            write_frame(&mut h, obs, k);
            h.advance(FRAME_NS);
        }
        assert_eq!(cap.drain(&mut h), vec![0, 1, 2, 3]);
        assert_eq!(cap.drain(&mut h), Vec::<u64>::new());
        h.dev.check_invariants().unwrap();
    }
}

/// Row 5 (#675): a producer killed with SIGKILL leaves the device stuck.
#[test]
fn row05_killed_producer_releases_the_device_at_once() {
    let mut h = Harness::new(exclusive());
    // An MMAP producer, streaming, with buffers mapped and queued.
    let p = h.producer(160, 120, V4L2_PIX_FMT_YUYV, 4);
    h.produce(p, 0, 0).unwrap();
    let mut cap = Capture::open(&mut h, Node::Combined, 4);
    subscribe(&mut h, cap.fd, V4L2_EVENT_EOS, 0, 0).unwrap();
    h.produce(p, 1, 1).unwrap();
    h.produce(p, 2, 2).unwrap();
    assert_eq!(cap.drain(&mut h), vec![1, 2]);
    // kill -9: the process's fds are closed.
    h.close(p);
    assert_ne!(
        caps_of(&mut h, Node::Combined) & V4L2_CAP_VIDEO_OUTPUT,
        0,
        "the node advertises OUTPUT again"
    );
    assert_eq!(dqevent(&mut h, cap.fd).unwrap().type_, V4L2_EVENT_EOS);
    assert_eq!(
        h.poll(cap.fd, POLLIN) & POLLERR,
        0,
        "O8: no POLLERR for the consumer"
    );
    // A new producer attaches immediately (no EBUSY anywhere), and the old consumer gets
    // its frames.
    let q = h.producer(160, 120, V4L2_PIX_FMT_YUYV, 2);
    h.produce(q, 0, 10).unwrap();
    h.produce(q, 1, 11).unwrap();
    assert_eq!(cap.drain(&mut h), vec![10, 11]);
    // Same for a killed write() producer.
    h.close(q);
    let w = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, w, 20);
    h.close(w);
    let w2 = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, w2, 21);
    assert_eq!(cap.drain(&mut h), vec![20, 21]);
    h.dev.check_invariants().unwrap();
}

/// Row 6 (#454, #447, #459, #310): stopping one GStreamer reader kills all others.
#[test]
fn row06_one_reader_stopping_does_not_disturb_the_others() {
    let mut h = Harness::default_device();
    let p = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    let mut a = Capture::open(&mut h, Node::Combined, 4);
    let mut b = Capture::open(&mut h, Node::Combined, 4);
    write_frame(&mut h, p, 0);
    assert_eq!(b.drain(&mut h), vec![0]);
    // Reader B: STREAMOFF + REQBUFS(0) + close.
    streamoff(&mut h, b.fd, CAP).unwrap();
    reqbufs(&mut h, b.fd, CAP, MMAP, 0).unwrap();
    h.close(b.fd);
    // Reader A: 10 s of frames without any error.
    let mut got = a.drain(&mut h);
    for k in 1..300 {
        h.advance(FRAME_NS);
        write_frame(&mut h, p, k);
        got.extend(a.drain(&mut h));
    }
    assert_eq!(got, (0..300).collect::<Vec<_>>());
    h.dev.check_invariants().unwrap();
}

/// Row 7 (#457, #566, #246, #635): a second consumer is refused with EBUSY.
#[test]
fn row07_three_mmap_readers_and_one_read_reader_all_receive_every_frame() {
    let mut h = Harness::default_device();
    let p = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    let size = sizeimage(&h);
    let mut readers: Vec<Capture> = (0..3)
        .map(|_| Capture::open(&mut h, Node::Combined, 4))
        .collect();
    let mut rd = h.open();
    let mut got = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    let read_frame = |h: &mut Harness, fd: OpenerId| -> Option<u64> {
        match h.read(fd, size as u32) {
            Ok(d) => {
                assert_eq!(d.len(), size, "read() returns one whole frame");
                Some(check_counter(&d).expect("intact frame"))
            }
            Err(e) => {
                assert_eq!(e, Errno::EAGAIN);
                None
            }
        }
    };
    assert_eq!(
        read_frame(&mut h, rd),
        None,
        "read() before the first frame waits"
    );
    for k in 0..60u64 {
        write_frame(&mut h, p, k);
        h.advance(FRAME_NS);
        for (i, r) in readers.iter_mut().enumerate() {
            if i == 1 && (21..=30).contains(&k) {
                // Stopped: DQBUF would be EINVAL (H20); the reader does not call it.
                assert_eq!(dqbuf(&mut h, r.fd, CAP).unwrap_err(), Errno::EINVAL);
                continue;
            }
            got[i].extend(r.drain(&mut h));
        }
        got[3].extend(read_frame(&mut h, rd));
        // Each reader stops and starts independently.
        if k == 20 {
            streamoff(&mut h, readers[1].fd, CAP).unwrap();
        }
        if k == 30 {
            let fd = readers[1].fd;
            for i in 0..readers[1].n {
                qbuf(&mut h, fd, CAP, i, 0).unwrap();
            }
            streamon(&mut h, fd, CAP).unwrap();
            readers[1].last_seq = None;
        }
        if k == 40 {
            h.close(rd);
            rd = h.open();
            assert_eq!(read_frame(&mut h, rd), None);
        }
    }
    for i in [0, 2] {
        assert_eq!(got[i], (0..60).collect::<Vec<_>>(), "reader {i}");
    }
    let expect1: Vec<u64> = (0..=20).chain(31..60).collect();
    assert_eq!(got[1], expect1, "reader 1 missed only its stopped period");
    let expect3: Vec<u64> = (0..=40).chain(41..60).collect();
    assert_eq!(got[3], expect3, "read() reader");
    h.dev.check_invariants().unwrap();
}

/// Row 8 (mjpg-streamer #264/#346/#280, #329, #572): REQBUFS(4) returned 2, QUERYBUF(2) failed.
#[test]
fn row08_reqbufs_4_grants_4_and_querybuf_works_for_every_index() {
    let mut h = Harness::default_device();
    // Also with a producer that uses only 2 buffers.
    let p = h.producer(160, 120, V4L2_PIX_FMT_YUYV, 2);
    let c = h.open();
    let r = reqbufs(&mut h, c, CAP, MMAP, 4).unwrap();
    assert_eq!(r.count, 4, "default grants 4");
    for i in 0..4 {
        let b = querybuf(&mut h, c, CAP, i).expect("QUERYBUF of every granted index");
        assert_eq!(b.index, i);
        assert!(b.length as usize >= sizeimage(&h));
    }
    assert_eq!(querybuf(&mut h, c, CAP, 4).unwrap_err(), Errno::EINVAL);
    h.close(c);
    h.close(p);
    h.dev.check_invariants().unwrap();
}

/// Row 9 (cameractrls #108, ipu6-drivers #22, #572): a reader's count is forced to the
/// producer's and capped at 2.
#[test]
fn row09_consumer_buffer_counts_are_independent_of_the_producer() {
    let mut h = Harness::new(DeviceConfig {
        max_buffers: 16,
        ..Default::default()
    });
    let p = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, p, 0); // the producer negotiates a single buffer
    let consumers: Vec<Capture> = [4, 8, 16]
        .into_iter()
        .map(|n| {
            let c = Capture::open(&mut h, Node::Combined, n);
            assert_eq!(c.n, n, "each consumer gets what it asked for");
            c
        })
        .collect();
    // Nobody drains: each consumer fills exactly its own count.
    for k in 1..=20 {
        write_frame(&mut h, p, k);
    }
    for c in consumers {
        let mut got = 0;
        while dqbuf(&mut h, c.fd, CAP).is_ok() {
            got += 1;
        }
        assert_eq!(got, c.n);
    }
    // The default device clamps at its documented maximum instead of failing.
    let mut d = Harness::default_device();
    let c = d.open();
    let max = d.dev.config().max_buffers;
    assert_eq!(reqbufs(&mut d, c, CAP, MMAP, 64).unwrap().count, max);
    assert!(max >= 8);
    h.dev.check_invariants().unwrap();
}

/// ustreamer's drain loop (§4 of the reference): non-blocking DQBUF until EAGAIN, keep the
/// newest, QBUF the rest, hold the newest for `hold` steps. Fails on "already used" or on a
/// held frame that changed. Returns (deliveries, real frames written).
fn ustreamer_loop(
    cfg: DeviceConfig,
    buffers: u32,
    prod_every: u64,
    hold: u32,
    fourcc: u32,
) -> (u64, u64) {
    let mut h = Harness::new(cfg);
    let p = write_producer(&mut h, Node::Combined, 160, 120, fourcc);
    let c = h.open();
    assert_eq!(
        reqbufs(&mut h, c, CAP, MMAP, buffers).unwrap().count,
        buffers
    );
    for i in 0..buffers {
        map(&mut h, c, CAP, i, true);
        qbuf(&mut h, c, CAP, i, 0).unwrap();
    }
    streamon(&mut h, c, CAP).unwrap();
    let mut held: BTreeSet<u32> = BTreeSet::new();
    let mut worker: Option<(u32, Vec<u8>, u32)> = None;
    let step = FRAME_NS / 3;
    let mut written = 0;
    let mut delivered = 0;
    // 30 s.
    for s in 0..(30 * SECOND / step) {
        if s % prod_every == 0 {
            // MJPEG-like frames of varying size, raw frames of full size.
            let len = if fourcc == V4L2_PIX_FMT_MJPEG {
                2000 + (written as usize * 37) % 3000
            } else {
                sizeimage(&h)
            };
            h.write(p, &counter_pattern(written, len)).unwrap();
            written += 1;
        }
        h.advance(step);
        if let Some((i, checksum, left)) = worker.take() {
            let now = h.view(c, i, checksum.len()).unwrap();
            assert_eq!(now, checksum, "a held buffer is never written (step {s})");
            if left == 0 {
                qbuf(&mut h, c, CAP, i, 0).unwrap();
                held.remove(&i);
            } else {
                worker = Some((i, checksum, left - 1));
            }
        }
        if h.poll(c, POLLIN) & POLLIN == 0 {
            continue;
        }
        let mut newest: Option<(u32, u32)> = None;
        loop {
            match dqbuf(&mut h, c, CAP) {
                Ok(b) => {
                    assert!(
                        held.insert(b.index),
                        "grabbed device buffer={} is already used (step {s})",
                        b.index
                    );
                    delivered += 1;
                    frame_of(&h, c, &b);
                    if let Some((old, _)) = newest.replace((b.index, b.bytesused)) {
                        qbuf(&mut h, c, CAP, old, 0).unwrap();
                        held.remove(&old);
                    }
                }
                Err(e) => {
                    assert_eq!(e, Errno::EAGAIN);
                    break;
                }
            }
        }
        if let Some((i, len)) = newest {
            if worker.is_none() {
                let checksum = h.view(c, i, len as usize).unwrap();
                worker = Some((i, checksum, hold));
            } else {
                qbuf(&mut h, c, CAP, i, 0).unwrap();
                held.remove(&i);
            }
        }
    }
    h.dev.check_invariants().unwrap();
    (delivered, written)
}

/// Row 10 (pikvm/ustreamer #43, #261): "grabbed device buffer=0 is already used".
#[test]
fn row10_ustreamer_never_gets_a_held_buffer() {
    let sustain = DeviceConfig {
        sustain_framerate: true,
        ..Default::default()
    };
    // Producer 10 fps (every 9 steps of 1/90 s), worker holds 100 ms (9 steps).
    for fourcc in [V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_MJPEG] {
        ustreamer_loop(DeviceConfig::default(), 2, 9, 9, fourcc);
        let (d, w) = ustreamer_loop(sustain.clone(), 2, 9, 9, fourcc);
        assert!(d > w, "sustain at 30 fps re-delivers ({d} for {w})");
        ustreamer_loop(sustain.clone(), 1, 9, 9, fourcc);
    }
    // Variant B: one buffer, producer at 30 fps.
    let (d, w) = ustreamer_loop(DeviceConfig::default(), 1, 3, 9, V4L2_PIX_FMT_YUYV);
    assert!(
        d > 0 && d < w,
        "frames are skipped while the only buffer is held"
    );
}

/// Row 11 (#607, #608, #191): tearing; the producer always gets the same buffer.
#[test]
fn row11_no_tearing_while_a_consumer_holds_a_buffer_for_several_frame_periods() {
    for n in [2u32, 4] {
        for hold_periods in [1.5f64, 5.0] {
            let mut h = Harness::default_device();
            let p = h.producer(160, 120, V4L2_PIX_FMT_YUYV, n);
            let size = sizeimage(&h);
            let c = Capture::open(&mut h, Node::Combined, 2);
            let hold_ns = (hold_periods * FRAME_NS as f64) as u64;
            // The consumer's held buffer: (index, frame, block, release time).
            let mut held: Option<(u32, u8, loopcam_core::BlockId, u64)> = None;
            let mut out_indices = Vec::new();
            let mut checked = 0;
            let step = FRAME_NS / 2;
            for k in 0..120u64 {
                if k % 2 == 0 {
                    let frame = k / 2;
                    // Uniform frames: every byte is the frame counter (mod 256).
                    let index = if frame < n as u64 {
                        frame as u32
                    } else {
                        let b = dqbuf(&mut h, p, OUT).unwrap();
                        out_indices.push(b.index);
                        b.index
                    };
                    h.fill(p, index, &vec![frame as u8; size]);
                    if let Some((_, _, block, _)) = held {
                        assert_ne!(
                            h.mapped[&(p, index)],
                            block,
                            "the producer never gets memory a reader holds"
                        );
                    }
                    qbuf(&mut h, p, OUT, index, size as u32).unwrap();
                }
                h.advance(step);
                if let Some((i, frame, _, until)) = held {
                    let data = h.view(c.fd, i, size).unwrap();
                    assert!(
                        data.iter().all(|b| *b == frame),
                        "N={n}, hold {hold_periods}: held frame {frame} torn"
                    );
                    if h.now >= until {
                        checked += 1;
                        qbuf(&mut h, c.fd, CAP, i, 0).unwrap();
                        held = None;
                    }
                }
                if held.is_none() {
                    if let Ok(b) = dqbuf(&mut h, c.fd, CAP) {
                        let data = h.view(c.fd, b.index, size).unwrap();
                        let frame = data[0];
                        assert!(data.iter().all(|x| *x == frame), "uniform frame");
                        let block = h.mapped[&(c.fd, b.index)];
                        held = Some((b.index, frame, block, h.now + hold_ns));
                    }
                }
                h.dev.check_invariants().unwrap();
            }
            assert!(checked >= 10, "N={n}: {checked} held frames checked");
            // DQBUF(OUTPUT) cycles through all granted indices (FIFO, not LIFO).
            let expect: Vec<u32> = (0..out_indices.len() as u32).map(|i| i % n).collect();
            assert_eq!(out_indices, expect, "N={n}: FIFO recycling");
        }
    }
}

/// Row 12 (#304, #60, #166, …): DQBUF returns buffers that were never queued.
#[test]
fn row12_dqbuf_returns_only_buffers_this_fd_queued() {
    let mut h = Harness::default_device();
    let p = h.open();
    s_fmt(&mut h, p, OUT, pix(160, 120, V4L2_PIX_FMT_YUYV)).unwrap();
    assert_eq!(reqbufs(&mut h, p, OUT, MMAP, 4).unwrap().count, 4);
    for i in 0..4 {
        map(&mut h, p, OUT, i, true);
    }
    streamon(&mut h, p, OUT).unwrap();
    let c = h.open();
    assert_eq!(reqbufs(&mut h, c, CAP, MMAP, 4).unwrap().count, 4);
    streamon(&mut h, c, CAP).unwrap();
    // CAPTURE: queue only buffer 1 of 4.
    qbuf(&mut h, c, CAP, 1, 0).unwrap();
    assert_eq!(
        qbuf(&mut h, c, CAP, 1, 0).unwrap_err(),
        Errno::EINVAL,
        "QBUF of a queued buffer (\"the buffer %i was already queued\")"
    );
    // OUTPUT: nothing queued → EAGAIN; queue only buffer 2 → DQBUF returns exactly 2.
    assert_eq!(dqbuf(&mut h, p, OUT).unwrap_err(), Errno::EAGAIN);
    h.produce(p, 2, 0).unwrap();
    assert_eq!(
        dqbuf(&mut h, p, OUT).unwrap().index,
        2,
        "exactly the queued one"
    );
    assert_eq!(
        dqbuf(&mut h, p, OUT).unwrap_err(),
        Errno::EAGAIN,
        "never an index that was not queued"
    );
    // More frames, through buffers 2 and 3 only.
    h.produce(p, 2, 1).unwrap();
    h.produce(p, 3, 2).unwrap();
    let mut back = Vec::new();
    while let Ok(b) = dqbuf(&mut h, p, OUT) {
        back.push(b.index);
    }
    assert_eq!(back, vec![2, 3], "FIFO, each once");
    // CAPTURE: only buffer 1 was queued: DQBUF returns exactly it, then EAGAIN however many
    // frames the producer sends.
    let b = dqbuf(&mut h, c, CAP).unwrap();
    assert_eq!(b.index, 1);
    assert_eq!(frame_of(&h, c, &b), 0);
    assert_eq!(dqbuf(&mut h, c, CAP).unwrap_err(), Errno::EAGAIN);
    h.produce(p, 0, 3).unwrap();
    assert_eq!(dqbuf(&mut h, c, CAP).unwrap_err(), Errno::EAGAIN);
    assert_eq!(h.poll(c, POLLIN) & POLLIN, 0, "and poll agrees (L6)");
    h.dev.check_invariants().unwrap();
}

/// Row 13 (#601, PR #602, linuxpy #55): epoll readers hang after the first frame.
#[test]
fn row13_epoll_added_while_readable_keeps_waking() {
    let mut h = Harness::default_device();
    let p = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    let mut cap = Capture::open(&mut h, Node::Combined, 4);
    write_frame(&mut h, p, 0);
    // EPOLL_CTL_ADD while readable: the first readiness check already says POLLIN.
    assert_ne!(h.poll(cap.fd, POLLIN) & POLLIN, 0);
    h.dev.take_wakeups();
    let mut got = Vec::new();
    for k in 1..=100u64 {
        // epoll_wait → DQBUF → QBUF; the host is told about every new frame (level and edge
        // triggered alike), even though the fd was readable when it was added.
        got.extend(cap.drain(&mut h));
        h.dev.take_wakeups();
        assert_eq!(h.poll(cap.fd, POLLIN) & POLLIN, 0, "drained");
        write_frame(&mut h, p, k);
        assert!(
            h.dev.take_wakeups().contains(&cap.fd),
            "iteration {k}: the reader is woken"
        );
        assert_ne!(h.poll(cap.fd, POLLIN) & POLLIN, 0);
    }
    got.extend(cap.drain(&mut h));
    assert_eq!(got, (0..=100).collect::<Vec<_>>());
    // Edge-triggered: a second frame while still readable also wakes (no lost edge).
    write_frame(&mut h, p, 101);
    h.dev.take_wakeups();
    write_frame(&mut h, p, 102);
    assert!(h.dev.take_wakeups().contains(&cap.fd));
    // Events (POLLPRI): subscribe while an event is pending, DQEVENT, the next one wakes.
    let ctl = h.open();
    subscribe(
        &mut h,
        cap.fd,
        V4L2_EVENT_CTRL,
        loopcam_core::controls::CID_TIMEOUT,
        V4L2_EVENT_SUB_FL_SEND_INITIAL,
    )
    .unwrap();
    assert_ne!(
        h.poll(cap.fd, POLLPRI) & POLLPRI,
        0,
        "initial event pending"
    );
    dqevent(&mut h, cap.fd).unwrap();
    assert_eq!(h.poll(cap.fd, POLLPRI) & POLLPRI, 0);
    h.dev.take_wakeups();
    for v in [500, 700] {
        let mut c = v4l2_control {
            id: loopcam_core::controls::CID_TIMEOUT,
            value: v,
        };
        h.ioctl(ctl, VIDIOC_S_CTRL, &mut c).unwrap();
        assert!(h.dev.take_wakeups().contains(&cap.fd), "event wake-up");
        assert_ne!(h.poll(cap.fd, POLLPRI) & POLLPRI, 0);
        assert_eq!(dqevent(&mut h, cap.fd).unwrap().type_, V4L2_EVENT_CTRL);
    }
    h.dev.check_invariants().unwrap();
}

/// Row 14 (#56, #612): select() with read()/write() I/O always or never ready.
#[test]
fn row14_select_before_the_first_read_or_write_works() {
    let mut h = Harness::default_device();
    // A write()-style producer that selects for writing before its first write.
    let p = h.open();
    s_fmt(&mut h, p, OUT, pix(160, 120, V4L2_PIX_FMT_YUYV)).unwrap();
    let rev = h.poll(p, POLLOUT | POLLWRNORM);
    assert_eq!(
        rev & (POLLOUT | POLLWRNORM),
        POLLOUT | POLLWRNORM,
        "writable"
    );
    // A fresh reader fd, no ioctl at all, select(read) (L3 starts read() I/O).
    let r = h.open();
    assert_eq!(
        h.poll(r, POLLIN | POLLRDNORM),
        0,
        "nothing yet: not ready, no error"
    );
    let r2 = h.open();
    // The host masks revents with what was asked (plus POLLERR/POLLHUP), as the kernel does.
    let ask = |h: &mut Harness, fd, ev: u32| h.poll(fd, ev) & (ev | POLLERR);
    assert_eq!(
        ask(&mut h, r2, POLLRDNORM),
        0,
        "POLLRDNORM alone also starts read I/O"
    );
    write_frame(&mut h, p, 0);
    let woken = h.dev.take_wakeups();
    assert!(woken.contains(&r) && woken.contains(&r2));
    assert_eq!(
        h.poll(r, POLLIN | POLLRDNORM),
        POLLIN | POLLRDNORM,
        "readable within one frame period"
    );
    assert_eq!(
        ask(&mut h, r2, POLLRDNORM | POLLWRNORM),
        POLLRDNORM,
        "POLLRDNORM, not POLLWRNORM"
    );
    let size = sizeimage(&h) as u32;
    for fd in [r, r2] {
        let d = h.read(fd, size).unwrap();
        assert_eq!(d.len() as u32, size);
        assert_eq!(check_counter(&d), Some(0));
        assert_eq!(h.poll(fd, POLLIN), 0);
    }
    h.dev.check_invariants().unwrap();
}

/// Row 15 (#3, #115, #671): duplicate timestamps; the delay grows by the outage length.
#[test]
fn row15_timestamps_and_sequence_increase_during_timeout_and_sustain() {
    let mut h = Harness::new(DeviceConfig {
        sustain_framerate: true,
        timeout_ms: 500,
        ..Default::default()
    });
    let p = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    let size = sizeimage(&h);
    let c = Capture::open(&mut h, Node::Combined, 4);
    /// Delivered frames: the counter, or `None` for the placeholder.
    #[derive(Default)]
    struct Watch {
        last_seq: Option<u32>,
        last_ts: u64,
        kinds: Vec<Option<u64>>,
    }
    impl Watch {
        fn pull(&mut self, h: &mut Harness, fd: OpenerId, size: usize) {
            while let Ok(b) = dqbuf(h, fd, CAP) {
                assert!(
                    self.last_seq.is_none_or(|s| b.sequence > s),
                    "strictly increasing sequence"
                );
                let ts = ts_ns(&b);
                assert!(ts > self.last_ts, "strictly increasing timestamps");
                assert!(h.now - ts <= FRAME_NS, "fresh timestamp, no growing delay");
                self.last_seq = Some(b.sequence);
                self.last_ts = ts;
                let data = h.view(fd, b.index, b.bytesused as usize).unwrap();
                assert_eq!(data.len(), size);
                self.kinds.push(if data.iter().all(|x| *x == 0) {
                    None
                } else {
                    Some(check_counter(&data).expect("intact"))
                });
                qbuf(h, fd, CAP, b.index, 0).unwrap();
            }
        }
    }
    let mut w = Watch::default();
    for k in 0..30 {
        write_frame(&mut h, p, k);
        w.pull(&mut h, c.fd, size);
        h.advance(FRAME_NS);
    }
    // The producer stalls for 10 s (fd kept open).
    for _ in 0..300 {
        h.advance(FRAME_NS);
        w.pull(&mut h, c.fd, size);
    }
    let stalled = w.kinds.len() - 30;
    assert!(
        stalled >= 290,
        "frames keep flowing at the nominal rate ({stalled})"
    );
    assert!(
        w.kinds[30..].contains(&Some(29)),
        "sustain repeats the last frame first"
    );
    assert_eq!(
        w.kinds.last(),
        Some(&None),
        "then the placeholder after the timeout"
    );
    // Restart half a period later: the next real frame is delivered at once, with its
    // write time.
    h.advance(FRAME_NS / 2);
    write_frame(&mut h, p, 30);
    let before = w.kinds.len();
    w.pull(&mut h, c.fd, size);
    assert_eq!(w.kinds[before..], [Some(30)]);
    assert_eq!(
        w.last_ts,
        h.now / 1000 * 1000,
        "latency 0, not the outage length"
    );
    h.dev.check_invariants().unwrap();
}

/// Row 16 (#11, #521, #83, …): GStreamer "not-negotiated", "Unknown frame interval type".
#[test]
fn row16_frame_intervals_negotiate_with_gstreamer() {
    let mut h = Harness::default_device();
    // Before anyone owns the format: a CONTINUOUS range that contains 30/1.
    let probe = h.open();
    let mut e = v4l2_frmivalenum {
        pixel_format: V4L2_PIX_FMT_YUYV,
        width: 640,
        height: 480,
        ..Default::default()
    };
    h.ioctl(probe, VIDIOC_ENUM_FRAMEINTERVALS, &mut e).unwrap();
    assert!(
        e.type_ == V4L2_FRMIVAL_TYPE_CONTINUOUS || e.type_ == V4L2_FRMIVAL_TYPE_STEPWISE,
        "a type GStreamer understands"
    );
    let sw = e.stepwise();
    let secs = |f: v4l2_fract| f.numerator as f64 / f.denominator as f64;
    assert!(secs(sw.min) <= 1.0 / 30.0 && 1.0 / 30.0 <= secs(sw.max));
    h.close(probe);
    // videotestsrc ! video/x-raw,framerate=0/1 ! v4l2sink: variable rate is mapped by
    // GStreamer to S_PARM with 0/1 (or 30/1): must succeed with a valid fraction (E24).
    let sink = h.open();
    s_fmt(&mut h, sink, OUT, pix(320, 240, V4L2_PIX_FMT_YUYV)).unwrap();
    let t = s_parm(&mut h, sink, OUT, 0, 1).expect("S_PARM 0/1");
    assert!(t.numerator != 0 && t.denominator != 0);
    let t = s_parm(&mut h, sink, OUT, 1, 25).unwrap();
    assert_eq!((t.numerator, t.denominator), (1, 25));
    // v4l2src ! fakesink on the producer's format: one DISCRETE interval, 1/25, and G_PARM
    // and S_PARM agree with it (E26).
    let src = h.open();
    let mut e = v4l2_frmivalenum {
        pixel_format: V4L2_PIX_FMT_YUYV,
        width: 320,
        height: 240,
        ..Default::default()
    };
    h.ioctl(src, VIDIOC_ENUM_FRAMEINTERVALS, &mut e).unwrap();
    assert_eq!(e.type_, V4L2_FRMIVAL_TYPE_DISCRETE);
    assert_eq!((e.discrete().numerator, e.discrete().denominator), (1, 25));
    let g = g_parm_capture(&mut h, src);
    assert_eq!((g.numerator, g.denominator), (1, 25));
    let s = s_parm(&mut h, src, CAP, 1, 30).expect("a consumer's S_PARM does not fail");
    assert_eq!(
        (s.numerator, s.denominator),
        (1, 25),
        "E26: the producer's rate"
    );
    h.dev.check_invariants().unwrap();
}

/// Row 17 (#427, #197, #374, #520, ustreamer #85): resolution cannot change on the fly.
#[test]
fn row17_resolution_change_sends_source_change_and_never_a_wrong_size_frame() {
    let mut h = Harness::default_device();
    let p = h.producer(320, 240, V4L2_PIX_FMT_YUYV, 2);
    let mut cap = Capture::open(&mut h, Node::Combined, 4);
    subscribe(&mut h, cap.fd, V4L2_EVENT_SOURCE_CHANGE, 0, 0).unwrap();
    h.produce(p, 0, 0).unwrap();
    assert_eq!(cap.drain(&mut h), vec![0]);
    let old = sizeimage(&h) as u32;
    // The producer switches to 640x480 (between its streams).
    streamoff(&mut h, p, OUT).unwrap();
    reqbufs(&mut h, p, OUT, MMAP, 0).unwrap();
    let f = s_fmt(&mut h, p, OUT, pix(640, 480, V4L2_PIX_FMT_YUYV)).expect("S_FMT 640x480");
    assert_eq!((f.width, f.height), (640, 480));
    reqbufs(&mut h, p, OUT, MMAP, 2).unwrap();
    streamon(&mut h, p, OUT).unwrap();
    h.produce(p, 0, 1).unwrap();
    h.produce(p, 1, 2).unwrap();
    // The reader is told, and never gets a 640x480 frame in its 320x240 buffers.
    assert_ne!(h.poll(cap.fd, POLLPRI) & POLLPRI, 0);
    let ev = dqevent(&mut h, cap.fd).unwrap();
    assert_eq!(ev.type_, V4L2_EVENT_SOURCE_CHANGE);
    assert_ne!(ev.u[0] as u32 & V4L2_EVENT_SRC_CH_RESOLUTION, 0);
    assert_eq!(dqbuf(&mut h, cap.fd, CAP).unwrap_err(), Errno::EAGAIN);
    // Clean restart: STREAMOFF, REQBUFS(0), G_FMT, REQBUFS, STREAMON.
    streamoff(&mut h, cap.fd, CAP).unwrap();
    reqbufs(&mut h, cap.fd, CAP, MMAP, 0).unwrap();
    let g = g_fmt(&mut h, cap.fd, CAP).unwrap();
    assert_eq!((g.width, g.height), (640, 480));
    assert!(g.sizeimage > old);
    let mut cap = Capture::start(&mut h, cap.fd, 4);
    let i = dqbuf(&mut h, p, OUT).unwrap().index;
    h.produce(p, i, 3).unwrap();
    assert_eq!(
        cap.drain(&mut h),
        vec![3],
        "full-size frames after the restart"
    );
    h.dev.check_invariants().unwrap();
}

/// Row 18 (#283): "Dequeued v4l2 buffer contains 385024 bytes, but 384000 were expected".
#[test]
fn row18_oversize_write_gives_bytesused_equal_to_sizeimage() {
    let mut h = Harness::default_device();
    // A first producer with another format, then the switch (the reported sequence).
    let a = write_producer(&mut h, Node::Combined, 640, 480, V4L2_PIX_FMT_YUYV);
    write_frame(&mut h, a, 0);
    h.close(a);
    let b = write_producer(&mut h, Node::Combined, 400, 480, V4L2_PIX_FMT_YUYV);
    assert_eq!(sizeimage(&h), 384_000);
    let c = h.open();
    let mut cap = Capture::start(&mut h, c, 2);
    // write() the page-aligned size, 94 pages = 385024 bytes.
    let data = counter_pattern(5, 385_024);
    assert_eq!(h.write(b, &data).unwrap(), 385_024);
    let buf = dqbuf(&mut h, c, CAP).unwrap();
    assert_eq!(buf.bytesused, 384_000, "bytesused == sizeimage exactly");
    cap.check(&h, &buf);
    assert_eq!(
        h.view(c, buf.index, 384_000).unwrap(),
        data[..384_000].to_vec()
    );
    h.dev.check_invariants().unwrap();
}

/// Row 19 (#186, #271, …): compressed pass-through, MJPG vs JPEG, DMABUF.
#[test]
fn row19_compressed_frames_keep_exact_bytesused_and_both_jpeg_fourccs_negotiate() {
    for fourcc in [V4L2_PIX_FMT_MJPEG, V4L2_PIX_FMT_JPEG, V4L2_PIX_FMT_H264] {
        let mut h = Harness::default_device();
        let p = write_producer(&mut h, Node::Combined, 320, 240, fourcc);
        let c = h.open();
        // The consumer negotiates the producer's fourcc (asking for the other JPEG spelling
        // returns the flowing one rather than failing).
        let other = if fourcc == V4L2_PIX_FMT_MJPEG {
            V4L2_PIX_FMT_JPEG
        } else {
            V4L2_PIX_FMT_MJPEG
        };
        assert_eq!(
            s_fmt(&mut h, c, CAP, pix(320, 240, other))
                .unwrap()
                .pixelformat,
            fourcc
        );
        assert_eq!(
            s_fmt(&mut h, c, CAP, pix(320, 240, fourcc))
                .unwrap()
                .pixelformat,
            fourcc
        );
        let f = g_fmt(&mut h, c, CAP).unwrap();
        assert_eq!(f.bytesperline, 0, "E5: compressed");
        assert!(
            (f.sizeimage as u64) < 320 * 240 * 4,
            "not v4l2loopback's w×h×4 bound"
        );
        Capture::start(&mut h, c, 4);
        for k in 0..4u64 {
            // Variable-size frames: SOI … EOI.
            let len = 1000 + 1500 * k as usize;
            let mut frame = counter_pattern(k, len);
            if fourcc != V4L2_PIX_FMT_H264 {
                frame[len - 2..].copy_from_slice(&[0xff, 0xd9]);
            }
            h.write(p, &frame).unwrap();
            let b = dqbuf(&mut h, c, CAP).unwrap();
            assert_eq!(b.bytesused as usize, len, "exact bytesused");
            assert_eq!(h.view(c, b.index, len).unwrap(), frame);
            qbuf(&mut h, c, CAP, b.index, 0).unwrap();
        }
        // Zero-copy options are consistent with what REQBUFS reports.
        let d = h.open();
        let r = reqbufs(&mut h, d, CAP, V4L2_MEMORY_DMABUF, 2);
        let e = h.open();
        let caps = reqbufs(&mut h, e, CAP, MMAP, 0).unwrap().capabilities;
        assert_eq!(
            r.is_ok(),
            caps & V4L2_BUF_CAP_SUPPORTS_DMABUF != 0,
            "REQBUFS(DMABUF) agrees with SUPPORTS_DMABUF"
        );
        let mut ex = v4l2_exportbuffer {
            type_: CAP,
            index: 0,
            ..Default::default()
        };
        let r = h.ioctl(c, VIDIOC_EXPBUF, &mut ex);
        assert!(
            r.is_ok() || r == Err(Errno::ENOTTY),
            "EXPBUF works or is absent"
        );
        h.dev.check_invariants().unwrap();
    }
}

/// Row 20 (#663): a consumer opened before the producer fails with EIO.
#[test]
fn row20_consumer_before_producer_streams_and_then_receives() {
    for cfg in [DeviceConfig::default(), split()] {
        let split_mode = cfg.layout == NodeLayout::Split;
        let mut h = Harness::new(cfg);
        let (cnode, pnode) = if split_mode {
            (Node::Capture, Node::Output)
        } else {
            (Node::Combined, Node::Combined)
        };
        // REQBUFS + STREAMON with no producer: success.
        let mut cap = Capture::open(&mut h, cnode, 4);
        assert_eq!(
            dqbuf(&mut h, cap.fd, CAP).unwrap_err(),
            Errno::EAGAIN,
            "DQBUF waits"
        );
        assert_eq!(h.poll(cap.fd, POLLIN), 0, "O7: not ready, not POLLERR");
        h.advance(2 * SECOND);
        assert!(cap.drain(&mut h).is_empty());
        let p = write_producer(&mut h, pnode, 640, 480, V4L2_PIX_FMT_YUYV);
        write_frame(&mut h, p, 0);
        assert!(h.dev.take_wakeups().contains(&cap.fd));
        assert_eq!(
            cap.drain(&mut h),
            vec![0],
            "frames flow as soon as a producer starts"
        );
        h.dev.check_invariants().unwrap();
    }
}

/// Row 21 (#540, #251, #519, …): the consumer shows only the first frame / freezes.
#[test]
fn row21_write_producer_30fps_for_60s_every_frame_reaches_the_consumer() {
    for fourcc in [
        V4L2_PIX_FMT_YUYV,
        V4L2_PIX_FMT_NV12,
        V4L2_PIX_FMT_YUV420,
        V4L2_PIX_FMT_MJPEG,
    ] {
        let mut h = Harness::default_device();
        let p = write_producer(&mut h, Node::Combined, 160, 120, fourcc);
        let c = h.open();
        Capture::start(&mut h, c, 4);
        let mut per_second = vec![BTreeSet::new(); 60];
        let mut last = None;
        for k in 0..1800u64 {
            let len = if fourcc == V4L2_PIX_FMT_MJPEG {
                900 + (k as usize % 7) * 100
            } else {
                sizeimage(&h)
            };
            h.write(p, &counter_pattern(k, len)).unwrap();
            h.advance(FRAME_NS);
            while let Ok(b) = dqbuf(&mut h, c, CAP) {
                assert_eq!(b.bytesused as usize, len);
                let n = frame_of(&h, c, &b);
                assert!(last.is_none_or(|l| n > l), "never an old frame again");
                last = Some(n);
                per_second[(k / 30) as usize].insert(n);
                qbuf(&mut h, c, CAP, b.index, 0).unwrap();
            }
        }
        for (s, frames) in per_second.iter().enumerate() {
            assert!(
                frames.len() >= 25,
                "{}: second {s}: {} distinct frames",
                fourcc_to_string(fourcc),
                frames.len()
            );
        }
        assert_eq!(last, Some(1799));
        h.dev.check_invariants().unwrap();
    }
}

/// Row 22 (PR #668, Tencent Meeting): QBUF/DQBUF with memory = 0 rejected.
#[test]
fn row22_memory_zero_in_qbuf_and_dqbuf_is_accepted() {
    let mut h = Harness::default_device();
    let p = h.producer(160, 120, V4L2_PIX_FMT_YUYV, 2);
    let c = h.open();
    assert_eq!(reqbufs(&mut h, c, CAP, MMAP, 2).unwrap().count, 2);
    for i in 0..2 {
        map(&mut h, c, CAP, i, true);
        let b = qbuf_mem(&mut h, c, CAP, 0, i, 0).expect("DESIGN §3.6: QBUF memory 0");
        assert_eq!(b.memory, MMAP, "the queue's memory is reported back");
    }
    streamon(&mut h, c, CAP).unwrap();
    // The producer side too.
    let size = sizeimage(&h);
    h.fill(p, 0, &counter_pattern(0, size));
    qbuf_mem(&mut h, p, OUT, 0, 0, size as u32).expect("QBUF(OUTPUT) memory 0");
    let b = dqbuf_mem(&mut h, c, CAP, 0).expect("DQBUF memory 0");
    assert_eq!(b.memory, MMAP);
    assert_eq!(frame_of(&h, c, &b), 0);
    assert_eq!(dqbuf_mem(&mut h, p, OUT, 0).unwrap().index, 0);
    h.dev.check_invariants().unwrap();
}

/// Row 23 (#657, #553, ipu6-drivers #55, v4l2-relayd): relayd needs "a reader arrived/left".
#[test]
fn row23_client_usage_event_counts_streaming_readers() {
    let mut h = Harness::default_device();
    // v4l2-relayd subscribes on its v4l2sink fd.
    let relay = h.producer(160, 120, V4L2_PIX_FMT_YUYV, 2);
    subscribe(
        &mut h,
        relay,
        EVENT_PRI_CLIENT_USAGE,
        0,
        V4L2_EVENT_SUB_FL_SEND_INITIAL,
    )
    .expect("subscribe CLIENT_USAGE");
    let count = |h: &mut Harness| -> u32 {
        let e = dqevent(h, relay).expect("a usage event");
        assert_eq!(e.type_, EVENT_PRI_CLIENT_USAGE);
        e.u[0] as u32
    };
    assert_eq!(count(&mut h), 0, "SEND_INITIAL: nobody watches");
    let a = Capture::open(&mut h, Node::Combined, 2);
    assert!(h.dev.take_wakeups().contains(&relay));
    assert_eq!(count(&mut h), 1, "first reader STREAMON");
    let b = Capture::open(&mut h, Node::Combined, 2);
    assert_eq!(count(&mut h), 2);
    // A reader that only opens or allocates is not a watcher.
    let idle = h.open();
    reqbufs(&mut h, idle, CAP, MMAP, 2).unwrap();
    assert_eq!(dqevent(&mut h, relay).unwrap_err(), Errno::ENOENT);
    // Reader killed → the count drops immediately (no 100 ms wait needed).
    h.close(b.fd);
    assert_eq!(count(&mut h), 1);
    streamoff(&mut h, a.fd, CAP).unwrap();
    assert_eq!(count(&mut h), 0);
    assert_eq!(h.dev.status().readers, 0);
    h.dev.check_invariants().unwrap();
}

// Row 24 (#394, #303, …: Secure Boot, DKMS, distro packaging) is not about the device model:
// loopcam has no kernel module. It is covered by the packaging/CI job that installs and runs
// loopcam as an unprivileged user (DESIGN §5 compatibility tests).

/// Row 25 (#653, #669, …, syzkaller): kernel oopses, and a per-device `max_buffers` > 32
/// overrunning the 32-entry buffer array. The memory-safety part is Rust's; the random
/// ioctl/open/close/mmap fuzzing and the 8-thread stress run belong to the later fuzz/stress
/// issue (property tests over `Device` and the daemon). Here: the overrun cannot happen.
#[test]
fn row25_max_buffers_above_32_is_refused_and_requests_are_clamped() {
    let cfg = DeviceConfig {
        max_buffers: 33,
        ..Default::default()
    };
    assert!(
        cfg.validate().is_err(),
        "CTL_ADD with max_buffers 33 is refused"
    );
    let mut h = Harness::new(DeviceConfig {
        max_buffers: 32,
        ..Default::default()
    });
    let c = h.open();
    let r = reqbufs(&mut h, c, CAP, MMAP, 1000).unwrap();
    assert_eq!(r.count, 32, "clamped to VIDEO_MAX_FRAME");
    assert_eq!(querybuf(&mut h, c, CAP, 32).unwrap_err(), Errno::EINVAL);
    let mut cb = v4l2_create_buffers {
        count: 1,
        memory: MMAP,
        ..Default::default()
    };
    cb.format.type_ = CAP;
    cb.format.set_pix(&h.g_fmt(c, Dir::Capture).unwrap());
    assert_eq!(
        h.ioctl(c, VIDIOC_CREATE_BUFS, &mut cb).unwrap_err(),
        Errno::ENOBUFS,
        "F13: no 33rd buffer"
    );
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Additional defects found by reading the 0.15.4 code
// ---------------------------------------------------------------------------------------------

/// `read()` before a producer streams returns EIO, then EBUSY forever on that fd.
#[test]
fn extra01_read_before_the_producer_waits_and_then_delivers() {
    let mut h = Harness::default_device();
    let r = h.open();
    let size = sizeimage(&h) as u32;
    // The reader starts 2 s before the producer: every read would block (EAGAIN from core).
    for _ in 0..60 {
        assert_eq!(h.read(r, size).unwrap_err(), Errno::EAGAIN);
        h.advance(FRAME_NS);
    }
    let p = write_producer(&mut h, Node::Combined, 640, 480, V4L2_PIX_FMT_YUYV);
    for k in 0..3 {
        write_frame(&mut h, p, k);
        let d = h.read(r, size).expect("read() delivers, never EBUSY");
        assert_eq!(check_counter(&d), Some(k));
    }
    h.dev.check_invariants().unwrap();
}

/// A signal during a blocking DQBUF/read returns the last (or an empty) frame.
/// Turning a signal into EINTR is the client's job (covered by the client crate's tests);
/// what core guarantees is that a waiter is never handed a frame that is not new.
#[test]
fn extra02_a_waiting_consumer_is_never_handed_a_stale_or_empty_frame() {
    let mut h = Harness::default_device();
    let p = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    let mut cap = Capture::open(&mut h, Node::Combined, 2);
    let r = h.open();
    let size = sizeimage(&h) as u32;
    assert_eq!(
        h.read(r, size).unwrap_err(),
        Errno::EAGAIN,
        "read() I/O started"
    );
    write_frame(&mut h, p, 0);
    assert_eq!(cap.drain(&mut h), vec![0]);
    assert_eq!(check_counter(&h.read(r, size).unwrap()), Some(0));
    // No producer activity: every retry (as after an interrupted wait) is EAGAIN.
    for _ in 0..30 {
        h.advance(FRAME_NS);
        assert_eq!(dqbuf(&mut h, cap.fd, CAP).unwrap_err(), Errno::EAGAIN);
        assert_eq!(h.read(r, size).unwrap_err(), Errno::EAGAIN);
    }
    h.dev.check_invariants().unwrap();
}

/// REQBUFS(0) used as a memory-type probe poisons read()/write() with EBUSY.
#[test]
fn extra03_reqbufs0_probe_does_not_poison_read_or_write() {
    let mut h = Harness::default_device();
    let p = h.open();
    s_fmt(&mut h, p, OUT, pix(160, 120, V4L2_PIX_FMT_YUYV)).unwrap();
    reqbufs(&mut h, p, OUT, MMAP, 0).expect("probe");
    let r = h.open();
    reqbufs(&mut h, r, CAP, MMAP, 0).expect("probe");
    let size = sizeimage(&h) as u32;
    // The first read() claims and starts the capture stream (would block: EAGAIN, not EBUSY).
    assert_eq!(h.read(r, size).unwrap_err(), Errno::EAGAIN);
    write_frame(&mut h, p, 0);
    let d = h.read(r, size).expect("read() after the probe");
    assert_eq!(check_counter(&d), Some(0));
    write_frame(&mut h, p, 1);
    assert_eq!(check_counter(&h.read(r, size).unwrap()), Some(1));
    h.dev.check_invariants().unwrap();
}

/// exclusive_caps + keep_format: QUERYCAP says CAPTURE but G_FMT/ENUM_FMT(CAPTURE) fail with
/// EINVAL and ENUMINPUT with ENOTTY. Loopcam keeps the four answers consistent: on a single
/// exclusive node without a producer they all describe an output device (keep_format does
/// not flip the caps); on a split device's capture node they all succeed and agree with the
/// configured caps.
#[test]
fn extra04_exclusive_caps_with_keep_format_answers_consistently() {
    let caps: loopcam_core::format::FixedCaps = "YUYV:320x240@30".parse().unwrap();
    let mut h = Harness::new(DeviceConfig {
        exclusive_caps: true,
        keep_format: true,
        fixed_caps: Some(caps),
        ..Default::default()
    });
    let fd = h.open();
    let c = querycap(&mut h, fd);
    if c.device_caps & V4L2_CAP_VIDEO_CAPTURE != 0 {
        assert!(g_fmt(&mut h, fd, CAP).is_ok());
        assert_eq!(enum_fmts(&mut h, fd, CAP), vec![V4L2_PIX_FMT_YUYV]);
        let mut i = v4l2_input::default();
        assert!(h.ioctl(fd, VIDIOC_ENUMINPUT, &mut i).is_ok());
    } else {
        assert_eq!(g_fmt(&mut h, fd, CAP).unwrap_err(), Errno::EINVAL);
        assert!(enum_fmts(&mut h, fd, CAP).is_empty());
        let mut i = v4l2_input::default();
        assert_eq!(
            h.ioctl(fd, VIDIOC_ENUMINPUT, &mut i).unwrap_err(),
            Errno::ENOTTY
        );
        let f = g_fmt(&mut h, fd, OUT).unwrap();
        assert_eq!(
            (f.width, f.height, f.pixelformat),
            (320, 240, V4L2_PIX_FMT_YUYV)
        );
    }
    let mut h = Harness::new(DeviceConfig {
        keep_format: true,
        fixed_caps: Some(caps),
        ..split()
    });
    let fd = h.open_as(Node::Capture, OpenMode::RDWR).unwrap();
    let c = querycap(&mut h, fd);
    assert_ne!(c.device_caps & V4L2_CAP_VIDEO_CAPTURE, 0);
    let f = g_fmt(&mut h, fd, CAP).expect("G_FMT");
    assert_eq!(
        (f.width, f.height, f.pixelformat),
        (320, 240, V4L2_PIX_FMT_YUYV)
    );
    assert_eq!(enum_fmts(&mut h, fd, CAP), vec![V4L2_PIX_FMT_YUYV]);
    let mut i = v4l2_input::default();
    h.ioctl(fd, VIDIOC_ENUMINPUT, &mut i).expect("ENUMINPUT");
    h.dev.check_invariants().unwrap();
}

/// The timeout flag is device-wide and consumed by the first reader.
#[test]
fn extra05_timeout_placeholder_reaches_every_reader() {
    let mut h = Harness::new(DeviceConfig {
        timeout_ms: 500,
        ..Default::default()
    });
    let p = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    let a = Capture::open(&mut h, Node::Combined, 2);
    let b = Capture::open(&mut h, Node::Combined, 2);
    write_frame(&mut h, p, 0);
    h.close(p); // producer stopped
    let mut placeholders = [0, 0];
    for _ in 0..60 {
        h.advance(FRAME_NS);
        for (k, c) in [&a, &b].into_iter().enumerate() {
            while let Ok(buf) = dqbuf(&mut h, c.fd, CAP) {
                let d = h.view(c.fd, buf.index, buf.bytesused as usize).unwrap();
                if d.iter().all(|x| *x == 0) {
                    placeholders[k] += 1;
                }
                qbuf(&mut h, c.fd, CAP, buf.index, 0).unwrap();
            }
        }
    }
    assert!(
        placeholders[0] >= 2 && placeholders[0] == placeholders[1],
        "{placeholders:?}"
    );
    h.dev.check_invariants().unwrap();
}

/// `timeout_image_io` makes whatever process opens next the timeout writer.
#[test]
fn extra06_an_unrelated_opener_never_becomes_the_timeout_image_writer() {
    let mut h = Harness::new(DeviceConfig {
        timeout_ms: 200,
        ..Default::default()
    });
    let p = write_producer(&mut h, Node::Combined, 160, 120, V4L2_PIX_FMT_YUYV);
    let size = sizeimage(&h);
    // The image is installed through the explicit API (`loopcam set-timeout-image`).
    let block = h.dev.alloc_block(size as u64).unwrap();
    h.sync();
    h.mem.get_mut(&block).unwrap()[..size].fill(0x5a);
    h.dev.set_timeout_image(block, size as u32).unwrap();
    // An unrelated prober opens, queries and closes the node.
    let prober = h.open();
    querycap(&mut h, prober);
    g_fmt(&mut h, prober, OUT).unwrap();
    h.close(prober);
    let c = Capture::open(&mut h, Node::Combined, 2);
    write_frame(&mut h, p, 1);
    h.close(p);
    h.advance(300_000_000);
    let mut seen = Vec::new();
    while let Ok(b) = dqbuf(&mut h, c.fd, CAP) {
        seen.push(h.view(c.fd, b.index, size).unwrap());
        qbuf(&mut h, c.fd, CAP, b.index, 0).unwrap();
    }
    assert_eq!(seen.len(), 2);
    assert_eq!(check_counter(&seen[0]), Some(1));
    assert!(seen[1].iter().all(|x| *x == 0x5a), "the installed image");
    h.dev.check_invariants().unwrap();
}

/// REQBUFS reports `capabilities = 0`.
#[test]
fn extra07_reqbufs_and_create_bufs_report_buffer_capabilities() {
    let mut h = Harness::default_device();
    let p = h.open();
    let c = h.open();
    for (fd, t) in [(p, OUT), (c, CAP)] {
        for count in [0, 2] {
            let r = reqbufs(&mut h, fd, t, MMAP, count).unwrap();
            assert_ne!(r.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP, 0);
        }
        let mut cb = v4l2_create_buffers {
            count: 0,
            memory: MMAP,
            ..Default::default()
        };
        cb.format.type_ = t;
        cb.format.set_pix(&g_fmt(&mut h, fd, t).unwrap());
        h.ioctl(fd, VIDIOC_CREATE_BUFS, &mut cb).unwrap();
        assert_ne!(cb.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP, 0);
    }
    h.dev.check_invariants().unwrap();
}

/// mmap has no ownership/PROT check: a reader can scribble on shared frames. Capture
/// mappings are handed to the host as private to the consumer (`MapInfo::dir == Capture`,
/// mapped copy-on-write or read-only by the daemon: covered in the daemon's tests), and a
/// frame block is never one the producer may write into.
#[test]
fn extra08_capture_mappings_are_private_to_the_consumer() {
    let mut h = Harness::default_device();
    let p = h.producer(160, 120, V4L2_PIX_FMT_YUYV, 2);
    let a = h.open();
    reqbufs(&mut h, a, CAP, MMAP, 1).unwrap();
    let m = map(&mut h, a, CAP, 0, true);
    assert_eq!(
        m.dir,
        Dir::Capture,
        "a PROT_WRITE capture mapping is private"
    );
    qbuf(&mut h, a, CAP, 0, 0).unwrap();
    streamon(&mut h, a, CAP).unwrap();
    let b = Capture::open(&mut h, Node::Combined, 1);
    h.produce(p, 0, 0).unwrap();
    let ba = dqbuf(&mut h, a, CAP).unwrap();
    let bb = dqbuf(&mut h, b.fd, CAP).unwrap();
    // Zero copy: both readers see the same block, which is why the mapping must be private.
    assert_eq!(h.mapped[&(a, ba.index)], h.mapped[&(b.fd, bb.index)]);
    let shared = h.mapped[&(a, ba.index)];
    // The producer's next buffer is other memory; the shared frame stays intact.
    let next = h.dev.output_staging_block(p, 1).unwrap();
    assert_ne!(next, shared);
    h.produce(p, 1, 1).unwrap();
    assert_eq!(frame_of(&h, b.fd, &bb), 0);
    h.dev.check_invariants().unwrap();
}

/// Memory: `max_buffers` slots are always allocated at full size.
#[test]
fn extra09_memory_is_proportional_to_buffers_in_use() {
    let mut h = Harness::new(DeviceConfig {
        max_buffers: 32,
        ..Default::default()
    });
    assert_eq!(h.dev.status().memory_bytes, 0, "nothing up front");
    let c = h.open();
    s_fmt(&mut h, c, CAP, pix(640, 480, V4L2_PIX_FMT_YUYV)).unwrap();
    let frame = 640 * 480 * 2;
    let mut cap = Capture::start(&mut h, c, 32);
    assert_eq!(cap.n, 32);
    assert_eq!(
        h.dev.status().memory_bytes,
        0,
        "32 empty capture buffers cost nothing until frames arrive"
    );
    let p = h.producer(640, 480, V4L2_PIX_FMT_YUYV, 2);
    let after_producer = h.dev.status().memory_bytes;
    assert!(
        after_producer <= 2 * (frame + 4096),
        "2 producer buffers: {after_producer}"
    );
    for k in 0..10 {
        let i = if k < 2 {
            k as u32
        } else {
            dqbuf(&mut h, p, OUT).unwrap().index
        };
        h.produce(p, i, k).unwrap();
        cap.drain(&mut h);
    }
    // A consumer that re-queues at once holds nothing: a handful of frames in flight plus the
    // reuse cache, never 32 × the frame size.
    let mem = h.dev.status().memory_bytes;
    assert!(mem <= 8 * (frame + 4096), "memory {mem}");
    h.close(p);
    h.close(c);
    // Nobody uses the device: only the last frame stays (shown to the next consumer first).
    let last_frame = frame.div_ceil(4096) * 4096;
    assert_eq!(h.dev.status().memory_bytes, last_frame, "idle device");
    h.dev.check_invariants().unwrap();
}
