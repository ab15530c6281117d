//! Rule tests for groups B (device node), C (priority), D (inputs/outputs) and E (formats) of
//! reference/v4l2-uapi-rules.md, run against the sans-IO model through the test harness.
//!
//! Where a rule is about argument handling (A3-style clearing, reserved fields, 0xff-filled
//! structs) the tests go through the raw ioctl dispatcher, exactly as the daemon will.
//!
//! Skipped ids (purely host/kernel matters, nothing for core to decide):
//! * B3 — O_NONBLOCK and `fcntl(F_SETFL)` are per-call host state; core never blocks, so the
//!   only model-side part (EAGAIN/ENOENT instead of sleeping) is asserted in
//!   `b3_core_never_blocks`.
//! * B12 — `dup()`/fork sharing of one open file description is the host's mapping of fds to
//!   openers (core already keys everything on the opener id, i.e. the file description).
//!
//! Deviations asserted as design (see DESIGN §3.5 and the brief):
//! * E13/E14 — the first claimer fixes the format; a second fd's S_FMT gets the current format
//!   back with 0 instead of EBUSY (or instead of changing it).
//! * E15 — a consumer queue allocated for an older format generation keeps accepting QBUF;
//!   its buffers just never receive frames of the new (larger) format (SOURCE_CHANGE instead).

use loopcam_abi::*;
use loopcam_core::ioctl::dispatch;
use loopcam_core::testing::{check_counter, Harness};
use loopcam_core::{DeviceConfig, Dir, Errno, Node, NodeLayout, OpenMode, OpenerId};

const POLLIN: u32 = 0x001;
const POLLPRI: u32 = 0x002;
const POLLERR: u32 = 0x008;
const POLLHUP: u32 = 0x010;

const fn fcc(s: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*s)
}

const YUYV: u32 = fcc(b"YUYV");
const MJPG: u32 = fcc(b"MJPG");
const NV12: u32 = fcc(b"NV12");
const RGB3: u32 = fcc(b"RGB3");

const CAP: u32 = V4L2_BUF_TYPE_VIDEO_CAPTURE;
const OUT: u32 = V4L2_BUF_TYPE_VIDEO_OUTPUT;

/// Buffer types v4l2-compliance walks (B8): 1..=14 and PRIVATE.
const ALL_TYPES: [u32; 15] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x80];

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// A raw ioctl on argument bytes, as the daemon forwards it.
fn raw(h: &mut Harness, id: OpenerId, req: u32, arg: &mut [u8]) -> Result<(), Errno> {
    let r = dispatch(&mut h.dev, id, req, arg, &mut [], h.now).map(|_| ());
    h.sync();
    r
}

/// A typed struct filled with 0xff, then patched by `f`.
fn ff<T: bytemuck::Pod>(f: impl FnOnce(&mut T)) -> T {
    let mut v: T = bytemuck::pod_read_unaligned(&vec![0xffu8; std::mem::size_of::<T>()]);
    f(&mut v);
    v
}

fn exclusive() -> Harness {
    Harness::new(DeviceConfig {
        exclusive_caps: true,
        ..Default::default()
    })
}

fn split() -> Harness {
    Harness::new(DeviceConfig {
        layout: NodeLayout::Split,
        ..Default::default()
    })
}

fn querycap(h: &mut Harness, id: OpenerId) -> v4l2_capability {
    let mut c = v4l2_capability::default();
    h.ioctl(id, VIDIOC_QUERYCAP, &mut c).expect("QUERYCAP");
    c
}

fn fmt_of(type_: u32, pix: v4l2_pix_format) -> v4l2_format {
    let mut f = v4l2_format {
        type_,
        ..Default::default()
    };
    f.set_pix(&pix);
    f
}

fn pix(width: u32, height: u32, pixelformat: u32) -> v4l2_pix_format {
    v4l2_pix_format {
        width,
        height,
        pixelformat,
        field: V4L2_FIELD_NONE,
        ..Default::default()
    }
}

fn try_fmt(h: &mut Harness, id: OpenerId, type_: u32, p: v4l2_pix_format) -> v4l2_format {
    let mut f = fmt_of(type_, p);
    h.ioctl(id, VIDIOC_TRY_FMT, &mut f).expect("TRY_FMT");
    f
}

fn s_fmt_raw(h: &mut Harness, id: OpenerId, type_: u32, p: v4l2_pix_format) -> v4l2_format {
    let mut f = fmt_of(type_, p);
    h.ioctl(id, VIDIOC_S_FMT, &mut f).expect("S_FMT");
    f
}

fn enum_fmts(h: &mut Harness, id: OpenerId, type_: u32) -> Vec<v4l2_fmtdesc> {
    let mut out = Vec::new();
    for index in 0.. {
        let mut d = v4l2_fmtdesc {
            index,
            type_,
            ..Default::default()
        };
        match h.ioctl(id, VIDIOC_ENUM_FMT, &mut d) {
            Ok(_) => out.push(d),
            Err(e) => {
                assert_eq!(e, Errno::EINVAL, "ENUM_FMT ends with EINVAL");
                break;
            }
        }
        assert!(index < 1000, "ENUM_FMT never ends");
    }
    out
}

fn cstr(b: &[u8]) -> &str {
    let n = b.iter().position(|c| *c == 0).expect("NUL-terminated");
    std::str::from_utf8(&b[..n]).expect("utf-8")
}

fn g_parm(h: &mut Harness, id: OpenerId, type_: u32) -> Result<v4l2_streamparm, Errno> {
    let mut p = v4l2_streamparm {
        type_,
        ..Default::default()
    };
    h.ioctl(id, VIDIOC_G_PARM, &mut p)?;
    Ok(p)
}

fn s_parm(
    h: &mut Harness,
    id: OpenerId,
    type_: u32,
    num: u32,
    den: u32,
) -> Result<v4l2_streamparm, Errno> {
    let mut p = v4l2_streamparm {
        type_,
        ..Default::default()
    };
    let tpf = v4l2_fract {
        numerator: num,
        denominator: den,
    };
    if type_ == CAP {
        p.set_capture(&v4l2_captureparm {
            timeperframe: tpf,
            ..Default::default()
        });
    } else {
        p.set_output(&v4l2_outputparm {
            timeperframe: tpf,
            ..Default::default()
        });
    }
    h.ioctl(id, VIDIOC_S_PARM, &mut p)?;
    Ok(p)
}

fn tpf(p: &v4l2_streamparm) -> (u32, u32) {
    let t = if p.type_ == CAP {
        p.capture().timeperframe
    } else {
        p.output().timeperframe
    };
    (t.numerator, t.denominator)
}

fn s_prio(h: &mut Harness, id: OpenerId, p: u32) -> Result<(), Errno> {
    let mut v = p;
    h.ioctl(id, VIDIOC_S_PRIORITY, &mut v).map(|_| ())
}

fn g_prio(h: &mut Harness, id: OpenerId) -> u32 {
    let mut v = 0u32;
    h.ioctl(id, VIDIOC_G_PRIORITY, &mut v).expect("G_PRIORITY");
    v
}

/// Producer set-up on an already opened fd: S_FMT, REQBUFS, mmap all, STREAMON.
fn start_producer(h: &mut Harness, p: OpenerId, w: u32, hh: u32, fourcc: u32, count: u32) {
    h.s_fmt(p, Dir::Output, w, hh, fourcc).expect("S_FMT");
    let n = h.reqbufs(p, Dir::Output, count).expect("REQBUFS");
    for i in 0..n {
        h.mmap(p, Dir::Output, i).expect("mmap");
    }
    h.streamon(p, Dir::Output).expect("STREAMON");
}

/// Consumer set-up on an already opened fd: REQBUFS, mmap, QBUF all, STREAMON.
fn start_consumer(h: &mut Harness, c: OpenerId, count: u32) -> u32 {
    let n = h.reqbufs(c, Dir::Capture, count).expect("REQBUFS");
    for i in 0..n {
        h.mmap(c, Dir::Capture, i).expect("mmap");
        h.qbuf(c, Dir::Capture, i, 0).expect("QBUF");
    }
    h.streamon(c, Dir::Capture).expect("STREAMON");
    n
}

/// One producer frame through buffer 0: fill with counter frame `n`, QBUF, DQBUF it back.
fn send(h: &mut Harness, p: OpenerId, n: u64) {
    h.produce(p, 0, n).expect("producer QBUF");
    let b = h.dqbuf(p, Dir::Output).expect("producer DQBUF");
    assert_eq!(b.index, 0);
}

/// Consumer: dequeue one frame, check its content, re-queue; returns (frame number, sequence).
fn recv(h: &mut Harness, c: OpenerId) -> Result<(u64, u32), Errno> {
    let b = h.dqbuf(c, Dir::Capture)?;
    let data = h.view(c, b.index, b.bytesused as usize).expect("mapped");
    let n = check_counter(&data).expect("intact frame");
    h.qbuf(c, Dir::Capture, b.index, 0).expect("re-QBUF");
    Ok((n, b.sequence))
}

// ---------------------------------------------------------------------------
// B. Device node
// ---------------------------------------------------------------------------

#[test]
fn b1_hundred_simultaneous_opens() {
    let mut h = Harness::default_device();
    let ids: Vec<OpenerId> = (0..100).map(|_| h.open()).collect();
    assert_eq!(h.dev.opener_ids().len(), 100);
    // Every one of them is a working fd.
    for &id in &ids {
        querycap(&mut h, id);
    }
    for id in ids.into_iter().rev() {
        h.close(id);
    }
    assert!(h.dev.opener_ids().is_empty());
    h.dev.check_invariants().unwrap();
}

#[test]
fn b2_open_has_no_side_effects_state_survives_reopen() {
    let mut h = Harness::default_device();
    let a = h.open();
    let set = h.s_fmt(a, Dir::Output, 320, 240, RGB3).unwrap();
    s_parm(&mut h, a, OUT, 1, 25).unwrap();
    let mut c = v4l2_control {
        id: loopcam_core::controls::CID_TIMEOUT,
        value: 750,
    };
    h.ioctl(a, VIDIOC_S_CTRL, &mut c).unwrap();
    h.close(a);

    let b = h.open();
    assert_eq!(h.g_fmt(b, Dir::Output).unwrap(), set);
    assert_eq!(h.g_fmt(b, Dir::Capture).unwrap(), set);
    assert_eq!(tpf(&g_parm(&mut h, b, CAP).unwrap()), (1, 25));
    let mut g = v4l2_control {
        id: loopcam_core::controls::CID_TIMEOUT,
        value: 0,
    };
    h.ioctl(b, VIDIOC_G_CTRL, &mut g).unwrap();
    assert_eq!(g.value, 750);
    // A further open changes nothing either.
    let c2 = h.open();
    assert_eq!(h.g_fmt(c2, Dir::Output).unwrap(), set);
    h.dev.check_invariants().unwrap();
}

#[test]
fn b3_core_never_blocks() {
    // The fcntl half of B3 is the host's (see the module docs). What core owes: where a
    // driver would sleep it answers at once, so the host can honour O_NONBLOCK per call.
    let mut h = Harness::default_device();
    let c = h.consumer(2);
    assert_eq!(h.dqbuf(c, Dir::Capture).map(|_| ()), Err(Errno::EAGAIN));
    assert_eq!(h.dqevent(c).map(|_| ()), Err(Errno::ENOENT));
    let p = h.producer(640, 480, YUYV, 2);
    assert_eq!(h.dqbuf(p, Dir::Output).map(|_| ()), Err(Errno::EAGAIN));
    // The blocked consumer is woken when it becomes ready.
    h.dev.take_wakeups();
    h.produce(p, 0, 7).unwrap();
    assert!(h.dev.take_wakeups().contains(&c));
    assert_eq!(recv(&mut h, c).unwrap().0, 7);
    h.dev.check_invariants().unwrap();
}

#[test]
fn b4_querycap_works_on_any_fd_at_any_time() {
    let mut h = Harness::default_device();
    let fresh = h.open();
    let reference = bytemuck::bytes_of(&querycap(&mut h, fresh)).to_vec();
    let p = h.producer(640, 480, YUYV, 2);
    let c = h.consumer(2);
    send(&mut h, p, 0);
    let bystander = h.open();
    for id in [fresh, p, c, bystander] {
        let cap = querycap(&mut h, id);
        assert_eq!(
            bytemuck::bytes_of(&cap),
            &reference[..],
            "identical on every fd"
        );
    }
    h.dev.check_invariants().unwrap();
}

fn check_b5(cap: &v4l2_capability) {
    for field in [&cap.driver[..], &cap.card[..], &cap.bus_info[..]] {
        let n = field
            .iter()
            .position(|c| *c == 0)
            .expect("NUL inside array");
        assert!(n > 0, "non-empty string");
    }
    assert!(cstr(&cap.bus_info).starts_with("platform:"));
    assert!(cap.version >> 16 >= 3, "kernel version code, major >= 3");
    assert_eq!(cap.reserved, [0; 3]);
}

#[test]
fn b5_querycap_content_from_0xff_filled_struct() {
    for mut h in [Harness::default_device(), exclusive()] {
        let id = h.open();
        let mut arg = vec![0xffu8; std::mem::size_of::<v4l2_capability>()];
        raw(&mut h, id, VIDIOC_QUERYCAP, &mut arg).unwrap();
        let cap: v4l2_capability = bytemuck::pod_read_unaligned(&arg);
        check_b5(&cap);
        assert_eq!(cstr(&cap.bus_info), "platform:v4l2loopback-000");
    }
    let mut h = Harness::new(DeviceConfig {
        label: "x".repeat(100),
        number: 7,
        ..Default::default()
    });
    let id = h.open();
    let cap = querycap(&mut h, id);
    check_b5(&cap);
    assert_eq!(cstr(&cap.card).len(), 31, "long labels are truncated");
    assert_eq!(cstr(&cap.bus_info), "platform:v4l2loopback-007");
}

fn check_b6(cap: &v4l2_capability) {
    let (caps, dcaps) = (cap.capabilities, cap.device_caps);
    assert_ne!(caps & V4L2_CAP_DEVICE_CAPS, 0);
    assert_eq!(dcaps & V4L2_CAP_DEVICE_CAPS, 0);
    assert_eq!(dcaps & !caps, 0, "device_caps ⊆ capabilities");
    assert_ne!(dcaps & caps, 0);
    assert_ne!(caps & V4L2_CAP_EXT_PIX_FORMAT, 0);
    assert_ne!(dcaps & V4L2_CAP_EXT_PIX_FORMAT, 0);
    let video = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_OUTPUT;
    let mplane =
        V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_VIDEO_OUTPUT_MPLANE | V4L2_CAP_VIDEO_M2M_MPLANE;
    if dcaps & video != 0 {
        assert_ne!(dcaps & (V4L2_CAP_STREAMING | V4L2_CAP_READWRITE), 0);
    }
    assert!(
        dcaps & mplane == 0 || dcaps & video == 0,
        "never both planar kinds"
    );
    assert_eq!(
        dcaps & (V4L2_CAP_VIDEO_M2M | V4L2_CAP_VIDEO_M2M_MPLANE),
        0,
        "a loopback is not m2m (B7)"
    );
}

#[test]
fn b6_capability_bits_in_every_layout_and_state() {
    let mut h = Harness::default_device();
    let id = h.open();
    check_b6(&querycap(&mut h, id));

    let mut h = exclusive();
    let id = h.open();
    check_b6(&querycap(&mut h, id));
    let _p = h.producer(640, 480, YUYV, 2);
    check_b6(&querycap(&mut h, id));

    let mut h = split();
    for node in [Node::Output, Node::Capture] {
        let id = h.open_as(node, OpenMode::RDWR).unwrap();
        check_b6(&querycap(&mut h, id));
    }
}

const IN_CAPS: u32 = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE;
const OUT_CAPS: u32 = V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_VIDEO_OUTPUT_MPLANE;

fn dirs_of(cap: &v4l2_capability) -> (bool, bool) {
    (
        cap.device_caps & IN_CAPS != 0,
        cap.device_caps & OUT_CAPS != 0,
    )
}

#[test]
fn b7_exclusive_caps_follow_the_producer() {
    let mut h = exclusive();
    let early = h.open();
    assert_eq!(
        dirs_of(&querycap(&mut h, early)),
        (false, true),
        "OUTPUT only"
    );
    let p = h.open();
    h.s_fmt(p, Dir::Output, 640, 480, YUYV).unwrap();
    h.reqbufs(p, Dir::Output, 2).unwrap();
    // Buffers alone do not flip: only streaming does.
    assert_eq!(dirs_of(&querycap(&mut h, early)), (false, true));
    h.streamon(p, Dir::Output).unwrap();
    let late = h.open();
    assert_eq!(
        dirs_of(&querycap(&mut h, late)),
        (true, false),
        "CAPTURE only"
    );
    assert_eq!(dirs_of(&querycap(&mut h, early)), (true, false));
    // Never both at once, for any fd, including the producer's.
    assert_eq!(dirs_of(&querycap(&mut h, p)), (true, false));
    h.streamoff(p, Dir::Output).unwrap();
    assert_eq!(
        dirs_of(&querycap(&mut h, late)),
        (false, true),
        "flips back"
    );
    h.streamon(p, Dir::Output).unwrap();
    assert_eq!(dirs_of(&querycap(&mut h, late)), (true, false));
    h.close(p);
    assert_eq!(
        dirs_of(&querycap(&mut h, late)),
        (false, true),
        "producer gone"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn b7_obs_style_producer_also_flips_exclusive_caps() {
    // DESIGN §3.6: S_FMT → STREAMON(OUTPUT) → write() counts as a streaming producer.
    let mut h = exclusive();
    let p = h.open();
    h.s_fmt(p, Dir::Output, 64, 48, YUYV).unwrap();
    h.streamon(p, Dir::Output).unwrap();
    let late = h.open();
    assert_eq!(dirs_of(&querycap(&mut h, late)), (true, false));
}

#[test]
fn b7_split_nodes_have_fixed_single_direction_caps() {
    let mut h = split();
    let out = h.open_as(Node::Output, OpenMode::RDWR).unwrap();
    let cap = h.open_as(Node::Capture, OpenMode::RDWR).unwrap();
    assert_eq!(dirs_of(&querycap(&mut h, out)), (false, true));
    assert_eq!(dirs_of(&querycap(&mut h, cap)), (true, false));
    start_producer(&mut h, out, 640, 480, YUYV, 2);
    assert_eq!(dirs_of(&querycap(&mut h, out)), (false, true));
    assert_eq!(dirs_of(&querycap(&mut h, cap)), (true, false));
    // The combined node does not exist in split mode, and vice versa.
    assert_eq!(
        h.open_as(Node::Combined, OpenMode::RDWR),
        Err(Errno::ENODEV)
    );
    let mut single = Harness::default_device();
    assert_eq!(
        single.open_as(Node::Capture, OpenMode::RDWR),
        Err(Errno::ENODEV)
    );
}

#[test]
fn b7_default_single_node_reports_both_directions() {
    // exclusive_caps=false is v4l2loopback's default: both directions (B7 fails compliance
    // by design in that mode; exclusive caps or split mode are the compliant choices).
    let mut h = Harness::default_device();
    let id = h.open();
    assert_eq!(dirs_of(&querycap(&mut h, id)), (true, true));
}

/// B8: whether `ioctl` accepts buffer type `t` on a fresh fd (closed afterwards).
fn type_accepted(h: &mut Harness, node: Node, t: u32, ioctl: u32) -> bool {
    let id = h.open_as(node, OpenMode::RDWR).unwrap();
    let r = match ioctl {
        VIDIOC_ENUM_FMT => {
            let mut d = v4l2_fmtdesc {
                type_: t,
                ..Default::default()
            };
            h.ioctl(id, ioctl, &mut d).map(|_| ())
        }
        VIDIOC_G_FMT | VIDIOC_TRY_FMT | VIDIOC_S_FMT => {
            let mut f = v4l2_format {
                type_: t,
                ..Default::default()
            };
            if ioctl != VIDIOC_G_FMT {
                // Ask for the current format so S_FMT changes nothing.
                let cur = h.dev.format();
                f.set_pix(&pix(cur.width, cur.height, cur.pixelformat));
            }
            h.ioctl(id, ioctl, &mut f).map(|_| ())
        }
        VIDIOC_G_PARM => g_parm(h, id, t).map(|_| ()),
        VIDIOC_S_PARM => {
            let (n, d) = (h.dev.interval().numerator, h.dev.interval().denominator);
            let mut p = v4l2_streamparm {
                type_: t,
                ..Default::default()
            };
            p.set_capture(&v4l2_captureparm {
                timeperframe: v4l2_fract {
                    numerator: n,
                    denominator: d,
                },
                ..Default::default()
            });
            h.ioctl(id, ioctl, &mut p).map(|_| ())
        }
        VIDIOC_REQBUFS => {
            let mut r = v4l2_requestbuffers {
                count: 0,
                type_: t,
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            h.ioctl(id, ioctl, &mut r).map(|_| ())
        }
        _ => unreachable!(),
    };
    h.close(id);
    match r {
        Ok(()) => true,
        Err(e) => {
            assert_eq!(e, Errno::EINVAL, "type {t}: refused types are EINVAL");
            false
        }
    }
}

fn check_b8(h: &mut Harness, node: Node) {
    let id = h.open_as(node, OpenMode::RDWR).unwrap();
    let dcaps = querycap(h, id).device_caps;
    h.close(id);
    for t in ALL_TYPES {
        let advertised = match t {
            CAP => dcaps & V4L2_CAP_VIDEO_CAPTURE != 0,
            OUT => dcaps & V4L2_CAP_VIDEO_OUTPUT != 0,
            _ => false,
        };
        for ioctl in [
            VIDIOC_ENUM_FMT,
            VIDIOC_G_FMT,
            VIDIOC_TRY_FMT,
            VIDIOC_S_FMT,
            VIDIOC_G_PARM,
            VIDIOC_S_PARM,
            VIDIOC_REQBUFS,
        ] {
            assert_eq!(
                type_accepted(h, node, t, ioctl),
                advertised,
                "type {t} ioctl {:?} with device_caps {dcaps:#x}",
                ioctl_name(ioctl)
            );
        }
    }
}

#[test]
fn b8_type_acceptance_matches_reported_caps() {
    let mut h = Harness::default_device();
    check_b8(&mut h, Node::Combined);

    let mut h = exclusive();
    check_b8(&mut h, Node::Combined); // OUTPUT only
    let p = h.open();
    start_producer(&mut h, p, 640, 480, YUYV, 2);
    check_b8(&mut h, Node::Combined); // CAPTURE only, for fds without a role

    let mut h = split();
    check_b8(&mut h, Node::Output);
    check_b8(&mut h, Node::Capture);
    h.dev.check_invariants().unwrap();
}

#[test]
fn b9_panel_ioctls_work_from_any_fd_while_another_streams() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    send(&mut h, p, 0);
    let other = h.open();
    querycap(&mut h, other);
    assert_eq!(h.g_fmt(other, Dir::Output).unwrap().width, 640);
    assert!(!enum_fmts(&mut h, other, OUT).is_empty());
    assert!(!enum_fmts(&mut h, other, CAP).is_empty());
    let qb = h.querybuf(other, Dir::Output, 1).unwrap();
    assert_eq!(qb.index, 1);
    let mut q = v4l2_queryctrl {
        id: V4L2_CTRL_FLAG_NEXT_CTRL,
        ..Default::default()
    };
    h.ioctl(other, VIDIOC_QUERYCTRL, &mut q).unwrap();
    // But the stream belongs to the producer (F9).
    assert_eq!(h.reqbufs(other, Dir::Output, 2), Err(Errno::EBUSY));
    assert_eq!(h.reqbufs(other, Dir::Output, 0), Err(Errno::EBUSY));
    assert_eq!(h.streamon(other, Dir::Output), Err(Errno::EBUSY));
    assert_eq!(h.streamoff(other, Dir::Output), Err(Errno::EBUSY));
    assert_eq!(
        h.qbuf(other, Dir::Output, 0, 0).map(|_| ()),
        Err(Errno::EBUSY)
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn b10_close_of_owner_releases_everything_but_device_state() {
    let mut h = Harness::default_device();
    let p = h.open();
    h.subscribe(p, V4L2_EVENT_EOS, 0, 0).unwrap();
    start_producer(&mut h, p, 320, 240, RGB3, 2);
    let c = h.consumer(2);
    s_prio(&mut h, p, V4L2_PRIORITY_RECORD).unwrap();
    send(&mut h, p, 0);
    let fmt = h.g_fmt(p, Dir::Output).unwrap();
    h.close(p);
    // (a) ownership cleared: another fd can allocate and stream.
    let p2 = h.open();
    assert_eq!(
        g_prio(&mut h, p2),
        V4L2_PRIORITY_INTERACTIVE,
        "(b) priority gone"
    );
    // (d) format untouched.
    assert_eq!(h.g_fmt(p2, Dir::Output).unwrap(), fmt);
    assert_eq!(h.reqbufs(p2, Dir::Output, 2).unwrap(), 2);
    h.streamon(p2, Dir::Output).unwrap();
    send(&mut h, p2, 5);
    assert_eq!(recv(&mut h, c).unwrap().0, 0);
    assert_eq!(recv(&mut h, c).unwrap().0, 5);
    // (c) the closed opener's subscriptions and memory are gone with it.
    assert!(!h.dev.opener_ids().contains(&p));
    assert_eq!(h.dev.status().openers, 2);
    h.dev.check_invariants().unwrap();
}

#[test]
fn b10_close_while_mapped_and_streaming_leaks_nothing() {
    // Closing owners mid-stream, with buffers mapped, queued and done, returns their memory:
    // repeated cycles do not grow the device's memory (the pool may keep a few idle blocks
    // for reuse, and the last frame for sustain_framerate).
    let mut h = Harness::default_device();
    let mut after = Vec::new();
    for _ in 0..4 {
        let p = h.producer(640, 480, YUYV, 4);
        let c = h.consumer(4);
        for n in 0..4 {
            h.produce(p, n as u32, n).unwrap();
        }
        h.dqbuf(c, Dir::Capture).unwrap();
        h.close(p);
        h.close(c);
        assert_eq!(h.dev.status().openers, 0);
        h.dev.check_invariants().unwrap();
        after.push((h.mem.len(), h.dev.status().memory_bytes));
    }
    // The first cycle fills the reuse cache; from then on the footprint is constant.
    assert!(
        after[1..].windows(2).all(|w| w[0] == w[1]),
        "no growth: {after:?}"
    );
    assert!(
        after.iter().all(|a| a.0 <= 5),
        "only cached blocks remain: {after:?}"
    );
}

#[test]
fn b11_close_of_non_owner_does_not_disturb_the_stream() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    let c = h.consumer(3);
    send(&mut h, p, 0);
    for _ in 0..5 {
        let x = h.open();
        querycap(&mut h, x);
        h.g_fmt(x, Dir::Capture).unwrap();
        h.close(x);
    }
    // A second consumer coming and going does not disturb the first either.
    let c2 = h.consumer(2);
    send(&mut h, p, 1);
    h.close(c2);
    send(&mut h, p, 2);
    let got: Vec<u64> = (0..3).map(|_| recv(&mut h, c).unwrap().0).collect();
    assert_eq!(got, vec![0, 1, 2]);
    h.dev.check_invariants().unwrap();
}

#[test]
fn b13_device_removal_hangs_up_everyone() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    let c = h.consumer(2);
    send(&mut h, p, 0);
    h.dev.shutdown(h.now);
    h.sync();
    for id in [p, c] {
        assert_eq!(
            h.poll(id, POLLIN | POLLPRI) & (POLLERR | POLLHUP),
            POLLERR | POLLHUP
        );
        // The host maps the dead opener's errors to ENODEV; core must refuse everything.
        let mut cap = v4l2_capability::default();
        assert!(h.ioctl(id, VIDIOC_QUERYCAP, &mut cap).is_err());
        assert!(h.dqbuf(id, Dir::Capture).is_err());
    }
    assert!(h.dev.opener_ids().is_empty());
    assert!(h.mem.is_empty(), "all frame memory released");
    h.dev.check_invariants().unwrap();
}

#[test]
fn b14_unimplemented_ioctls_are_enotty_never_einval() {
    let mut h = Harness::default_device();
    let id = h.open();
    let _p = h.producer(640, 480, YUYV, 2);
    let unimplemented = [
        VIDIOC_G_FBUF,
        VIDIOC_S_FBUF,
        VIDIOC_OVERLAY,
        VIDIOC_G_STD,
        VIDIOC_S_STD,
        VIDIOC_ENUMSTD,
        VIDIOC_QUERYSTD,
        VIDIOC_G_TUNER,
        VIDIOC_S_TUNER,
        VIDIOC_G_AUDIO,
        VIDIOC_S_AUDIO,
        VIDIOC_ENUMAUDIO,
        VIDIOC_G_AUDOUT,
        VIDIOC_S_AUDOUT,
        VIDIOC_ENUMAUDOUT,
        VIDIOC_G_MODULATOR,
        VIDIOC_S_MODULATOR,
        VIDIOC_G_FREQUENCY,
        VIDIOC_S_FREQUENCY,
        VIDIOC_S_HW_FREQ_SEEK,
        VIDIOC_ENUM_FREQ_BANDS,
        VIDIOC_CROPCAP,
        VIDIOC_G_CROP,
        VIDIOC_S_CROP,
        VIDIOC_G_SELECTION,
        VIDIOC_S_SELECTION,
        VIDIOC_G_JPEGCOMP,
        VIDIOC_S_JPEGCOMP,
        VIDIOC_G_SLICED_VBI_CAP,
        VIDIOC_G_ENC_INDEX,
        VIDIOC_ENCODER_CMD,
        VIDIOC_TRY_ENCODER_CMD,
        VIDIOC_DECODER_CMD,
        VIDIOC_TRY_DECODER_CMD,
        VIDIOC_DBG_G_REGISTER,
        VIDIOC_DBG_S_REGISTER,
        VIDIOC_DBG_G_CHIP_INFO,
        VIDIOC_G_EDID,
        VIDIOC_S_EDID,
        VIDIOC_S_DV_TIMINGS,
        VIDIOC_G_DV_TIMINGS,
        VIDIOC_ENUM_DV_TIMINGS,
        VIDIOC_QUERY_DV_TIMINGS,
        VIDIOC_DV_TIMINGS_CAP,
        // F17: no SUPPORTS_REMOVE_BUFS capability → ENOTTY.
        VIDIOC_REMOVE_BUFS,
    ];
    for req in unimplemented {
        for fill in [0u8, 0xff] {
            let mut arg = vec![fill; ioc_size(req)];
            let before = arg.clone();
            assert_eq!(
                raw(&mut h, id, req, &mut arg),
                Err(Errno::ENOTTY),
                "{:?}",
                ioctl_name(req)
            );
            assert_eq!(arg, before, "A2: untouched on failure");
        }
    }
    // LOG_STATUS is implemented (v4l2-compliance: 0 or ENOTTY).
    assert_eq!(raw(&mut h, id, VIDIOC_LOG_STATUS, &mut []), Ok(()));
    // The BUF_CAP the decision above relies on.
    let mut r = v4l2_requestbuffers {
        type_: CAP,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    h.ioctl(id, VIDIOC_REQBUFS, &mut r).unwrap();
    assert_eq!(r.capabilities & V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS, 0);
}

// ---------------------------------------------------------------------------
// C. Priority
// ---------------------------------------------------------------------------

#[test]
fn c1_fresh_fd_has_default_priority() {
    let mut h = Harness::default_device();
    let a = h.open();
    assert_eq!(g_prio(&mut h, a), V4L2_PRIORITY_DEFAULT);
    assert_eq!(V4L2_PRIORITY_DEFAULT, 2);
    // R-only: nothing is read from the argument.
    let mut arg = vec![0xffu8; 4];
    raw(&mut h, a, VIDIOC_G_PRIORITY, &mut arg).unwrap();
    assert_eq!(arg, 2u32.to_le_bytes());
}

#[test]
fn c2_g_priority_reports_the_device_maximum() {
    let mut h = Harness::default_device();
    let a = h.open();
    let b = h.open();
    s_prio(&mut h, a, V4L2_PRIORITY_RECORD).unwrap();
    assert_eq!(g_prio(&mut h, b), V4L2_PRIORITY_RECORD);
    assert_eq!(g_prio(&mut h, a), V4L2_PRIORITY_RECORD);
    s_prio(&mut h, a, V4L2_PRIORITY_BACKGROUND).unwrap();
    assert_eq!(
        g_prio(&mut h, b),
        V4L2_PRIORITY_INTERACTIVE,
        "b's own 2 is max"
    );
}

#[test]
fn c3_s_priority_accepts_only_1_to_3() {
    let mut h = Harness::default_device();
    let a = h.open();
    for bad in [V4L2_PRIORITY_UNSET, 4, 7, u32::MAX] {
        assert_eq!(s_prio(&mut h, a, bad), Err(Errno::EINVAL), "{bad}");
    }
    for good in [
        V4L2_PRIORITY_BACKGROUND,
        V4L2_PRIORITY_INTERACTIVE,
        V4L2_PRIORITY_RECORD,
    ] {
        s_prio(&mut h, a, good).unwrap();
        assert_eq!(g_prio(&mut h, a), good);
    }
}

#[test]
fn c4_v4l2_compliance_test_prio_sequence() {
    let mut h = Harness::default_device();
    let a = h.open();
    let b = h.open();
    assert_eq!((g_prio(&mut h, a), g_prio(&mut h, b)), (2, 2));
    s_prio(&mut h, a, V4L2_PRIORITY_RECORD).unwrap();
    assert_eq!((g_prio(&mut h, a), g_prio(&mut h, b)), (3, 3));
    // "Going back to interactive on the other node must fail" — even though b already is 2.
    assert_eq!(
        s_prio(&mut h, b, V4L2_PRIORITY_INTERACTIVE),
        Err(Errno::EBUSY)
    );
    assert_eq!(s_prio(&mut h, b, V4L2_PRIORITY_RECORD), Err(Errno::EBUSY));
    s_prio(&mut h, a, V4L2_PRIORITY_INTERACTIVE).unwrap();
    assert_eq!((g_prio(&mut h, a), g_prio(&mut h, b)), (2, 2));
    // Two RECORD holders are equals.
    s_prio(&mut h, a, V4L2_PRIORITY_RECORD).unwrap();
    s_prio(&mut h, a, V4L2_PRIORITY_INTERACTIVE).unwrap();
    s_prio(&mut h, b, V4L2_PRIORITY_RECORD).unwrap();
    assert_eq!(s_prio(&mut h, a, V4L2_PRIORITY_RECORD), Err(Errno::EBUSY));
}

#[test]
fn c4_lower_priority_fd_gets_ebusy_for_state_changes_only() {
    let mut h = Harness::default_device();
    // The low-priority fd is a streaming consumer set up beforehand.
    let low = h.open();
    start_consumer(&mut h, low, 2);
    let p = h.open();
    start_producer(&mut h, p, 640, 480, YUYV, 2);
    s_prio(&mut h, p, V4L2_PRIORITY_RECORD).unwrap();

    // Priority-checked: EBUSY.
    let cur = h.g_fmt(low, Dir::Capture).unwrap();
    let mut f = fmt_of(CAP, cur);
    assert_eq!(
        h.ioctl(low, VIDIOC_S_FMT, &mut f).map(|_| ()),
        Err(Errno::EBUSY)
    );
    assert_eq!(h.reqbufs(low, Dir::Capture, 2), Err(Errno::EBUSY));
    assert_eq!(h.reqbufs(low, Dir::Capture, 0), Err(Errno::EBUSY));
    let mut cb = v4l2_create_buffers {
        count: 1,
        memory: V4L2_MEMORY_MMAP,
        format: fmt_of(CAP, cur),
        ..Default::default()
    };
    assert_eq!(
        h.ioctl(low, VIDIOC_CREATE_BUFS, &mut cb).map(|_| ()),
        Err(Errno::EBUSY)
    );
    assert_eq!(h.streamoff(low, Dir::Capture), Err(Errno::EBUSY));
    assert_eq!(h.streamon(low, Dir::Capture), Err(Errno::EBUSY));
    assert_eq!(
        s_parm(&mut h, low, CAP, 1, 30).map(|_| ()),
        Err(Errno::EBUSY)
    );
    let mut c = v4l2_control {
        id: loopcam_core::controls::CID_TIMEOUT,
        value: 10,
    };
    assert_eq!(
        h.ioctl(low, VIDIOC_S_CTRL, &mut c).map(|_| ()),
        Err(Errno::EBUSY)
    );
    let mut i = 0u32;
    assert_eq!(
        h.ioctl(low, VIDIOC_S_INPUT, &mut i).map(|_| ()),
        Err(Errno::EBUSY)
    );
    assert_eq!(
        h.ioctl(low, VIDIOC_S_OUTPUT, &mut i).map(|_| ()),
        Err(Errno::EBUSY)
    );
    assert_eq!(s_prio(&mut h, low, V4L2_PRIORITY_RECORD), Err(Errno::EBUSY));

    // Not priority-checked: buffers, getters, TRY, ENUM, events.
    send(&mut h, p, 3);
    assert_eq!(recv(&mut h, low).unwrap().0, 3);
    h.querybuf(low, Dir::Capture, 0).unwrap();
    let mut e = v4l2_exportbuffer {
        type_: CAP,
        index: 0,
        ..Default::default()
    };
    h.ioctl(low, VIDIOC_EXPBUF, &mut e).unwrap();
    try_fmt(&mut h, low, CAP, pix(1280, 720, MJPG));
    enum_fmts(&mut h, low, CAP);
    g_parm(&mut h, low, CAP).unwrap();
    let mut g = v4l2_control {
        id: loopcam_core::controls::CID_TIMEOUT,
        value: 0,
    };
    h.ioctl(low, VIDIOC_G_CTRL, &mut g).unwrap();
    let mut gi = 0u32;
    h.ioctl(low, VIDIOC_G_INPUT, &mut gi).unwrap();
    h.subscribe(low, V4L2_EVENT_EOS, 0, 0).unwrap();
    // The RECORD holder itself is unaffected.
    s_parm(&mut h, p, OUT, 1, 15).unwrap();
    h.dev.check_invariants().unwrap();
}

#[test]
fn c5_closing_the_record_fd_drops_the_maximum() {
    let mut h = Harness::default_device();
    let a = h.open();
    let b = h.open();
    s_prio(&mut h, a, V4L2_PRIORITY_RECORD).unwrap();
    assert_eq!(g_prio(&mut h, b), 3);
    assert_eq!(
        h.s_fmt(b, Dir::Output, 320, 240, YUYV).map(|_| ()),
        Err(Errno::EBUSY)
    );
    h.close(a);
    assert_eq!(g_prio(&mut h, b), 2);
    h.s_fmt(b, Dir::Output, 320, 240, YUYV).unwrap();
}

#[test]
fn c6_producer_record_freezes_consumer_settings_not_its_stream() {
    let mut h = Harness::default_device();
    let c = h.consumer(2);
    let p = h.producer(640, 480, YUYV, 2);
    s_prio(&mut h, p, V4L2_PRIORITY_RECORD).unwrap();
    assert_eq!(s_parm(&mut h, c, CAP, 1, 5).map(|_| ()), Err(Errno::EBUSY));
    assert_eq!(
        h.s_fmt(c, Dir::Capture, 1280, 720, MJPG).map(|_| ()),
        Err(Errno::EBUSY)
    );
    for n in 0..4 {
        send(&mut h, p, n);
        assert_eq!(recv(&mut h, c).unwrap().0, n);
    }
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------
// D. Inputs and outputs
// ---------------------------------------------------------------------------

fn io_family(h: &mut Harness, id: OpenerId, capture: bool) -> [Result<(), Errno>; 3] {
    let (g, s, e) = if capture {
        (VIDIOC_G_INPUT, VIDIOC_S_INPUT, VIDIOC_ENUMINPUT)
    } else {
        (VIDIOC_G_OUTPUT, VIDIOC_S_OUTPUT, VIDIOC_ENUMOUTPUT)
    };
    let mut v = 0u32;
    let rg = h.ioctl(id, g, &mut v).map(|_| ());
    let mut v = 0u32;
    let rs = h.ioctl(id, s, &mut v).map(|_| ());
    let mut arg = vec![0u8; ioc_size(e)];
    let re = raw(h, id, e, &mut arg);
    [rg, rs, re]
}

fn check_d1(h: &mut Harness, id: OpenerId) {
    let dcaps = querycap(h, id).device_caps;
    for (capture, bit) in [
        (true, V4L2_CAP_VIDEO_CAPTURE),
        (false, V4L2_CAP_VIDEO_OUTPUT),
    ] {
        let want = if dcaps & bit != 0 {
            Ok(())
        } else {
            Err(Errno::ENOTTY)
        };
        assert_eq!(io_family(h, id, capture), [want; 3], "caps {dcaps:#x}");
    }
}

#[test]
fn d1_input_and_output_ioctls_follow_the_caps() {
    let mut h = Harness::default_device();
    let id = h.open();
    check_d1(&mut h, id);

    let mut h = exclusive();
    let id = h.open();
    check_d1(&mut h, id); // output family only
    let p = h.open();
    start_producer(&mut h, p, 640, 480, YUYV, 2);
    let late = h.open();
    check_d1(&mut h, late); // input family only

    let mut h = split();
    for node in [Node::Output, Node::Capture] {
        let id = h.open_as(node, OpenMode::RDWR).unwrap();
        check_d1(&mut h, id);
    }
}

#[test]
fn d2_enuminput_and_enumoutput_fields() {
    let mut h = Harness::default_device();
    let id = h.open();
    // ENUMINPUT: index 0 only, from a 0xff-filled struct.
    let mut arg = bytemuck::bytes_of(&ff::<v4l2_input>(|i| i.index = 0)).to_vec();
    raw(&mut h, id, VIDIOC_ENUMINPUT, &mut arg).unwrap();
    let i: v4l2_input = bytemuck::pod_read_unaligned(&arg);
    assert_eq!(i.index, 0);
    assert!(!cstr(&i.name).is_empty());
    assert_eq!(i.type_, V4L2_INPUT_TYPE_CAMERA);
    assert_eq!((i.audioset, i.tuner, i.std, i.capabilities), (0, 0, 0, 0));
    assert_eq!(i.reserved, [0; 3]);
    assert_eq!(i.status, V4L2_IN_ST_NO_SIGNAL, "no producer yet");
    let mut arg = bytemuck::bytes_of(&ff::<v4l2_input>(|i| i.index = 1)).to_vec();
    assert_eq!(
        raw(&mut h, id, VIDIOC_ENUMINPUT, &mut arg),
        Err(Errno::EINVAL)
    );
    // With a streaming producer the signal is there.
    let _p = h.producer(640, 480, YUYV, 2);
    let mut i = v4l2_input::default();
    h.ioctl(id, VIDIOC_ENUMINPUT, &mut i).unwrap();
    assert_eq!(i.status, 0);

    let mut arg = bytemuck::bytes_of(&ff::<v4l2_output>(|o| o.index = 0)).to_vec();
    raw(&mut h, id, VIDIOC_ENUMOUTPUT, &mut arg).unwrap();
    let o: v4l2_output = bytemuck::pod_read_unaligned(&arg);
    assert_eq!(o.index, 0);
    assert!(!cstr(&o.name).is_empty());
    assert_eq!(o.type_, V4L2_OUTPUT_TYPE_ANALOG);
    assert_eq!(
        (o.audioset, o.modulator, o.std, o.capabilities),
        (0, 0, 0, 0)
    );
    assert_eq!(o.reserved, [0; 3]);
    let mut o = v4l2_output {
        index: 1,
        ..Default::default()
    };
    assert_eq!(
        h.ioctl(id, VIDIOC_ENUMOUTPUT, &mut o).map(|_| ()),
        Err(Errno::EINVAL)
    );
}

#[test]
fn d3_s_input_and_s_output_validate_the_index() {
    let mut h = Harness::default_device();
    let id = h.open();
    for (s, g) in [
        (VIDIOC_S_INPUT, VIDIOC_G_INPUT),
        (VIDIOC_S_OUTPUT, VIDIOC_G_OUTPUT),
    ] {
        for bad in [1u32, 2, u32::MAX] {
            let mut v = bad;
            assert_eq!(h.ioctl(id, s, &mut v).map(|_| ()), Err(Errno::EINVAL));
        }
        let mut v = 0u32;
        h.ioctl(id, s, &mut v).unwrap();
        assert_eq!(v, 0, "S_INPUT/S_OUTPUT are RW: index echoed");
        let mut v = 0xffu32;
        h.ioctl(id, g, &mut v).unwrap();
        assert_eq!(v, 0);
    }
}

#[test]
fn d4_s_input_and_s_output_are_priority_checked() {
    let mut h = Harness::default_device();
    let a = h.open();
    let b = h.open();
    s_prio(&mut h, a, V4L2_PRIORITY_RECORD).unwrap();
    for (s, g) in [
        (VIDIOC_S_INPUT, VIDIOC_G_INPUT),
        (VIDIOC_S_OUTPUT, VIDIOC_G_OUTPUT),
    ] {
        let mut v = 0u32;
        assert_eq!(h.ioctl(b, s, &mut v).map(|_| ()), Err(Errno::EBUSY));
        let mut v = 0u32;
        h.ioctl(b, g, &mut v).unwrap();
        let mut v = 0u32;
        h.ioctl(a, s, &mut v).unwrap();
    }
}

// ---------------------------------------------------------------------------
// E.1 ENUM_FMT
// ---------------------------------------------------------------------------

#[test]
fn e1_enum_fmt_fields_from_0xff_filled_struct() {
    let mut h = Harness::default_device();
    let id = h.open();
    for type_ in [CAP, OUT] {
        let n = enum_fmts(&mut h, id, type_).len() as u32;
        assert!(n > 0);
        for index in 0..n {
            let d = ff::<v4l2_fmtdesc>(|d| {
                d.index = index;
                d.type_ = type_;
                d.mbus_code = 0;
            });
            let mut arg = bytemuck::bytes_of(&d).to_vec();
            raw(&mut h, id, VIDIOC_ENUM_FMT, &mut arg).unwrap();
            let d: v4l2_fmtdesc = bytemuck::pod_read_unaligned(&arg);
            assert_eq!((d.index, d.type_), (index, type_));
            assert_eq!(d.mbus_code, 0);
            assert_eq!(d.reserved, [0; 3]);
            assert!(!cstr(&d.description).is_empty());
        }
        let mut d = v4l2_fmtdesc {
            index: n,
            type_,
            ..Default::default()
        };
        assert_eq!(
            h.ioctl(id, VIDIOC_ENUM_FMT, &mut d).map(|_| ()),
            Err(Errno::EINVAL)
        );
    }
}

#[test]
fn e2_enum_fmt_rejects_other_buffer_types() {
    let mut h = Harness::default_device();
    let id = h.open();
    for type_ in [0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x80, u32::MAX] {
        let mut d = v4l2_fmtdesc {
            type_,
            ..Default::default()
        };
        assert_eq!(
            h.ioctl(id, VIDIOC_ENUM_FMT, &mut d).map(|_| ()),
            Err(Errno::EINVAL),
            "type {type_}"
        );
    }
}

#[test]
fn e3_no_duplicate_or_zero_fourccs_preferred_first() {
    let mut h = Harness::default_device();
    let id = h.open();
    for type_ in [CAP, OUT] {
        let list: Vec<u32> = enum_fmts(&mut h, id, type_)
            .iter()
            .map(|d| d.pixelformat)
            .collect();
        assert!(!list.contains(&0));
        let mut sorted = list.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), list.len(), "duplicates in {list:x?}");
        assert_eq!(list[0], YUYV, "the webcam default comes first");
    }
}

/// E4: the canonical strings of v4l-utils utils/common/v4l2-pix-formats.h (NV12/NV21 have a
/// pre-6.2 and a current spelling; both are accepted by v4l2-compliance's table versions).
fn canonical_description(f: u32) -> &'static [&'static str] {
    match &f.to_le_bytes() {
        b"YUYV" => &["YUYV 4:2:2"],
        b"UYVY" => &["UYVY 4:2:2"],
        b"YVYU" => &["YVYU 4:2:2"],
        b"NV12" => &["Y/UV 4:2:0", "Y/CbCr 4:2:0"],
        b"NV21" => &["Y/VU 4:2:0", "Y/CrCb 4:2:0"],
        b"YU12" => &["Planar YUV 4:2:0"],
        b"YV12" => &["Planar YVU 4:2:0"],
        b"422P" => &["Planar YUV 4:2:2"],
        b"RGB3" => &["24-bit RGB 8-8-8"],
        b"BGR3" => &["24-bit BGR 8-8-8"],
        b"XR24" => &["32-bit BGRX 8-8-8-8"],
        b"BX24" => &["32-bit XRGB 8-8-8-8"],
        b"RGB4" => &["32-bit A/XRGB 8-8-8-8"],
        b"BGR4" => &["32-bit BGRA/X 8-8-8-8"],
        b"RGBP" => &["16-bit RGB 5-6-5"],
        b"GREY" => &["8-bit Greyscale"],
        b"MJPG" => &["Motion-JPEG"],
        b"JPEG" => &["JFIF JPEG"],
        b"H264" => &["H.264"],
        b"HEVC" => &["HEVC"],
        _ => &[],
    }
}

fn is_compressed(f: u32) -> bool {
    matches!(&f.to_le_bytes(), b"MJPG" | b"JPEG" | b"H264" | b"HEVC")
}

#[test]
fn e4_descriptions_are_canonical() {
    let mut h = Harness::default_device();
    let id = h.open();
    for type_ in [CAP, OUT] {
        for d in enum_fmts(&mut h, id, type_) {
            let want = canonical_description(d.pixelformat);
            assert!(
                want.contains(&cstr(&d.description)),
                "{:?}: {:?} not in {want:?} (extend the table if a format was added)",
                String::from_utf8_lossy(&d.pixelformat.to_le_bytes()),
                cstr(&d.description)
            );
        }
    }
}

#[test]
fn e5_fmtdesc_flags() {
    let mut h = Harness::default_device();
    let id = h.open();
    for d in enum_fmts(&mut h, id, OUT) {
        assert_eq!(d.flags & !0x3ff, 0, "no undefined bits");
        assert_eq!(d.flags & V4L2_FMT_FLAG_EMULATED, 0);
        assert_eq!(
            d.flags & V4L2_FMT_FLAG_COMPRESSED != 0,
            is_compressed(d.pixelformat),
            "{:x}",
            d.pixelformat
        );
        let needs_compressed = V4L2_FMT_FLAG_CONTINUOUS_BYTESTREAM
            | V4L2_FMT_FLAG_DYN_RESOLUTION
            | V4L2_FMT_FLAG_ENC_CAP_FRAME_INTERVAL;
        if d.flags & needs_compressed != 0 {
            assert_ne!(d.flags & V4L2_FMT_FLAG_COMPRESSED, 0);
        }
    }
}

#[test]
fn e6_enum_all_is_einval_or_a_superset() {
    let mut h = Harness::default_device();
    let id = h.open();
    let _p = h.producer(640, 480, YUYV, 2);
    let mut d = v4l2_fmtdesc {
        index: V4L2_FMTDESC_FLAG_ENUM_ALL,
        type_: CAP,
        ..Default::default()
    };
    match h.ioctl(id, VIDIOC_ENUM_FMT, &mut d) {
        Err(e) => assert_eq!(e, Errno::EINVAL),
        Ok(_) => assert_eq!(d.index, 0, "flag cleared in the returned index"),
    }
}

#[test]
fn e7_capture_lists_only_the_producers_format() {
    let mut h = Harness::default_device();
    let c = h.open();
    let all = enum_fmts(&mut h, c, CAP).len();
    assert_eq!(
        all,
        enum_fmts(&mut h, c, OUT).len(),
        "no producer: everything"
    );
    let p = h.producer(640, 480, NV12, 2);
    let list = enum_fmts(&mut h, c, CAP);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].pixelformat, NV12);
    // The producer itself may still enumerate what it could switch to.
    assert_eq!(enum_fmts(&mut h, p, OUT).len(), all);
    h.close(p);
    assert_eq!(enum_fmts(&mut h, c, CAP).len(), all, "producer gone");
}

// ---------------------------------------------------------------------------
// E.2 G_FMT / S_FMT / TRY_FMT
// ---------------------------------------------------------------------------

#[test]
fn e8_g_fmt_zeroes_the_union_and_sets_priv_magic() {
    let mut h = Harness::default_device();
    let id = h.open();
    for type_ in [CAP, OUT] {
        let mut arg = vec![0xffu8; 208];
        arg[0..4].copy_from_slice(&type_.to_le_bytes());
        raw(&mut h, id, VIDIOC_G_FMT, &mut arg).unwrap();
        let f: v4l2_format = bytemuck::pod_read_unaligned(&arg);
        assert_eq!(f.type_, type_);
        assert_eq!(f.pix().priv_, V4L2_PIX_FMT_PRIV_MAGIC);
        assert!(
            f.fmt_bytes()[48..].iter().all(|b| *b == 0),
            "union tail zeroed"
        );
    }
    let mut f = v4l2_format {
        type_: 9,
        ..Default::default()
    };
    assert_eq!(
        h.ioctl(id, VIDIOC_G_FMT, &mut f).map(|_| ()),
        Err(Errno::EINVAL)
    );
}

/// E9 invariants of a returned single-planar format.
fn check_e9(f: &v4l2_format, listed: &[u32]) {
    let p = f.pix();
    assert!(p.width > 0 && p.height > 0);
    assert!(
        listed.contains(&p.pixelformat),
        "{:x} not enumerated",
        p.pixelformat
    );
    if is_compressed(p.pixelformat) {
        assert!(p.bytesperline == 0 || p.bytesperline >= p.width);
    } else {
        assert!(p.bytesperline >= p.width);
    }
    if p.pixelformat == YUYV {
        assert_eq!(p.bytesperline, p.width * 2);
    }
    assert!(p.sizeimage > 0);
    assert_ne!(p.field, V4L2_FIELD_ANY);
    assert_eq!(p.field, V4L2_FIELD_NONE, "progressive device");
    assert_eq!(p.priv_, V4L2_PIX_FMT_PRIV_MAGIC);
    assert_ne!(p.colorspace, V4L2_COLORSPACE_DEFAULT);
    assert_ne!(p.colorspace, V4L2_COLORSPACE_BT878);
    assert!(p.colorspace < 0xff);
    if p.colorspace == V4L2_COLORSPACE_JPEG {
        assert!(p.pixelformat == MJPG || p.pixelformat == fcc(b"JPEG"));
    }
    assert!(p.ycbcr_enc < 0xff && p.quantization < 0xff && p.xfer_func < 0xff);
    assert!(
        f.fmt_bytes()[48..].iter().all(|b| *b == 0),
        "nothing echoed past pix"
    );
}

/// A v4l2_format whose union is all 0xff except field = ANY (v4l2-compliance's
/// createInvalidFmt).
fn invalid_fmt(type_: u32) -> v4l2_format {
    let mut f = ff::<v4l2_format>(|f| f.type_ = type_);
    let mut p = f.pix();
    p.field = V4L2_FIELD_ANY;
    let mut bytes = f.fmt_bytes().to_vec();
    bytes[..48].copy_from_slice(bytemuck::bytes_of(&p));
    f.fmt_bytes_mut().copy_from_slice(&bytes);
    f
}

#[test]
fn e9_e10_g_try_s_fmt_on_0xff_input_give_valid_formats() {
    for type_ in [OUT, CAP] {
        let mut h = Harness::default_device();
        let id = h.open();
        let listed: Vec<u32> = enum_fmts(&mut h, id, type_)
            .iter()
            .map(|d| d.pixelformat)
            .collect();
        for req in [VIDIOC_G_FMT, VIDIOC_TRY_FMT, VIDIOC_S_FMT] {
            let mut arg = bytemuck::bytes_of(&invalid_fmt(type_)).to_vec();
            raw(&mut h, id, req, &mut arg).unwrap_or_else(|e| panic!("{req:x}: {e:?}"));
            let f: v4l2_format = bytemuck::pod_read_unaligned(&arg);
            assert_eq!(f.type_, type_);
            check_e9(&f, &listed);
        }
    }
}

#[test]
fn e10_nonsense_is_adjusted_not_refused() {
    let mut h = Harness::default_device();
    let id = h.open();
    let listed: Vec<u32> = enum_fmts(&mut h, id, OUT)
        .iter()
        .map(|d| d.pixelformat)
        .collect();
    let cases = [
        pix(0, 0, 0),
        pix(u32::MAX, u32::MAX, fcc(b"ABCD")),
        pix(1, 1, NV12),
        pix(641, 481, YUYV),
        pix(100_000, 3, MJPG),
        v4l2_pix_format {
            field: V4L2_FIELD_INTERLACED,
            colorspace: V4L2_COLORSPACE_BT878,
            ..pix(320, 240, RGB3)
        },
    ];
    for p in cases {
        for req in [VIDIOC_TRY_FMT, VIDIOC_S_FMT] {
            let mut f = fmt_of(OUT, p);
            h.ioctl(id, req, &mut f).unwrap();
            check_e9(&f, &listed);
        }
    }
    // EINVAL is only for the type.
    let mut f = fmt_of(V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, pix(640, 480, YUYV));
    assert_eq!(
        h.ioctl(id, VIDIOC_TRY_FMT, &mut f).map(|_| ()),
        Err(Errno::EINVAL)
    );
    let mut f = fmt_of(V4L2_BUF_TYPE_PRIVATE, pix(640, 480, YUYV));
    assert_eq!(
        h.ioctl(id, VIDIOC_S_FMT, &mut f).map(|_| ()),
        Err(Errno::EINVAL)
    );
}

#[test]
fn e11_try_fmt_equals_s_fmt_and_is_idempotent() {
    let inputs = [
        invalid_fmt(OUT).pix(),
        pix(640, 480, YUYV),
        pix(641, 479, NV12),
        pix(1920, 1080, MJPG),
        v4l2_pix_format {
            sizeimage: 5 << 20,
            ..pix(1280, 720, MJPG)
        },
        pix(3, 3, fcc(b"YU12")),
        pix(8191, 8191, fcc(b"BGR4")),
        v4l2_pix_format {
            priv_: V4L2_PIX_FMT_PRIV_MAGIC,
            colorspace: V4L2_COLORSPACE_REC709,
            ycbcr_enc: V4L2_YCBCR_ENC_709,
            quantization: V4L2_QUANTIZATION_LIM_RANGE,
            xfer_func: V4L2_XFER_FUNC_709,
            flags: u32::MAX,
            ..pix(1280, 720, fcc(b"RGB4"))
        },
    ];
    for type_ in [OUT, CAP] {
        for p in inputs {
            // Each on a fresh device so no earlier claim fixes the format.
            let mut h = Harness::default_device();
            let id = h.open();
            let t = try_fmt(&mut h, id, type_, p);
            let s = s_fmt_raw(&mut h, id, type_, p);
            assert_eq!(
                bytemuck::bytes_of(&t),
                bytemuck::bytes_of(&s),
                "TRY == S for {p:?}"
            );
            // TRY(TRY(x)) == TRY(x), S(G) == G, TRY(G) == G: across all 48 bytes of pix.
            let g = {
                let mut f = v4l2_format {
                    type_,
                    ..Default::default()
                };
                h.ioctl(id, VIDIOC_G_FMT, &mut f).unwrap();
                f
            };
            assert_eq!(bytemuck::bytes_of(&g), bytemuck::bytes_of(&s));
            let t2 = try_fmt(&mut h, id, type_, t.pix());
            assert_eq!(bytemuck::bytes_of(&t2), bytemuck::bytes_of(&t));
            let s2 = s_fmt_raw(&mut h, id, type_, g.pix());
            assert_eq!(bytemuck::bytes_of(&s2), bytemuck::bytes_of(&g));
        }
    }
}

#[test]
fn e11_try_fmt_has_no_side_effects_and_never_ebusy() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    let other = h.open();
    let before = h.dev.format();
    let gen = h.dev.format_generation();
    for id in [p, other] {
        for type_ in [OUT, CAP] {
            try_fmt(&mut h, id, type_, pix(1280, 720, MJPG));
        }
    }
    assert_eq!(h.dev.format(), before);
    assert_eq!(h.dev.format_generation(), gen);
    // The producer's own TRY shows what it could switch to; S_FMT is what is refused.
    let t = try_fmt(&mut h, p, OUT, pix(1280, 720, MJPG)).pix();
    assert_eq!((t.width, t.height, t.pixelformat), (1280, 720, MJPG));
    assert_eq!(
        h.s_fmt(p, Dir::Output, 1280, 720, MJPG).map(|_| ()),
        Err(Errno::EBUSY)
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn e12_extended_fields_need_priv_magic() {
    let mut h = Harness::default_device();
    let id = h.open();
    // priv != magic: flags/ycbcr_enc/quantization/xfer_func are ignored.
    let garbage = v4l2_pix_format {
        priv_: 0,
        flags: 0xdead,
        ycbcr_enc: V4L2_YCBCR_ENC_709,
        quantization: V4L2_QUANTIZATION_FULL_RANGE,
        xfer_func: V4L2_XFER_FUNC_709,
        ..pix(320, 240, fcc(b"RGB4"))
    };
    for req in [VIDIOC_TRY_FMT, VIDIOC_S_FMT] {
        let mut f = fmt_of(OUT, garbage);
        h.ioctl(id, req, &mut f).unwrap();
        let p = f.pix();
        assert_eq!(p.priv_, V4L2_PIX_FMT_PRIV_MAGIC);
        assert_eq!(
            (p.flags, p.ycbcr_enc, p.quantization, p.xfer_func),
            (0, 0, 0, 0)
        );
    }
    // With the magic they are honoured; undefined values are sanitised.
    let good = v4l2_pix_format {
        priv_: V4L2_PIX_FMT_PRIV_MAGIC,
        xfer_func: V4L2_XFER_FUNC_709,
        quantization: 0xdead,
        ..garbage
    };
    let f = s_fmt_raw(&mut h, id, OUT, good);
    let p = f.pix();
    assert_eq!(p.xfer_func, V4L2_XFER_FUNC_709);
    assert_eq!(p.ycbcr_enc, V4L2_YCBCR_ENC_709);
    assert_eq!(p.quantization, 0);
    assert_eq!(p.flags & !V4L2_PIX_FMT_FLAG_PREMUL_ALPHA, 0);
}

#[test]
fn e13_format_is_global_across_fds() {
    // v4l2-compliance testGlobalFormat: S_FMT(fmt1) on fd1, S_FMT(fmt2) on fd2, then fd1's
    // G_FMT must equal what fd2's S_FMT returned.
    let mut h = Harness::default_device();
    let fd1 = h.open();
    let fd2 = h.open();
    for type_ in [OUT, CAP] {
        let r1 = s_fmt_raw(&mut h, fd1, type_, pix(2, 1, YUYV)).pix();
        let r2 = s_fmt_raw(&mut h, fd2, type_, pix(8192, 8192, fcc(b"UYVY"))).pix();
        let mut g = v4l2_format {
            type_,
            ..Default::default()
        };
        h.ioctl(fd1, VIDIOC_G_FMT, &mut g).unwrap();
        assert_eq!(g.pix(), r2, "fd1 sees what fd2 was told");
        // DESIGN §3.5: fd1 claimed first, so fd2 got fd1's format back instead of EBUSY.
        assert_eq!(r2, r1);
    }
    // Without a competing claim the second fd's setting is what everybody sees.
    h.close(fd1);
    let r = s_fmt_raw(&mut h, fd2, OUT, pix(800, 600, fcc(b"UYVY"))).pix();
    assert_eq!((r.width, r.height, r.pixelformat), (800, 600, fcc(b"UYVY")));
    let fd3 = h.open();
    assert_eq!(h.g_fmt(fd3, Dir::Capture).unwrap(), r);
    assert_eq!(h.g_fmt(fd3, Dir::Output).unwrap(), r);
}

#[test]
fn e14_s_fmt_cannot_change_layout_under_buffers() {
    let mut h = Harness::default_device();
    let fd1 = h.open();
    h.s_fmt(fd1, Dir::Output, 640, 480, YUYV).unwrap();
    h.reqbufs(fd1, Dir::Output, 2).unwrap();
    assert_eq!(
        h.s_fmt(fd1, Dir::Output, 320, 240, YUYV).map(|_| ()),
        Err(Errno::EBUSY)
    );
    // The same layout is fine.
    h.s_fmt(fd1, Dir::Output, 640, 480, YUYV).unwrap();
    // Another fd: DESIGN §3.5 — the current format back, not EBUSY.
    let fd2 = h.open();
    let r = h.s_fmt(fd2, Dir::Output, 320, 240, YUYV).unwrap();
    assert_eq!((r.width, r.height), (640, 480));
    // TRY_FMT is never EBUSY.
    try_fmt(&mut h, fd1, OUT, pix(320, 240, YUYV));
    try_fmt(&mut h, fd2, OUT, pix(320, 240, YUYV));
    assert_eq!(h.dev.format().width, 640);
    // After REQBUFS(0) the owner may change it (fd2's S_FMT also counted as a claim on the
    // format it was given, so it must be gone too).
    h.close(fd2);
    h.reqbufs(fd1, Dir::Output, 0).unwrap();
    assert_eq!(
        h.s_fmt(fd1, Dir::Output, 320, 240, YUYV).unwrap().width,
        320
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn e15_buffers_never_receive_frames_larger_than_them() {
    // No fd can make its own current-generation buffers too small: CREATE_BUFS refuses a
    // sizeimage below the format's and S_FMT is EBUSY while buffers exist (E14).
    let mut h = Harness::default_device();
    let c = h.open();
    let cur = h.g_fmt(c, Dir::Capture).unwrap();
    let mut cb = v4l2_create_buffers {
        count: 2,
        memory: V4L2_MEMORY_MMAP,
        format: fmt_of(CAP, cur),
        ..Default::default()
    };
    h.ioctl(c, VIDIOC_CREATE_BUFS, &mut cb).unwrap();
    assert_eq!(
        h.s_fmt(c, Dir::Capture, 1280, 720, YUYV).map(|_| ()),
        Err(Errno::EBUSY)
    );
    let mut small = v4l2_create_buffers {
        count: 1,
        memory: V4L2_MEMORY_MMAP,
        format: fmt_of(
            CAP,
            v4l2_pix_format {
                sizeimage: cur.sizeimage / 2,
                ..cur
            },
        ),
        ..Default::default()
    };
    assert_eq!(
        h.ioctl(c, VIDIOC_CREATE_BUFS, &mut small).map(|_| ()),
        Err(Errno::EINVAL)
    );
    for i in 0..2 {
        h.mmap(c, Dir::Capture, i).unwrap();
        h.qbuf(c, Dir::Capture, i, 0).unwrap();
    }
    h.streamon(c, Dir::Capture).unwrap();
    // The producer grows the format (its claim is authoritative). DESIGN decision: the
    // consumer's old-generation buffers stay queueable but never get a frame of the new size.
    let p = h.producer(1280, 720, YUYV, 2);
    for n in 0..3 {
        send(&mut h, p, n);
    }
    assert_eq!(h.dqbuf(c, Dir::Capture).map(|_| ()), Err(Errno::EAGAIN));
    for i in 0..2 {
        let b = h.querybuf(c, Dir::Capture, i).unwrap();
        assert!(b.length < h.dev.format().sizeimage);
        assert_eq!(b.bytesused, 0);
    }
    // E15 would make QBUF of such a buffer EINVAL; the design keeps it queueable (it simply
    // never receives a frame until the consumer renegotiates).
    h.streamoff(c, Dir::Capture).unwrap();
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    h.streamon(c, Dir::Capture).unwrap();
    send(&mut h, p, 3);
    assert_eq!(h.dqbuf(c, Dir::Capture).map(|_| ()), Err(Errno::EAGAIN));
    h.dev.check_invariants().unwrap();
}

#[test]
fn e16_producer_colorimetry_reaches_consumers() {
    let mut h = Harness::default_device();
    let p = h.open();
    let want = v4l2_pix_format {
        priv_: V4L2_PIX_FMT_PRIV_MAGIC,
        colorspace: V4L2_COLORSPACE_REC709,
        ycbcr_enc: V4L2_YCBCR_ENC_709,
        quantization: V4L2_QUANTIZATION_LIM_RANGE,
        xfer_func: V4L2_XFER_FUNC_709,
        ..pix(1280, 720, YUYV)
    };
    let set = s_fmt_raw(&mut h, p, OUT, want).pix();
    let c = h.open();
    let got = h.g_fmt(c, Dir::Capture).unwrap();
    assert_eq!(
        (
            got.colorspace,
            got.ycbcr_enc,
            got.quantization,
            got.xfer_func
        ),
        (
            V4L2_COLORSPACE_REC709,
            V4L2_YCBCR_ENC_709,
            V4L2_QUANTIZATION_LIM_RANGE,
            V4L2_XFER_FUNC_709
        )
    );
    assert_eq!(
        got, set,
        "capture mirrors output incl. bytesperline/sizeimage"
    );
    // Colorspace DEFAULT from the producer is never passed on as 0.
    let mut h = Harness::default_device();
    let p = h.open();
    let set = s_fmt_raw(&mut h, p, OUT, pix(640, 480, YUYV)).pix();
    assert_ne!(set.colorspace, 0);
}

#[test]
fn e17_consumer_s_fmt_returns_the_producers_format() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    let c = h.open();
    let want = h.g_fmt(p, Dir::Output).unwrap();
    for req in [VIDIOC_S_FMT, VIDIOC_TRY_FMT] {
        let mut f = fmt_of(CAP, pix(1280, 720, MJPG));
        h.ioctl(c, req, &mut f).unwrap();
        assert_eq!(f.pix(), want, "{:?}", ioctl_name(req));
    }
    assert_eq!(h.g_fmt(c, Dir::Capture).unwrap(), want);
    // The consumer then streams at that format.
    start_consumer(&mut h, c, 2);
    send(&mut h, p, 9);
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(b.bytesused, want.sizeimage);
    assert!(b.bytesused <= b.length);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------
// E.3 ENUM_FRAMESIZES / ENUM_FRAMEINTERVALS
// ---------------------------------------------------------------------------

fn framesize(
    h: &mut Harness,
    id: OpenerId,
    pixel_format: u32,
    index: u32,
) -> Result<v4l2_frmsizeenum, Errno> {
    let s = ff::<v4l2_frmsizeenum>(|s| {
        s.index = index;
        s.pixel_format = pixel_format;
    });
    let mut arg = bytemuck::bytes_of(&s).to_vec();
    raw(h, id, VIDIOC_ENUM_FRAMESIZES, &mut arg)?;
    let s: v4l2_frmsizeenum = bytemuck::pod_read_unaligned(&arg);
    assert_eq!((s.index, s.pixel_format), (index, pixel_format));
    assert_eq!(s.reserved, [0; 2]);
    Ok(s)
}

fn frameival(
    h: &mut Harness,
    id: OpenerId,
    pixel_format: u32,
    width: u32,
    height: u32,
    index: u32,
) -> Result<v4l2_frmivalenum, Errno> {
    let e = ff::<v4l2_frmivalenum>(|e| {
        e.index = index;
        e.pixel_format = pixel_format;
        e.width = width;
        e.height = height;
    });
    let mut arg = bytemuck::bytes_of(&e).to_vec();
    raw(h, id, VIDIOC_ENUM_FRAMEINTERVALS, &mut arg)?;
    let e: v4l2_frmivalenum = bytemuck::pod_read_unaligned(&arg);
    assert_eq!(
        (e.index, e.pixel_format, e.width, e.height),
        (index, pixel_format, width, height)
    );
    assert_eq!(e.reserved, [0; 2]);
    Ok(e)
}

#[test]
fn e18_framesizes_of_unknown_fourcc_is_einval() {
    let mut h = Harness::default_device();
    let id = h.open();
    for f in [0x2020_2020, 0, fcc(b"ABCD")] {
        assert_eq!(framesize(&mut h, id, f, 0).map(|_| ()), Err(Errno::EINVAL));
    }
    // With a producer, only its fourcc is offered to consumers.
    let _p = h.producer(640, 480, YUYV, 2);
    assert_eq!(
        framesize(&mut h, id, 0x2020_2020, 0).map(|_| ()),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        framesize(&mut h, id, MJPG, 0).map(|_| ()),
        Err(Errno::EINVAL)
    );
    framesize(&mut h, id, YUYV, 0).unwrap();
}

fn check_sizes(h: &mut Harness, id: OpenerId, f: u32) -> Vec<(u32, u32)> {
    let first = framesize(h, id, f, 0).unwrap();
    match first.type_ {
        V4L2_FRMSIZE_TYPE_DISCRETE => {
            let mut out = Vec::new();
            for index in 0.. {
                let Ok(s) = framesize(h, id, f, index) else {
                    break;
                };
                assert_eq!(s.type_, V4L2_FRMSIZE_TYPE_DISCRETE, "never mixed");
                let d = s.discrete();
                assert!(d.width > 0 && d.height > 0);
                out.push((d.width, d.height));
            }
            out
        }
        t => {
            assert!(t == V4L2_FRMSIZE_TYPE_STEPWISE || t == V4L2_FRMSIZE_TYPE_CONTINUOUS);
            let s = first.stepwise();
            assert!(s.min_width > 0 && s.min_height > 0);
            assert!(s.step_width > 0 && s.step_height > 0);
            assert!(s.min_width <= s.max_width && s.min_height <= s.max_height);
            assert!(s.step_width <= s.max_width - s.min_width);
            assert!(s.step_height <= s.max_height - s.min_height);
            if t == V4L2_FRMSIZE_TYPE_CONTINUOUS {
                assert_eq!((s.step_width, s.step_height), (1, 1));
            }
            assert_eq!(framesize(h, id, f, 1).map(|_| ()), Err(Errno::EINVAL));
            vec![(s.min_width, s.min_height), (s.max_width, s.max_height)]
        }
    }
}

#[test]
fn e19_framesize_invariants_for_every_format() {
    let mut h = Harness::default_device();
    let id = h.open();
    for d in enum_fmts(&mut h, id, CAP) {
        check_sizes(&mut h, id, d.pixelformat);
        // Every stepwise corner is a size S_FMT keeps unchanged.
        let s = framesize(&mut h, id, d.pixelformat, 0).unwrap().stepwise();
        for (w, hh) in [(s.min_width, s.min_height), (s.max_width, s.max_height)] {
            let t = try_fmt(&mut h, id, CAP, pix(w, hh, d.pixelformat)).pix();
            assert_eq!((t.width, t.height), (w, hh));
        }
    }
    // With a producer the consumer sees one discrete size.
    let _p = h.producer(1280, 720, MJPG, 2);
    assert_eq!(check_sizes(&mut h, id, MJPG), vec![(1280, 720)]);
    assert_eq!(
        framesize(&mut h, id, MJPG, 1).map(|_| ()),
        Err(Errno::EINVAL)
    );
}

fn check_interval(e: &v4l2_frmivalenum) {
    match e.type_ {
        V4L2_FRMIVAL_TYPE_DISCRETE => {
            let d = e.discrete();
            assert!(d.numerator != 0 && d.denominator != 0);
        }
        t => {
            assert!(t == V4L2_FRMIVAL_TYPE_STEPWISE || t == V4L2_FRMIVAL_TYPE_CONTINUOUS);
            let s = e.stepwise();
            for f in [s.min, s.max, s.step] {
                assert!(f.numerator != 0 && f.denominator != 0);
            }
            let secs = |f: v4l2_fract| f.numerator as f64 / f.denominator as f64;
            assert!(secs(s.min) <= secs(s.max));
            assert!(secs(s.step) <= secs(s.max) - secs(s.min));
            if t == V4L2_FRMIVAL_TYPE_CONTINUOUS {
                assert_eq!((s.step.numerator, s.step.denominator), (1, 1));
            }
        }
    }
}

#[test]
fn e20_frameintervals_for_valid_and_invalid_sizes() {
    let mut h = Harness::default_device();
    let id = h.open();
    for d in enum_fmts(&mut h, id, CAP) {
        let f = d.pixelformat;
        let s = framesize(&mut h, id, f, 0).unwrap().stepwise();
        for (w, hh) in [(s.min_width, s.min_height), (s.max_width, s.max_height)] {
            let e = frameival(&mut h, id, f, w, hh, 0).unwrap();
            check_interval(&e);
            if e.type_ != V4L2_FRMIVAL_TYPE_DISCRETE {
                assert_eq!(
                    frameival(&mut h, id, f, w, hh, 1).map(|_| ()),
                    Err(Errno::EINVAL)
                );
            }
        }
        // v4l2-compliance's probes for stepwise sizes: min_width-1 and max_height+1.
        assert_eq!(
            frameival(&mut h, id, f, s.min_width - 1, s.min_height, 0).map(|_| ()),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            frameival(&mut h, id, f, s.max_width, s.max_height + 1, 0).map(|_| ()),
            Err(Errno::EINVAL)
        );
    }
    assert_eq!(
        frameival(&mut h, id, 0x2020_2020, 640, 480, 0).map(|_| ()),
        Err(Errno::EINVAL)
    );
    // Discrete sizes (producer present): W×H works, (W+1)×H does not.
    let p = h.producer(640, 480, YUYV, 2);
    s_parm(&mut h, p, OUT, 1, 25).unwrap();
    for (w, hh) in check_sizes(&mut h, id, YUYV) {
        let e = frameival(&mut h, id, YUYV, w, hh, 0).unwrap();
        check_interval(&e);
        assert_eq!(e.type_, V4L2_FRMIVAL_TYPE_DISCRETE);
        let f = e.discrete();
        assert_eq!((f.numerator, f.denominator), (1, 25), "the producer's rate");
        assert_eq!(
            frameival(&mut h, id, YUYV, w + 1, hh, 0).map(|_| ()),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            frameival(&mut h, id, YUYV, w, hh, 1).map(|_| ()),
            Err(Errno::EINVAL)
        );
    }
}

#[test]
fn e21_enumeration_is_stable() {
    let mut h = Harness::default_device();
    let id = h.open();
    for setup in 0..2 {
        if setup == 1 {
            h.producer(320, 240, RGB3, 2);
        }
        let snapshot = |h: &mut Harness| {
            let fmts: Vec<Vec<u8>> = enum_fmts(h, id, CAP)
                .iter()
                .map(|d| bytemuck::bytes_of(d).to_vec())
                .collect();
            let sizes: Vec<Vec<u8>> = enum_fmts(h, id, CAP)
                .iter()
                .map(|d| bytemuck::bytes_of(&framesize(h, id, d.pixelformat, 0).unwrap()).to_vec())
                .collect();
            (fmts, sizes)
        };
        let a = snapshot(&mut h);
        let b = snapshot(&mut h);
        assert_eq!(a, b);
    }
}

// ---------------------------------------------------------------------------
// E.4 G_PARM / S_PARM
// ---------------------------------------------------------------------------

#[test]
fn e22_parm_only_for_video_types() {
    let mut h = Harness::default_device();
    let id = h.open();
    for t in ALL_TYPES {
        let ok = t == CAP || t == OUT;
        assert_eq!(g_parm(&mut h, id, t).is_ok(), ok, "G_PARM type {t}");
        assert_eq!(s_parm(&mut h, id, t, 1, 30).is_ok(), ok, "S_PARM type {t}");
        if !ok {
            assert_eq!(g_parm(&mut h, id, t).map(|_| ()), Err(Errno::EINVAL));
        }
    }
    // ENUM_FRAMEINTERVALS exists for both, so G/S_PARM must succeed for both.
    frameival(&mut h, id, YUYV, 640, 480, 0).unwrap();
}

#[test]
fn e23_parm_struct_invariants_from_0xff_input() {
    let mut h = Harness::default_device();
    let id = h.open();
    let caps = querycap(&mut h, id).device_caps;
    assert_ne!(caps & V4L2_CAP_READWRITE, 0);
    assert_ne!(caps & V4L2_CAP_STREAMING, 0);
    for t in [CAP, OUT] {
        for req in [VIDIOC_G_PARM, VIDIOC_S_PARM] {
            let mut arg = vec![0xffu8; 204];
            arg[0..4].copy_from_slice(&t.to_le_bytes());
            raw(&mut h, id, req, &mut arg).unwrap();
            let p: v4l2_streamparm = bytemuck::pod_read_unaligned(&arg);
            assert_eq!(p.type_, t);
            if t == CAP {
                let c = p.capture();
                assert_eq!(c.reserved, [0; 4]);
                assert_eq!(c.capability, V4L2_CAP_TIMEPERFRAME, "frame intervals exist");
                assert_eq!(c.capturemode & !V4L2_MODE_HIGHQUALITY, 0);
                assert_eq!(c.extendedmode, 0);
                assert!(
                    c.readbuffers > 0 && c.readbuffers <= 32,
                    "READWRITE+STREAMING"
                );
                assert!(c.timeperframe.numerator != 0 && c.timeperframe.denominator != 0);
            } else {
                let o = p.output();
                assert_eq!(o.reserved, [0; 4]);
                assert_eq!(o.capability, V4L2_CAP_TIMEPERFRAME);
                assert_eq!((o.outputmode, o.extendedmode), (0, 0));
                assert!(o.writebuffers > 0 && o.writebuffers <= 32);
                assert!(o.timeperframe.numerator != 0 && o.timeperframe.denominator != 0);
            }
            assert!(
                p.parm_bytes()[40..].iter().all(|b| *b == 0),
                "union tail zeroed"
            );
        }
    }
}

#[test]
fn e24_zero_fractions_reset_to_the_nominal_rate() {
    let mut h = Harness::default_device();
    let id = h.open();
    let nominal = tpf(&g_parm(&mut h, id, OUT).unwrap());
    assert_eq!(nominal, (1, 30));
    assert_eq!(tpf(&s_parm(&mut h, id, OUT, 1, 25).unwrap()), (1, 25));
    for (n, d) in [(0, 1), (1, 0), (0, 0)] {
        s_parm(&mut h, id, OUT, 1, 25).unwrap();
        let r = s_parm(&mut h, id, OUT, n, d).unwrap();
        assert_eq!(tpf(&r), nominal, "{n}/{d}");
    }
    // The returned interval is the one in use; changing it never changes the format.
    let before = h.dev.format();
    let r = s_parm(&mut h, id, OUT, 2, 60).unwrap();
    assert_eq!(tpf(&r), (1, 30));
    assert_eq!(tpf(&g_parm(&mut h, id, CAP).unwrap()), (1, 30));
    let r = s_parm(&mut h, id, OUT, 1, 1_000_000).unwrap();
    assert_eq!(tpf(&r), (1, 1000), "clamped to the fastest rate");
    assert_eq!(h.dev.format(), before);
}

#[test]
fn e25_s_parm_is_priority_checked_and_sanitised() {
    let mut h = Harness::default_device();
    let a = h.open();
    let b = h.open();
    s_prio(&mut h, a, V4L2_PRIORITY_RECORD).unwrap();
    assert_eq!(s_parm(&mut h, b, OUT, 1, 5).map(|_| ()), Err(Errno::EBUSY));
    g_parm(&mut h, b, OUT).unwrap();
    s_prio(&mut h, a, V4L2_PRIORITY_INTERACTIVE).unwrap();
    let mut p = v4l2_streamparm {
        type_: CAP,
        ..Default::default()
    };
    p.set_capture(&v4l2_captureparm {
        capturemode: 0xff,
        extendedmode: 5,
        timeperframe: v4l2_fract {
            numerator: 1,
            denominator: 15,
        },
        reserved: [9; 4],
        ..Default::default()
    });
    h.ioctl(b, VIDIOC_S_PARM, &mut p).unwrap();
    let c = p.capture();
    assert_eq!(c.extendedmode, 0);
    assert_eq!(c.capturemode & !V4L2_MODE_HIGHQUALITY, 0);
    assert_eq!(c.reserved, [0; 4]);
    assert_eq!(tpf(&p), (1, 15));
}

#[test]
fn e26_producer_sets_the_rate_consumers_report_it() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    assert_eq!(tpf(&s_parm(&mut h, p, OUT, 1, 25).unwrap()), (1, 25));
    let c = h.open();
    let g = g_parm(&mut h, c, CAP).unwrap();
    assert_eq!(tpf(&g), (1, 25));
    assert_ne!(g.capture().capability & V4L2_CAP_TIMEPERFRAME, 0);
    // A consumer's S_PARM gets the producer's interval back, never an error.
    let r = s_parm(&mut h, c, CAP, 1, 60).unwrap();
    assert_eq!(tpf(&r), (1, 25));
    assert_eq!(tpf(&g_parm(&mut h, p, OUT).unwrap()), (1, 25));
    h.dev.check_invariants().unwrap();
}
