//! Rule tests for groups F (REQBUFS / CREATE_BUFS / QUERYBUF / REMOVE_BUFS), G (mmap) and H
//! (QBUF / DQBUF / PREPARE_BUF) of `reference/v4l2-uapi-rules.md`, run against the sans-IO
//! model through the `Harness` test double. Each test is named after the rule id(s) it checks.
//!
//! Rule ids not tested here, and why:
//! * G6, fork half: mappings inherited across fork() are the host's memfd mappings. The model
//!   half (every mapping of a buffer, in any opener, names the same block) is tested.
//! * G7, "munmap with a wrong start or length → EINVAL": kernel VMA rules applied to the host's
//!   mapping; the model only sees munmap of a mapping handle. The MAPPED half is tested.
//! * G8: CUSE cannot mmap. A design-review item: loopcam serves mmap through the preload
//!   library (DESIGN §4), which nothing in core can exercise.
//! * H4: multi-planar only. The device offers no mplane types; the test only checks that the
//!   mplane types are refused (EINVAL).
//! * H12, "userptr pointing at an unmapped page": only the client can dereference the
//!   application's pointers. Null pointer and too-short lengths are tested.
//! * H21, EINTR half, and H22 (a second thread's STREAMOFF while DQBUF sleeps): core never
//!   blocks; signals and threads belong to the host. The model halves (EAGAIN, then a wake-up
//!   of the opener on completion or STREAMOFF, then EINVAL on the retry) are tested.
//! * H10 (fatal queue error → EIO): the model has no fatal error state; a vanishing producer
//!   is not an error (O8). The test checks that QBUF/DQBUF never answer EIO in that case.
//! * H26 (EPIPE after LAST): loopcam never sets LAST (the rule's [LB] advice); the test checks
//!   that no LAST buffer and no EPIPE ever appear, even after the producer stops.

use loopcam_abi::*;
use loopcam_core::ioctl::Outcome;
use loopcam_core::queue::Io;
use loopcam_core::testing::{check_counter, counter_pattern, Harness};
use loopcam_core::{DeviceConfig, Dir, Errno, Node, OpenMode, OpenerId};

const W: u32 = 640;
const HT: u32 = 480;
/// sizeimage of 640x480 YUYV.
const SIZE: u32 = W * HT * 2;
const PAGE: u32 = 4096;
const MIB: u32 = 1 << 20;
const STATE_FLAGS: u32 =
    V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE | V4L2_BUF_FLAG_PREPARED | V4L2_BUF_FLAG_ERROR;
const FRAME_TYPE_FLAGS: u32 = V4L2_BUF_FLAG_KEYFRAME | V4L2_BUF_FLAG_PFRAME | V4L2_BUF_FLAG_BFRAME;

fn page_align(n: u32) -> u32 {
    n.div_ceil(PAGE) * PAGE
}

fn strict() -> Harness {
    Harness::new(DeviceConfig {
        strict_single_reader: true,
        ..DeviceConfig::default()
    })
}

/// A v4l2_buffer for QBUF/PREPARE_BUF/DQBUF of an MMAP buffer.
fn vbuf(dir: Dir, index: u32) -> v4l2_buffer {
    v4l2_buffer {
        index,
        type_: dir.buf_type(),
        memory: V4L2_MEMORY_MMAP,
        field: V4L2_FIELD_NONE,
        ..Default::default()
    }
}

/// A raw buffer ioctl; the struct is updated on success only (A2).
fn bioctl(h: &mut Harness, id: OpenerId, req: u32, b: &mut v4l2_buffer) -> Result<(), Errno> {
    h.ioctl(id, req, b).map(|_| ())
}

fn qbuf_err(h: &mut Harness, id: OpenerId, mut b: v4l2_buffer) -> Option<Errno> {
    bioctl(h, id, VIDIOC_QBUF, &mut b).err()
}

fn prepare_err(h: &mut Harness, id: OpenerId, mut b: v4l2_buffer) -> Option<Errno> {
    bioctl(h, id, VIDIOC_PREPARE_BUF, &mut b).err()
}

fn prepare(h: &mut Harness, id: OpenerId, dir: Dir, index: u32, bytesused: u32) -> v4l2_buffer {
    let mut b = vbuf(dir, index);
    b.bytesused = bytesused;
    bioctl(h, id, VIDIOC_PREPARE_BUF, &mut b).expect("PREPARE_BUF");
    b
}

/// VIDIOC_CREATE_BUFS with the current format and the given `sizeimage`.
fn create_bufs(
    h: &mut Harness,
    id: OpenerId,
    dir: Dir,
    count: u32,
    memory: u32,
    sizeimage: u32,
) -> Result<v4l2_create_buffers, Errno> {
    let mut pix = h.dev.format();
    pix.sizeimage = sizeimage;
    let mut c = v4l2_create_buffers {
        count,
        memory,
        ..Default::default()
    };
    c.format.type_ = dir.buf_type();
    c.format.set_pix(&v4l2_pix_format {
        width: pix.width,
        height: pix.height,
        pixelformat: pix.pixelformat,
        field: V4L2_FIELD_NONE,
        bytesperline: pix.bytesperline,
        sizeimage,
        ..Default::default()
    });
    h.ioctl(id, VIDIOC_CREATE_BUFS, &mut c)?;
    Ok(c)
}

fn reqbufs_raw(h: &mut Harness, id: OpenerId, r: &mut v4l2_requestbuffers) -> Result<(), Errno> {
    h.ioctl(id, VIDIOC_REQBUFS, r).map(|_| ())
}

fn expbuf(h: &mut Harness, id: OpenerId, dir: Dir, index: u32) -> Result<Outcome, Errno> {
    let mut e = v4l2_exportbuffer {
        type_: dir.buf_type(),
        index,
        ..Default::default()
    };
    h.ioctl(id, VIDIOC_EXPBUF, &mut e)
}

/// mmap() with explicit protection and sharing bits.
fn mmap_raw(
    h: &mut Harness,
    id: OpenerId,
    offset: u64,
    length: u64,
    read: bool,
    write: bool,
    shared: bool,
) -> Result<loopcam_core::MapInfo, Errno> {
    let r = h.dev.mmap(id, offset, length, read, write, shared);
    h.sync();
    r
}

/// A producer at 640x480 YUYV with `n` MMAP buffers, mapped, not streaming.
fn producer_idle(h: &mut Harness, n: u32) -> OpenerId {
    let p = h.open();
    h.s_fmt(p, Dir::Output, W, HT, V4L2_PIX_FMT_YUYV).unwrap();
    assert_eq!(h.reqbufs(p, Dir::Output, n).unwrap(), n);
    for i in 0..n {
        h.mmap(p, Dir::Output, i).unwrap();
    }
    p
}

/// Fills output buffer `index` with counter frame `n` and queues it with `flags`/`timecode`.
fn produce_with(
    h: &mut Harness,
    p: OpenerId,
    index: u32,
    n: u64,
    flags: u32,
    timecode: v4l2_timecode,
) -> v4l2_buffer {
    let data = counter_pattern(n, SIZE as usize);
    h.fill(p, index, &data);
    let mut b = vbuf(Dir::Output, index);
    b.bytesused = SIZE;
    b.flags = flags;
    b.timecode = timecode;
    bioctl(h, p, VIDIOC_QBUF, &mut b).expect("producer QBUF");
    b
}

/// The next free producer buffer: one never queued yet, else a dequeued one.
fn free_output(h: &mut Harness, p: OpenerId, n: u64, count: u32) -> u32 {
    if n < count as u64 {
        n as u32
    } else {
        h.dqbuf(p, Dir::Output).expect("output buffer back").index
    }
}

fn state(flags: u32) -> u32 {
    flags & STATE_FLAGS
}

// ---------------------------------------------------------------------------------------------
// F.1 Memory types and capabilities
// ---------------------------------------------------------------------------------------------

#[test]
fn f1_reqbufs_unknown_type_or_memory_is_einval() {
    let mut h = Harness::default_device();
    let fd = h.open();
    let cases = [
        (0, 0, 0),
        (0, V4L2_MEMORY_MMAP, 2),
        (V4L2_BUF_TYPE_VIDEO_CAPTURE, 0, 0),
        (V4L2_BUF_TYPE_VIDEO_CAPTURE, 0, 2),
        (V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_MEMORY_OVERLAY, 2),
        (V4L2_BUF_TYPE_VIDEO_OUTPUT, 5, 2),
        (V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, V4L2_MEMORY_MMAP, 2),
        (V4L2_BUF_TYPE_VIDEO_OVERLAY, V4L2_MEMORY_MMAP, 2),
        (0x80, V4L2_MEMORY_MMAP, 2),
    ];
    for (type_, memory, count) in cases {
        let mut r = v4l2_requestbuffers {
            count,
            type_,
            memory,
            ..Default::default()
        };
        assert_eq!(
            reqbufs_raw(&mut h, fd, &mut r),
            Err(Errno::EINVAL),
            "F1: REQBUFS type {type_} memory {memory}"
        );
    }
    assert!(h.dev.opener_queue(fd).is_none(), "F1: nothing allocated");
    h.dev.check_invariants().unwrap();
}

#[test]
fn f2_count0_reports_identical_capabilities_matching_supported_memory() {
    let mut h = Harness::default_device();
    let fd = h.open();
    let mut caps = Vec::new();
    for memory in [V4L2_MEMORY_MMAP, V4L2_MEMORY_USERPTR, V4L2_MEMORY_DMABUF] {
        for dir in [Dir::Capture, Dir::Output] {
            let mut r = v4l2_requestbuffers {
                count: 0,
                type_: dir.buf_type(),
                memory,
                ..Default::default()
            };
            reqbufs_raw(&mut h, fd, &mut r).expect("F2: REQBUFS(0) is a capability probe");
            assert_eq!(r.count, 0);
            caps.push(r.capabilities);
        }
    }
    assert!(
        caps.windows(2).all(|w| w[0] == w[1]),
        "F2: same caps whatever memory: {caps:x?}"
    );
    let c = caps[0];
    assert_ne!(c & V4L2_BUF_CAP_SUPPORTS_MMAP, 0);
    assert_ne!(
        c & V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS,
        0,
        "F2: vb2 always orphans"
    );
    assert_eq!(c & V4L2_BUF_CAP_SUPPORTS_REQUESTS, 0, "no request API");
    assert_eq!(
        c & V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS,
        0,
        "no cache hints (F4)"
    );
    assert_eq!(c & V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF, 0, "not m2m");
    // "Exactly": every advertised memory type allocates, and nothing else does.
    for (bit, memory) in [
        (V4L2_BUF_CAP_SUPPORTS_MMAP, V4L2_MEMORY_MMAP),
        (V4L2_BUF_CAP_SUPPORTS_USERPTR, V4L2_MEMORY_USERPTR),
        (V4L2_BUF_CAP_SUPPORTS_DMABUF, V4L2_MEMORY_DMABUF),
    ] {
        let c2 = h.open();
        let r = h.reqbufs_mem(c2, Dir::Capture, 2, memory);
        assert_eq!(
            r.is_ok(),
            c & bit != 0,
            "F2: memory {memory} vs cap bit {bit:#x}"
        );
        h.close(c2);
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn f3_userptr_or_dmabuf_imply_mmap() {
    let mut h = Harness::default_device();
    let fd = h.open();
    let other = h
        .reqbufs_mem(fd, Dir::Capture, 0, V4L2_MEMORY_USERPTR)
        .is_ok()
        || h.reqbufs_mem(fd, Dir::Capture, 0, V4L2_MEMORY_DMABUF)
            .is_ok();
    assert!(
        other,
        "loopcam offers USERPTR and DMABUF through the client copy"
    );
    assert_eq!(h.reqbufs_mem(fd, Dir::Capture, 0, V4L2_MEMORY_MMAP), Ok(0));
    assert_eq!(h.reqbufs_mem(fd, Dir::Capture, 2, V4L2_MEMORY_MMAP), Ok(2));
    h.dev.check_invariants().unwrap();
}

#[test]
fn f4_flags_and_reserved_come_back_zero() {
    let mut h = Harness::default_device();
    let fd = h.open();
    // Through the raw dispatcher (which also clears the input tail, A3) ...
    let mut r = v4l2_requestbuffers {
        count: 2,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        capabilities: 0xffff_ffff,
        flags: V4L2_MEMORY_FLAG_NON_COHERENT as u8,
        reserved: [0xff; 3],
    };
    reqbufs_raw(&mut h, fd, &mut r).unwrap();
    assert_eq!(r.flags, 0, "F4: NON_COHERENT cleared without cache hints");
    assert_eq!(r.reserved, [0; 3]);
    // ... and at the typed entry point, where nothing cleared them before.
    let mut r = v4l2_requestbuffers {
        count: 2,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        flags: V4L2_MEMORY_FLAG_NON_COHERENT as u8,
        reserved: [0xaa; 3],
        ..Default::default()
    };
    let now = h.now;
    h.dev.reqbufs(fd, &mut r, now).unwrap();
    h.sync();
    assert_eq!((r.flags, r.reserved), (0, [0; 3]), "F4 at Device::reqbufs");
    // CREATE_BUFS: the u32 flags field likewise.
    let mut c = v4l2_create_buffers {
        count: 1,
        memory: V4L2_MEMORY_MMAP,
        flags: V4L2_MEMORY_FLAG_NON_COHERENT,
        reserved: [0xdead; 5],
        ..Default::default()
    };
    c.format.type_ = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    c.format.set_pix(&v4l2_pix_format {
        sizeimage: SIZE,
        ..Default::default()
    });
    h.dev.create_bufs(fd, &mut c, now).unwrap();
    h.sync();
    assert_eq!(
        (c.flags, c.reserved),
        (0, [0; 5]),
        "F4/F12: CREATE_BUFS flags and reserved"
    );
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// F.2 REQBUFS semantics
// ---------------------------------------------------------------------------------------------

#[test]
fn f5_count_is_adjusted_and_exactly_that_many_exist() {
    let mut h = Harness::default_device();
    let max = h.dev.config().max_buffers;
    let fd = h.open();
    let n = h.reqbufs(fd, Dir::Capture, 100).unwrap();
    assert!(
        n <= 32 && n == max,
        "F5: capped at max_buffers ({max}), got {n}"
    );
    for i in 0..n {
        h.querybuf(fd, Dir::Capture, i)
            .expect("F5: every granted buffer exists");
    }
    assert_eq!(h.querybuf(fd, Dir::Capture, n).err(), Some(Errno::EINVAL));
    // Output with count 1: at least the device minimum (1 for loopcam).
    let p = h.open();
    let n = h.reqbufs(p, Dir::Output, 1).unwrap();
    assert!(n >= 1);
    assert_eq!(h.querybuf(p, Dir::Output, n).err(), Some(Errno::EINVAL));

    // The VIDEO_MAX_FRAME ceiling.
    let mut h = Harness::new(DeviceConfig {
        max_buffers: 32,
        ..DeviceConfig::default()
    });
    let fd = h.open();
    assert_eq!(h.reqbufs(fd, Dir::Capture, 100), Ok(32), "F5: ≤ 32");
    assert_eq!(h.reqbufs(fd, Dir::Capture, 0), Ok(0));

    // Not even the minimum fits → ENOMEM, nothing allocated.
    let mut h = Harness::new(DeviceConfig {
        memory_limit: u64::from(SIZE / 2),
        ..DeviceConfig::default()
    });
    let fd = h.open();
    assert_eq!(
        h.reqbufs(fd, Dir::Capture, 2),
        Err(Errno::ENOMEM),
        "F5: ENOMEM"
    );
    assert!(h.dev.opener_queue(fd).is_none());
    h.dev.check_invariants().unwrap();
}

#[test]
fn f6_re_reqbufs_reallocates_and_restarts_indices() {
    let mut h = Harness::default_device();
    let fd = h.open();
    assert_eq!(h.reqbufs(fd, Dir::Capture, 2), Ok(2));
    h.mmap(fd, Dir::Capture, 1).unwrap();
    assert_eq!(h.reqbufs(fd, Dir::Capture, 3), Ok(3), "F6");
    let mut expect_off = 0;
    for i in 0..3 {
        let b = h
            .querybuf(fd, Dir::Capture, i)
            .expect("F6: QUERYBUF of the new set");
        assert_eq!(b.m_offset(), expect_off, "F6: offsets reassigned from 0");
        assert_eq!(
            b.flags & V4L2_BUF_FLAG_MAPPED,
            0,
            "F6: a fresh set is unmapped"
        );
        expect_off += page_align(b.length);
    }
    // A different memory type replaces the set too.
    assert_eq!(
        h.reqbufs_mem(fd, Dir::Capture, 2, V4L2_MEMORY_USERPTR),
        Ok(2)
    );
    let b = h.querybuf(fd, Dir::Capture, 1).unwrap();
    assert_eq!(b.memory, V4L2_MEMORY_USERPTR, "F6: memory switched");
    assert_eq!(h.querybuf(fd, Dir::Capture, 2).err(), Some(Errno::EINVAL));
    h.dev.check_invariants().unwrap();
}

#[test]
fn f7_count0_frees_everything_including_queued_and_mapped() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    // One buffer holds a frame, the other stays queued.
    h.produce(p, 0, 0).unwrap();
    let maps: Vec<u64> = (0..2)
        .map(|i| h.mmap(c, Dir::Capture, i).unwrap().handle)
        .collect();
    assert_eq!(
        h.reqbufs(c, Dir::Capture, 0),
        Ok(0),
        "F7: REQBUFS(0) while mapped"
    );
    assert!(h.dev.opener_queue(c).is_none(), "F7: all buffers dropped");
    assert_eq!(
        h.querybuf(c, Dir::Capture, 0).err(),
        Some(Errno::EINVAL),
        "F7"
    );
    // The orphaned mappings die quietly (F14).
    for m in maps {
        h.dev.munmap(c, m);
    }
    h.dev.check_invariants().unwrap();
    // Producer side: REQBUFS(0) gives up ownership (F9).
    assert_eq!(h.reqbufs(p, Dir::Output, 0), Ok(0));
    assert_eq!(h.querybuf(p, Dir::Output, 0).err(), Some(Errno::EINVAL));
    let p2 = h.open();
    assert_eq!(
        h.reqbufs(p2, Dir::Output, 2),
        Ok(2),
        "F7: ownership cleared"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn f8_reqbufs_while_streaming_count_gt0_ebusy_count0_implies_streamoff() {
    // DESIGN §3.5 wins over F8/P1 for count 0: REQBUFS(0) implies STREAMOFF. count > 0 while
    // streaming stays EBUSY.
    let mut h = Harness::default_device();
    let c = h.consumer(2);
    assert_eq!(h.reqbufs(c, Dir::Capture, 3), Err(Errno::EBUSY), "F8");
    assert_eq!(
        h.dev.reader_count(),
        1,
        "F8: the failed call changed nothing"
    );
    assert_eq!(h.reqbufs(c, Dir::Capture, 0), Ok(0), "DESIGN §3.5");
    assert_eq!(h.dev.reader_count(), 0, "REQBUFS(0) stopped the stream");
    assert!(h.dev.opener_queue(c).is_none());

    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    assert_eq!(
        h.reqbufs(p, Dir::Output, 4),
        Err(Errno::EBUSY),
        "F8 on OUTPUT"
    );
    assert!(h.dev.status().producer_streaming);
    assert_eq!(h.reqbufs(p, Dir::Output, 0), Ok(0));
    assert!(!h.dev.status().producer_streaming && !h.dev.status().producer);
    // STREAMOFF first, then REQBUFS(n) is fine (the v4l2-compliance order).
    let c = h.consumer(2);
    h.streamoff(c, Dir::Capture).unwrap();
    assert_eq!(h.reqbufs(c, Dir::Capture, 3), Ok(3));
    h.dev.check_invariants().unwrap();
}

/// Every streaming ioctl of a non-owner `fd` on `dir` is EBUSY; QUERYBUF is not (F9, F15).
fn assert_non_owner_busy(h: &mut Harness, fd: OpenerId, dir: Dir) {
    let what = format!("F9 {dir:?}");
    assert_eq!(
        h.reqbufs(fd, dir, 1),
        Err(Errno::EBUSY),
        "{what}: REQBUFS(1)"
    );
    assert_eq!(
        h.reqbufs(fd, dir, 0),
        Err(Errno::EBUSY),
        "{what}: REQBUFS(0)"
    );
    assert_eq!(
        create_bufs(h, fd, dir, 1, V4L2_MEMORY_MMAP, SIZE).err(),
        Some(Errno::EBUSY),
        "{what}: CREATE_BUFS(1)"
    );
    let mut b = vbuf(dir, 0);
    b.bytesused = SIZE;
    assert_eq!(qbuf_err(h, fd, b), Some(Errno::EBUSY), "{what}: QBUF");
    assert_eq!(
        prepare_err(h, fd, b),
        Some(Errno::EBUSY),
        "{what}: PREPARE_BUF"
    );
    assert_eq!(h.dqbuf(fd, dir).err(), Some(Errno::EBUSY), "{what}: DQBUF");
    assert_eq!(h.streamon(fd, dir), Err(Errno::EBUSY), "{what}: STREAMON");
    assert_eq!(h.streamoff(fd, dir), Err(Errno::EBUSY), "{what}: STREAMOFF");
    assert_eq!(
        expbuf(h, fd, dir, 0).err(),
        Some(Errno::EBUSY),
        "{what}: EXPBUF"
    );
    match dir {
        Dir::Output => assert_eq!(h.write(fd, &[0; 16]), Err(Errno::EBUSY), "{what}: write"),
        Dir::Capture => assert_eq!(h.read(fd, 16), Err(Errno::EBUSY), "{what}: read"),
    }
    // Validation comes before the busy check.
    assert_eq!(
        h.reqbufs_mem(fd, dir, 1, 0),
        Err(Errno::EINVAL),
        "{what}: bad memory"
    );
    let mut r = v4l2_requestbuffers {
        count: 1,
        type_: 0,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    assert_eq!(
        reqbufs_raw(h, fd, &mut r),
        Err(Errno::EINVAL),
        "{what}: bad type"
    );
    // QUERYBUF is allowed from anyone (F15).
    let q = h
        .querybuf(fd, dir, 0)
        .expect("F9/F15: QUERYBUF from a non-owner");
    assert_eq!(q.index, 0);
    assert!(
        h.dev.opener_queue(fd).is_none(),
        "{what}: nothing was allocated"
    );
}

#[test]
fn f9_default_mode_second_producer_ebusy_consumers_get_own_queues() {
    let mut h = Harness::default_device();
    let p1 = h.open();
    let p2 = h.open();
    assert_eq!(h.reqbufs(p1, Dir::Output, 1), Ok(1));
    assert_non_owner_busy(&mut h, p2, Dir::Output);
    // The owner's REQBUFS(0) clears ownership.
    assert_eq!(h.reqbufs(p1, Dir::Output, 0), Ok(0));
    assert_eq!(h.reqbufs(p2, Dir::Output, 1), Ok(1), "F9: free again");
    assert_eq!(h.reqbufs(p1, Dir::Output, 1), Err(Errno::EBUSY));
    // So does the owner's close.
    h.close(p2);
    assert_eq!(
        h.reqbufs(p1, Dir::Output, 2),
        Ok(2),
        "F9: close released ownership"
    );

    // F10 (a), the documented choice: every consumer has a queue of its own.
    let c1 = h.open();
    let c2 = h.open();
    assert_eq!(h.reqbufs(c1, Dir::Capture, 4), Ok(4));
    assert_eq!(
        h.reqbufs(c2, Dir::Capture, 2),
        Ok(2),
        "DESIGN §3.1: many consumers"
    );
    h.qbuf(c1, Dir::Capture, 0, 0).unwrap();
    let b = h.querybuf(c2, Dir::Capture, 0).unwrap();
    assert_eq!(state(b.flags), 0, "c1's QBUF is not visible in c2's queue");
    assert_eq!(
        h.querybuf(c2, Dir::Capture, 2).err(),
        Some(Errno::EINVAL),
        "own count"
    );
    h.streamon(c1, Dir::Capture).unwrap();
    h.streamon(c2, Dir::Capture).unwrap();
    assert_eq!(h.dev.reader_count(), 2);
    assert_eq!(h.reqbufs(c2, Dir::Capture, 0), Ok(0));
    assert_eq!(
        h.dev.reader_count(),
        1,
        "c2's REQBUFS(0) did not disturb c1"
    );
    assert_eq!(
        h.dev.opener_queue(c1),
        Some((Dir::Capture, Io::Streaming, true))
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn f9_strict_single_reader_second_capture_fd_is_ebusy() {
    let mut h = strict();
    let c1 = h.open();
    let c2 = h.open();
    assert_eq!(h.reqbufs(c1, Dir::Capture, 2), Ok(2));
    assert_non_owner_busy(&mut h, c2, Dir::Capture);
    // Owner REQBUFS(0) → the other fd may allocate; then the first one is the outsider.
    assert_eq!(h.reqbufs(c1, Dir::Capture, 0), Ok(0));
    assert_eq!(h.reqbufs(c2, Dir::Capture, 2), Ok(2), "F9");
    assert_eq!(h.reqbufs(c1, Dir::Capture, 1), Err(Errno::EBUSY));
    h.close(c2);
    assert_eq!(
        h.reqbufs(c1, Dir::Capture, 1),
        Ok(1),
        "F9: owner close frees the queue"
    );
    // The output side keeps its own single owner.
    let p1 = h.open();
    let p2 = h.open();
    assert_eq!(h.reqbufs(p1, Dir::Output, 2), Ok(2));
    assert_eq!(h.reqbufs(p2, Dir::Output, 2), Err(Errno::EBUSY));
    h.dev.check_invariants().unwrap();
}

#[test]
fn f10_one_fd_serves_one_stream() {
    let mut h = Harness::default_device();
    let fd = h.open();
    assert_eq!(h.reqbufs(fd, Dir::Output, 2), Ok(2));
    assert_eq!(
        h.reqbufs(fd, Dir::Capture, 2),
        Err(Errno::EBUSY),
        "F10: REQBUFS other type"
    );
    assert_eq!(
        h.streamon(fd, Dir::Capture),
        Err(Errno::EBUSY),
        "F10: STREAMON other type"
    );
    assert_eq!(
        create_bufs(&mut h, fd, Dir::Capture, 1, V4L2_MEMORY_MMAP, SIZE).err(),
        Some(Errno::EBUSY),
        "F10: CREATE_BUFS other type"
    );
    assert_eq!(
        h.s_fmt(fd, Dir::Capture, W, HT, V4L2_PIX_FMT_YUYV).err(),
        Some(Errno::EBUSY)
    );
    assert_eq!(
        h.querybuf(fd, Dir::Output, 1).unwrap().index,
        1,
        "own queue intact"
    );
    // Once freed, the fd may serve the other direction.
    assert_eq!(h.reqbufs(fd, Dir::Output, 0), Ok(0));
    assert_eq!(h.reqbufs(fd, Dir::Capture, 2), Ok(2));
    assert_eq!(h.reqbufs(fd, Dir::Output, 2), Err(Errno::EBUSY));
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// F.3 CREATE_BUFS
// ---------------------------------------------------------------------------------------------

#[test]
fn f11_create_bufs_count0_validates_only_and_is_never_ebusy() {
    let mut h = Harness::default_device();
    let p1 = h.open();
    let p2 = h.open();
    assert_eq!(h.reqbufs(p1, Dir::Output, 3), Ok(3));
    let c = create_bufs(&mut h, p2, Dir::Output, 0, V4L2_MEMORY_MMAP, SIZE)
        .expect("F11: count 0 from a non-owner is not EBUSY");
    assert_eq!(c.index, 3, "F11: index = the owner's buffer count");
    assert_eq!(c.count, 0);
    assert!(h.dev.opener_queue(p2).is_none(), "F11: nothing allocated");
    assert_eq!(
        create_bufs(&mut h, p2, Dir::Output, 0, 0, SIZE).err(),
        Some(Errno::EINVAL),
        "F11: bad memory"
    );
    assert_eq!(
        create_bufs(&mut h, p2, Dir::Output, 0, V4L2_MEMORY_OVERLAY, SIZE).err(),
        Some(Errno::EINVAL)
    );
    let mut bad = v4l2_create_buffers {
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    bad.format.type_ = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
    assert_eq!(
        h.ioctl(p2, VIDIOC_CREATE_BUFS, &mut bad).err(),
        Some(Errno::EINVAL),
        "F11: bad type"
    );
    // A consumer's own queue in the default mode.
    let c1 = h.open();
    assert_eq!(h.reqbufs(c1, Dir::Capture, 2), Ok(2));
    let c = create_bufs(&mut h, c1, Dir::Capture, 0, V4L2_MEMORY_MMAP, SIZE).unwrap();
    assert_eq!(c.index, 2);

    // Strict single-reader: the capture queue has one owner like the output queue.
    let mut h = strict();
    let c1 = h.open();
    let c2 = h.open();
    assert_eq!(h.reqbufs(c1, Dir::Capture, 3), Ok(3));
    let c =
        create_bufs(&mut h, c2, Dir::Capture, 0, V4L2_MEMORY_MMAP, SIZE).expect("F11: never EBUSY");
    assert_eq!(
        c.index, 3,
        "F11: index = the owner's buffer count (strict mode)"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn f12_create_bufs_appends_and_checks_sizeimage_and_memory() {
    let mut h = Harness::default_device();
    let fd = h.open();
    assert_eq!(h.reqbufs(fd, Dir::Capture, 2), Ok(2));
    assert_eq!(
        create_bufs(&mut h, fd, Dir::Capture, 1, V4L2_MEMORY_MMAP, SIZE / 2).err(),
        Some(Errno::EINVAL),
        "F12: sizeimage/2"
    );
    assert_eq!(
        create_bufs(&mut h, fd, Dir::Capture, 1, V4L2_MEMORY_MMAP, 0).err(),
        Some(Errno::EINVAL),
        "F12: sizeimage 0"
    );
    assert_eq!(
        create_bufs(&mut h, fd, Dir::Capture, 1, V4L2_MEMORY_USERPTR, SIZE).err(),
        Some(Errno::EINVAL),
        "F12: other memory while buffers exist"
    );
    let c = create_bufs(&mut h, fd, Dir::Capture, 2, V4L2_MEMORY_MMAP, SIZE + MIB).unwrap();
    assert_eq!(
        (c.index, c.count),
        (2, 2),
        "F12: appended after the existing 2"
    );
    assert_eq!(c.reserved, [0; 5]);
    for i in 2..4 {
        let b = h.querybuf(fd, Dir::Capture, i).unwrap();
        assert!(
            b.length >= SIZE + MIB,
            "F12: length ≥ the requested sizeimage"
        );
    }
    assert!(h.querybuf(fd, Dir::Capture, 0).unwrap().length >= SIZE);
    assert_eq!(h.querybuf(fd, Dir::Capture, 4).err(), Some(Errno::EINVAL));
    // Offsets of appended buffers stay distinct.
    let offs: Vec<u32> = (0..4)
        .map(|i| h.querybuf(fd, Dir::Capture, i).unwrap().m_offset())
        .collect();
    assert!(
        offs.windows(2).all(|w| w[0] < w[1]),
        "G2: unique cookies: {offs:?}"
    );
    // On a fresh fd CREATE_BUFS starts at index 0.
    let fd2 = h.open();
    let c = create_bufs(&mut h, fd2, Dir::Capture, 1, V4L2_MEMORY_MMAP, SIZE).unwrap();
    assert_eq!((c.index, c.count), (0, 1));
    h.dev.check_invariants().unwrap();
}

#[test]
fn f13_max_num_buffers_then_enobufs() {
    let mut h = Harness::default_device();
    let fd = h.open();
    let probe = create_bufs(&mut h, fd, Dir::Capture, 0, V4L2_MEMORY_MMAP, SIZE).unwrap();
    // F13 is conditional on the capability, which loopcam does not report: v4l-utils before
    // 1.26 (Debian 12 ships 1.22) still treats `max_num_buffers` as reserved and fails if it
    // is not zero. The limit still applies: past max_buffers, CREATE_BUFS is ENOBUFS.
    assert_eq!(
        probe.capabilities & V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS,
        0
    );
    assert_eq!(probe.max_num_buffers, 0, "reserved for old v4l-utils");
    let m = h.dev.config().max_buffers;
    let c = create_bufs(&mut h, fd, Dir::Capture, m, V4L2_MEMORY_MMAP, SIZE).unwrap();
    assert_eq!(c.count, m);
    assert_eq!(
        create_bufs(&mut h, fd, Dir::Capture, 1, V4L2_MEMORY_MMAP, SIZE).err(),
        Some(Errno::ENOBUFS),
        "F13"
    );
    // A request past the maximum is clamped, not refused.
    let fd2 = h.open();
    let c = create_bufs(&mut h, fd2, Dir::Capture, m + 5, V4L2_MEMORY_MMAP, SIZE).unwrap();
    assert_eq!(c.count, m);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// F.4 / F.5 / F.6
// ---------------------------------------------------------------------------------------------

#[test]
fn f14_orphaned_bufs_reported_and_freeing_while_mapped_works() {
    let mut h = Harness::default_device();
    let fd = h.open();
    let mut r = v4l2_requestbuffers {
        count: 2,
        type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    reqbufs_raw(&mut h, fd, &mut r).unwrap();
    assert_ne!(r.capabilities & V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS, 0);
    let m0 = h.mmap(fd, Dir::Output, 0).unwrap();
    let m1 = h.mmap(fd, Dir::Output, 1).unwrap();
    // Re-REQBUFS while mapped: allowed because ORPHANED_BUFS is reported.
    assert_eq!(
        h.reqbufs(fd, Dir::Output, 3),
        Ok(3),
        "F14: re-REQBUFS while mapped"
    );
    for i in 0..3 {
        let b = h.querybuf(fd, Dir::Output, i).unwrap();
        assert_eq!(
            b.flags & V4L2_BUF_FLAG_MAPPED,
            0,
            "old mappings do not count"
        );
    }
    h.dev.munmap(fd, m0.handle);
    let m2 = h.mmap(fd, Dir::Output, 0).unwrap();
    assert_eq!(
        h.reqbufs(fd, Dir::Output, 0),
        Ok(0),
        "F14: REQBUFS(0) while mapped"
    );
    // Stale munmaps are harmless.
    h.dev.munmap(fd, m1.handle);
    h.dev.munmap(fd, m2.handle);
    h.dev.munmap(fd, 0xdead_beef);
    h.dev.check_invariants().unwrap();
}

#[test]
fn f15_querybuf_fields_bounds_and_any_fd() {
    let mut h = Harness::default_device();
    let fd = h.open();
    assert_eq!(
        h.querybuf(fd, Dir::Capture, 0).err(),
        Some(Errno::EINVAL),
        "F15: before buffers exist"
    );
    assert_eq!(h.reqbufs(fd, Dir::Capture, 3), Ok(3));
    for i in 0..3 {
        // Junk in the output-only tail must not come back (A3 clears after `length`).
        let mut b = v4l2_buffer {
            index: i,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            reserved2: 0xdead,
            request_fd: 77,
            ..Default::default()
        };
        bioctl(&mut h, fd, VIDIOC_QUERYBUF, &mut b).unwrap();
        assert_eq!(b.index, i);
        assert_eq!(b.type_, V4L2_BUF_TYPE_VIDEO_CAPTURE);
        assert_eq!(b.memory, V4L2_MEMORY_MMAP, "F15: the current I/O method");
        assert_eq!(b.length, SIZE);
        assert_eq!(b.m_offset() % PAGE, 0);
        assert_eq!(b.field, V4L2_FIELD_NONE);
        assert_eq!((b.reserved2, b.request_fd), (0, 0));
    }
    assert_eq!(
        h.querybuf(fd, Dir::Capture, 3).err(),
        Some(Errno::EINVAL),
        "F15: index = count"
    );
    assert_eq!(
        h.querybuf(fd, Dir::Capture, 3 + 32).err(),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        h.querybuf(fd, Dir::Output, 0).err(),
        Some(Errno::EINVAL),
        "F15: wrong type (no output buffers anywhere)"
    );
    let mut b = v4l2_buffer {
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
        ..Default::default()
    };
    assert_eq!(
        bioctl(&mut h, fd, VIDIOC_QUERYBUF, &mut b),
        Err(Errno::EINVAL)
    );
    // Non-owner of the producer's queue.
    let p = h.open();
    assert_eq!(h.reqbufs(p, Dir::Output, 2), Ok(2));
    let other = h.open();
    let b = h
        .querybuf(other, Dir::Output, 1)
        .expect("F15: no ownership check");
    assert_eq!(
        b.m_offset(),
        h.querybuf(p, Dir::Output, 1).unwrap().m_offset()
    );
    // Non-owner of the strict-mode capture queue.
    let mut h = strict();
    let c1 = h.open();
    let c2 = h.open();
    assert_eq!(h.reqbufs(c1, Dir::Capture, 2), Ok(2));
    let b = h
        .querybuf(c2, Dir::Capture, 1)
        .expect("F15: strict capture queue, non-owner");
    assert_eq!(b.index, 1);
    assert_eq!(h.querybuf(c2, Dir::Capture, 2).err(), Some(Errno::EINVAL));
    h.dev.check_invariants().unwrap();
}

#[test]
fn f16_querybuf_state_flags_through_the_state_machine() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 3), Ok(3));
    let fresh = h.querybuf(c, Dir::Capture, 0).unwrap();
    assert_eq!(state(fresh.flags), 0, "F16: fresh buffer is dequeued");
    assert_eq!(fresh.sequence, 0);
    assert_eq!(fresh.timestamp, timeval::default());
    assert!(fresh.length > 0);
    assert_eq!(fresh.flags & V4L2_BUF_FLAG_MAPPED, 0);
    let ts_bits = V4L2_BUF_FLAG_TIMESTAMP_MASK | V4L2_BUF_FLAG_TSTAMP_SRC_MASK;
    assert_eq!(
        fresh.flags & ts_bits,
        V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
        "F16/H25"
    );

    let m = h.mmap(c, Dir::Capture, 0).unwrap();
    let q = |h: &mut Harness, i| h.querybuf(c, Dir::Capture, i).unwrap().flags;
    assert_ne!(
        q(&mut h, 0) & V4L2_BUF_FLAG_MAPPED,
        0,
        "F16: MAPPED after mmap"
    );
    prepare(&mut h, c, Dir::Capture, 1, 0);
    assert_eq!(
        state(q(&mut h, 1)),
        V4L2_BUF_FLAG_PREPARED,
        "F16: PREPARED only"
    );
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    assert_eq!(
        state(q(&mut h, 0)),
        V4L2_BUF_FLAG_QUEUED,
        "F16: QUEUED only"
    );
    h.streamon(c, Dir::Capture).unwrap();
    assert_eq!(
        state(q(&mut h, 0)),
        V4L2_BUF_FLAG_QUEUED,
        "F16: in use by the device"
    );
    h.produce(p, 0, 0).unwrap();
    assert_eq!(state(q(&mut h, 0)), V4L2_BUF_FLAG_DONE, "F16: DONE only");
    assert_ne!(q(&mut h, 0) & V4L2_BUF_FLAG_MAPPED, 0);
    h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(state(q(&mut h, 0)), 0, "F16: dequeued");
    h.dev.munmap(c, m.handle);
    assert_eq!(
        q(&mut h, 0) & V4L2_BUF_FLAG_MAPPED,
        0,
        "F16: MAPPED gone after munmap"
    );
    for i in 0..3 {
        assert_eq!(q(&mut h, i) & ts_bits, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC);
    }

    // DONE|ERROR: a frame larger than the consumer's buffer is never written into it (O3).
    let big = create_bufs(&mut h, p, Dir::Output, 1, V4L2_MEMORY_MMAP, SIZE + PAGE).unwrap();
    h.fill(p, big.index, &counter_pattern(1, (SIZE + 100) as usize));
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    h.qbuf(p, Dir::Output, big.index, SIZE + 100).unwrap();
    assert_eq!(
        state(q(&mut h, 0)),
        V4L2_BUF_FLAG_DONE | V4L2_BUF_FLAG_ERROR,
        "F16: DONE|ERROR"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn f17_remove_bufs_is_not_implemented() {
    let mut h = Harness::default_device();
    let fd = h.open();
    let mut rm = v4l2_remove_buffers {
        index: 0,
        count: 1,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        ..Default::default()
    };
    assert_eq!(
        h.ioctl(fd, VIDIOC_REMOVE_BUFS, &mut rm).err(),
        Some(Errno::ENOTTY)
    );
    let c = create_bufs(&mut h, fd, Dir::Capture, 4, V4L2_MEMORY_MMAP, SIZE).unwrap();
    assert_eq!(
        c.capabilities & V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS,
        0,
        "F17: cap not set"
    );
    let mut r = v4l2_requestbuffers {
        count: 0,
        type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    let p = h.open();
    reqbufs_raw(&mut h, p, &mut r).unwrap();
    assert_eq!(r.capabilities & V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS, 0);
    for (index, count, type_) in [(1, 2, V4L2_BUF_TYPE_VIDEO_CAPTURE), (0, 0, 0)] {
        let mut rm = v4l2_remove_buffers {
            index,
            count,
            type_,
            ..Default::default()
        };
        assert_eq!(
            h.ioctl(fd, VIDIOC_REMOVE_BUFS, &mut rm).err(),
            Some(Errno::ENOTTY),
            "F17: ENOTTY without the cap"
        );
    }
    // Nothing was removed.
    assert_eq!(h.querybuf(fd, Dir::Capture, 1).unwrap().index, 1);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// G. mmap / munmap
// ---------------------------------------------------------------------------------------------

#[test]
fn g1_mmap_with_querybuf_offset_and_length_maps_the_whole_buffer() {
    let mut h = Harness::default_device();
    let p = h.open();
    h.s_fmt(p, Dir::Output, W, HT, V4L2_PIX_FMT_YUYV).unwrap();
    assert_eq!(h.reqbufs(p, Dir::Output, 2), Ok(2));
    let mut blocks = Vec::new();
    for i in 0..2 {
        let b = h.querybuf(p, Dir::Output, i).unwrap();
        let m = mmap_raw(
            &mut h,
            p,
            b.m_offset().into(),
            b.length.into(),
            true,
            true,
            true,
        )
        .expect("G1");
        assert_eq!(m.index, i);
        assert_eq!(m.length, u64::from(b.length));
        assert_eq!(m.dir, Dir::Output);
        let block = m.block.expect("G1: an output mapping has memory at once");
        assert!(
            h.mem[&block].len() >= b.length as usize,
            "G1: the entire buffer"
        );
        blocks.push(block);
    }
    assert_ne!(blocks[0], blocks[1]);
    // Write through the first mapping, read back through a second one (G6).
    let data = counter_pattern(7, SIZE as usize);
    h.mem.get_mut(&blocks[1]).unwrap()[..SIZE as usize].copy_from_slice(&data);
    let again = h.mmap(p, Dir::Output, 1).unwrap();
    assert_eq!(again.block, Some(blocks[1]), "G1/G6: same memory");
    assert_eq!(check_counter(&h.mem[&blocks[1]][..SIZE as usize]), Some(7));
    h.dev.check_invariants().unwrap();
}

#[test]
fn g2_offsets_are_unique_page_aligned_cookies_of_buffer_starts() {
    let mut h = Harness::default_device();
    for dir in [Dir::Output, Dir::Capture] {
        let fd = h.open();
        assert_eq!(h.reqbufs(fd, dir, 4), Ok(4));
        let bufs: Vec<v4l2_buffer> = (0..4).map(|i| h.querybuf(fd, dir, i).unwrap()).collect();
        for (i, b) in bufs.iter().enumerate() {
            assert_eq!(b.m_offset() % PAGE, 0, "G2: page aligned");
            if i > 0 {
                let prev = &bufs[i - 1];
                assert_eq!(
                    b.m_offset(),
                    prev.m_offset() + page_align(prev.length),
                    "G2: packed like vb2"
                );
            }
        }
        let b = bufs[1];
        let (off, len) = (u64::from(b.m_offset()), u64::from(b.length));
        assert!(b.length > PAGE);
        let write = dir == Dir::Output;
        for bad in [
            off + u64::from(PAGE),
            off + 0xdead_beef,
            off + 1,
            off + len / 2,
        ] {
            assert_eq!(
                mmap_raw(&mut h, fd, bad, u64::from(PAGE), true, write, true).err(),
                Some(Errno::EINVAL),
                "G2: {dir:?} offset {bad:#x} is no buffer start"
            );
        }
        let m = mmap_raw(&mut h, fd, off, len, true, write, true).unwrap();
        assert_eq!(m.index, 1, "G2: the cookie selects the whole buffer");
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn g3_length_up_to_page_aligned_buffer_length() {
    let mut h = Harness::default_device();
    let p = h.open();
    // 320x240 YUYV = 153600 bytes: not a page multiple.
    let f = h
        .s_fmt(p, Dir::Output, 320, 240, V4L2_PIX_FMT_YUYV)
        .unwrap();
    assert_ne!(f.sizeimage % PAGE, 0);
    assert_eq!(h.reqbufs(p, Dir::Output, 1), Ok(1));
    let b = h.querybuf(p, Dir::Output, 0).unwrap();
    let off = u64::from(b.m_offset());
    let aligned = u64::from(page_align(b.length));
    for ok in [u64::from(PAGE), u64::from(b.length), aligned] {
        assert!(
            mmap_raw(&mut h, p, off, ok, true, true, true).is_ok(),
            "G3: length {ok}"
        );
    }
    for bad in [aligned + 1, aligned + u64::from(PAGE), 0] {
        assert_eq!(
            mmap_raw(&mut h, p, off, bad, true, true, true).err(),
            Some(Errno::EINVAL),
            "G3: length {bad}"
        );
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn g4_map_private_and_wrong_protection_are_refused() {
    let mut h = Harness::default_device();
    let p = h.open();
    assert_eq!(h.reqbufs(p, Dir::Output, 1), Ok(1));
    let b = h.querybuf(p, Dir::Output, 0).unwrap();
    let (off, len) = (u64::from(b.m_offset()), u64::from(b.length));
    assert_eq!(
        mmap_raw(&mut h, p, off, len, true, true, false).err(),
        Some(Errno::EINVAL),
        "G4: MAP_PRIVATE"
    );
    assert_eq!(
        mmap_raw(&mut h, p, off, len, true, false, true).err(),
        Some(Errno::EINVAL),
        "G4: output needs PROT_WRITE"
    );
    assert!(
        mmap_raw(&mut h, p, off, len, false, true, true).is_ok(),
        "write-only output mapping"
    );

    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 1), Ok(1));
    let b = h.querybuf(c, Dir::Capture, 0).unwrap();
    let (off, len) = (u64::from(b.m_offset()), u64::from(b.length));
    assert_eq!(
        mmap_raw(&mut h, c, off, len, true, true, false).err(),
        Some(Errno::EINVAL),
        "G4: MAP_PRIVATE"
    );
    assert_eq!(
        mmap_raw(&mut h, c, off, len, false, true, true).err(),
        Some(Errno::EINVAL),
        "G4: capture needs PROT_READ"
    );
    assert!(
        mmap_raw(&mut h, c, off, len, true, false, true).is_ok(),
        "G4: PROT_READ on capture"
    );
    assert!(
        mmap_raw(&mut h, c, off, len, true, true, true).is_ok(),
        "G4: RW always accepted"
    );

    // VFS rule: an fd not opened for writing cannot map shared+writable.
    let ro = h.open_as(Node::Combined, OpenMode::RDONLY).unwrap();
    assert_eq!(h.reqbufs(ro, Dir::Capture, 1), Ok(1));
    let b = h.querybuf(ro, Dir::Capture, 0).unwrap();
    let (off, len) = (u64::from(b.m_offset()), u64::from(b.length));
    assert_eq!(
        mmap_raw(&mut h, ro, off, len, true, true, true).err(),
        Some(Errno::EACCES),
        "G4: EACCES"
    );
    assert!(mmap_raw(&mut h, ro, off, len, true, false, true).is_ok());
    h.dev.check_invariants().unwrap();
}

#[test]
fn g5_mmap_needs_an_mmap_queue() {
    let mut h = Harness::default_device();
    let fd = h.open();
    assert_eq!(
        mmap_raw(&mut h, fd, 0, u64::from(SIZE), true, true, true).err(),
        Some(Errno::EINVAL),
        "G5: no buffers"
    );
    for memory in [V4L2_MEMORY_USERPTR, V4L2_MEMORY_DMABUF] {
        assert_eq!(h.reqbufs_mem(fd, Dir::Capture, 2, memory), Ok(2));
        assert_eq!(
            mmap_raw(&mut h, fd, 0, u64::from(SIZE), true, true, true).err(),
            Some(Errno::EINVAL),
            "G5: memory {memory}"
        );
    }
    assert_eq!(h.reqbufs(fd, Dir::Capture, 0), Ok(0));
    assert_eq!(
        mmap_raw(&mut h, fd, 0, u64::from(SIZE), true, true, true).err(),
        Some(Errno::EINVAL),
        "G5: after REQBUFS(0)"
    );
    // read() emulation active → EBUSY.
    assert_eq!(h.read(fd, 16), Err(Errno::EAGAIN));
    assert_eq!(h.dev.opener_queue(fd).map(|q| q.1), Some(Io::File));
    assert_eq!(
        mmap_raw(&mut h, fd, 0, u64::from(SIZE), true, false, true).err(),
        Some(Errno::EBUSY),
        "G5: file I/O"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn g6_all_mappings_of_a_frame_see_the_same_memory() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c1 = h.consumer(2);
    let c2 = h.consumer(2);
    let pm = h.mmap(p, Dir::Output, 0).unwrap().block.unwrap();
    let pm2 = h.mmap(p, Dir::Output, 0).unwrap().block.unwrap();
    assert_eq!(pm, pm2, "G6: two mappings of one output buffer, one memory");
    // The producer writes through its mapping; both consumers see those bytes.
    h.produce(p, 0, 42).unwrap();
    let b1 = h.dqbuf(c1, Dir::Capture).unwrap();
    let b2 = h.dqbuf(c2, Dir::Capture).unwrap();
    assert_eq!(h.mapped[&(c1, b1.index)], pm, "G6/DESIGN §3.4: zero copy");
    assert_eq!(h.mapped[&(c2, b2.index)], pm);
    for (c, b) in [(c1, b1), (c2, b2)] {
        let v = h.view(c, b.index, b.bytesused as usize).unwrap();
        assert_eq!(
            check_counter(&v),
            Some(42),
            "G6: producer data visible to consumers"
        );
    }
    // A second mapping of a capture buffer made after DQBUF sees the same frame.
    let again = h.mmap(c1, Dir::Capture, b1.index).unwrap();
    assert_eq!(
        again.block,
        Some(pm),
        "G6: same memory through a new mapping"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn g7_munmap_clears_mapped_only_after_the_last_mapping() {
    let mut h = Harness::default_device();
    let fd = h.open();
    assert_eq!(h.reqbufs(fd, Dir::Capture, 2), Ok(2));
    let a = h.mmap(fd, Dir::Capture, 1).unwrap();
    let b = h.mmap(fd, Dir::Capture, 1).unwrap();
    assert_ne!(a.handle, b.handle);
    let mapped = |h: &mut Harness| {
        h.querybuf(fd, Dir::Capture, 1).unwrap().flags & V4L2_BUF_FLAG_MAPPED != 0
    };
    assert!(mapped(&mut h));
    h.dev.munmap(fd, a.handle);
    assert!(mapped(&mut h), "G7: one mapping left");
    h.dev.munmap(fd, b.handle);
    assert!(!mapped(&mut h), "G7: QUERYBUF clears MAPPED after munmap");
    // munmap of something no longer (or never) mapped is a no-op.
    h.dev.munmap(fd, b.handle);
    h.dev.munmap(fd, 999_999);
    assert!(!mapped(&mut h));
    assert_eq!(
        h.querybuf(fd, Dir::Capture, 0).unwrap().flags & V4L2_BUF_FLAG_MAPPED,
        0
    );
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// H.1 Argument validation
// ---------------------------------------------------------------------------------------------

#[test]
fn h1_h4_type_other_than_the_queue_type_is_einval() {
    let mut h = Harness::default_device();
    let p = h.open();
    assert_eq!(h.reqbufs(p, Dir::Output, 2), Ok(2));
    let b = vbuf(Dir::Capture, 0);
    assert_eq!(
        qbuf_err(&mut h, p, b),
        Some(Errno::EINVAL),
        "H1: QBUF(CAPTURE) on OUTPUT queue"
    );
    assert_eq!(
        prepare_err(&mut h, p, b),
        Some(Errno::EINVAL),
        "H1: PREPARE_BUF"
    );
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    h.reqbufs(p, Dir::Output, 0).unwrap(); // no producer: the check is on the type alone
    let mut b = vbuf(Dir::Output, 0);
    b.bytesused = SIZE;
    assert_eq!(
        qbuf_err(&mut h, c, b),
        Some(Errno::EINVAL),
        "H1: QBUF(OUTPUT) on CAPTURE queue"
    );
    assert_eq!(prepare_err(&mut h, c, b), Some(Errno::EINVAL));
    // H4: there are no multi-planar queues at all.
    for t in [
        V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
        V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
        0,
    ] {
        let mut b = vbuf(Dir::Capture, 0);
        b.type_ = t;
        assert_eq!(
            qbuf_err(&mut h, c, b),
            Some(Errno::EINVAL),
            "H1/H4: type {t}"
        );
        assert_eq!(prepare_err(&mut h, c, b), Some(Errno::EINVAL));
        assert_eq!(bioctl(&mut h, c, VIDIOC_DQBUF, &mut b), Err(Errno::EINVAL));
    }
    assert_eq!(state(h.querybuf(c, Dir::Capture, 0).unwrap().flags), 0);
    h.dev.check_invariants().unwrap();
}

#[test]
fn h2_index_out_of_range_is_einval() {
    let mut h = Harness::default_device();
    for dir in [Dir::Capture, Dir::Output] {
        let fd = h.open();
        let n = h.reqbufs(fd, dir, 3).unwrap();
        for index in [n, n + 32, u32::MAX] {
            let mut b = vbuf(dir, index);
            b.bytesused = SIZE;
            assert_eq!(
                qbuf_err(&mut h, fd, b),
                Some(Errno::EINVAL),
                "H2: QBUF {dir:?} {index}"
            );
            assert_eq!(
                prepare_err(&mut h, fd, b),
                Some(Errno::EINVAL),
                "H2: PREPARE_BUF"
            );
            assert_eq!(
                h.querybuf(fd, dir, index).err(),
                Some(Errno::EINVAL),
                "H2: QUERYBUF"
            );
        }
        h.close(fd);
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn h3_memory_other_than_the_queue_memory_is_einval() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    for memory in [V4L2_MEMORY_USERPTR, V4L2_MEMORY_DMABUF, V4L2_MEMORY_OVERLAY] {
        let mut b = vbuf(Dir::Capture, 0);
        b.memory = memory;
        assert_eq!(
            qbuf_err(&mut h, c, b),
            Some(Errno::EINVAL),
            "H3: QBUF memory {memory}"
        );
        assert_eq!(
            prepare_err(&mut h, c, b),
            Some(Errno::EINVAL),
            "H3: PREPARE_BUF"
        );
    }
    // DESIGN §3.6 leniency: memory 0 means the queue's memory.
    let mut b = vbuf(Dir::Capture, 0);
    b.memory = 0;
    bioctl(&mut h, c, VIDIOC_QBUF, &mut b).expect("memory 0 accepted");
    assert_eq!(b.memory, V4L2_MEMORY_MMAP);
    h.streamon(c, Dir::Capture).unwrap();
    let mut d = vbuf(Dir::Capture, 0);
    d.memory = V4L2_MEMORY_USERPTR;
    assert_eq!(
        bioctl(&mut h, c, VIDIOC_DQBUF, &mut d),
        Err(Errno::EINVAL),
        "H3 on DQBUF"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn h5_no_buffers_is_einval() {
    let mut h = Harness::default_device();
    let fd = h.open();
    for dir in [Dir::Capture, Dir::Output] {
        assert_eq!(
            qbuf_err(&mut h, fd, vbuf(dir, 0)),
            Some(Errno::EINVAL),
            "H5: QBUF {dir:?}"
        );
        assert_eq!(
            prepare_err(&mut h, fd, vbuf(dir, 0)),
            Some(Errno::EINVAL),
            "H5: PREPARE_BUF"
        );
        assert_eq!(h.dqbuf(fd, dir).err(), Some(Errno::EINVAL), "H5: DQBUF");
    }
    assert_eq!(h.reqbufs(fd, Dir::Capture, 2), Ok(2));
    assert_eq!(h.reqbufs(fd, Dir::Capture, 0), Ok(0));
    assert_eq!(
        qbuf_err(&mut h, fd, vbuf(Dir::Capture, 0)),
        Some(Errno::EINVAL),
        "H5: after REQBUFS(0)"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn h6_h7_output_bytesused_over_length_and_field_alternate_are_einval() {
    let mut h = Harness::default_device();
    let p = producer_idle(&mut h, 2);
    let len = h.querybuf(p, Dir::Output, 0).unwrap().length;
    let mut b = vbuf(Dir::Output, 0);
    b.bytesused = len + 1;
    assert_eq!(qbuf_err(&mut h, p, b), Some(Errno::EINVAL), "H6: QBUF");
    assert_eq!(
        prepare_err(&mut h, p, b),
        Some(Errno::EINVAL),
        "H6: PREPARE_BUF"
    );
    let mut b = vbuf(Dir::Output, 0);
    b.bytesused = SIZE;
    b.field = V4L2_FIELD_ALTERNATE;
    assert_eq!(qbuf_err(&mut h, p, b), Some(Errno::EINVAL), "H7: QBUF");
    assert_eq!(
        prepare_err(&mut h, p, b),
        Some(Errno::EINVAL),
        "H7: PREPARE_BUF"
    );
    assert_eq!(
        state(h.querybuf(p, Dir::Output, 0).unwrap().flags),
        0,
        "nothing queued"
    );
    h.qbuf(p, Dir::Output, 0, len)
        .expect("bytesused == length is fine");
    // USERPTR: the length in the struct is the one that counts.
    let u = h.open();
    h.reqbufs(p, Dir::Output, 0).unwrap();
    assert_eq!(h.reqbufs_mem(u, Dir::Output, 2, V4L2_MEMORY_USERPTR), Ok(2));
    let mut b = v4l2_buffer {
        index: 0,
        type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
        memory: V4L2_MEMORY_USERPTR,
        bytesused: SIZE + 1,
        length: SIZE,
        field: V4L2_FIELD_NONE,
        ..Default::default()
    };
    b.set_m_userptr(0x7f00_0000_0000);
    assert_eq!(
        qbuf_err(&mut h, u, b),
        Some(Errno::EINVAL),
        "H6: USERPTR bytesused > length"
    );
    b.bytesused = SIZE;
    assert_eq!(qbuf_err(&mut h, u, b), None);
    h.dev.check_invariants().unwrap();
}

#[test]
fn h8_buffer_not_dequeued_is_einval() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    assert_eq!(
        h.qbuf(c, Dir::Capture, 0, 0).err(),
        Some(Errno::EINVAL),
        "H8: queued twice"
    );
    assert_eq!(
        prepare_err(&mut h, c, vbuf(Dir::Capture, 0)),
        Some(Errno::EINVAL),
        "H8/H18"
    );
    h.streamon(c, Dir::Capture).unwrap();
    h.produce(p, 0, 0).unwrap();
    assert_eq!(
        state(h.querybuf(c, Dir::Capture, 0).unwrap().flags),
        V4L2_BUF_FLAG_DONE
    );
    assert_eq!(
        h.qbuf(c, Dir::Capture, 0, 0).err(),
        Some(Errno::EINVAL),
        "H8: done buffer"
    );
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(b.index, 0);
    h.qbuf(c, Dir::Capture, 0, 0)
        .expect("dequeued again → QBUF fine");
    // Output: a buffer on the incoming queue (not streaming).
    h.close(p);
    let p = producer_idle(&mut h, 2);
    h.qbuf(p, Dir::Output, 1, SIZE).unwrap();
    assert_eq!(
        h.qbuf(p, Dir::Output, 1, SIZE).err(),
        Some(Errno::EINVAL),
        "H8: output"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn h9_request_fd_without_request_support() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    let mut b = vbuf(Dir::Capture, 0);
    b.flags = V4L2_BUF_FLAG_REQUEST_FD;
    b.request_fd = -1;
    assert_eq!(
        qbuf_err(&mut h, c, b),
        Some(Errno::EBADR),
        "H9: QBUF → EBADR"
    );
    assert_eq!(
        prepare_err(&mut h, c, b),
        Some(Errno::EINVAL),
        "H9: PREPARE_BUF → EINVAL"
    );
    assert_eq!(state(h.querybuf(c, Dir::Capture, 0).unwrap().flags), 0);
    h.dev.check_invariants().unwrap();
}

#[test]
fn h10_producer_loss_is_not_a_fatal_queue_error() {
    // The model has no fatal error state: a producer vanishing mid-stream (O8) must never turn
    // into EIO for consumers; their queues keep working.
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    h.produce(p, 0, 0).unwrap();
    h.close(p);
    let b = h
        .dqbuf(c, Dir::Capture)
        .expect("a delivered frame survives its producer");
    assert_eq!(
        h.dqbuf(c, Dir::Capture).err(),
        Some(Errno::EAGAIN),
        "H10/O8: EAGAIN, not EIO"
    );
    h.qbuf(c, Dir::Capture, b.index, 0)
        .expect("H10: QBUF is not EIO");
    h.streamoff(c, Dir::Capture).unwrap();
    h.streamon(c, Dir::Capture).unwrap();
    h.dev.check_invariants().unwrap();
}

#[test]
fn h11_file_io_or_another_owner_is_ebusy() {
    let mut h = Harness::default_device();
    let r = h.open();
    assert_eq!(
        h.read(r, 64),
        Err(Errno::EAGAIN),
        "read() starts the emulation"
    );
    for i in 0..3 {
        assert_eq!(
            qbuf_err(&mut h, r, vbuf(Dir::Capture, i)),
            Some(Errno::EBUSY),
            "H11: reader QBUF"
        );
        assert_eq!(
            prepare_err(&mut h, r, vbuf(Dir::Capture, i)),
            Some(Errno::EBUSY)
        );
    }
    let w = h.open();
    assert_eq!(h.write(w, &counter_pattern(0, SIZE as usize)), Ok(SIZE));
    let mut b = vbuf(Dir::Output, 0);
    b.bytesused = SIZE;
    assert_eq!(
        qbuf_err(&mut h, w, b),
        Some(Errno::EBUSY),
        "H11: writer QBUF"
    );
    let other = h.open();
    assert_eq!(
        qbuf_err(&mut h, other, b),
        Some(Errno::EBUSY),
        "H11: non-owner QBUF"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn h12_userptr_and_dmabuf_arguments_are_checked() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(
        h.reqbufs_mem(c, Dir::Capture, 2, V4L2_MEMORY_USERPTR),
        Ok(2)
    );
    let ubuf = |ptr: u64, length: u32| {
        let mut b = v4l2_buffer {
            index: 0,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_USERPTR,
            length,
            ..Default::default()
        };
        b.set_m_userptr(ptr);
        b
    };
    assert_eq!(
        qbuf_err(&mut h, c, ubuf(0, SIZE)),
        Some(Errno::EINVAL),
        "H12: userptr 0"
    );
    assert_eq!(
        qbuf_err(&mut h, c, ubuf(0x1000_0000, SIZE - 1)),
        Some(Errno::EINVAL),
        "H12: short"
    );
    assert_eq!(
        prepare_err(&mut h, c, ubuf(0x1000_0000, SIZE / 2)),
        Some(Errno::EINVAL)
    );
    assert_eq!(qbuf_err(&mut h, c, ubuf(0x1000_0000, SIZE)), None);

    let d = h.open();
    assert_eq!(h.reqbufs_mem(d, Dir::Capture, 2, V4L2_MEMORY_DMABUF), Ok(2));
    let dbuf = |index: u32, fd: i32, length: u32| {
        let mut b = v4l2_buffer {
            index,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_DMABUF,
            length,
            ..Default::default()
        };
        b.set_m_fd(fd);
        b
    };
    assert_eq!(
        qbuf_err(&mut h, d, dbuf(0, -1, 0)),
        Some(Errno::EINVAL),
        "H12: bad fd"
    );
    assert_eq!(
        qbuf_err(&mut h, d, dbuf(0, 9, SIZE / 2)),
        Some(Errno::EINVAL),
        "H12: small dmabuf"
    );
    assert_eq!(
        qbuf_err(&mut h, d, dbuf(0, 9, 0)),
        None,
        "H12: length 0 = the dmabuf's size"
    );
    assert_eq!(qbuf_err(&mut h, d, dbuf(1, 10, SIZE)), None);
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// H.2 / H.3 Flags on input, QBUF result
// ---------------------------------------------------------------------------------------------

#[test]
fn h13_requeue_the_exact_struct_dqbuf_returned() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    for n in 0..6u64 {
        let i = free_output(&mut h, p, n, 2);
        h.produce(p, i, n).unwrap();
        let mut b = h.dqbuf(c, Dir::Capture).unwrap();
        assert_ne!(b.flags & V4L2_BUF_FLAG_MAPPED, 0);
        assert_ne!(b.flags & V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, 0);
        let before = b;
        bioctl(&mut h, c, VIDIOC_QBUF, &mut b).expect("H13: capture re-queue of the DQBUF struct");
        assert_eq!(b.index, before.index);
        assert_eq!(state(b.flags), V4L2_BUF_FLAG_QUEUED);
    }
    // The producer re-queues the very struct DQBUF gave it, too.
    for n in 6..12u64 {
        let mut b = vbuf(Dir::Output, 0);
        bioctl(&mut h, p, VIDIOC_DQBUF, &mut b).unwrap();
        let data = counter_pattern(n, SIZE as usize);
        h.fill(p, b.index, &data);
        assert_eq!(b.bytesused, SIZE);
        bioctl(&mut h, p, VIDIOC_QBUF, &mut b).expect("H13: output re-queue of the DQBUF struct");
        let got = h.dqbuf(c, Dir::Capture).unwrap();
        let v = h.view(c, got.index, got.bytesused as usize).unwrap();
        assert_eq!(check_counter(&v), Some(n));
        h.qbuf(c, Dir::Capture, got.index, 0).unwrap();
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn h13_state_bits_masked_and_frame_bits_kept_on_output_only() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    h.mmap(c, Dir::Capture, 0).unwrap();
    // Capture: everything the app may not set is dropped, including frame-type bits and LAST.
    let junk = V4L2_BUF_FLAG_MAPPED
        | V4L2_BUF_FLAG_QUEUED
        | V4L2_BUF_FLAG_DONE
        | V4L2_BUF_FLAG_ERROR
        | V4L2_BUF_FLAG_PREPARED
        | V4L2_BUF_FLAG_IN_REQUEST
        | V4L2_BUF_FLAG_KEYFRAME
        | V4L2_BUF_FLAG_TIMECODE
        | V4L2_BUF_FLAG_LAST
        | V4L2_BUF_FLAG_NO_CACHE_INVALIDATE
        | V4L2_BUF_FLAG_NO_CACHE_CLEAN
        | V4L2_BUF_FLAG_TIMESTAMP_COPY
        | V4L2_BUF_FLAG_TSTAMP_SRC_SOE;
    for i in 0..2 {
        let mut b = vbuf(Dir::Capture, i);
        b.flags = junk;
        bioctl(&mut h, c, VIDIOC_QBUF, &mut b).expect("H13: ignored, not rejected");
        let mapped = if i == 0 { V4L2_BUF_FLAG_MAPPED } else { 0 };
        assert_eq!(
            b.flags,
            V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | mapped,
            "H13: capture flags recomputed"
        );
    }
    h.streamon(c, Dir::Capture).unwrap();
    // Output: KEYFRAME and TIMECODE (with the timecode) survive; the rest is recomputed.
    let tc = v4l2_timecode {
        type_: V4L2_TC_TYPE_25FPS,
        frames: 3,
        seconds: 4,
        minutes: 5,
        hours: 6,
        ..Default::default()
    };
    let out = produce_with(&mut h, p, 0, 0, junk, tc);
    let kept = V4L2_BUF_FLAG_KEYFRAME | V4L2_BUF_FLAG_TIMECODE;
    assert_eq!(out.flags & kept, kept, "H13: output frame bits kept");
    assert_eq!(
        out.flags
            & (V4L2_BUF_FLAG_ERROR
                | V4L2_BUF_FLAG_PREPARED
                | V4L2_BUF_FLAG_LAST
                | V4L2_BUF_FLAG_IN_REQUEST
                | V4L2_BUF_FLAG_NO_CACHE_CLEAN
                | V4L2_BUF_FLAG_NO_CACHE_INVALIDATE
                | V4L2_BUF_FLAG_TSTAMP_SRC_SOE),
        0,
        "H13: output junk dropped"
    );
    assert_eq!(
        out.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK,
        V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC
    );
    let got = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(
        got.flags & kept,
        kept,
        "H13: the consumer sees the producer's frame bits"
    );
    assert_eq!(got.timecode, tc, "H13: and its timecode");
    assert_eq!(got.flags & (V4L2_BUF_FLAG_LAST | V4L2_BUF_FLAG_ERROR), 0);
    h.dev.check_invariants().unwrap();
}

#[test]
fn h14_qbuf_result_is_queued_with_zero_sequence_and_timestamp() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    // Run some frames so that buffers carry sequence numbers and timestamps.
    let mut last = 0;
    for n in 0..4u64 {
        let i = free_output(&mut h, p, n, 2);
        h.advance(10_000_000);
        h.produce(p, i, n).unwrap();
        let b = h.dqbuf(c, Dir::Capture).unwrap();
        last = b.index;
        if n < 3 {
            h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
        }
    }
    // Capture: the one buffer still dequeued.
    let q = h.querybuf(c, Dir::Capture, last).unwrap();
    assert_eq!(state(q.flags), 0);
    assert!(q.sequence > 0 && q.timestamp != timeval::default());
    let mut b = vbuf(Dir::Capture, q.index);
    b.sequence = 99;
    b.timestamp = timeval {
        tv_sec: 5,
        tv_usec: 6,
    };
    b.reserved2 = 7;
    b.request_fd = 8;
    bioctl(&mut h, c, VIDIOC_QBUF, &mut b).unwrap();
    for (what, r) in [
        ("QBUF", b),
        ("QUERYBUF", h.querybuf(c, Dir::Capture, q.index).unwrap()),
    ] {
        assert_eq!(
            state(r.flags),
            V4L2_BUF_FLAG_QUEUED,
            "H14 {what}: QUEUED only"
        );
        assert_ne!(r.flags & V4L2_BUF_FLAG_MAPPED, 0, "H14 {what}: MAPPED kept");
        assert_eq!(r.sequence, 0, "H14 {what}");
        assert_eq!(r.timestamp, timeval::default(), "H14 {what}");
        assert_eq!((r.reserved2, r.request_fd), (0, 0), "H14 {what}");
        assert_eq!(
            (r.length, r.m_offset()),
            (q.length, q.m_offset()),
            "H14 {what}"
        );
    }
    // Output on a streaming queue: the hand-off may complete it at once, but the QBUF result
    // still shows it queued (v4l2-compliance fails on DONE after QBUF).
    let ob = h.dqbuf(p, Dir::Output).unwrap();
    assert!(ob.sequence > 0 || ob.timestamp != timeval::default());
    let r = produce_with(&mut h, p, ob.index, 9, 0, v4l2_timecode::default());
    assert_eq!(
        state(r.flags),
        V4L2_BUF_FLAG_QUEUED,
        "H14: output QBUF result"
    );
    assert_eq!(
        (r.sequence, r.timestamp),
        (0, timeval::default()),
        "H14: output"
    );
    assert_eq!(r.bytesused, SIZE, "H14: effective bytesused");
    assert_eq!((r.length, r.m_offset()), (ob.length, ob.m_offset()));
    assert_ne!(r.flags & V4L2_BUF_FLAG_MAPPED, 0);
    // Output on an idle queue: QUERYBUF shows it QUEUED with zero sequence/timestamp.
    let p2 = {
        h.close(p);
        producer_idle(&mut h, 2)
    };
    h.qbuf(p2, Dir::Output, 1, SIZE).unwrap();
    let r = h.querybuf(p2, Dir::Output, 1).unwrap();
    assert_eq!(state(r.flags), V4L2_BUF_FLAG_QUEUED);
    assert_eq!((r.sequence, r.timestamp), (0, timeval::default()));
    h.dev.check_invariants().unwrap();
}

#[test]
fn h15_output_bytesused_zero_means_the_whole_buffer() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    let len = h.querybuf(p, Dir::Output, 0).unwrap().length;
    h.fill(p, 0, &counter_pattern(3, SIZE as usize));
    let r = h
        .qbuf(p, Dir::Output, 0, 0)
        .expect("H15: bytesused 0 is not an error");
    assert_eq!(r.bytesused, len, "H15: effective bytesused");
    let o = h.dqbuf(p, Dir::Output).unwrap();
    assert_eq!(o.bytesused, len, "H15: DQBUF shows bytesused == length");
    let got = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(got.bytesused, len);
    assert_eq!(
        check_counter(&h.view(c, got.index, SIZE as usize).unwrap()),
        Some(3)
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn h16_output_field_any_becomes_the_format_field() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    let fmt_field = h.g_fmt(p, Dir::Output).unwrap().field;
    assert_eq!(fmt_field, V4L2_FIELD_NONE);
    h.fill(p, 0, &counter_pattern(0, SIZE as usize));
    let mut b = vbuf(Dir::Output, 0);
    b.bytesused = SIZE;
    b.field = V4L2_FIELD_ANY;
    bioctl(&mut h, p, VIDIOC_QBUF, &mut b).expect("H16: field ANY accepted");
    let o = h.dqbuf(p, Dir::Output).unwrap();
    assert_eq!(
        o.field, fmt_field,
        "H16: concrete field on the dequeued output buffer"
    );
    let got = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(got.field, fmt_field);
    h.dev.check_invariants().unwrap();
}

#[test]
fn h17_qbuf_before_streamon_waits_then_flows() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 4), Ok(4));
    for i in 0..4 {
        h.mmap(c, Dir::Capture, i).unwrap();
        h.qbuf(c, Dir::Capture, i, 0)
            .expect("H17: capture QBUF before STREAMON");
    }
    h.streamon(c, Dir::Capture).unwrap();
    let p = producer_idle(&mut h, 4);
    for i in 0..4u32 {
        produce_with(&mut h, p, i, u64::from(i), 0, v4l2_timecode::default());
        assert_eq!(
            state(h.querybuf(p, Dir::Output, i).unwrap().flags),
            V4L2_BUF_FLAG_QUEUED,
            "H17: waits"
        );
    }
    assert_eq!(
        h.dqbuf(c, Dir::Capture).err(),
        Some(Errno::EAGAIN),
        "nothing before STREAMON"
    );
    h.streamon(p, Dir::Output).unwrap();
    for n in 0..4u64 {
        let b = h
            .dqbuf(c, Dir::Capture)
            .expect("H17: frames flow after STREAMON");
        assert_eq!(
            check_counter(&h.view(c, b.index, SIZE as usize).unwrap()),
            Some(n)
        );
    }
    // After STREAMON a QBUF goes straight to the device.
    let o = h.dqbuf(p, Dir::Output).unwrap();
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    produce_with(&mut h, p, o.index, 4, 0, v4l2_timecode::default());
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(
        check_counter(&h.view(c, b.index, SIZE as usize).unwrap()),
        Some(4)
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn h18_prepare_buf_marks_prepared_and_freezes_the_arguments() {
    let mut h = Harness::default_device();
    let p = producer_idle(&mut h, 3);
    let prepared = prepare(&mut h, p, Dir::Output, 0, 1000);
    assert_eq!(state(prepared.flags), V4L2_BUF_FLAG_PREPARED, "H18");
    let q = h.querybuf(p, Dir::Output, 0).unwrap();
    assert_eq!(
        state(q.flags),
        V4L2_BUF_FLAG_PREPARED,
        "H18: PREPARED, not QUEUED"
    );
    assert_eq!(
        prepare_err(&mut h, p, vbuf(Dir::Output, 0)),
        Some(Errno::EINVAL),
        "H18: twice"
    );
    // QBUF of a prepared buffer ignores new bytesused garbage.
    let mut b = vbuf(Dir::Output, 0);
    b.bytesused = 0xdead_beef;
    bioctl(&mut h, p, VIDIOC_QBUF, &mut b).expect("H18: prepared values win");
    assert_eq!(b.bytesused, 1000, "H18: bytesused from prepare time");
    assert_eq!(state(b.flags), V4L2_BUF_FLAG_QUEUED);
    assert_eq!(
        prepare_err(&mut h, p, vbuf(Dir::Output, 0)),
        Some(Errno::EINVAL),
        "H18: queued"
    );
    // The prepared payload size is what consumers get.
    let c = h.consumer(2);
    h.streamon(p, Dir::Output).unwrap();
    let got = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(got.bytesused, 1000);
    // Capture buffers can be prepared too.
    let c2 = h.open();
    assert_eq!(h.reqbufs(c2, Dir::Capture, 2), Ok(2));
    let b = prepare(&mut h, c2, Dir::Capture, 1, 0);
    assert_eq!(state(b.flags), V4L2_BUF_FLAG_PREPARED);
    h.qbuf(c2, Dir::Capture, 1, 0).unwrap();
    assert_eq!(
        state(h.querybuf(c2, Dir::Capture, 1).unwrap().flags),
        V4L2_BUF_FLAG_QUEUED
    );
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// H.4 DQBUF
// ---------------------------------------------------------------------------------------------

#[test]
fn h19_dqbuf_wrong_type_non_owner_or_file_io() {
    let mut h = Harness::default_device();
    let c = h.consumer(2);
    assert_eq!(
        h.dqbuf(c, Dir::Output).err(),
        Some(Errno::EINVAL),
        "H19: wrong type"
    );
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    h.produce(p, 0, 0).unwrap();
    let other = h.open();
    assert_eq!(
        h.dqbuf(other, Dir::Output).err(),
        Some(Errno::EBUSY),
        "H19: non-owner"
    );
    let r = h.open();
    assert_eq!(h.read(r, 10).map(|v| v.len()), Err(Errno::EAGAIN));
    assert_eq!(
        h.dqbuf(r, Dir::Capture).err(),
        Some(Errno::EBUSY),
        "H19: file I/O"
    );
    // The owner still gets its buffer.
    assert_eq!(h.dqbuf(p, Dir::Output).unwrap().index, 0);
    let mut s = strict();
    let c1 = s.consumer(2);
    let c2 = s.open();
    assert_eq!(
        s.dqbuf(c2, Dir::Capture).err(),
        Some(Errno::EBUSY),
        "H19: strict non-owner"
    );
    let _ = c1;
    h.dev.check_invariants().unwrap();
}

#[test]
fn h20_dqbuf_when_not_streaming_is_einval() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    h.qbuf(c, Dir::Capture, 1, 0).unwrap();
    assert_eq!(
        h.dqbuf(c, Dir::Capture).err(),
        Some(Errno::EINVAL),
        "H20: capture"
    );
    let p = producer_idle(&mut h, 2);
    h.qbuf(p, Dir::Output, 0, SIZE).unwrap();
    assert_eq!(
        h.dqbuf(p, Dir::Output).err(),
        Some(Errno::EINVAL),
        "H20: output"
    );
    // After STREAMOFF too.
    h.streamon(c, Dir::Capture).unwrap();
    h.streamoff(c, Dir::Capture).unwrap();
    assert_eq!(
        h.dqbuf(c, Dir::Capture).err(),
        Some(Errno::EINVAL),
        "H20: after STREAMOFF"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn h21_nothing_done_is_eagain_and_completion_wakes_the_opener() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    assert_eq!(
        h.dqbuf(c, Dir::Capture).err(),
        Some(Errno::EAGAIN),
        "H21: capture EAGAIN"
    );
    assert_eq!(
        h.dqbuf(p, Dir::Output).err(),
        Some(Errno::EAGAIN),
        "H21: output EAGAIN"
    );
    h.dev.take_wakeups();
    h.produce(p, 0, 0).unwrap();
    let woken = h.dev.take_wakeups();
    assert!(woken.contains(&c), "H21: the waiting consumer is woken");
    assert!(woken.contains(&p), "H21: the waiting producer is woken");
    assert!(h.dqbuf(c, Dir::Capture).is_ok(), "H21: the retry succeeds");
    assert!(h.dqbuf(p, Dir::Output).is_ok());
    h.dev.check_invariants().unwrap();
}

#[test]
fn h22_streamoff_wakes_a_waiting_dqbuf_which_then_fails_einval() {
    // Model half of v4l2-compliance's testBlockingWait: STREAMOFF never waits, wakes the
    // opener, and the host's retry of the blocked DQBUF gets EINVAL.
    let mut h = Harness::default_device();
    for dir in [Dir::Capture, Dir::Output] {
        let fd = h.open();
        assert_eq!(h.reqbufs(fd, dir, 2), Ok(2));
        h.streamon(fd, dir)
            .expect("I3: STREAMON with nothing queued");
        assert_eq!(
            h.dqbuf(fd, dir).err(),
            Some(Errno::EAGAIN),
            "the DQBUF would block"
        );
        h.dev.take_wakeups();
        h.streamoff(fd, dir)
            .expect("H22: STREAMOFF completes at once");
        assert!(
            h.dev.take_wakeups().contains(&fd),
            "H22: the waiter is woken"
        );
        assert_eq!(
            h.dqbuf(fd, dir).err(),
            Some(Errno::EINVAL),
            "H22: and fails EINVAL"
        );
        h.close(fd);
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn h23_done_list_is_fifo_in_frame_order_whatever_the_queue_order() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 4), Ok(4));
    for i in [3, 1, 0, 2] {
        h.mmap(c, Dir::Capture, i).unwrap();
        h.qbuf(c, Dir::Capture, i, 0).unwrap();
    }
    h.streamon(c, Dir::Capture).unwrap();
    let mut order = Vec::new();
    let mut frames = Vec::new();
    let mut held = Vec::new();
    for n in 0..10u64 {
        let i = free_output(&mut h, p, n, 2);
        h.produce(p, i, n).unwrap();
        // Drain every other frame, re-queueing in reverse order.
        if n % 2 == 1 {
            while let Ok(b) = h.dqbuf(c, Dir::Capture) {
                order.push(b.index);
                frames.push(check_counter(&h.view(c, b.index, SIZE as usize).unwrap()).unwrap());
                held.push(b.index);
            }
            while let Some(i) = held.pop() {
                h.qbuf(c, Dir::Capture, i, 0).unwrap();
            }
        }
    }
    assert_eq!(frames, (0..10).collect::<Vec<_>>(), "H23: frame order");
    assert_eq!(
        &order[..4],
        &[3, 1, 0, 2],
        "H23: completion follows the queue order"
    );
    h.dev.check_invariants().unwrap();
}

/// Checks every H24/H25 bullet on one dequeued buffer.
fn check_h24(
    b: &v4l2_buffer,
    dir: Dir,
    count: u32,
    fmt_field: u32,
    prev_seq: &mut Option<u32>,
    window: (u64, u64),
) {
    assert!(b.index < count, "H24: index");
    assert_eq!(b.type_, dir.buf_type(), "H24: type");
    assert_eq!(b.memory, V4L2_MEMORY_MMAP, "H24: memory");
    assert_eq!(
        b.flags & (V4L2_BUF_FLAG_DONE | V4L2_BUF_FLAG_QUEUED),
        0,
        "H24: DONE/QUEUED cleared"
    );
    assert_eq!(
        b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK,
        V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
        "H25"
    );
    assert_eq!(
        b.flags & V4L2_BUF_FLAG_TSTAMP_SRC_MASK,
        V4L2_BUF_FLAG_TSTAMP_SRC_EOF,
        "H25"
    );
    assert!(
        (b.flags & FRAME_TYPE_FLAGS).count_ones() <= 1,
        "H24: one frame type at most"
    );
    assert_eq!(b.flags & V4L2_BUF_FLAG_LAST, 0, "H26: LAST never used");
    if b.flags & V4L2_BUF_FLAG_TIMECODE == 0 {
        assert_eq!(b.timecode, v4l2_timecode::default());
    }
    assert!(
        b.bytesused > 0 && b.bytesused <= b.length,
        "H24: 0 < bytesused ≤ length"
    );
    assert!(
        b.field != V4L2_FIELD_ANY && b.field != V4L2_FIELD_ALTERNATE,
        "H24: field"
    );
    assert_eq!(b.field, fmt_field, "H24: the format's field");
    assert_ne!(b.timestamp, timeval::default(), "H24: timestamp non-zero");
    let ns = b.timestamp.tv_sec as u64 * 1_000_000_000 + b.timestamp.tv_usec as u64 * 1000;
    assert!(
        ns >= window.0 / 1000 * 1000 && ns <= window.1,
        "H25: timestamp in [{}, {}]: {ns}",
        window.0,
        window.1
    );
    match *prev_seq {
        None => assert_eq!(b.sequence, 0, "H24: the count starts at 0 after STREAMON"),
        Some(p) => assert!(
            b.sequence > p,
            "H24: strictly increasing ({p} → {})",
            b.sequence
        ),
    }
    *prev_seq = Some(b.sequence);
    assert_eq!(
        (b.reserved2, b.request_fd),
        (0, 0),
        "H24: reserved2, request_fd"
    );
}

#[test]
fn h24_h25_every_returned_field_over_many_frames() {
    const N: u64 = 40;
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 3);
    let fast = h.consumer(4);
    let slow = h.consumer(2);
    let field = h.g_fmt(fast, Dir::Capture).unwrap().field;
    let mut seqs = [None, None, None];
    let mut got = [0u32; 2];
    let types = [
        V4L2_BUF_FLAG_KEYFRAME,
        V4L2_BUF_FLAG_PFRAME,
        V4L2_BUF_FLAG_BFRAME,
        0,
    ];
    for n in 0..N {
        let t_before = h.now;
        h.advance(33_333_333);
        let i = if n < 3 {
            n as u32
        } else {
            let o = h.dqbuf(p, Dir::Output).unwrap();
            check_h24(&o, Dir::Output, 3, field, &mut seqs[2], (1, h.now));
            assert_eq!(o.bytesused, SIZE);
            o.index
        };
        let tc = v4l2_timecode {
            type_: V4L2_TC_TYPE_30FPS,
            frames: (n % 30) as u8,
            ..Default::default()
        };
        let flags = types[(n % 4) as usize]
            | if n % 3 == 0 {
                V4L2_BUF_FLAG_TIMECODE
            } else {
                0
            };
        produce_with(&mut h, p, i, n, flags, tc);
        let window = (t_before, h.now);
        // Fast consumer: takes every frame.
        let b = h
            .dqbuf(fast, Dir::Capture)
            .expect("every frame reaches a ready consumer");
        check_h24(&b, Dir::Capture, 4, field, &mut seqs[0], window);
        assert_eq!(
            b.flags & (FRAME_TYPE_FLAGS | V4L2_BUF_FLAG_TIMECODE),
            flags,
            "H13/H24"
        );
        if flags & V4L2_BUF_FLAG_TIMECODE != 0 {
            assert_eq!(b.timecode, tc);
        }
        assert_eq!(
            check_counter(&h.view(fast, b.index, b.bytesused as usize).unwrap()),
            Some(n)
        );
        h.qbuf(fast, Dir::Capture, b.index, 0).unwrap();
        got[0] += 1;
        // Slow consumer: drains its two buffers every third frame only, so it misses the
        // frames that find no queued buffer (gaps).
        if n % 3 == 2 {
            let mut held = Vec::new();
            while let Ok(b) = h.dqbuf(slow, Dir::Capture) {
                check_h24(&b, Dir::Capture, 2, field, &mut seqs[1], (1, h.now));
                got[1] += 1;
                held.push(b.index);
            }
            for i in held {
                h.qbuf(slow, Dir::Capture, i, 0).unwrap();
            }
        }
        h.dev.check_invariants().unwrap();
    }
    assert_eq!(got[0] as u64, N);
    assert_eq!(seqs[0], Some(N as u32 - 1), "no gaps for the fast consumer");
    assert!(got[1] < N as u32 && got[1] > 0, "the slow one saw gaps");
    assert!(
        seqs[1].unwrap() > got[1] - 1,
        "gaps are visible in its sequence"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn h24_dmabuf_capture_echoes_m_fd() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.open();
    assert_eq!(h.reqbufs_mem(c, Dir::Capture, 2, V4L2_MEMORY_DMABUF), Ok(2));
    for (i, fd) in [(0u32, 41), (1, 42)] {
        let mut b = v4l2_buffer {
            index: i,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_DMABUF,
            length: SIZE,
            ..Default::default()
        };
        b.set_m_fd(fd);
        bioctl(&mut h, c, VIDIOC_QBUF, &mut b).unwrap();
    }
    h.streamon(c, Dir::Capture).unwrap();
    for n in 0..2u64 {
        h.produce(p, n as u32, n).unwrap();
        let mut b = v4l2_buffer {
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_DMABUF,
            ..Default::default()
        };
        bioctl(&mut h, c, VIDIOC_DQBUF, &mut b).unwrap();
        assert_eq!(b.m_fd(), 41 + n as i32, "H24: m.fd echoes QBUF's fd");
        assert_eq!(b.memory, V4L2_MEMORY_DMABUF);
        assert!(b.bytesused > 0 && b.bytesused <= b.length.max(SIZE));
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn h25_timestamp_type_constant_and_never_soe_on_output() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    let mut kinds = std::collections::BTreeSet::new();
    for n in 0..10u64 {
        let i = free_output(&mut h, p, n, 2);
        let before = h.now;
        h.advance(5_000_000);
        h.produce(p, i, n).unwrap();
        let b = h.dqbuf(c, Dir::Capture).unwrap();
        let ns = b.timestamp.tv_sec as u64 * 1_000_000_000 + b.timestamp.tv_usec as u64 * 1000;
        assert!(
            ns > before && ns <= h.now,
            "H25: stamped when the frame was handed off"
        );
        kinds.insert(b.flags & (V4L2_BUF_FLAG_TIMESTAMP_MASK | V4L2_BUF_FLAG_TSTAMP_SRC_MASK));
        h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
        for i in 0..2 {
            let o = h.querybuf(p, Dir::Output, i).unwrap();
            kinds.insert(o.flags & (V4L2_BUF_FLAG_TIMESTAMP_MASK | V4L2_BUF_FLAG_TSTAMP_SRC_MASK));
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec![V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | V4L2_BUF_FLAG_TSTAMP_SRC_EOF],
        "H25: MONOTONIC/EOF on both queues for the whole stream"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn h26_no_last_buffer_and_no_epipe_when_the_producer_stops() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    h.produce(p, 0, 0).unwrap();
    h.streamoff(p, Dir::Output).unwrap();
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(b.flags & V4L2_BUF_FLAG_LAST, 0, "H26: LAST is not used");
    for _ in 0..3 {
        assert_eq!(
            h.dqbuf(c, Dir::Capture).err(),
            Some(Errno::EAGAIN),
            "H26: no EPIPE"
        );
    }
    h.close(p);
    assert_eq!(
        h.dqbuf(c, Dir::Capture).err(),
        Some(Errno::EAGAIN),
        "H26: no EPIPE after close"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn h27_recoverable_error_is_the_error_flag_not_eio() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    // Injected error: a frame larger than the consumer's buffers (O3: never overrun).
    let big = create_bufs(&mut h, p, Dir::Output, 1, V4L2_MEMORY_MMAP, SIZE + PAGE).unwrap();
    h.fill(p, big.index, &counter_pattern(1, (SIZE + 100) as usize));
    h.qbuf(p, Dir::Output, big.index, SIZE + 100).unwrap();
    let b = h.dqbuf(c, Dir::Capture).expect("H27: success, not EIO");
    assert_ne!(b.flags & V4L2_BUF_FLAG_ERROR, 0, "H27: ERROR flag");
    assert_eq!(b.bytesused, 0, "O3: nothing written");
    h.qbuf(c, Dir::Capture, b.index, 0)
        .expect("H27: the buffer can be re-queued");
    // The stream goes on, through both buffers (including the one that had ERROR).
    let errored = b.index;
    let mut seen = Vec::new();
    for n in 2..4u64 {
        h.produce(p, (n - 2) as u32, n).unwrap();
        let b = h.dqbuf(c, Dir::Capture).unwrap();
        assert_eq!(
            b.flags & V4L2_BUF_FLAG_ERROR,
            0,
            "ERROR does not stick to the buffer"
        );
        assert_eq!(
            check_counter(&h.view(c, b.index, SIZE as usize).unwrap()),
            Some(n)
        );
        seen.push(b.index);
        h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
    }
    assert!(seen.contains(&errored));
    h.dev.check_invariants().unwrap();
}

/// DESIGN §3.3/§3.4: after DQBUF a producer writes into memory no consumer holds. A frame
/// nobody took stays with the producer's buffer (no fresh block, nothing to remap); a frame a
/// consumer holds, or the last frame that sustain_framerate repeats, never does.
#[test]
fn h_output_dqbuf_keeps_memory_only_when_nobody_else_refers_to_it() {
    let dqbuf_block = |h: &mut Harness, p: OpenerId| {
        let mut b = v4l2_buffer {
            type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        match h.ioctl(p, VIDIOC_DQBUF, &mut b) {
            Ok(Outcome::Dqbuf(d)) => d.block,
            r => panic!("DQBUF: {r:?}"),
        }
    };
    // No consumer: the producer keeps its block, memory stays at its two buffers.
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let before = h.mapped[&(p, 0)];
    let mem = h.dev.memory_bytes();
    for n in 0..4 {
        h.produce(p, 0, n).unwrap();
        assert_eq!(dqbuf_block(&mut h, p), None, "nothing to remap");
        assert_eq!(h.mapped[&(p, 0)], before);
        assert_eq!(h.dev.memory_bytes(), mem);
    }
    // A consumer holds the frame: the producer gets other memory; the held frame stays.
    let c = h.consumer(2);
    h.produce(p, 0, 10).unwrap();
    let fresh = dqbuf_block(&mut h, p).expect("fresh memory");
    assert_ne!(fresh, before);
    let held = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(h.mapped[&(c, held.index)], before);
    h.fill(p, 0, &counter_pattern(11, 16));
    let v = h.view(c, held.index, held.bytesused as usize).unwrap();
    assert_eq!(check_counter(&v), Some(10), "no tearing");
    // sustain_framerate repeats the last frame: the producer never writes into it.
    let mut h = Harness::new(DeviceConfig {
        sustain_framerate: true,
        ..DeviceConfig::default()
    });
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    h.produce(p, 0, 1).unwrap();
    assert!(dqbuf_block(&mut h, p).is_some(), "sustain: fresh memory");
}
