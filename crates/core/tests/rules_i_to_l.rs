//! Rule tests for groups I (STREAMON/STREAMOFF), J (EXPBUF, DMABUF, USERPTR), K (read/write)
//! and L (poll/select/epoll) of `reference/v4l2-uapi-rules.md`, run against the sans-IO model
//! through the `Harness` test double. Each test is named after the rule id(s) it checks.
//!
//! Core never blocks and never touches a kernel wait queue: "blocking" rules are tested as
//! EAGAIN from core plus the opener appearing in `Device::take_wakeups()` when it becomes
//! ready. L1 (never lose a wake-up) is split: the host re-polls every opener core names and
//! signals on every change; core's half — tested here with the `step` helper, both on a
//! scripted scenario and on random operation sequences — is that an opener whose poll result
//! changed is always named.
//!
//! Rule ids (or halves of them) not tested here, and why:
//! * J2/J3 "the device holds a reference / never writes outside [userptr, userptr+length)":
//!   importing a dmabuf and copying to user memory are the client's job (DESIGN §3.4); core only
//!   records the fd/pointer and length and keeps bytesused ≤ length, which is tested.
//! * J1 with zero-copy remapping: an exported buffer's memory is pinned to it; frames are
//!   copied into it (capture) or out of it (output), tested by the two `j1_exported_*` tests.
//! * K1 "no READWRITE → EINVAL": every loopcam node advertises READWRITE; the EINVAL half is
//!   tested on split-layout nodes that lack the direction.
//! * K4 "signal before any data → EINTR": signals are host-side.
//! * L5 "re-armed by CREATE_BUFS": not followed. Appending buffers to a streaming capture queue
//!   keeps its readiness (DESIGN §3.7: POLLIN exactly when DQBUF would succeed); REQBUFS and
//!   STREAMOFF re-arm it and are tested.
//! * L8 (last-buffer shortcut): loopcam never sets LAST (H26), so the test only checks that no
//!   spurious POLLIN appears once the producer stops.
//! * L10 (poll() return value, generic errno) and L11 (select() timing under v4l2-compliance's
//!   MMAP select/epoll tests): syscall-level behaviour of the host's real fd.

use std::collections::{BTreeMap, BTreeSet};

use loopcam_abi::*;
use loopcam_core::events::EVENT_PRI_CLIENT_USAGE;
use loopcam_core::ioctl::Outcome;
use loopcam_core::queue::Io;
use loopcam_core::testing::{check_counter, counter_pattern, Harness};
use loopcam_core::{DeviceConfig, Dir, Errno, Node, NodeLayout, OpenMode, OpenerId};
use proptest::prelude::*;

const W: u32 = 640;
const HT: u32 = 480;
const SIZE: u32 = W * HT * 2;

// poll(2) bits (Linux values).
const POLLIN: u32 = 0x001;
const POLLPRI: u32 = 0x002;
const POLLOUT: u32 = 0x004;
const POLLERR: u32 = 0x008;
const POLLRDNORM: u32 = 0x040;
const POLLWRNORM: u32 = 0x100;
const IN: u32 = POLLIN | POLLRDNORM;
const OUT: u32 = POLLOUT | POLLWRNORM;

const CID_SUSTAIN_FRAMERATE: u32 = 0x0098_f901;
const CID_TIMEOUT: u32 = 0x0098_f902;
const STATE_FLAGS: u32 =
    V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE | V4L2_BUF_FLAG_PREPARED | V4L2_BUF_FLAG_ERROR;

fn strict() -> Harness {
    Harness::new(DeviceConfig {
        strict_single_reader: true,
        ..DeviceConfig::default()
    })
}

fn state(h: &mut Harness, id: OpenerId, dir: Dir, index: u32) -> u32 {
    h.querybuf(id, dir, index).unwrap().flags & STATE_FLAGS
}

fn streamon_raw(h: &mut Harness, id: OpenerId, type_: u32) -> Result<(), Errno> {
    let mut t = type_;
    h.ioctl(id, VIDIOC_STREAMON, &mut t).map(|_| ())
}

fn s_priority(h: &mut Harness, id: OpenerId, prio: u32) {
    let mut p = prio;
    h.ioctl(id, VIDIOC_S_PRIORITY, &mut p).expect("S_PRIORITY");
}

fn s_ctrl(h: &mut Harness, id: OpenerId, cid: u32, value: i32) -> Result<(), Errno> {
    let mut c = v4l2_control { id: cid, value };
    h.ioctl(id, VIDIOC_S_CTRL, &mut c).map(|_| ())
}

fn expbuf_raw(h: &mut Harness, id: OpenerId, e: &mut v4l2_exportbuffer) -> Result<Outcome, Errno> {
    h.ioctl(id, VIDIOC_EXPBUF, e)
}

fn expbuf(
    h: &mut Harness,
    id: OpenerId,
    dir: Dir,
    index: u32,
) -> Result<loopcam_core::BlockId, Errno> {
    let mut e = v4l2_exportbuffer {
        type_: dir.buf_type(),
        index,
        ..Default::default()
    };
    match expbuf_raw(h, id, &mut e)? {
        Outcome::Expbuf(o) => Ok(o.block),
        other => panic!("EXPBUF outcome {other:?}"),
    }
}

/// A producer at 640x480 YUYV with `n` mapped MMAP buffers, not streaming.
fn producer_idle(h: &mut Harness, n: u32) -> OpenerId {
    let p = h.open();
    h.s_fmt(p, Dir::Output, W, HT, V4L2_PIX_FMT_YUYV).unwrap();
    assert_eq!(h.reqbufs(p, Dir::Output, n), Ok(n));
    for i in 0..n {
        h.mmap(p, Dir::Output, i).unwrap();
    }
    p
}

/// The next free producer buffer: never queued yet, else a dequeued one.
fn free_output(h: &mut Harness, p: OpenerId, n: u64, count: u32) -> u32 {
    if n < u64::from(count) {
        n as u32
    } else {
        h.dqbuf(p, Dir::Output).expect("output buffer back").index
    }
}

fn frame_no(h: &Harness, c: OpenerId, b: &v4l2_buffer) -> Option<u64> {
    check_counter(&h.view(c, b.index, b.bytesused as usize)?)
}

// ---------------------------------------------------------------------------------------------
// L1 helper: readiness before/after every operation.
// ---------------------------------------------------------------------------------------------

/// What poll() would report for every opener, computed without side effects: POLLPRI through
/// a POLLPRI-only poll (which never starts file I/O, L2/L3), plus the queue part for POLLIN and
/// POLLOUT.
fn readiness(h: &mut Harness) -> BTreeMap<OpenerId, u32> {
    let now = h.now;
    h.dev
        .opener_ids()
        .into_iter()
        .map(|id| {
            let pri = h.dev.poll(id, POLLPRI, now);
            (id, pri | h.dev.queue_readiness(id, IN | OUT))
        })
        .collect()
}

/// Runs `f` and asserts L1's model half: every opener whose poll result changed is named by
/// `take_wakeups()` (openers opened or closed by `f` are exempt).
fn step<R>(h: &mut Harness, what: &str, f: impl FnOnce(&mut Harness) -> R) -> R {
    h.dev.take_wakeups();
    let before = readiness(h);
    let r = f(h);
    let woken: BTreeSet<OpenerId> = h.dev.take_wakeups().into_iter().collect();
    let after = readiness(h);
    for (id, a) in &after {
        if let Some(b) = before.get(id) {
            assert!(
                a == b || woken.contains(id),
                "L1: {what}: opener {id} went {b:#x} → {a:#x} without a wake-up (woken: {woken:?})"
            );
        }
    }
    r
}

// ---------------------------------------------------------------------------------------------
// I. STREAMON / STREAMOFF
// ---------------------------------------------------------------------------------------------

#[test]
fn i1_streamon_type_owner_file_io_and_priority_checks() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    for t in [
        0,
        V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
        V4L2_BUF_TYPE_VIDEO_OVERLAY,
        0x80,
    ] {
        assert_eq!(
            streamon_raw(&mut h, c, t),
            Err(Errno::EINVAL),
            "I1: type {t}"
        );
    }
    // The other type on a capture-role fd: EBUSY by the one-fd-one-stream rule (F10).
    assert_eq!(h.streamon(c, Dir::Output), Err(Errno::EBUSY), "I1/F10");
    // Not the owner.
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let other = h.open();
    assert_eq!(
        h.streamon(other, Dir::Output),
        Err(Errno::EBUSY),
        "I1: non-owner"
    );
    assert_eq!(
        h.streamoff(other, Dir::Output),
        Err(Errno::EBUSY),
        "I1: non-owner STREAMOFF"
    );
    // File I/O active.
    let r = h.open();
    assert_eq!(h.read(r, 1), Err(Errno::EAGAIN));
    assert_eq!(
        h.streamon(r, Dir::Capture),
        Err(Errno::EBUSY),
        "I1: file I/O"
    );
    assert_eq!(
        h.streamoff(r, Dir::Capture),
        Err(Errno::EBUSY),
        "I1: file I/O"
    );
    // Priority too low.
    let boss = h.open();
    s_priority(&mut h, boss, V4L2_PRIORITY_RECORD);
    assert_eq!(
        h.streamon(c, Dir::Capture),
        Err(Errno::EBUSY),
        "I1: priority"
    );
    assert_eq!(
        h.streamoff(p, Dir::Output),
        Err(Errno::EBUSY),
        "I1: priority"
    );
    assert!(h.dev.status().producer_streaming);
    h.close(boss);
    assert_eq!(h.streamon(c, Dir::Capture), Ok(()));
    h.dev.check_invariants().unwrap();
}

#[test]
fn i2_streamon_without_buffers_is_einval_except_the_obs_leniency() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(
        h.streamon(c, Dir::Capture),
        Err(Errno::EINVAL),
        "I2: fresh capture fd"
    );
    assert_eq!(h.reqbufs(c, Dir::Capture, 0), Ok(0));
    assert_eq!(
        h.streamon(c, Dir::Capture),
        Err(Errno::EINVAL),
        "I2: after REQBUFS(0)"
    );
    let p = h.open();
    assert_eq!(h.reqbufs(p, Dir::Output, 2), Ok(2));
    assert_eq!(h.reqbufs(p, Dir::Output, 0), Ok(0));
    assert_eq!(
        h.streamon(p, Dir::Output),
        Err(Errno::EINVAL),
        "I2: an fd that used REQBUFS gets no leniency (v4l2-compliance)"
    );
    let ro = h.open_as(Node::Combined, OpenMode::RDONLY).unwrap();
    assert_eq!(
        h.streamon(ro, Dir::Output),
        Err(Errno::EINVAL),
        "I2: read-only fd cannot write()"
    );
    // DESIGN §3.6 (OBS): S_FMT → STREAMON(OUTPUT) → write() on a fresh fd.
    let obs = h.open();
    h.s_fmt(obs, Dir::Output, W, HT, V4L2_PIX_FMT_YUYV).unwrap();
    assert_eq!(h.streamon(obs, Dir::Output), Ok(()), "DESIGN §3.6 leniency");
    assert!(h.dev.status().producer_streaming);
    assert_eq!(
        h.reqbufs(p, Dir::Output, 2),
        Err(Errno::EBUSY),
        "obs is the producer now"
    );
    let cons = h.consumer(2);
    assert_eq!(h.write(obs, &counter_pattern(5, SIZE as usize)), Ok(SIZE));
    let b = h.dqbuf(cons, Dir::Capture).unwrap();
    assert_eq!(frame_no(&h, cons, &b), Some(5));
    h.dev.check_invariants().unwrap();
}

#[test]
fn i3_streamon_with_nothing_queued_succeeds_on_both_sides() {
    let mut h = Harness::default_device();
    let p = producer_idle(&mut h, 2);
    assert_eq!(
        h.streamon(p, Dir::Output),
        Ok(()),
        "I3: OUTPUT, nothing queued"
    );
    assert!(h.dev.status().producer_streaming);
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    assert_eq!(
        h.streamon(c, Dir::Capture),
        Ok(()),
        "I3: CAPTURE, nothing queued"
    );
    assert_eq!(
        h.dev.opener_queue(c),
        Some((Dir::Capture, Io::Streaming, true))
    );
    // Buffers queued later still flow.
    h.qbuf(c, Dir::Capture, 1, 0).unwrap();
    h.fill(p, 0, &counter_pattern(0, SIZE as usize));
    h.qbuf(p, Dir::Output, 0, SIZE).unwrap();
    assert_eq!(h.dqbuf(c, Dir::Capture).unwrap().index, 1);
    h.dev.check_invariants().unwrap();
}

#[test]
fn i4_streamon_and_streamoff_are_idempotent() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    // STREAMOFF while not streaming still returns queued buffers.
    assert_eq!(h.streamoff(c, Dir::Capture), Ok(()), "I4");
    assert_eq!(
        state(&mut h, c, Dir::Capture, 0),
        0,
        "I4: queued buffer returned"
    );
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    assert_eq!(h.streamon(c, Dir::Capture), Ok(()));
    assert_eq!(
        h.streamon(c, Dir::Capture),
        Ok(()),
        "I4: second STREAMON is a no-op"
    );
    assert_eq!(
        state(&mut h, c, Dir::Capture, 0),
        V4L2_BUF_FLAG_QUEUED,
        "still queued"
    );
    assert_eq!(h.dev.reader_count(), 1, "counted once");
    assert_eq!(h.streamoff(c, Dir::Capture), Ok(()));
    assert_eq!(h.streamoff(c, Dir::Capture), Ok(()), "I4: second STREAMOFF");
    let p = producer_idle(&mut h, 2);
    assert_eq!(h.streamon(p, Dir::Output), Ok(()));
    assert_eq!(h.streamon(p, Dir::Output), Ok(()));
    assert_eq!(h.streamoff(p, Dir::Output), Ok(()));
    assert_eq!(h.streamoff(p, Dir::Output), Ok(()));
    h.dev.check_invariants().unwrap();
}

#[test]
fn i5_streamoff_returns_every_buffer_and_keeps_them_mapped() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    for i in 0..2 {
        h.mmap(c, Dir::Capture, i).unwrap();
        h.qbuf(c, Dir::Capture, i, 0).unwrap();
    }
    // Without STREAMON.
    h.streamoff(c, Dir::Capture).unwrap();
    for i in 0..2 {
        h.qbuf(c, Dir::Capture, i, 0)
            .expect("I5: QBUF after STREAMOFF");
    }
    // After a real STREAMON with one frame done and one buffer queued.
    h.streamon(c, Dir::Capture).unwrap();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    h.produce(p, 0, 0).unwrap();
    assert_eq!(state(&mut h, c, Dir::Capture, 0), V4L2_BUF_FLAG_DONE);
    h.dev.take_wakeups();
    h.streamoff(c, Dir::Capture).unwrap();
    assert!(h.dev.take_wakeups().contains(&c), "I5: waiters are woken");
    for i in 0..2 {
        let b = h.querybuf(c, Dir::Capture, i).unwrap();
        assert_eq!(
            b.flags & STATE_FLAGS,
            0,
            "I5: no QUEUED/DONE after STREAMOFF"
        );
        assert_ne!(b.flags & V4L2_BUF_FLAG_MAPPED, 0, "I5: still mapped");
    }
    assert_eq!(
        h.dqbuf(c, Dir::Capture).err(),
        Some(Errno::EINVAL),
        "I5: the done frame is lost"
    );
    for i in 0..2 {
        h.qbuf(c, Dir::Capture, i, 0)
            .expect("I5: QBUF after a real STREAMOFF");
    }
    h.streamon(c, Dir::Capture).unwrap();
    h.produce(p, 1, 1).unwrap();
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(frame_no(&h, c, &b), Some(1));
    assert_eq!(b.sequence, 0, "H24: sequence restarts after STREAMON");
    // Output STREAMOFF: queued output buffers come back too.
    h.streamoff(p, Dir::Output).unwrap();
    for i in 0..2 {
        assert_eq!(state(&mut h, p, Dir::Output, i), 0, "I5: output");
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn i6_failed_streamon_leaves_queued_buffers_queued() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 3), Ok(3));
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    h.qbuf(c, Dir::Capture, 2, 0).unwrap();
    // Injected failure: another fd takes RECORD priority (I1).
    let boss = h.open();
    s_priority(&mut h, boss, V4L2_PRIORITY_RECORD);
    assert_eq!(h.streamon(c, Dir::Capture), Err(Errno::EBUSY));
    assert_eq!(
        state(&mut h, c, Dir::Capture, 0),
        V4L2_BUF_FLAG_QUEUED,
        "I6"
    );
    assert_eq!(state(&mut h, c, Dir::Capture, 1), 0);
    assert_eq!(
        state(&mut h, c, Dir::Capture, 2),
        V4L2_BUF_FLAG_QUEUED,
        "I6"
    );
    assert_eq!(
        h.dev.opener_queue(c),
        Some((Dir::Capture, Io::Streaming, false))
    );
    h.close(boss);
    h.streamon(c, Dir::Capture).unwrap();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    h.produce(p, 0, 0).unwrap();
    assert_eq!(
        h.dqbuf(c, Dir::Capture).unwrap().index,
        0,
        "the queued buffers were kept"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn i7_streamoff_without_buffers_is_ok() {
    let mut h = Harness::default_device();
    let fd = h.open();
    assert_eq!(
        h.streamoff(fd, Dir::Capture),
        Ok(()),
        "I7: fresh fd, capture"
    );
    assert_eq!(h.streamoff(fd, Dir::Output), Ok(()), "I7: fresh fd, output");
    // v4l2-compliance: REQBUFS(0), then STREAMON → EINVAL, STREAMOFF → 0.
    assert_eq!(h.reqbufs(fd, Dir::Capture, 2), Ok(2));
    assert_eq!(h.reqbufs(fd, Dir::Capture, 0), Ok(0));
    assert_eq!(h.streamon(fd, Dir::Capture), Err(Errno::EINVAL));
    assert_eq!(h.streamoff(fd, Dir::Capture), Ok(()), "I7");
    assert!(h.dev.opener_queue(fd).is_none(), "nothing was created");
    h.dev.check_invariants().unwrap();
}

#[test]
fn i8_producer_runs_without_consumers_and_consumers_without_producer() {
    // A producer with no consumer at all: each queued buffer comes straight back.
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    for n in 0..20u64 {
        let i = if n < 2 {
            n as u32
        } else {
            h.dqbuf(p, Dir::Output).unwrap().index
        };
        h.produce(p, i, n).unwrap();
        h.advance(33_333_333);
    }
    let b = h
        .dqbuf(p, Dir::Output)
        .expect("I8: consumed with nobody watching");
    assert_eq!(b.sequence, 18, "O6: output sequence 0, 1, 2, …");

    // A consumer with no producer: STREAMON works, DQBUF waits.
    let mut h = Harness::default_device();
    let c = h.consumer(2);
    assert_eq!(
        h.dqbuf(c, Dir::Capture).err(),
        Some(Errno::EAGAIN),
        "I8: no producer → wait"
    );
    h.subscribe(c, V4L2_EVENT_EOS, 0, 0).unwrap();
    // The producer comes and goes: the consumer's queue is never yanked away.
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    h.produce(p, 0, 0).unwrap();
    h.streamoff(p, Dir::Output).unwrap();
    assert_eq!(
        h.dqevent(c).map(|e| e.type_),
        Ok(V4L2_EVENT_EOS),
        "I8/M7: EOS on STREAMOFF"
    );
    assert_eq!(
        h.dev.opener_queue(c),
        Some((Dir::Capture, Io::Streaming, true)),
        "I8"
    );
    assert_eq!(
        state(&mut h, c, Dir::Capture, 1),
        V4L2_BUF_FLAG_QUEUED,
        "I8: kept queued"
    );
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(frame_no(&h, c, &b), Some(0));
    h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
    h.close(p);
    assert_eq!(h.dqbuf(c, Dir::Capture).err(), Some(Errno::EAGAIN));
    // A new producer feeds the same, still streaming, consumer.
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    h.produce(p, 1, 7).unwrap();
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(frame_no(&h, c, &b), Some(7));
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// J. EXPBUF, DMABUF, USERPTR
// ---------------------------------------------------------------------------------------------

#[test]
fn j1_expbuf_validation_and_export() {
    let mut h = Harness::default_device();
    let p = producer_idle(&mut h, 2);
    for i in 0..2 {
        let mut e = v4l2_exportbuffer {
            type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
            index: i,
            flags: 0o2_000_002, // O_CLOEXEC | O_RDWR
            fd: 1234,
            ..Default::default()
        };
        let out = expbuf_raw(&mut h, p, &mut e).expect("J1");
        let Outcome::Expbuf(o) = out else {
            panic!("J1: {out:?}")
        };
        assert_eq!(
            Some(&o.block),
            h.mapped.get(&(p, i)),
            "J1: the buffer's memory"
        );
        assert_eq!(e.fd, -1, "the host stores the new fd");
        assert_eq!(e.reserved, [0; 11], "J1: reserved zero");
    }
    // Typed entry point, junk in reserved.
    let mut e = v4l2_exportbuffer {
        type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
        reserved: [7; 11],
        ..Default::default()
    };
    h.dev.expbuf(p, &mut e).unwrap();
    h.sync();
    assert_eq!(e.reserved, [0; 11]);
    let bad = |type_, index, plane, flags| v4l2_exportbuffer {
        type_,
        index,
        plane,
        flags,
        ..Default::default()
    };
    let out = V4L2_BUF_TYPE_VIDEO_OUTPUT;
    for (what, mut e) in [
        ("flags O_CREAT", bad(out, 0, 0, 0o100)),
        ("flags O_NONBLOCK", bad(out, 0, 0, 0o4000)),
        ("plane 1", bad(out, 0, 1, 0)),
        ("index = count", bad(out, 2, 0, 0)),
        ("type 0", bad(0, 0, 0, 0)),
        (
            "mplane type",
            bad(V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, 0, 0, 0),
        ),
        ("other type", bad(V4L2_BUF_TYPE_VIDEO_CAPTURE, 0, 0, 0)),
    ] {
        assert_eq!(
            expbuf_raw(&mut h, p, &mut e).err(),
            Some(Errno::EINVAL),
            "J1: {what}"
        );
    }
    // Non-owner, file I/O, non-MMAP queue, no buffers.
    let other = h.open();
    assert_eq!(
        expbuf(&mut h, other, Dir::Output, 0).err(),
        Some(Errno::EBUSY),
        "J1: non-owner"
    );
    let r = h.open();
    assert_eq!(h.read(r, 1), Err(Errno::EAGAIN));
    assert_eq!(
        expbuf(&mut h, r, Dir::Capture, 0).err(),
        Some(Errno::EBUSY),
        "J1: file I/O"
    );
    let u = h.open();
    assert_eq!(
        expbuf(&mut h, u, Dir::Capture, 0).err(),
        Some(Errno::EINVAL),
        "J1: no buffers"
    );
    assert_eq!(
        h.reqbufs_mem(u, Dir::Capture, 2, V4L2_MEMORY_USERPTR),
        Ok(2)
    );
    assert_eq!(
        expbuf(&mut h, u, Dir::Capture, 0).err(),
        Some(Errno::EINVAL),
        "J1: USERPTR"
    );
    // Orphaning: REQBUFS(0) after EXPBUF is fine.
    assert_eq!(h.reqbufs(p, Dir::Output, 0), Ok(0), "J1/F14");
    h.dev.check_invariants().unwrap();
}

#[test]
fn j1_expbuf_of_capture_buffers_keeps_the_books_balanced() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 3), Ok(3));
    // Before any frame (dequeued and queued buffers alike), EXPBUF gives valid memory.
    let b2 = expbuf(&mut h, c, Dir::Capture, 2).unwrap();
    assert!(h.mem.contains_key(&b2), "J1: exported memory exists");
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    h.qbuf(c, Dir::Capture, 1, 0).unwrap();
    let b1 = expbuf(&mut h, c, Dir::Capture, 1).unwrap();
    assert!(h.mem.contains_key(&b1));
    h.dev.check_invariants().unwrap();
    h.streamon(c, Dir::Capture).unwrap();
    h.produce(p, 0, 0).unwrap();
    h.produce(p, 1, 1).unwrap();
    h.dev.check_invariants().unwrap();
    for n in 0..2 {
        let b = h.dqbuf(c, Dir::Capture).unwrap();
        assert_eq!(frame_no(&h, c, &b), Some(n));
        // A buffer that holds a frame exports that frame's memory.
        let e = expbuf(&mut h, c, Dir::Capture, b.index).unwrap();
        assert_eq!(
            Some(&e),
            h.mapped.get(&(c, b.index)),
            "J1: the frame's memory"
        );
    }
    assert_eq!(h.reqbufs(c, Dir::Capture, 0), Ok(0));
    h.dev.check_invariants().unwrap();
}

#[test]
fn j1_exported_capture_buffer_sees_later_frames() {
    // GStreamer v4l2src io-mode=dmabuf exports each capture buffer once and then reads every
    // frame through the dmabuf fd. The fd's memory must therefore hold whatever frame the
    // buffer carries after each DQBUF.
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    let exported: Vec<_> = (0..2)
        .map(|i| expbuf(&mut h, c, Dir::Capture, i).unwrap())
        .collect();
    for n in 0..4u64 {
        let i = free_output(&mut h, p, n, 2);
        h.produce(p, i, n).unwrap();
        let b = h.dqbuf(c, Dir::Capture).unwrap();
        let mem = &h.mem[&exported[b.index as usize]];
        assert_eq!(
            check_counter(&mem[..SIZE as usize]),
            Some(n),
            "J1: frame visible via dmabuf"
        );
        h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
    }
}

#[test]
fn j1_exported_output_buffer_never_tears_a_published_frame() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    let e0 = expbuf(&mut h, p, Dir::Output, 0).unwrap();
    h.produce(p, 0, 0).unwrap();
    let o = h.dqbuf(p, Dir::Output).unwrap();
    assert_eq!(o.index, 0);
    // The producer writes frame 1 through its dmabuf fd (memory e0) ...
    h.mem.get_mut(&e0).unwrap()[..SIZE as usize]
        .copy_from_slice(&counter_pattern(1, SIZE as usize));
    // ... which must not change the frame the consumer holds.
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(
        frame_no(&h, c, &b),
        Some(0),
        "DESIGN §3.3: no tearing through an export"
    );
}

#[test]
fn j2_dmabuf_import_records_and_echoes_the_fd() {
    let mut h = Harness::default_device();
    let p = h.open();
    h.s_fmt(p, Dir::Output, W, HT, V4L2_PIX_FMT_YUYV).unwrap();
    assert_eq!(h.reqbufs_mem(p, Dir::Output, 2, V4L2_MEMORY_DMABUF), Ok(2));
    let c = h.open();
    assert_eq!(h.reqbufs_mem(c, Dir::Capture, 2, V4L2_MEMORY_DMABUF), Ok(2));
    let dma = |dir: Dir, index, fd: i32, length, bytesused| {
        let mut b = v4l2_buffer {
            index,
            type_: dir.buf_type(),
            memory: V4L2_MEMORY_DMABUF,
            length,
            bytesused,
            field: V4L2_FIELD_NONE,
            ..Default::default()
        };
        b.set_m_fd(fd);
        b
    };
    let mut bad = dma(Dir::Capture, 0, -1, SIZE, 0);
    assert_eq!(
        h.ioctl(c, VIDIOC_QBUF, &mut bad).err(),
        Some(Errno::EINVAL),
        "J2: fd -1"
    );
    let mut bad = dma(Dir::Capture, 0, 30, SIZE - 1, 0);
    assert_eq!(
        h.ioctl(c, VIDIOC_QBUF, &mut bad).err(),
        Some(Errno::EINVAL),
        "J2: too small"
    );
    for (i, fd) in [(0, 30), (1, 31)] {
        let mut b = dma(Dir::Capture, i, fd, 0, 0);
        h.ioctl(c, VIDIOC_QBUF, &mut b)
            .expect("J2: length 0 = the dmabuf's size");
        assert_eq!(b.m_fd(), fd);
    }
    h.streamon(c, Dir::Capture).unwrap();
    h.streamon(p, Dir::Output).unwrap();
    // The client copies the dmabuf's content into the staging block before QBUF.
    let block = h.dev.output_staging_block(p, 1).unwrap();
    h.sync();
    h.mem.get_mut(&block).unwrap()[..SIZE as usize]
        .copy_from_slice(&counter_pattern(9, SIZE as usize));
    let mut q = dma(Dir::Output, 1, 50, SIZE, SIZE);
    h.ioctl(p, VIDIOC_QBUF, &mut q)
        .expect("J2: output QBUF with m.fd");
    let mut o = dma(Dir::Output, 0, 0, 0, 0);
    h.ioctl(p, VIDIOC_DQBUF, &mut o).unwrap();
    assert_eq!(
        (o.index, o.m_fd()),
        (1, 50),
        "J2: DQBUF returns the same m.fd"
    );
    let mut b = dma(Dir::Capture, 0, 0, 0, 0);
    let out = h.ioctl(c, VIDIOC_DQBUF, &mut b).unwrap();
    assert_eq!((b.index, b.m_fd()), (0, 30), "J2/H24: capture m.fd echoed");
    let Outcome::Dqbuf(d) = out else { panic!() };
    let data = &h.mem[&d.block.expect("a frame to copy out")][..b.bytesused as usize];
    assert_eq!(
        check_counter(data),
        Some(9),
        "the frame the client copies into fd 30"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn j3_userptr_slots_pointer_and_length_round_trip() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.open();
    assert_eq!(
        h.reqbufs_mem(c, Dir::Capture, 2, V4L2_MEMORY_USERPTR),
        Ok(2),
        "J3"
    );
    for i in 0..2 {
        let b = h
            .querybuf(c, Dir::Capture, i)
            .expect("J3: QUERYBUF on the slots");
        assert_eq!(b.memory, V4L2_MEMORY_USERPTR);
        assert_eq!(b.flags & STATE_FLAGS, 0);
    }
    let ptrs = [0x7f12_3400_0000u64, 0x7f12_3500_0000];
    let len = SIZE + 8192;
    for (i, ptr) in ptrs.iter().enumerate() {
        let mut b = v4l2_buffer {
            index: i as u32,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_USERPTR,
            length: len,
            ..Default::default()
        };
        b.set_m_userptr(*ptr);
        h.ioctl(c, VIDIOC_QBUF, &mut b).unwrap();
        let q = h.querybuf(c, Dir::Capture, i as u32).unwrap();
        assert_eq!(
            (q.m_userptr(), q.length),
            (*ptr, len),
            "J3: QUERYBUF shows the slot"
        );
    }
    h.streamon(c, Dir::Capture).unwrap();
    for n in 0..2u64 {
        h.produce(p, n as u32, n).unwrap();
        let mut b = v4l2_buffer {
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_USERPTR,
            ..Default::default()
        };
        h.ioctl(c, VIDIOC_DQBUF, &mut b).unwrap();
        assert_eq!(
            b.m_userptr(),
            ptrs[b.index as usize],
            "J3: same userptr back"
        );
        assert_eq!(b.length, len, "J3: same length back");
        assert!(b.bytesused <= b.length, "J3: never past the user's buffer");
        assert_eq!(b.bytesused, SIZE);
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn j4_userptr_capability_matches_reqbufs() {
    let mut h = Harness::default_device();
    let fd = h.open();
    let mut r = v4l2_requestbuffers {
        count: 0,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_USERPTR,
        ..Default::default()
    };
    let ok = h.ioctl(fd, VIDIOC_REQBUFS, &mut r).is_ok();
    let mut m = v4l2_requestbuffers {
        memory: V4L2_MEMORY_MMAP,
        ..r
    };
    h.ioctl(fd, VIDIOC_REQBUFS, &mut m).unwrap();
    // loopcam implements USERPTR through the client copy, so it advertises it.
    assert!(ok, "J4: USERPTR is implemented");
    assert_ne!(
        m.capabilities & V4L2_BUF_CAP_SUPPORTS_USERPTR,
        0,
        "J4: and advertised"
    );
    h.dev.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// K. read() / write()
// ---------------------------------------------------------------------------------------------

#[test]
fn k1_readwrite_is_advertised_and_refused_only_where_a_direction_is_missing() {
    let mut h = Harness::default_device();
    let fd = h.open();
    let mut cap = v4l2_capability::default();
    h.ioctl(fd, VIDIOC_QUERYCAP, &mut cap).unwrap();
    assert_ne!(
        cap.device_caps & V4L2_CAP_READWRITE,
        0,
        "K1: READWRITE advertised"
    );
    assert_eq!(
        h.read(fd, 1),
        Err(Errno::EAGAIN),
        "K1: read works (nothing yet)"
    );
    let w = h.open();
    assert_eq!(h.write(w, &[1; 64]), Ok(64), "K1: write works");
    // Split layout: a node without the direction refuses it with EINVAL.
    let mut h = Harness::new(DeviceConfig {
        layout: NodeLayout::Split,
        ..DeviceConfig::default()
    });
    let out = h.open_as(Node::Output, OpenMode::RDWR).unwrap();
    let inp = h.open_as(Node::Capture, OpenMode::RDWR).unwrap();
    for id in [out, inp] {
        let mut cap = v4l2_capability::default();
        h.ioctl(id, VIDIOC_QUERYCAP, &mut cap).unwrap();
        assert_ne!(
            cap.device_caps & V4L2_CAP_READWRITE,
            0,
            "K1: both nodes advertise it"
        );
    }
    assert_eq!(
        h.read(out, 1),
        Err(Errno::EINVAL),
        "K1: no capture on the output node"
    );
    assert_eq!(
        h.write(inp, &[0; 8]),
        Err(Errno::EINVAL),
        "K1: no output on the capture node"
    );
    assert_eq!(h.write(out, &[0; 8]), Ok(8));
    h.dev.check_invariants().unwrap();
}

#[test]
fn k2_zero_length_read_and_write_have_no_effect() {
    let mut h = Harness::default_device();
    let fd = h.open();
    assert_eq!(h.read(fd, 0), Ok(Vec::new()), "K2: read(0) → 0");
    assert!(h.dev.opener_queue(fd).is_none(), "K2: no emulation started");
    assert_eq!(
        h.reqbufs(fd, Dir::Capture, 2),
        Ok(2),
        "K2: streaming still possible"
    );
    // write(0): the host answers count 0 itself (core's write() takes the count only at
    // commit); core's half is that an empty commit publishes no frame.
    let p = h.open();
    let c = h.consumer(2);
    let now = h.now;
    h.dev.prepare_write(p, now).unwrap();
    h.sync();
    assert_eq!(h.dev.commit_write(p, 0, now), Ok(0), "K2: write(0) → 0");
    h.sync();
    assert_eq!(
        h.dqbuf(c, Dir::Capture).err(),
        Some(Errno::EAGAIN),
        "K2: no empty frame"
    );
    assert_eq!(h.write(p, &counter_pattern(1, SIZE as usize)), Ok(SIZE));
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(frame_no(&h, c, &b), Some(1));
    h.dev.check_invariants().unwrap();
}

#[test]
fn k3_short_reads_continue_in_the_same_frame() {
    let mut h = Harness::default_device();
    let r = h.open();
    assert_eq!(h.read(r, SIZE / 2), Err(Errno::EAGAIN));
    let w = h.open();
    let f0 = counter_pattern(0, SIZE as usize);
    let f1 = counter_pattern(1, SIZE as usize);
    h.write(w, &f0).unwrap();
    h.write(w, &f1).unwrap();
    let a = h.read(r, SIZE / 2).unwrap();
    let b = h.read(r, SIZE / 2).unwrap();
    assert_eq!([a, b].concat(), f0, "K3: two halves of one frame");
    let c = h.read(r, SIZE / 2).unwrap();
    assert_eq!(
        c,
        f1[..(SIZE / 2) as usize],
        "K3: the third read starts the next frame"
    );
    // A read larger than what is left returns at most the rest of the frame.
    let d = h.read(r, SIZE).unwrap();
    assert_eq!(
        d,
        f1[(SIZE / 2) as usize..],
        "K3: at most one frame per call"
    );
    assert_eq!(h.read(r, 1), Err(Errno::EAGAIN));
    h.dev.check_invariants().unwrap();
}

#[test]
fn k4_nonblocking_read_is_eagain_until_a_frame_wakes_the_reader() {
    let mut h = Harness::default_device();
    let r = h.open();
    assert_eq!(h.read(r, 100), Err(Errno::EAGAIN), "K4: no producer");
    assert_eq!(h.read(r, 100), Err(Errno::EAGAIN));
    let w = h.open();
    h.dev.take_wakeups();
    h.write(w, &counter_pattern(3, SIZE as usize)).unwrap();
    assert!(
        h.dev.take_wakeups().contains(&r),
        "K4: the blocked reader is woken"
    );
    let data = h.read(r, SIZE).unwrap();
    assert_eq!(check_counter(&data), Some(3));
    h.dev.check_invariants().unwrap();
}

#[test]
fn k5_first_read_or_write_claims_the_queue() {
    // Output: the writer owns the single output queue.
    let mut h = Harness::default_device();
    let w = h.open();
    h.write(w, &[0; 32]).unwrap();
    assert_eq!(
        h.dev.opener_queue(w),
        Some((Dir::Output, Io::File, true)),
        "K5"
    );
    let p = h.open();
    assert_eq!(
        h.reqbufs(p, Dir::Output, 2),
        Err(Errno::EBUSY),
        "K5: writer owns OUTPUT"
    );
    // Capture, default mode: the reader has its own queue (DESIGN §3.1), others still can.
    let r = h.open();
    assert_eq!(h.read(r, 1), Err(Errno::EAGAIN));
    assert_eq!(
        h.dev.opener_queue(r),
        Some((Dir::Capture, Io::File, true)),
        "K5"
    );
    let c = h.open();
    assert_eq!(
        h.reqbufs(c, Dir::Capture, 2),
        Ok(2),
        "DESIGN §3.1: many consumers"
    );
    // Capture, strict mode: the reader owns the capture queue.
    let mut h = strict();
    let r = h.open();
    assert_eq!(h.read(r, 1), Err(Errno::EAGAIN));
    let c = h.open();
    assert_eq!(
        h.reqbufs(c, Dir::Capture, 2),
        Err(Errno::EBUSY),
        "K5: reader owns CAPTURE"
    );
    assert_eq!(h.read(c, 1), Err(Errno::EBUSY));
    h.dev.check_invariants().unwrap();
}

#[test]
fn k6_streaming_and_file_io_exclude_each_other() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 1), Ok(1));
    assert_eq!(h.read(c, 1), Err(Errno::EBUSY), "K6: read after REQBUFS");
    let p = h.open();
    assert_eq!(h.reqbufs(p, Dir::Output, 1), Ok(1));
    assert_eq!(
        h.write(p, &[0; 8]),
        Err(Errno::EBUSY),
        "K6: write after REQBUFS"
    );
    // Reopen: not EBUSY any more.
    h.close(c);
    let c = h.open();
    assert_eq!(h.read(c, 1), Err(Errno::EAGAIN), "K6: a fresh fd may read");
    // While the emulation is active, every streaming call is EBUSY.
    let mut b = v4l2_buffer {
        index: 0,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    assert_eq!(
        h.reqbufs(c, Dir::Capture, 2),
        Err(Errno::EBUSY),
        "K6: REQBUFS"
    );
    assert_eq!(
        h.reqbufs(c, Dir::Capture, 0),
        Err(Errno::EBUSY),
        "K6: REQBUFS(0)"
    );
    let mut cb = v4l2_create_buffers {
        count: 1,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    cb.format.type_ = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    cb.format.set_pix(&v4l2_pix_format {
        sizeimage: SIZE,
        ..Default::default()
    });
    assert_eq!(
        h.ioctl(c, VIDIOC_CREATE_BUFS, &mut cb).err(),
        Some(Errno::EBUSY),
        "K6: CREATE_BUFS"
    );
    assert_eq!(
        h.ioctl(c, VIDIOC_QBUF, &mut b).err(),
        Some(Errno::EBUSY),
        "K6: QBUF"
    );
    assert_eq!(
        h.ioctl(c, VIDIOC_PREPARE_BUF, &mut b).err(),
        Some(Errno::EBUSY),
        "K6: PREPARE_BUF"
    );
    assert_eq!(
        h.ioctl(c, VIDIOC_DQBUF, &mut b).err(),
        Some(Errno::EBUSY),
        "K6: DQBUF"
    );
    assert_eq!(
        h.streamon(c, Dir::Capture),
        Err(Errno::EBUSY),
        "K6: STREAMON"
    );
    assert_eq!(
        h.streamoff(c, Dir::Capture),
        Err(Errno::EBUSY),
        "K6: STREAMOFF"
    );
    assert_eq!(
        expbuf(&mut h, c, Dir::Capture, 0).err(),
        Some(Errno::EBUSY),
        "K6: EXPBUF"
    );
    assert_eq!(
        h.dev.mmap(c, 0, u64::from(SIZE), true, false, true).err(),
        Some(Errno::EBUSY),
        "K6: mmap"
    );
    // Same for a writer.
    h.close(p);
    let w = h.open();
    h.write(w, &[0; 8]).unwrap();
    assert_eq!(
        h.reqbufs(w, Dir::Output, 2),
        Err(Errno::EBUSY),
        "K6: writer REQBUFS"
    );
    assert_eq!(
        h.streamon(w, Dir::Output),
        Err(Errno::EBUSY),
        "K6: writer STREAMON"
    );
    assert_eq!(
        h.dqbuf(w, Dir::Output).err(),
        Some(Errno::EBUSY),
        "K6: writer DQBUF"
    );
    assert_eq!(
        expbuf(&mut h, w, Dir::Output, 0).err(),
        Some(Errno::EBUSY),
        "K6: writer EXPBUF"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn k7_close_ends_the_emulation() {
    let mut h = strict();
    let r = h.open();
    assert_eq!(h.read(r, 1), Err(Errno::EAGAIN));
    h.close(r);
    let c = h.open();
    assert_eq!(
        h.reqbufs(c, Dir::Capture, 2),
        Ok(2),
        "K7: reader close frees the queue"
    );
    h.close(c);
    let r2 = h.open();
    assert_eq!(
        h.read(r2, 1),
        Err(Errno::EAGAIN),
        "K7: same result after reopen"
    );
    let w = h.open();
    h.write(w, &[0; 8]).unwrap();
    h.close(w);
    let p = h.open();
    assert_eq!(
        h.reqbufs(p, Dir::Output, 2),
        Ok(2),
        "K7: writer close frees OUTPUT"
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn k8_each_write_is_one_frame() {
    let mut h = Harness::default_device();
    let c = h.consumer(4);
    let w = h.open();
    for n in 0..3u64 {
        assert_eq!(
            h.write(w, &counter_pattern(n, SIZE as usize)),
            Ok(SIZE),
            "K8"
        );
    }
    for n in 0..3u64 {
        let b = h.dqbuf(c, Dir::Capture).expect("K8: one frame per write");
        assert_eq!(b.bytesused, SIZE);
        assert_eq!(frame_no(&h, c, &b), Some(n), "K8: identical content");
        h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
    }
    // More than a frame: the count is reported, the frame truncated to sizeimage.
    let mut big = counter_pattern(9, SIZE as usize);
    big.extend_from_slice(&[0xee; 100]);
    assert_eq!(h.write(w, &big), Ok(SIZE + 100), "K8: all bytes reported");
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(b.bytesused, SIZE, "K8: truncated to the frame");
    assert_eq!(frame_no(&h, c, &b), Some(9));
    h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
    // Less than a frame: a short frame (the documented K8 choice).
    assert_eq!(h.write(w, &[5; 100]), Ok(100));
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(b.bytesused, 100);
    assert_eq!(h.view(c, b.index, 100).unwrap(), vec![5; 100]);
    h.dev.check_invariants().unwrap();
}

#[test]
fn k9_parm_reports_read_and_write_buffers() {
    let mut h = Harness::default_device();
    let fd = h.open();
    let mut cap = v4l2_capability::default();
    h.ioctl(fd, VIDIOC_QUERYCAP, &mut cap).unwrap();
    assert_eq!(
        cap.device_caps & (V4L2_CAP_READWRITE | V4L2_CAP_STREAMING),
        V4L2_CAP_READWRITE | V4L2_CAP_STREAMING
    );
    let mut p = v4l2_streamparm {
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_G_PARM, &mut p).unwrap();
    assert!(p.capture().readbuffers >= 1, "K9: readbuffers");
    let mut p = v4l2_streamparm {
        type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
        ..Default::default()
    };
    h.ioctl(fd, VIDIOC_G_PARM, &mut p).unwrap();
    assert!(p.output().writebuffers >= 1, "K9: writebuffers");
}

// ---------------------------------------------------------------------------------------------
// L. poll
// ---------------------------------------------------------------------------------------------

#[test]
fn l1_scripted_scenario_never_loses_a_wake_up() {
    let mut h = Harness::new(DeviceConfig {
        sustain_framerate: true,
        ..DeviceConfig::default()
    });
    let c1 = step(&mut h, "open c1", |h| h.open());
    let c2 = step(&mut h, "open c2", |h| h.open());
    let ev = step(&mut h, "open ev", |h| h.open());
    step(&mut h, "c1 REQBUFS", |h| {
        h.reqbufs(c1, Dir::Capture, 2).unwrap()
    });
    step(&mut h, "c1 STREAMON", |h| {
        h.streamon(c1, Dir::Capture).unwrap()
    });
    step(&mut h, "c1 QBUF 0", |h| {
        h.qbuf(c1, Dir::Capture, 0, 0).unwrap()
    });
    step(&mut h, "c1 QBUF 1", |h| {
        h.qbuf(c1, Dir::Capture, 1, 0).unwrap()
    });
    step(&mut h, "c2 REQBUFS", |h| {
        h.reqbufs(c2, Dir::Capture, 2).unwrap()
    });
    step(&mut h, "c2 QBUF", |h| {
        h.qbuf(c2, Dir::Capture, 0, 0).unwrap()
    });
    step(&mut h, "c2 STREAMON", |h| {
        h.streamon(c2, Dir::Capture).unwrap()
    });
    step(&mut h, "ev subscribe ctrl", |h| {
        h.subscribe(
            ev,
            V4L2_EVENT_CTRL,
            CID_TIMEOUT,
            V4L2_EVENT_SUB_FL_SEND_INITIAL,
        )
        .unwrap()
    });
    step(&mut h, "c1 subscribe EOS", |h| {
        h.subscribe(c1, V4L2_EVENT_EOS, 0, 0).unwrap()
    });
    step(&mut h, "c2 subscribe usage", |h| {
        h.subscribe(c2, EVENT_PRI_CLIENT_USAGE, 0, 0).unwrap()
    });
    let p = step(&mut h, "producer", |h| {
        h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2)
    });
    step(&mut h, "produce 0", |h| h.produce(p, 0, 0).unwrap());
    step(&mut h, "produce 1", |h| h.produce(p, 1, 1).unwrap());
    step(&mut h, "ev DQEVENT", |h| h.dqevent(ev).unwrap());
    step(&mut h, "c1 DQBUF", |h| h.dqbuf(c1, Dir::Capture).unwrap());
    step(&mut h, "c1 DQBUF (empties)", |h| {
        h.dqbuf(c1, Dir::Capture).unwrap()
    });
    step(&mut h, "c1 DQBUF EAGAIN", |h| {
        h.dqbuf(c1, Dir::Capture).unwrap_err()
    });
    step(&mut h, "p DQBUF", |h| h.dqbuf(p, Dir::Output).unwrap());
    step(&mut h, "p DQBUF (empties)", |h| {
        h.dqbuf(p, Dir::Output).unwrap()
    });
    step(&mut h, "c1 QBUF", |h| {
        h.qbuf(c1, Dir::Capture, 0, 0).unwrap()
    });
    step(&mut h, "tick (sustain repeat)", |h| h.advance(200_000_000));
    step(&mut h, "S_CTRL timeout", |h| {
        s_ctrl(h, c2, CID_TIMEOUT, 100).unwrap()
    });
    step(&mut h, "tick (timeout image)", |h| h.advance(500_000_000));
    step(&mut h, "c2 DQEVENT", |h| h.dqevent(c2).ok());
    step(&mut h, "ev unsubscribe all", |h| {
        h.subscribe(ev, V4L2_EVENT_CTRL, CID_TIMEOUT, 0).unwrap();
        let mut s = v4l2_event_subscription::default();
        h.ioctl(ev, VIDIOC_UNSUBSCRIBE_EVENT, &mut s).unwrap()
    });
    step(&mut h, "p STREAMOFF", |h| {
        h.streamoff(p, Dir::Output).unwrap()
    });
    step(&mut h, "p REQBUFS(0)", |h| {
        h.reqbufs(p, Dir::Output, 0).unwrap()
    });
    step(&mut h, "p S_FMT (source change)", |h| {
        h.s_fmt(p, Dir::Output, 320, 240, V4L2_PIX_FMT_YUYV)
            .unwrap()
    });
    step(&mut h, "c2 STREAMOFF", |h| {
        h.streamoff(c2, Dir::Capture).unwrap()
    });
    step(&mut h, "c2 STREAMON (L5 re-armed)", |h| {
        h.streamon(c2, Dir::Capture).unwrap()
    });
    step(&mut h, "c2 REQBUFS(0)", |h| {
        h.reqbufs(c2, Dir::Capture, 0).unwrap()
    });
    step(&mut h, "c2 CREATE_BUFS", |h| {
        let mut c = v4l2_create_buffers {
            count: 2,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        c.format.type_ = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        c.format.set_pix(&v4l2_pix_format {
            sizeimage: h.dev.format().sizeimage,
            ..Default::default()
        });
        h.ioctl(c2, VIDIOC_CREATE_BUFS, &mut c).unwrap()
    });
    let w = step(&mut h, "open writer", |h| h.open());
    let r = step(&mut h, "open reader", |h| h.open());
    step(&mut h, "reader poll starts read()", |h| h.poll(r, IN));
    step(&mut h, "writer poll starts write()", |h| h.poll(w, OUT));
    step(&mut h, "write", |h| {
        h.write(w, &vec![1; 320 * 240 * 2]).unwrap()
    });
    step(&mut h, "read part", |h| h.read(r, 100).unwrap());
    step(&mut h, "read rest", |h| h.read(r, 320 * 240 * 2).unwrap());
    step(&mut h, "read EAGAIN", |h| h.read(r, 1).unwrap_err());
    step(&mut h, "close writer", |h| h.close(w));
    step(&mut h, "close p", |h| h.close(p));
    step(&mut h, "close c2", |h| h.close(c2));
    h.dev.check_invariants().unwrap();
}

#[derive(Clone, Debug)]
enum Op {
    Reqbufs(usize, bool, u32),
    CreateBufs(usize, bool, u32),
    SFmt(usize, bool),
    StreamOn(usize, bool),
    StreamOff(usize, bool),
    Qbuf(usize, bool, u32),
    Prepare(usize, bool, u32),
    Dqbuf(usize, bool),
    Write(usize, u32),
    Read(usize, u32),
    Poll(usize, u32),
    Subscribe(usize, u8),
    Unsubscribe(usize),
    DqEvent(usize),
    Ctrl(usize, bool, i32),
    Advance(u32),
    Reopen(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0usize..5;
    let d = any::<bool>();
    prop_oneof![
        3 => (k.clone(), d, 0u32..4).prop_map(|(k, d, c)| Op::Reqbufs(k, d, c)),
        1 => (k.clone(), d, 0u32..3).prop_map(|(k, d, c)| Op::CreateBufs(k, d, c)),
        1 => (k.clone(), d).prop_map(|(k, s)| Op::SFmt(k, s)),
        3 => (k.clone(), d).prop_map(|(k, d)| Op::StreamOn(k, d)),
        1 => (k.clone(), d).prop_map(|(k, d)| Op::StreamOff(k, d)),
        6 => (k.clone(), d, 0u32..4).prop_map(|(k, d, i)| Op::Qbuf(k, d, i)),
        1 => (k.clone(), d, 0u32..4).prop_map(|(k, d, i)| Op::Prepare(k, d, i)),
        6 => (k.clone(), d).prop_map(|(k, d)| Op::Dqbuf(k, d)),
        2 => (k.clone(), 0u32..3).prop_map(|(k, n)| Op::Write(k, n)),
        2 => (k.clone(), 1u32..400_000).prop_map(|(k, n)| Op::Read(k, n)),
        2 => (k.clone(), 0u32..0x200).prop_map(|(k, e)| Op::Poll(k, e)),
        1 => (k.clone(), 0u8..4).prop_map(|(k, t)| Op::Subscribe(k, t)),
        1 => k.clone().prop_map(Op::Unsubscribe),
        2 => k.clone().prop_map(Op::DqEvent),
        1 => (k.clone(), d, 0i32..200).prop_map(|(k, s, v)| Op::Ctrl(k, s, v)),
        2 => (0u32..120).prop_map(Op::Advance),
        1 => k.prop_map(Op::Reopen),
    ]
}

fn dir_of(output: bool) -> Dir {
    if output {
        Dir::Output
    } else {
        Dir::Capture
    }
}

fn apply(h: &mut Harness, fds: &mut [OpenerId], op: &Op) {
    match *op {
        Op::Reqbufs(k, o, c) => {
            let _ = h.reqbufs(fds[k], dir_of(o), c);
        }
        Op::CreateBufs(k, o, count) => {
            let mut c = v4l2_create_buffers {
                count,
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            c.format.type_ = dir_of(o).buf_type();
            c.format.set_pix(&v4l2_pix_format {
                sizeimage: h.dev.format().sizeimage,
                ..Default::default()
            });
            let _ = h.ioctl(fds[k], VIDIOC_CREATE_BUFS, &mut c);
        }
        Op::SFmt(k, small) => {
            let (w, ht) = if small { (320, 240) } else { (W, HT) };
            let _ = h.s_fmt(fds[k], Dir::Output, w, ht, V4L2_PIX_FMT_YUYV);
        }
        Op::StreamOn(k, o) => {
            let _ = h.streamon(fds[k], dir_of(o));
        }
        Op::StreamOff(k, o) => {
            let _ = h.streamoff(fds[k], dir_of(o));
        }
        Op::Qbuf(k, o, i) => {
            let size = h.dev.format().sizeimage;
            let _ = h.qbuf(fds[k], dir_of(o), i, if o { size } else { 0 });
        }
        Op::Prepare(k, o, i) => {
            let mut b = v4l2_buffer {
                index: i,
                type_: dir_of(o).buf_type(),
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            let _ = h.ioctl(fds[k], VIDIOC_PREPARE_BUF, &mut b);
        }
        Op::Dqbuf(k, o) => {
            let _ = h.dqbuf(fds[k], dir_of(o));
        }
        Op::Write(k, n) => {
            let size = h.dev.format().sizeimage as usize;
            let _ = h.write(fds[k], &counter_pattern(u64::from(n), size));
        }
        Op::Read(k, n) => {
            let _ = h.read(fds[k], n);
        }
        Op::Poll(k, e) => {
            let _ = h.poll(fds[k], e);
        }
        Op::Subscribe(k, t) => {
            let (type_, id, flags) = match t {
                0 => (V4L2_EVENT_EOS, 0, 0),
                1 => (V4L2_EVENT_SOURCE_CHANGE, 0, 0),
                2 => (V4L2_EVENT_CTRL, CID_TIMEOUT, V4L2_EVENT_SUB_FL_SEND_INITIAL),
                _ => (EVENT_PRI_CLIENT_USAGE, 0, V4L2_EVENT_SUB_FL_SEND_INITIAL),
            };
            let _ = h.subscribe(fds[k], type_, id, flags);
        }
        Op::Unsubscribe(k) => {
            let mut s = v4l2_event_subscription::default();
            let _ = h.ioctl(fds[k], VIDIOC_UNSUBSCRIBE_EVENT, &mut s);
        }
        Op::DqEvent(k) => {
            let _ = h.dqevent(fds[k]);
        }
        Op::Ctrl(k, sustain, v) => {
            let (cid, v) = if sustain {
                (CID_SUSTAIN_FRAMERATE, v & 1)
            } else {
                (CID_TIMEOUT, v * 10)
            };
            let _ = s_ctrl(h, fds[k], cid, v);
        }
        Op::Advance(ms) => h.advance(u64::from(ms) * 1_000_000),
        Op::Reopen(k) => {
            h.close(fds[k]);
            fds[k] = h.open();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, max_shrink_iters: 4000, ..ProptestConfig::default() })]

    /// L1, model half, on random interleavings: whatever happens, an opener whose poll result
    /// changed is in `take_wakeups()`.
    #[test]
    fn l1_random_operations_never_lose_a_wake_up(ops in proptest::collection::vec(op(), 1..80), exclusive in any::<bool>()) {
        let mut h = Harness::new(DeviceConfig { exclusive_caps: exclusive, ..DeviceConfig::default() });
        let mut fds: Vec<OpenerId> = (0..5).map(|_| h.open()).collect();
        for op in &ops {
            step(&mut h, &format!("{op:?}"), |h| apply(h, &mut fds, op));
            if let Err(e) = h.dev.check_invariants() {
                panic!("invariant after {op:?}: {e}");
            }
        }
    }
}

#[test]
fn l2_event_only_polling_ignores_the_queue() {
    let mut h = Harness::default_device();
    // A fresh fd polling POLLPRI only starts nothing.
    let fd = h.open();
    assert_eq!(h.poll(fd, POLLPRI), 0, "L2");
    assert!(
        h.dev.opener_queue(fd).is_none(),
        "L2/L9: no file I/O started"
    );
    // Streaming capture with nothing queued since STREAMON: POLLIN would be POLLERR (L5).
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    assert_eq!(h.poll(c, POLLPRI), 0, "L2: not streaming, POLLPRI only");
    h.streamon(c, Dir::Capture).unwrap();
    assert_eq!(h.poll(c, IN) & POLLERR, POLLERR, "L5 for contrast");
    assert_eq!(
        h.poll(c, POLLPRI),
        0,
        "L2: no POLLERR for an event-only poller"
    );
    assert_eq!(
        h.poll(c, OUT),
        0,
        "L2: the output class is not this queue's"
    );
    // The same on the output side.
    let p = producer_idle(&mut h, 2);
    assert_eq!(h.poll(p, POLLOUT) & POLLERR, POLLERR, "L4 for contrast");
    assert_eq!(h.poll(p, POLLPRI), 0, "L2");
    assert_eq!(
        h.poll(p, IN),
        0,
        "L2: the capture class is not this queue's"
    );
    // With an event pending, exactly POLLPRI.
    h.subscribe(
        c,
        V4L2_EVENT_CTRL,
        CID_TIMEOUT,
        V4L2_EVENT_SUB_FL_SEND_INITIAL,
    )
    .unwrap();
    assert_eq!(h.poll(c, POLLPRI), POLLPRI, "L2/L9");
    h.dev.check_invariants().unwrap();
}

#[test]
fn l3_poll_starts_file_io() {
    let mut h = Harness::default_device();
    let w = h.open();
    assert_eq!(h.poll(w, POLLOUT) & OUT, OUT, "L3: POLLOUT at once");
    assert_eq!(
        h.dev.opener_queue(w),
        Some((Dir::Output, Io::File, true)),
        "L3: owner"
    );
    let p2 = h.open();
    assert_eq!(
        h.reqbufs(p2, Dir::Output, 2),
        Err(Errno::EBUSY),
        "L3: fd2 REQBUFS → EBUSY"
    );
    let r = h.open();
    assert_eq!(h.poll(r, POLLIN), 0, "L3: read() started, no frame yet");
    assert_eq!(h.dev.opener_queue(r), Some((Dir::Capture, Io::File, true)));
    h.write(w, &counter_pattern(4, SIZE as usize)).unwrap();
    assert_eq!(h.poll(r, POLLIN) & IN, IN);
    assert_eq!(check_counter(&h.read(r, SIZE).unwrap()), Some(4));
    // If starting fails → POLLERR.
    let w2 = h.open();
    assert_eq!(
        h.poll(w2, POLLOUT) & POLLERR,
        POLLERR,
        "L3: another writer exists"
    );
    assert!(h.dev.opener_queue(w2).is_none());
    let mut s = strict();
    let r1 = s.open();
    assert_eq!(s.poll(r1, POLLIN), 0);
    let r2 = s.open();
    assert_eq!(
        s.poll(r2, POLLIN) & POLLERR,
        POLLERR,
        "L3: strict mode, second reader"
    );
    h.dev.check_invariants().unwrap();
    s.dev.check_invariants().unwrap();
}

#[test]
fn l4_not_streaming_is_pollerr_plus_pollpri_for_pending_events() {
    let mut h = Harness::default_device();
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    assert_eq!(h.poll(c, POLLIN), POLLERR, "L4: REQBUFS, no STREAMON");
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    assert_eq!(h.poll(c, POLLIN), POLLERR, "L4: queued but not streaming");
    h.subscribe(
        c,
        V4L2_EVENT_CTRL,
        CID_TIMEOUT,
        V4L2_EVENT_SUB_FL_SEND_INITIAL,
    )
    .unwrap();
    assert_eq!(
        h.poll(c, POLLIN | POLLPRI),
        POLLERR | POLLPRI,
        "L4: with POLLPRI"
    );
    assert_eq!(
        h.dqbuf(c, Dir::Capture).err(),
        Some(Errno::EINVAL),
        "L4: DQBUF then fails"
    );
    let p = producer_idle(&mut h, 2);
    assert_eq!(h.poll(p, POLLOUT), POLLERR, "L4: output");
    h.streamon(p, Dir::Output).unwrap();
    assert_eq!(h.poll(p, POLLOUT), 0);
    h.streamoff(p, Dir::Output).unwrap();
    assert_eq!(h.poll(p, POLLOUT), POLLERR, "L4: after STREAMOFF");
    h.dev.check_invariants().unwrap();
}

#[test]
fn l5_capture_streaming_but_never_queued_is_pollerr() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    h.streamon(c, Dir::Capture).unwrap();
    assert_eq!(h.poll(c, POLLIN), POLLERR, "L5");
    h.qbuf(c, Dir::Capture, 0, 0).unwrap();
    assert_eq!(h.poll(c, POLLIN), 0, "L5: queued once → just wait");
    h.produce(p, 0, 0).unwrap();
    assert_eq!(h.poll(c, POLLIN), IN);
    h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(
        h.poll(c, POLLIN),
        0,
        "L5: all dequeued later → 0, not POLLERR"
    );
    // STREAMOFF re-arms it.
    h.streamoff(c, Dir::Capture).unwrap();
    h.streamon(c, Dir::Capture).unwrap();
    assert_eq!(h.poll(c, POLLIN), POLLERR, "L5: after STREAMOFF");
    h.qbuf(c, Dir::Capture, 1, 0).unwrap();
    assert_eq!(h.poll(c, POLLIN), 0);
    // So does REQBUFS (via implied STREAMOFF and a new set).
    h.reqbufs(c, Dir::Capture, 0).unwrap();
    h.reqbufs(c, Dir::Capture, 2).unwrap();
    h.streamon(c, Dir::Capture).unwrap();
    assert_eq!(h.poll(c, POLLIN), POLLERR, "L5: after REQBUFS");
    // Queued before STREAMON: never POLLERR.
    let c2 = h.consumer(2);
    assert_eq!(h.poll(c2, POLLIN), 0, "L5: queued before STREAMON");
    // Output queues never have this state.
    let p2 = {
        h.close(p);
        producer_idle(&mut h, 2)
    };
    h.streamon(p2, Dir::Output).unwrap();
    assert_eq!(h.poll(p2, POLLOUT), 0, "L5: not for output");
    h.dev.check_invariants().unwrap();
}

#[test]
fn l6_readable_and_writable_exactly_when_a_buffer_is_done() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    assert_eq!(h.poll(c, IN), 0, "L6: nothing done");
    assert_eq!(h.poll(p, OUT), 0, "L6/L7: nothing done");
    h.dev.take_wakeups();
    h.produce(p, 0, 0).unwrap();
    assert!(h.dev.take_wakeups().contains(&c));
    assert_eq!(h.poll(c, IN), IN, "L6: POLLIN|POLLRDNORM");
    assert_eq!(h.poll(c, POLLRDNORM), IN, "L6: either bit asks");
    assert_eq!(h.poll(p, OUT), OUT, "L6: POLLOUT|POLLWRNORM");
    assert_eq!(h.poll(p, POLLWRNORM), OUT);
    let b = h
        .dqbuf(c, Dir::Capture)
        .expect("L6: DQBUF succeeds without waiting");
    assert_eq!(h.poll(c, IN), 0);
    h.dqbuf(p, Dir::Output).unwrap();
    assert_eq!(h.poll(p, OUT), 0);
    // Readable again with the next frame.
    h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
    h.produce(p, 0, 1).unwrap();
    assert_eq!(h.poll(c, IN), IN);
    // read(): readable while a frame is partially read.
    let r = h.open();
    assert_eq!(h.read(r, 1), Err(Errno::EAGAIN));
    h.produce(p, 1, 2).unwrap();
    assert_eq!(h.poll(r, IN), IN);
    h.read(r, 10).unwrap();
    assert_eq!(h.poll(r, IN), IN, "L6: the rest of the frame is readable");
    h.read(r, SIZE).unwrap();
    assert_eq!(h.poll(r, IN), 0, "L6: frame exhausted");
    h.dev.check_invariants().unwrap();
}

#[test]
fn l7_streaming_output_with_nothing_done_is_not_writable() {
    let mut h = Harness::default_device();
    let p = producer_idle(&mut h, 2);
    h.streamon(p, Dir::Output).unwrap();
    assert_eq!(
        h.poll(p, POLLOUT),
        0,
        "L7: free buffers held by the app do not count"
    );
    h.fill(p, 0, &counter_pattern(0, SIZE as usize));
    h.qbuf(p, Dir::Output, 0, SIZE).unwrap();
    assert_eq!(h.poll(p, POLLOUT), OUT, "L7: POLLOUT once one is consumed");
    h.dqbuf(p, Dir::Output).unwrap();
    assert_eq!(h.poll(p, POLLOUT), 0);
    // write() emulation: always writable (each write() gets fresh memory).
    h.close(p);
    let w = h.open();
    h.write(w, &[0; 16]).unwrap();
    assert_eq!(h.poll(w, POLLOUT), OUT, "L7: write() never waits");
    h.dev.check_invariants().unwrap();
}

#[test]
fn l8_no_spurious_readability_after_the_producer_stops() {
    let mut h = Harness::default_device();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    h.produce(p, 0, 0).unwrap();
    h.streamoff(p, Dir::Output).unwrap();
    h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(h.poll(c, IN), 0, "L8: no LAST, so no POLLIN shortcut");
    h.close(p);
    assert_eq!(h.poll(c, IN), 0, "O8: not POLLERR either");
    h.dev.check_invariants().unwrap();
}

#[test]
fn l9_pollpri_whenever_events_are_pending() {
    let mut h = Harness::default_device();
    // A fd with no queue at all.
    let fd = h.open();
    h.subscribe(
        fd,
        V4L2_EVENT_CTRL,
        CID_TIMEOUT,
        V4L2_EVENT_SUB_FL_SEND_INITIAL,
    )
    .unwrap();
    assert_eq!(h.poll(fd, POLLPRI), POLLPRI, "L9");
    assert!(
        h.dev.opener_queue(fd).is_none(),
        "L9: POLLPRI polling starts nothing"
    );
    h.dqevent(fd).unwrap();
    assert_eq!(h.poll(fd, POLLPRI), 0);
    // A consumer with buffers but not streaming: EOS when the producer stops.
    let c = h.open();
    assert_eq!(h.reqbufs(c, Dir::Capture, 2), Ok(2));
    h.subscribe(c, V4L2_EVENT_EOS, 0, 0).unwrap();
    let p = h.producer(W, HT, V4L2_PIX_FMT_YUYV, 2);
    assert_eq!(h.poll(c, POLLPRI), 0);
    h.dev.take_wakeups();
    h.streamoff(p, Dir::Output).unwrap();
    assert!(
        h.dev.take_wakeups().contains(&c),
        "M9/L1: the event wakes the poller"
    );
    assert_eq!(
        h.poll(c, POLLPRI),
        POLLPRI,
        "L9: regardless of streaming state"
    );
    assert_eq!(h.poll(c, POLLIN | POLLPRI), POLLERR | POLLPRI, "L4 + L9");
    // A streaming consumer: POLLPRI together with POLLIN.
    let c2 = h.consumer(2);
    h.subscribe(c2, V4L2_EVENT_CTRL, CID_TIMEOUT, 0).unwrap();
    h.streamon(p, Dir::Output).unwrap();
    h.produce(p, 0, 0).unwrap();
    s_ctrl(&mut h, fd, CID_TIMEOUT, 300).unwrap();
    assert_eq!(h.poll(c2, IN | POLLPRI), IN | POLLPRI, "L6 + L9");
    assert_eq!(h.dqevent(c2).map(|e| e.id), Ok(CID_TIMEOUT));
    assert_eq!(h.poll(c2, IN | POLLPRI), IN);
    h.dev.check_invariants().unwrap();
}
