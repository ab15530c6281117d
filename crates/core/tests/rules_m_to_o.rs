//! Rule tests for groups M (events), N (controls) and O (loopback-specific behaviour) of
//! reference/v4l2-uapi-rules.md, run against the sans-IO model through the test harness.
//!
//! Blocking is modelled as in the rest of core: DQEVENT answers ENOENT instead of sleeping and
//! the opener shows up in `take_wakeups()` when something arrives, which is what the host needs
//! to wake poll/select/epoll waiters (M9).
//!
//! Skipped id: O9 proper (running v4l2-compliance in CI) is a host job. Its model-side
//! precondition — a strict single-reader mode in which a second capture fd gets EBUSY — is
//! tested in `o9_strict_single_reader_mode_for_compliance_runs`.

use loopcam_abi::*;
use loopcam_core::controls::{CID_KEEP_FORMAT, CID_SUSTAIN_FRAMERATE, CID_TIMEOUT, TIMEOUT_MAX_MS};
use loopcam_core::events::EVENT_PRI_CLIENT_USAGE;
use loopcam_core::ioctl::dispatch;
use loopcam_core::testing::{check_counter, counter_pattern, Harness};
use loopcam_core::{DeviceConfig, Dir, Errno, Node, NodeLayout, OpenMode, OpenerId};

const POLLIN: u32 = 0x001;
const POLLPRI: u32 = 0x002;
const POLLOUT: u32 = 0x004;
const POLLERR: u32 = 0x008;

const fn fcc(s: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*s)
}

const YUYV: u32 = fcc(b"YUYV");
const MJPG: u32 = fcc(b"MJPG");

const CAP: u32 = V4L2_BUF_TYPE_VIDEO_CAPTURE;
const OUT: u32 = V4L2_BUF_TYPE_VIDEO_OUTPUT;

/// 1/30 s, the device's nominal interval.
const FRAME_NS: u64 = 33_333_333;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

fn raw(h: &mut Harness, id: OpenerId, req: u32, arg: &mut [u8]) -> Result<(), Errno> {
    let r = dispatch(&mut h.dev, id, req, arg, &mut [], h.now).map(|_| ());
    h.sync();
    r
}

fn ff<T: bytemuck::Pod>(f: impl FnOnce(&mut T)) -> T {
    let mut v: T = bytemuck::pod_read_unaligned(&vec![0xffu8; std::mem::size_of::<T>()]);
    f(&mut v);
    v
}

fn cstr(b: &[u8]) -> &str {
    let n = b.iter().position(|c| *c == 0).expect("NUL-terminated");
    std::str::from_utf8(&b[..n]).expect("utf-8")
}

fn unsubscribe(h: &mut Harness, id: OpenerId, type_: u32, ev_id: u32) -> Result<(), Errno> {
    let mut s = v4l2_event_subscription {
        type_,
        id: ev_id,
        ..Default::default()
    };
    h.ioctl(id, VIDIOC_UNSUBSCRIBE_EVENT, &mut s).map(|_| ())
}

fn no_event(h: &mut Harness, id: OpenerId) -> bool {
    h.dqevent(id).map(|_| ()) == Err(Errno::ENOENT)
}

fn s_ctrl(h: &mut Harness, id: OpenerId, cid: u32, value: i32) -> Result<i32, Errno> {
    let mut c = v4l2_control { id: cid, value };
    h.ioctl(id, VIDIOC_S_CTRL, &mut c)?;
    Ok(c.value)
}

fn g_ctrl(h: &mut Harness, id: OpenerId, cid: u32) -> Result<i32, Errno> {
    let mut c = v4l2_control { id: cid, value: 0 };
    h.ioctl(id, VIDIOC_G_CTRL, &mut c)?;
    Ok(c.value)
}

fn s_prio(h: &mut Harness, id: OpenerId, p: u32) {
    let mut v = p;
    h.ioctl(id, VIDIOC_S_PRIORITY, &mut v).expect("S_PRIORITY");
}

/// An EXT_CTRLS call with its control array marshalled as the client does.
fn ext_ctrls(
    h: &mut Harness,
    id: OpenerId,
    req: u32,
    which: u32,
    ctrls: &mut [v4l2_ext_control],
) -> (Result<(), Errno>, v4l2_ext_controls) {
    let hdr = v4l2_ext_controls {
        which,
        count: ctrls.len() as u32,
        ..Default::default()
    };
    let mut arg = bytemuck::bytes_of(&hdr).to_vec();
    let mut extra: Vec<u8> = ctrls
        .iter()
        .flat_map(|c| bytemuck::bytes_of(c).to_vec())
        .collect();
    let r = dispatch(&mut h.dev, id, req, &mut arg, &mut extra, h.now).map(|_| ());
    h.sync();
    let sz = std::mem::size_of::<v4l2_ext_control>();
    for (i, c) in ctrls.iter_mut().enumerate() {
        *c = bytemuck::pod_read_unaligned(&extra[i * sz..(i + 1) * sz]);
    }
    (r, bytemuck::pod_read_unaligned(&arg))
}

fn ext(id: u32, value: i32) -> v4l2_ext_control {
    let mut c = v4l2_ext_control {
        id,
        ..Default::default()
    };
    c.set_value(value);
    c
}

fn queryctrl(h: &mut Harness, id: OpenerId, cid: u32) -> Result<v4l2_queryctrl, Errno> {
    let mut arg = bytemuck::bytes_of(&ff::<v4l2_queryctrl>(|q| q.id = cid)).to_vec();
    raw(h, id, VIDIOC_QUERYCTRL, &mut arg)?;
    Ok(bytemuck::pod_read_unaligned(&arg))
}

fn query_ext(h: &mut Harness, id: OpenerId, cid: u32) -> Result<v4l2_query_ext_ctrl, Errno> {
    let mut arg = bytemuck::bytes_of(&ff::<v4l2_query_ext_ctrl>(|q| q.id = cid)).to_vec();
    raw(h, id, VIDIOC_QUERY_EXT_CTRL, &mut arg)?;
    Ok(bytemuck::pod_read_unaligned(&arg))
}

fn src_changes(e: &v4l2_event) -> u32 {
    e.src_change().changes
}

fn start_producer(h: &mut Harness, p: OpenerId, w: u32, hh: u32, fourcc: u32, count: u32) {
    h.s_fmt(p, Dir::Output, w, hh, fourcc).expect("S_FMT");
    let n = h.reqbufs(p, Dir::Output, count).expect("REQBUFS");
    for i in 0..n {
        h.mmap(p, Dir::Output, i).expect("mmap");
    }
    h.streamon(p, Dir::Output).expect("STREAMON");
}

fn start_consumer(h: &mut Harness, c: OpenerId, count: u32) -> u32 {
    let n = h.reqbufs(c, Dir::Capture, count).expect("REQBUFS");
    for i in 0..n {
        h.mmap(c, Dir::Capture, i).expect("mmap");
        h.qbuf(c, Dir::Capture, i, 0).expect("QBUF");
    }
    h.streamon(c, Dir::Capture).expect("STREAMON");
    n
}

/// One producer frame through buffer 0 (QBUF, then DQBUF it back).
fn send(h: &mut Harness, p: OpenerId, n: u64) -> v4l2_buffer {
    h.produce(p, 0, n).expect("producer QBUF");
    let b = h.dqbuf(p, Dir::Output).expect("producer DQBUF");
    assert_eq!(b.index, 0);
    b
}

/// Dequeue one frame, check content and size, re-queue; returns (frame number, buffer).
fn recv(h: &mut Harness, c: OpenerId) -> Result<(u64, v4l2_buffer), Errno> {
    let b = h.dqbuf(c, Dir::Capture)?;
    assert!(b.bytesused <= b.length, "never more than the buffer holds");
    let data = h.view(c, b.index, b.bytesused as usize).expect("mapped");
    let n = check_counter(&data).expect("intact frame");
    h.qbuf(c, Dir::Capture, b.index, 0).expect("re-QBUF");
    Ok((n, b))
}

/// A consumer with a capture claim (REQBUFS) and a SOURCE_CHANGE subscription.
fn watcher(h: &mut Harness) -> OpenerId {
    let c = h.open();
    h.reqbufs(c, Dir::Capture, 2).unwrap();
    h.subscribe(c, V4L2_EVENT_SOURCE_CHANGE, 0, 0).unwrap();
    c
}

// ---------------------------------------------------------------------------
// M. Events
// ---------------------------------------------------------------------------

#[test]
fn m1_subscribe_validation() {
    let mut h = Harness::default_device();
    let id = h.open();
    for bad in [
        V4L2_EVENT_ALL,
        0x1234,
        V4L2_EVENT_VSYNC,
        V4L2_EVENT_FRAME_SYNC,
    ] {
        assert_eq!(h.subscribe(id, bad, 0, 0), Err(Errno::EINVAL), "type {bad}");
    }
    assert_eq!(
        h.subscribe(id, V4L2_EVENT_PRIVATE_START, 0, 0),
        Err(Errno::EINVAL)
    );
    // CTRL needs an existing control, SOURCE_CHANGE the input index.
    assert_eq!(h.subscribe(id, V4L2_EVENT_CTRL, 0, 0), Err(Errno::EINVAL));
    assert_eq!(
        h.subscribe(id, V4L2_EVENT_CTRL, 0x0098_ffff, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        h.subscribe(id, V4L2_EVENT_SOURCE_CHANGE, 1, 0),
        Err(Errno::EINVAL)
    );
    // Subscribing twice is a no-op success, also through the raw path with junk reserved.
    h.subscribe(id, V4L2_EVENT_SOURCE_CHANGE, 0, 0).unwrap();
    let s = ff::<v4l2_event_subscription>(|s| {
        s.type_ = V4L2_EVENT_SOURCE_CHANGE;
        s.id = 0;
        s.flags = 0;
    });
    let mut arg = bytemuck::bytes_of(&s).to_vec();
    raw(&mut h, id, VIDIOC_SUBSCRIBE_EVENT, &mut arg).unwrap();
    h.subscribe(id, V4L2_EVENT_CTRL, CID_TIMEOUT, 0).unwrap();
    h.subscribe(id, V4L2_EVENT_EOS, 0, 0).unwrap();
    // Per file handle: another fd's event state is separate.
    let other = h.open();
    let p = h.open();
    s_ctrl(&mut h, p, CID_TIMEOUT, 10).unwrap();
    assert_eq!(h.dqevent(id).unwrap().type_, V4L2_EVENT_CTRL);
    assert!(no_event(&mut h, other));
    // Only one SOURCE_CHANGE event for the double subscription.
    h.reqbufs(id, Dir::Capture, 2).unwrap();
    h.s_fmt(p, Dir::Output, 320, 240, YUYV).unwrap();
    let e = h.dqevent(id).unwrap();
    assert_eq!((e.type_, e.pending), (V4L2_EVENT_SOURCE_CHANGE, 0));
    assert!(no_event(&mut h, id));
}

#[test]
fn m2_unsubscribe_drops_pending_events() {
    let mut h = Harness::default_device();
    let id = h.open();
    // Never subscribed: still 0.
    unsubscribe(&mut h, id, V4L2_EVENT_EOS, 0).unwrap();
    unsubscribe(&mut h, id, V4L2_EVENT_CTRL, CID_TIMEOUT).unwrap();
    let init = V4L2_EVENT_SUB_FL_SEND_INITIAL;
    h.subscribe(id, V4L2_EVENT_CTRL, CID_TIMEOUT, init).unwrap();
    h.subscribe(id, V4L2_EVENT_CTRL, CID_KEEP_FORMAT, init)
        .unwrap();
    h.subscribe(id, V4L2_EVENT_CTRL, CID_SUSTAIN_FRAMERATE, init)
        .unwrap();
    // One subscription: its pending event goes with it.
    unsubscribe(&mut h, id, V4L2_EVENT_CTRL, CID_TIMEOUT).unwrap();
    let e = h.dqevent(id).unwrap();
    assert_eq!(e.id, CID_KEEP_FORMAT);
    assert_eq!(e.pending, 1);
    // ALL: everything, and nothing new arrives afterwards.
    unsubscribe(&mut h, id, V4L2_EVENT_ALL, 0).unwrap();
    assert!(no_event(&mut h, id));
    assert_eq!(h.poll(id, POLLPRI) & POLLPRI, 0);
    let other = h.open();
    s_ctrl(&mut h, other, CID_KEEP_FORMAT, 1).unwrap();
    assert!(no_event(&mut h, id));
    // close() unsubscribes: the opener and its queue are gone.
    h.subscribe(other, V4L2_EVENT_EOS, 0, 0).unwrap();
    h.close(other);
    assert!(!h.dev.opener_ids().contains(&other));
}

#[test]
fn m3_dqevent_fills_everything_and_counts_pending() {
    let mut h = Harness::default_device();
    let id = h.open();
    // Non-blocking with nothing pending: ENOENT, never EAGAIN; argument untouched.
    let mut arg = vec![0xffu8; std::mem::size_of::<v4l2_event>()];
    assert_eq!(
        raw(&mut h, id, VIDIOC_DQEVENT, &mut arg),
        Err(Errno::ENOENT)
    );
    assert!(arg.iter().all(|b| *b == 0xff));
    h.subscribe(id, V4L2_EVENT_CTRL, CID_TIMEOUT, 0).unwrap();
    h.subscribe(id, V4L2_EVENT_CTRL, CID_KEEP_FORMAT, 0)
        .unwrap();
    let other = h.open();
    h.now += 5_000;
    s_ctrl(&mut h, other, CID_TIMEOUT, 40).unwrap();
    h.now += 5_000;
    s_ctrl(&mut h, other, CID_KEEP_FORMAT, 1).unwrap();
    let t1 = h.now;
    // R-only: the 0xff the caller passes is never read; every field is written.
    let mut arg = vec![0xffu8; std::mem::size_of::<v4l2_event>()];
    raw(&mut h, id, VIDIOC_DQEVENT, &mut arg).unwrap();
    let a: v4l2_event = bytemuck::pod_read_unaligned(&arg);
    let mut arg = vec![0xffu8; std::mem::size_of::<v4l2_event>()];
    raw(&mut h, id, VIDIOC_DQEVENT, &mut arg).unwrap();
    let b: v4l2_event = bytemuck::pod_read_unaligned(&arg);
    assert_eq!(
        (a.id, a.pending, a.sequence),
        (CID_TIMEOUT, 1, 0),
        "FIFO order"
    );
    assert_eq!((b.id, b.pending, b.sequence), (CID_KEEP_FORMAT, 0, 1));
    for e in [a, b] {
        assert_eq!(e.type_, V4L2_EVENT_CTRL);
        assert_eq!(e.reserved, [0; 8]);
        assert_eq!(e._pad0, 0);
        assert!(bytemuck::bytes_of(&e.ctrl())[36..].iter().all(|x| *x == 0));
        assert!(
            e.data_bytes()[40..].iter().all(|x| *x == 0),
            "payload tail zero"
        );
    }
    // CLOCK_MONOTONIC timespec of the moment the event was queued.
    let ns =
        |e: &v4l2_event| e.timestamp.tv_sec as u64 * 1_000_000_000 + e.timestamp.tv_nsec as u64;
    assert_eq!(ns(&b), t1);
    assert_eq!(ns(&a), t1 - 5_000);
    assert!(b.timestamp.tv_nsec < 1_000_000_000);
    assert!(no_event(&mut h, id));
}

#[test]
fn m4_sequence_counts_dropped_events() {
    let mut h = Harness::default_device();
    let c = watcher(&mut h);
    let p = h.open();
    for (w, hh) in [(320, 240), (640, 360), (800, 600)] {
        h.s_fmt(p, Dir::Output, w, hh, YUYV).unwrap();
    }
    let e = h.dqevent(c).unwrap();
    assert_eq!(e.sequence, 2, "first event is 0; two were merged away");
    assert_eq!(e.pending, 0);
    assert_ne!(src_changes(&e) & V4L2_EVENT_SRC_CH_RESOLUTION, 0);
    // The counter carries on for every later event of this fd, whatever its type.
    h.subscribe(c, V4L2_EVENT_CTRL, CID_TIMEOUT, 0).unwrap();
    s_ctrl(&mut h, p, CID_TIMEOUT, 1).unwrap();
    assert_eq!(h.dqevent(c).unwrap().sequence, 3);
    // Another fd's counter is its own and starts at 0.
    let d = h.open();
    h.subscribe(d, V4L2_EVENT_CTRL, CID_TIMEOUT, 0).unwrap();
    s_ctrl(&mut h, p, CID_TIMEOUT, 2).unwrap();
    assert_eq!(h.dqevent(d).unwrap().sequence, 0);
    assert_eq!(h.dqevent(c).unwrap().sequence, 4);
}

#[test]
fn m5_overflow_merges_changes() {
    let mut h = Harness::default_device();
    let c = watcher(&mut h);
    let p = h.open();
    h.s_fmt(p, Dir::Output, 320, 240, YUYV).unwrap();
    h.s_fmt(p, Dir::Output, 640, 360, YUYV).unwrap();
    let e = h.dqevent(c).unwrap();
    assert_eq!((e.pending, e.sequence), (0, 1));
    assert_eq!(src_changes(&e), V4L2_EVENT_SRC_CH_RESOLUTION);
    assert!(no_event(&mut h, c));

    // CTRL: the kept event has the newest value and the OR of all changes.
    let w = h.open();
    h.subscribe(
        w,
        V4L2_EVENT_CTRL,
        CID_TIMEOUT,
        V4L2_EVENT_SUB_FL_SEND_INITIAL,
    )
    .unwrap();
    s_ctrl(&mut h, p, CID_TIMEOUT, 100).unwrap();
    s_ctrl(&mut h, p, CID_TIMEOUT, 200).unwrap();
    let e = h.dqevent(w).unwrap();
    assert_eq!((e.pending, e.sequence), (0, 2));
    let ctrl = e.ctrl();
    assert_eq!(
        ctrl.changes,
        V4L2_EVENT_CTRL_CH_VALUE | V4L2_EVENT_CTRL_CH_FLAGS,
        "initial (VALUE|FLAGS) merged with VALUE"
    );
    assert_eq!(ctrl.value(), 200);

    // The merged event moves behind events queued after the dropped one.
    let x = watcher(&mut h);
    h.subscribe(x, V4L2_EVENT_EOS, 0, 0).unwrap();
    h.s_fmt(p, Dir::Output, 320, 240, YUYV).unwrap(); // SOURCE_CHANGE (seq 0)
    h.streamon(p, Dir::Output).unwrap(); // OBS-style stream start, no buffers
    h.streamoff(p, Dir::Output).unwrap(); // EOS (seq 1)
    h.s_fmt(p, Dir::Output, 640, 480, YUYV).unwrap(); // SOURCE_CHANGE (seq 2), merged
    let a = h.dqevent(x).unwrap();
    let b = h.dqevent(x).unwrap();
    assert_eq!((a.type_, a.sequence, a.pending), (V4L2_EVENT_EOS, 1, 1));
    assert_eq!(
        (b.type_, b.sequence, b.pending),
        (V4L2_EVENT_SOURCE_CHANGE, 2, 0)
    );
    assert_eq!(src_changes(&b), V4L2_EVENT_SRC_CH_RESOLUTION);
}

#[test]
fn m6_source_change_on_producer_resolution_change() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    let c = h.open();
    h.subscribe(c, V4L2_EVENT_SOURCE_CHANGE, 0, 0).unwrap();
    start_consumer(&mut h, c, 2);
    send(&mut h, p, 0);
    assert_eq!(recv(&mut h, c).unwrap().0, 0);
    assert_eq!(h.poll(c, POLLIN | POLLPRI) & POLLPRI, 0);

    // The producer restarts at another size (STREAMOFF, REQBUFS(0), S_FMT, REQBUFS, STREAMON).
    h.streamoff(p, Dir::Output).unwrap();
    h.reqbufs(p, Dir::Output, 0).unwrap();
    h.dev.take_wakeups();
    start_producer(&mut h, p, 320, 240, YUYV, 2);
    assert!(h.dev.take_wakeups().contains(&c), "M9: woken");
    assert_ne!(h.poll(c, POLLIN | POLLPRI) & POLLPRI, 0);
    for n in 1..4 {
        send(&mut h, p, n);
    }
    // Never a frame of the wrong size.
    assert_eq!(h.dqbuf(c, Dir::Capture).map(|_| ()), Err(Errno::EAGAIN));
    let e = h.dqevent(c).unwrap();
    assert_eq!((e.type_, e.id), (V4L2_EVENT_SOURCE_CHANGE, 0));
    assert_ne!(src_changes(&e) & V4L2_EVENT_SRC_CH_RESOLUTION, 0);
    assert_eq!(
        h.poll(c, POLLPRI) & POLLPRI,
        0,
        "POLLPRI clears when drained"
    );

    // The consumer renegotiates and receives the new size.
    h.streamoff(c, Dir::Capture).unwrap();
    h.reqbufs(c, Dir::Capture, 0).unwrap();
    let f = h.g_fmt(c, Dir::Capture).unwrap();
    assert_eq!((f.width, f.height), (320, 240));
    start_consumer(&mut h, c, 2);
    send(&mut h, p, 4);
    let (n, b) = recv(&mut h, c).unwrap();
    assert_eq!(n, 4);
    assert_eq!(b.bytesused, 320 * 240 * 2);
    h.dev.check_invariants().unwrap();
}

#[test]
fn m6_output_only_nodes_reject_source_change() {
    // v4l2-compliance: a non-m2m output-only node must refuse the subscription.
    let mut h = Harness::new(DeviceConfig {
        layout: NodeLayout::Split,
        ..Default::default()
    });
    let out = h.open_as(Node::Output, OpenMode::RDWR).unwrap();
    let cap = h.open_as(Node::Capture, OpenMode::RDWR).unwrap();
    assert_eq!(
        h.subscribe(out, V4L2_EVENT_SOURCE_CHANGE, 0, 0),
        Err(Errno::EINVAL)
    );
    h.subscribe(cap, V4L2_EVENT_SOURCE_CHANGE, 0, 0).unwrap();

    let mut h = Harness::new(DeviceConfig {
        exclusive_caps: true,
        ..Default::default()
    });
    let early = h.open();
    assert_eq!(
        h.subscribe(early, V4L2_EVENT_SOURCE_CHANGE, 0, 0),
        Err(Errno::EINVAL),
        "OUTPUT-only while no producer streams"
    );
    let _p = h.producer(640, 480, YUYV, 2);
    h.subscribe(early, V4L2_EVENT_SOURCE_CHANGE, 0, 0).unwrap();
}

#[test]
fn m7_eos_when_the_producer_stops() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    // Subscribe/unsubscribe EOS on the output role: 0/0.
    h.subscribe(p, V4L2_EVENT_EOS, 0, 0).unwrap();
    unsubscribe(&mut h, p, V4L2_EVENT_EOS, 0).unwrap();
    let c = h.open();
    h.subscribe(c, V4L2_EVENT_EOS, 0, 0).unwrap();
    start_consumer(&mut h, c, 2);
    send(&mut h, p, 0);
    h.dev.take_wakeups();
    h.streamoff(p, Dir::Output).unwrap();
    assert!(h.dev.take_wakeups().contains(&c));
    assert_eq!(h.dqevent(c).unwrap().type_, V4L2_EVENT_EOS);
    // The frame delivered before EOS is still there; nothing after it.
    assert_eq!(recv(&mut h, c).unwrap().0, 0);
    // Restart, then close: EOS again.
    h.streamon(p, Dir::Output).unwrap();
    send(&mut h, p, 1);
    h.close(p);
    assert_eq!(h.dqevent(c).unwrap().type_, V4L2_EVENT_EOS);
    assert!(no_event(&mut h, c));
    h.dev.check_invariants().unwrap();
}

#[test]
fn m8_ctrl_events_initial_and_no_self_feedback() {
    let mut h = Harness::default_device();
    let fd1 = h.open();
    let fd2 = h.open();
    s_ctrl(&mut h, fd2, CID_TIMEOUT, 250).unwrap();
    h.dev.take_wakeups();
    h.subscribe(
        fd1,
        V4L2_EVENT_CTRL,
        CID_TIMEOUT,
        V4L2_EVENT_SUB_FL_SEND_INITIAL,
    )
    .unwrap();
    // Immediately readable (select exceptfds / POLLPRI).
    assert!(h.dev.take_wakeups().contains(&fd1));
    assert_ne!(h.poll(fd1, 0) & POLLPRI, 0);
    let e = h.dqevent(fd1).unwrap();
    assert_eq!((e.type_, e.id), (V4L2_EVENT_CTRL, CID_TIMEOUT));
    let c = e.ctrl();
    assert_eq!(
        c.changes,
        V4L2_EVENT_CTRL_CH_VALUE | V4L2_EVENT_CTRL_CH_FLAGS
    );
    assert_eq!(c.type_, V4L2_CTRL_TYPE_INTEGER);
    assert_eq!(c.value(), 250);
    assert_eq!(
        (c.minimum, c.maximum, c.step, c.default_value),
        (0, TIMEOUT_MAX_MS as i32, 1, 0)
    );
    assert_eq!(c.flags, 0);
    // Re-subscribing an existing subscription does not send another initial event.
    h.subscribe(
        fd1,
        V4L2_EVENT_CTRL,
        CID_TIMEOUT,
        V4L2_EVENT_SUB_FL_SEND_INITIAL,
    )
    .unwrap();
    assert!(no_event(&mut h, fd1));

    // Own change: no event. Another fd's change: CH_VALUE.
    s_ctrl(&mut h, fd1, CID_TIMEOUT, 300).unwrap();
    assert!(no_event(&mut h, fd1));
    s_ctrl(&mut h, fd2, CID_TIMEOUT, 400).unwrap();
    let e = h.dqevent(fd1).unwrap();
    assert_eq!(e.ctrl().changes, V4L2_EVENT_CTRL_CH_VALUE);
    assert_eq!(e.ctrl().value(), 400);
    // Setting the same value changes nothing.
    s_ctrl(&mut h, fd2, CID_TIMEOUT, 400).unwrap();
    assert!(no_event(&mut h, fd1));
    // S_EXT_CTRLS notifies the same way.
    let (r, _) = ext_ctrls(
        &mut h,
        fd2,
        VIDIOC_S_EXT_CTRLS,
        V4L2_CTRL_WHICH_CUR_VAL,
        &mut [ext(CID_TIMEOUT, 500)],
    );
    r.unwrap();
    assert_eq!(h.dqevent(fd1).unwrap().ctrl().value(), 500);

    // ALLOW_FEEDBACK: the changing fd hears itself.
    let fd3 = h.open();
    h.subscribe(
        fd3,
        V4L2_EVENT_CTRL,
        CID_KEEP_FORMAT,
        V4L2_EVENT_SUB_FL_ALLOW_FEEDBACK,
    )
    .unwrap();
    assert!(no_event(&mut h, fd3), "no SEND_INITIAL, no event");
    s_ctrl(&mut h, fd3, CID_KEEP_FORMAT, 1).unwrap();
    let e = h.dqevent(fd3).unwrap();
    assert_eq!((e.id, e.ctrl().value()), (CID_KEEP_FORMAT, 1));
    assert_eq!(e.ctrl().type_, V4L2_CTRL_TYPE_BOOLEAN);

    // A control-class pseudo-control: subscription succeeds, no initial event.
    h.subscribe(
        fd2,
        V4L2_EVENT_CTRL,
        V4L2_CID_USER_CLASS,
        V4L2_EVENT_SUB_FL_SEND_INITIAL,
    )
    .unwrap();
    assert!(no_event(&mut h, fd2));
}

#[test]
fn m9_every_event_wakes_pollpri_waiters() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    let c = h.open();
    h.subscribe(c, V4L2_EVENT_EOS, 0, 0).unwrap();
    h.subscribe(c, V4L2_EVENT_SOURCE_CHANGE, 0, 0).unwrap();
    h.subscribe(c, V4L2_EVENT_CTRL, CID_TIMEOUT, 0).unwrap();
    start_consumer(&mut h, c, 2);
    // epoll ADD with events=0 then MOD: core reports POLLPRI whatever was asked.
    assert_eq!(h.poll(c, 0), 0);

    let triggers: [&dyn Fn(&mut Harness); 3] = [
        &|h: &mut Harness| {
            s_ctrl(h, p, CID_TIMEOUT, 77).unwrap();
        },
        &|h: &mut Harness| h.streamoff(p, Dir::Output).unwrap(),
        &|h: &mut Harness| {
            h.reqbufs(p, Dir::Output, 0).unwrap();
            h.s_fmt(p, Dir::Output, 320, 240, YUYV).unwrap();
        },
    ];
    for (k, trigger) in triggers.iter().enumerate() {
        h.dev.take_wakeups();
        trigger(&mut h);
        assert!(h.dev.take_wakeups().contains(&c), "trigger {k}");
        assert_ne!(h.poll(c, 0) & POLLPRI, 0, "trigger {k}");
        assert_ne!(h.poll(c, POLLIN) & POLLPRI, 0);
        h.dqevent(c).unwrap();
        assert!(no_event(&mut h, c));
        assert_eq!(h.poll(c, 0) & POLLPRI, 0);
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn m10_client_usage_event_only_to_subscribers() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    h.subscribe(p, EVENT_PRI_CLIENT_USAGE, 0, V4L2_EVENT_SUB_FL_SEND_INITIAL)
        .unwrap();
    let initial = h.dqevent(p).unwrap();
    assert_eq!(
        (initial.type_, initial.u[0] as u32),
        (EVENT_PRI_CLIENT_USAGE, 0)
    );
    let bystander = h.open();
    let c1 = h.consumer(2);
    let e = h.dqevent(p).unwrap();
    assert_eq!((e.type_, e.u[0] as u32), (EVENT_PRI_CLIENT_USAGE, 1));
    let c2 = h.consumer(2);
    assert_eq!(h.dqevent(p).unwrap().u[0] as u32, 2);
    assert_eq!(h.dev.reader_count(), 2);
    h.streamoff(c1, Dir::Capture).unwrap();
    assert_eq!(h.dqevent(p).unwrap().u[0] as u32, 1);
    h.close(c2);
    assert_eq!(h.dqevent(p).unwrap().u[0] as u32, 0);
    for id in [bystander, c1] {
        assert!(no_event(&mut h, id), "not subscribed, not delivered");
    }
    // Unsubscribed: no more.
    unsubscribe(&mut h, p, EVENT_PRI_CLIENT_USAGE, 0).unwrap();
    let _c3 = h.consumer(2);
    assert!(no_event(&mut h, p));
}

// ---------------------------------------------------------------------------
// N. Controls
// ---------------------------------------------------------------------------

const EXPECTED_IDS: [u32; 4] = [
    V4L2_CID_USER_CLASS,
    CID_KEEP_FORMAT,
    CID_SUSTAIN_FRAMERATE,
    CID_TIMEOUT,
];

#[test]
fn n1_next_ctrl_walk() {
    let mut h = Harness::default_device();
    let id = h.open();
    for flags in [
        V4L2_CTRL_FLAG_NEXT_CTRL,
        V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND,
    ] {
        let mut seen = Vec::new();
        let mut cur = 0;
        while let Ok(q) = queryctrl(&mut h, id, cur | flags) {
            assert_eq!(
                q.id & (V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND),
                0
            );
            assert!(q.id > cur, "ids strictly increase");
            assert!(q.id < V4L2_CID_PRIVATE_BASE);
            if q.type_ == V4L2_CTRL_TYPE_CTRL_CLASS {
                assert_eq!(q.id & 0xffff, 1);
                assert_eq!(
                    q.flags,
                    V4L2_CTRL_FLAG_READ_ONLY | V4L2_CTRL_FLAG_WRITE_ONLY
                );
                assert_eq!(
                    (q.minimum, q.maximum, q.step, q.default_value),
                    (0, 0, 0, 0)
                );
            } else {
                assert!(q.id & 0xffff >= 0x900);
            }
            seen.push(q.id);
            cur = q.id;
            assert!(seen.len() < 100);
        }
        assert_eq!(
            queryctrl(&mut h, id, cur | flags).map(|_| ()),
            Err(Errno::EINVAL)
        );
        assert_eq!(seen, EXPECTED_IDS, "class control first, then its members");
        // QUERY_EXT_CTRL walks the same list.
        let mut ext_seen = Vec::new();
        let mut cur = 0;
        while let Ok(q) = query_ext(&mut h, id, cur | flags) {
            ext_seen.push(q.id);
            cur = q.id;
        }
        assert_eq!(ext_seen, seen);
    }
    // No compound controls: NEXT_COMPOUND alone finds nothing.
    assert_eq!(
        queryctrl(&mut h, id, V4L2_CTRL_FLAG_NEXT_COMPOUND).map(|_| ()),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        query_ext(&mut h, id, V4L2_CTRL_FLAG_NEXT_COMPOUND).map(|_| ()),
        Err(Errno::EINVAL)
    );
    // Direct queries.
    assert_eq!(
        queryctrl(&mut h, id, 0x0098_ffff).map(|_| ()),
        Err(Errno::EINVAL)
    );
    assert_eq!(queryctrl(&mut h, id, 0).map(|_| ()), Err(Errno::EINVAL));
    for cid in EXPECTED_IDS {
        assert_eq!(queryctrl(&mut h, id, cid).unwrap().id, cid);
    }
}

#[test]
fn n1_private_controls_reachable_from_private_base() {
    // v4l2-compliance counts the driver-private user controls found by the NEXT_CTRL walk and
    // expects exactly as many at V4L2_CID_PRIVATE_BASE + n, each echoing the queried id.
    let mut h = Harness::default_device();
    let id = h.open();
    let private: Vec<u32> = EXPECTED_IDS
        .iter()
        .copied()
        .filter(|c| c & 0xffff >= 0x1000 && *c != V4L2_CID_USER_CLASS)
        .collect();
    assert_eq!(private.len(), 3);
    for (n, &real) in private.iter().enumerate() {
        let alias = V4L2_CID_PRIVATE_BASE + n as u32;
        let q = queryctrl(&mut h, id, alias).unwrap();
        let direct = queryctrl(&mut h, id, real).unwrap();
        assert_eq!(q.id, alias);
        assert_eq!(cstr(&q.name), cstr(&direct.name));
        assert_eq!((q.type_, q.maximum), (direct.type_, direct.maximum));
        let qe = query_ext(&mut h, id, alias).unwrap();
        assert_eq!(qe.id, alias);
    }
    let end = V4L2_CID_PRIVATE_BASE + private.len() as u32;
    assert_eq!(queryctrl(&mut h, id, end).map(|_| ()), Err(Errno::EINVAL));
    assert_eq!(query_ext(&mut h, id, end).map(|_| ()), Err(Errno::EINVAL));
    // G_CTRL/S_CTRL through the alias act on the real control and notify under its real id.
    let watcher = h.open();
    h.subscribe(watcher, V4L2_EVENT_CTRL, CID_TIMEOUT, 0)
        .unwrap();
    let timeout_alias = V4L2_CID_PRIVATE_BASE + 2;
    assert_eq!(s_ctrl(&mut h, id, timeout_alias, 1234).unwrap(), 1234);
    assert_eq!(g_ctrl(&mut h, id, CID_TIMEOUT).unwrap(), 1234);
    assert_eq!(g_ctrl(&mut h, id, timeout_alias).unwrap(), 1234);
    let e = h.dqevent(watcher).unwrap();
    assert_eq!((e.id, e.ctrl().value()), (CID_TIMEOUT, 1234));
    assert_eq!(h.dev.controls().timeout_ms(), 1234);
}

#[test]
fn n2_range_invariants_and_querymenu() {
    let mut h = Harness::default_device();
    let id = h.open();
    for cid in EXPECTED_IDS {
        let q = queryctrl(&mut h, id, cid).unwrap();
        assert!(!cstr(&q.name).is_empty());
        assert_eq!(q.reserved, [0; 2]);
        assert_eq!(
            q.flags & (V4L2_CTRL_FLAG_DISABLED | V4L2_CTRL_FLAG_GRABBED),
            0
        );
        let rw = V4L2_CTRL_FLAG_READ_ONLY | V4L2_CTRL_FLAG_WRITE_ONLY;
        match q.type_ {
            V4L2_CTRL_TYPE_CTRL_CLASS => assert_eq!(q.flags, rw),
            t => {
                assert_ne!(q.flags & rw, rw);
                assert!(q.minimum <= q.default_value && q.default_value <= q.maximum);
                assert!(q.step != 0);
                assert!(q.maximum == q.minimum || q.step <= q.maximum - q.minimum);
                if t == V4L2_CTRL_TYPE_BOOLEAN {
                    assert_eq!((q.minimum, q.maximum, q.step), (0, 1, 1));
                    assert_eq!(q.flags & V4L2_CTRL_FLAG_SLIDER, 0);
                }
            }
        }
        let qe = query_ext(&mut h, id, cid).unwrap();
        assert_eq!(qe.reserved, [0; 32]);
        assert_eq!((qe.nr_of_dims, qe.dims), (0, [0; 4]));
        assert_eq!(qe.elems, 1);
        assert_eq!(
            (qe.minimum, qe.maximum, qe.step as i64, qe.default_value),
            (
                i64::from(q.minimum),
                i64::from(q.maximum),
                i64::from(q.step),
                i64::from(q.default_value)
            )
        );
        // QUERYMENU on a non-menu control.
        let m = ff::<v4l2_querymenu>(|m| {
            m.id = cid;
            m.index = q.minimum as u32;
        });
        let mut arg = bytemuck::bytes_of(&m).to_vec();
        assert_eq!(
            raw(&mut h, id, VIDIOC_QUERYMENU, &mut arg),
            Err(Errno::EINVAL)
        );
    }
}

#[test]
fn n3_g_ctrl_and_s_ctrl() {
    let mut h = Harness::default_device();
    let id = h.open();
    assert_eq!(g_ctrl(&mut h, id, 0), Err(Errno::EINVAL));
    assert_eq!(s_ctrl(&mut h, id, 0, 0), Err(Errno::EINVAL));
    assert_eq!(g_ctrl(&mut h, id, 0x0098_ffff), Err(Errno::EINVAL));
    // Class control: write-only for G, read-only for S.
    assert_eq!(g_ctrl(&mut h, id, V4L2_CID_USER_CLASS), Err(Errno::EACCES));
    assert_eq!(
        s_ctrl(&mut h, id, V4L2_CID_USER_CLASS, 0),
        Err(Errno::EACCES)
    );
    // Out of range: clamped (the kernel framework's choice), reported back.
    let max = TIMEOUT_MAX_MS as i32;
    assert_eq!(s_ctrl(&mut h, id, CID_TIMEOUT, max + 1).unwrap(), max);
    assert_eq!(g_ctrl(&mut h, id, CID_TIMEOUT).unwrap(), max);
    assert_eq!(s_ctrl(&mut h, id, CID_TIMEOUT, -1).unwrap(), 0);
    assert_eq!(g_ctrl(&mut h, id, CID_TIMEOUT).unwrap(), 0);
    assert_eq!(s_ctrl(&mut h, id, CID_KEEP_FORMAT, 5).unwrap(), 1);
    assert_eq!(s_ctrl(&mut h, id, CID_KEEP_FORMAT, i32::MIN).unwrap(), 0);
    // min, max and default all work (v4l2-compliance testSimpleControls).
    for cid in [CID_KEEP_FORMAT, CID_SUSTAIN_FRAMERATE, CID_TIMEOUT] {
        let q = queryctrl(&mut h, id, cid).unwrap();
        for v in [q.minimum, q.maximum, q.default_value] {
            assert_eq!(s_ctrl(&mut h, id, cid, v).unwrap(), v);
            assert_eq!(g_ctrl(&mut h, id, cid).unwrap(), v);
        }
    }
    // The controls take effect on the device.
    s_ctrl(&mut h, id, CID_SUSTAIN_FRAMERATE, 1).unwrap();
    assert!(h.dev.controls().sustain_framerate());
}

#[test]
fn n4_ext_ctrls_validation_is_all_or_nothing() {
    let mut h = Harness::default_device();
    let id = h.open();
    let cur = V4L2_CTRL_WHICH_CUR_VAL;
    let mut ctrls = [ext(CID_TIMEOUT, 500), ext(0x0098_ffff, 1)];
    let (r, hdr) = ext_ctrls(&mut h, id, VIDIOC_S_EXT_CTRLS, cur, &mut ctrls);
    assert_eq!(r, Err(Errno::EINVAL));
    assert_eq!(hdr.error_idx, 2, "S: error_idx = count");
    assert_eq!(
        h.dev.controls().timeout_ms(),
        0,
        "the valid one is unchanged"
    );
    let (r, hdr) = ext_ctrls(&mut h, id, VIDIOC_G_EXT_CTRLS, cur, &mut ctrls);
    assert_eq!(r, Err(Errno::EINVAL));
    assert_eq!(hdr.error_idx, 2, "G: error_idx = count");
    let (r, hdr) = ext_ctrls(&mut h, id, VIDIOC_TRY_EXT_CTRLS, cur, &mut ctrls);
    assert_eq!(r, Err(Errno::EINVAL));
    assert_eq!(hdr.error_idx, 1, "TRY: the failing index");
    // count 0 is a class probe.
    assert_eq!(
        ext_ctrls(&mut h, id, VIDIOC_G_EXT_CTRLS, cur, &mut []).0,
        Ok(())
    );
    assert_eq!(
        ext_ctrls(
            &mut h,
            id,
            VIDIOC_S_EXT_CTRLS,
            V4L2_CTRL_CLASS_USER,
            &mut []
        )
        .0,
        Ok(())
    );
    // Success: values written, clamped, readable with G.
    let mut ctrls = [ext(CID_TIMEOUT, 700), ext(CID_KEEP_FORMAT, 9)];
    let (r, _) = ext_ctrls(
        &mut h,
        id,
        VIDIOC_S_EXT_CTRLS,
        V4L2_CTRL_CLASS_USER,
        &mut ctrls,
    );
    r.unwrap();
    assert_eq!((ctrls[0].value(), ctrls[1].value()), (700, 1));
    let mut get = [ext(CID_TIMEOUT, 0), ext(CID_KEEP_FORMAT, 0)];
    ext_ctrls(&mut h, id, VIDIOC_G_EXT_CTRLS, cur, &mut get)
        .0
        .unwrap();
    assert_eq!((get[0].value(), get[1].value()), (700, 1));
    // 32-bit controls use the s32 `value` member: -5 (upper half zero) clamps to the minimum.
    let mut c = ext(CID_TIMEOUT, -5);
    assert_eq!(
        { c.value64 },
        0xffff_fffb,
        "upper half zero, as from a memset struct"
    );
    let mut one = [c];
    ext_ctrls(&mut h, id, VIDIOC_S_EXT_CTRLS, cur, &mut one)
        .0
        .unwrap();
    assert_eq!(h.dev.controls().timeout_ms(), 0);
    c = ext(CID_TIMEOUT, 42);
    c.value64 |= 0x7777_0000_0000_0000; // junk in the upper half is ignored too
    let mut one = [c];
    ext_ctrls(&mut h, id, VIDIOC_S_EXT_CTRLS, cur, &mut one)
        .0
        .unwrap();
    assert_eq!(h.dev.controls().timeout_ms(), 42);
    // DEF_VAL: readable only.
    let mut def = [ext(CID_TIMEOUT, 0)];
    ext_ctrls(
        &mut h,
        id,
        VIDIOC_G_EXT_CTRLS,
        V4L2_CTRL_WHICH_DEF_VAL,
        &mut def,
    )
    .0
    .unwrap();
    assert_eq!(def[0].value(), 0);
    let (r, _) = ext_ctrls(
        &mut h,
        id,
        VIDIOC_S_EXT_CTRLS,
        V4L2_CTRL_WHICH_DEF_VAL,
        &mut [ext(CID_TIMEOUT, 5)],
    );
    assert_eq!(r, Err(Errno::EINVAL));
    // No request support.
    let (r, _) = ext_ctrls(
        &mut h,
        id,
        VIDIOC_G_EXT_CTRLS,
        V4L2_CTRL_WHICH_REQUEST_VAL,
        &mut [ext(CID_TIMEOUT, 0)],
    );
    // The kernel without a media device (and v4l2-compliance) say EINVAL, not EACCES.
    assert_eq!(r, Err(Errno::EINVAL));
    // Another class in `which`.
    let (r, _) = ext_ctrls(
        &mut h,
        id,
        VIDIOC_G_EXT_CTRLS,
        V4L2_CTRL_CLASS_CAMERA,
        &mut [ext(CID_TIMEOUT, 0)],
    );
    assert_eq!(r, Err(Errno::EINVAL));
    assert_eq!(h.dev.controls().timeout_ms(), 42);
}

#[test]
fn n5_control_writes_are_priority_checked() {
    let mut h = Harness::default_device();
    let a = h.open();
    let b = h.open();
    s_prio(&mut h, a, V4L2_PRIORITY_RECORD);
    assert_eq!(s_ctrl(&mut h, b, CID_TIMEOUT, 10), Err(Errno::EBUSY));
    let (r, _) = ext_ctrls(
        &mut h,
        b,
        VIDIOC_S_EXT_CTRLS,
        V4L2_CTRL_WHICH_CUR_VAL,
        &mut [ext(CID_TIMEOUT, 10)],
    );
    assert_eq!(r, Err(Errno::EBUSY));
    // Reading and trying are not.
    g_ctrl(&mut h, b, CID_TIMEOUT).unwrap();
    let (r, _) = ext_ctrls(
        &mut h,
        b,
        VIDIOC_TRY_EXT_CTRLS,
        V4L2_CTRL_WHICH_CUR_VAL,
        &mut [ext(CID_TIMEOUT, 10)],
    );
    r.unwrap();
    assert_eq!(h.dev.controls().timeout_ms(), 0);
    assert_eq!(s_ctrl(&mut h, a, CID_TIMEOUT, 10).unwrap(), 10);
    s_prio(&mut h, a, V4L2_PRIORITY_INTERACTIVE);
    // No control changes the buffer layout, so none is ever GRABBED while streaming.
    let _p = h.producer(640, 480, YUYV, 2);
    for cid in EXPECTED_IDS {
        assert_eq!(
            queryctrl(&mut h, a, cid).unwrap().flags & V4L2_CTRL_FLAG_GRABBED,
            0
        );
    }
}

#[test]
fn n6_no_min_buffers_controls() {
    let mut h = Harness::default_device();
    let id = h.open();
    for cid in [
        V4L2_CID_MIN_BUFFERS_FOR_CAPTURE,
        V4L2_CID_MIN_BUFFERS_FOR_OUTPUT,
    ] {
        assert_eq!(queryctrl(&mut h, id, cid).map(|_| ()), Err(Errno::EINVAL));
        assert_eq!(query_ext(&mut h, id, cid).map(|_| ()), Err(Errno::EINVAL));
        assert_eq!(g_ctrl(&mut h, id, cid), Err(Errno::EINVAL));
    }
}

// ---------------------------------------------------------------------------
// O. Loopback-specific behaviour
// ---------------------------------------------------------------------------

#[test]
fn o1_one_producer_many_consumers() {
    let mut h = Harness::default_device();
    let p = h.open();
    assert_eq!(h.reqbufs(p, Dir::Output, 2).unwrap(), 2);
    let p2 = h.open();
    assert_eq!(h.reqbufs(p2, Dir::Output, 2), Err(Errno::EBUSY));
    let cur = h.g_fmt(p2, Dir::Output).unwrap();
    let mut f = v4l2_format {
        type_: OUT,
        ..Default::default()
    };
    f.set_pix(&cur);
    let mut cb = v4l2_create_buffers {
        count: 1,
        memory: V4L2_MEMORY_MMAP,
        format: f,
        ..Default::default()
    };
    assert_eq!(
        h.ioctl(p2, VIDIOC_CREATE_BUFS, &mut cb).map(|_| ()),
        Err(Errno::EBUSY)
    );
    assert_eq!(
        h.dev.prepare_write(p2, h.now).map(|_| ()),
        Err(Errno::EBUSY)
    );
    h.sync();
    // Ten consumers, each with its own queue (DESIGN §3.1, F10).
    let consumers: Vec<OpenerId> = (0..10).map(|_| h.consumer(4)).collect();
    for i in 0..2 {
        h.mmap(p, Dir::Output, i).unwrap();
    }
    h.streamon(p, Dir::Output).unwrap();
    send(&mut h, p, 11);
    for &c in &consumers {
        assert_eq!(recv(&mut h, c).unwrap().0, 11);
    }
    assert_eq!(h.dev.reader_count(), 10);
    // write() makes a producer too; once the first is gone another may take over.
    h.close(p);
    let size = h.dev.format().sizeimage as usize;
    assert_eq!(
        h.write(p2, &counter_pattern(12, size)).unwrap(),
        size as u32
    );
    let p3 = h.open();
    assert_eq!(h.reqbufs(p3, Dir::Output, 2), Err(Errno::EBUSY));
    for &c in &consumers {
        assert_eq!(recv(&mut h, c).unwrap().0, 12);
    }
    // read() makes a consumer.
    h.write(p2, &counter_pattern(13, size)).unwrap();
    let r = h.open();
    assert_eq!(h.read(r, 1), Err(Errno::EAGAIN));
    h.write(p2, &counter_pattern(14, size)).unwrap();
    let data = h.read(r, size as u32).unwrap();
    assert_eq!(check_counter(&data), Some(14));
    h.dev.check_invariants().unwrap();
}

#[test]
fn o2_role_holders_keep_their_type_after_the_caps_flip() {
    let mut h = Harness::new(DeviceConfig {
        exclusive_caps: true,
        ..Default::default()
    });
    let early_consumer = h.open();
    let p = h.producer(640, 480, YUYV, 2);
    // Caps now say CAPTURE only, but the producer's OUTPUT queue keeps working.
    let mut cap = v4l2_capability::default();
    h.ioctl(p, VIDIOC_QUERYCAP, &mut cap).unwrap();
    assert_eq!(cap.device_caps & V4L2_CAP_VIDEO_OUTPUT, 0);
    for n in 0..3 {
        send(&mut h, p, n);
    }
    h.g_fmt(p, Dir::Output).unwrap();
    let mut parm = v4l2_streamparm {
        type_: OUT,
        ..Default::default()
    };
    h.ioctl(p, VIDIOC_G_PARM, &mut parm).unwrap();
    h.querybuf(p, Dir::Output, 0).unwrap();
    // A new fd without a role cannot use OUTPUT.
    let fresh = h.open();
    assert_eq!(h.g_fmt(fresh, Dir::Output).map(|_| ()), Err(Errno::EINVAL));
    // The consumer that opened before the flip can now capture.
    start_consumer(&mut h, early_consumer, 2);
    send(&mut h, p, 3);
    assert_eq!(recv(&mut h, early_consumer).unwrap().0, 3);
    // And keeps capturing after the flip back (producer STREAMOFF).
    h.streamoff(p, Dir::Output).unwrap();
    h.ioctl(fresh, VIDIOC_QUERYCAP, &mut cap).unwrap();
    assert_eq!(cap.device_caps & V4L2_CAP_VIDEO_CAPTURE, 0);
    assert_eq!(
        h.dqbuf(early_consumer, Dir::Capture).map(|_| ()),
        Err(Errno::EAGAIN)
    );
    h.streamon(p, Dir::Output).unwrap();
    send(&mut h, p, 4);
    assert_eq!(recv(&mut h, early_consumer).unwrap().0, 4);
    h.dev.check_invariants().unwrap();
}

#[test]
fn o2_split_mode_producer_and_consumer_nodes() {
    let mut h = Harness::new(DeviceConfig {
        layout: NodeLayout::Split,
        ..Default::default()
    });
    // The consumer can negotiate before any producer exists (DESIGN §3.9).
    let c = h.open_as(Node::Capture, OpenMode::RDWR).unwrap();
    assert!(h.g_fmt(c, Dir::Capture).is_ok());
    assert_eq!(h.reqbufs(c, Dir::Output, 0), Err(Errno::EINVAL));
    let p = h.open_as(Node::Output, OpenMode::RDWR).unwrap();
    assert_eq!(h.reqbufs(p, Dir::Capture, 0), Err(Errno::EINVAL));
    assert_eq!(h.g_fmt(p, Dir::Capture).map(|_| ()), Err(Errno::EINVAL));
    start_producer(&mut h, p, 640, 480, YUYV, 2);
    start_consumer(&mut h, c, 2);
    for n in 0..3 {
        send(&mut h, p, n);
        assert_eq!(recv(&mut h, c).unwrap().0, n);
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn o3_producer_owns_the_format_consumers_never_overrun() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, YUYV, 2);
    let c = h.open();
    let got = h.s_fmt(c, Dir::Capture, 1280, 720, YUYV).unwrap();
    assert_eq!((got.width, got.height), (640, 480), "E17");
    assert_eq!(
        h.s_fmt(p, Dir::Output, 1280, 720, YUYV).map(|_| ()),
        Err(Errno::EBUSY),
        "E14 while it holds buffers"
    );
    let out = h.g_fmt(p, Dir::Output).unwrap();
    assert_eq!(
        h.g_fmt(c, Dir::Capture).unwrap(),
        out,
        "capture mirrors output"
    );
    start_consumer(&mut h, c, 2);
    assert!(h.querybuf(c, Dir::Capture, 0).unwrap().length >= out.sizeimage);

    // A producer buffer larger than sizeimage (CREATE_BUFS) may carry a larger payload: the
    // consumer's buffer is never overrun — ERROR and bytesused 0 instead.
    let mut f = v4l2_format {
        type_: OUT,
        ..Default::default()
    };
    f.set_pix(&v4l2_pix_format {
        sizeimage: out.sizeimage + (1 << 20),
        ..out
    });
    let mut cb = v4l2_create_buffers {
        count: 1,
        memory: V4L2_MEMORY_MMAP,
        format: f,
        ..Default::default()
    };
    h.ioctl(p, VIDIOC_CREATE_BUFS, &mut cb).unwrap();
    let big = cb.index;
    let too_much = out.sizeimage + 4096;
    h.fill(p, big, &counter_pattern(1, too_much as usize));
    h.qbuf(p, Dir::Output, big, too_much).unwrap();
    assert_eq!(h.dqbuf(p, Dir::Output).unwrap().index, big);
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_ne!(b.flags & V4L2_BUF_FLAG_ERROR, 0);
    assert_eq!(b.bytesused, 0);
    h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
    // A normal frame afterwards is fine.
    send(&mut h, p, 2);
    assert_eq!(recv(&mut h, c).unwrap().0, 2);

    // After REQBUFS(0) the producer may choose again; the consumer is told (M6).
    h.subscribe(c, V4L2_EVENT_SOURCE_CHANGE, 0, 0).unwrap();
    h.reqbufs(p, Dir::Output, 0).unwrap();
    assert_eq!(
        h.s_fmt(p, Dir::Output, 1280, 720, MJPG).unwrap().width,
        1280
    );
    assert_eq!(h.dqevent(c).unwrap().type_, V4L2_EVENT_SOURCE_CHANGE);
    h.dev.check_invariants().unwrap();
}

#[test]
fn o4_a_slow_consumer_never_blocks_anyone() {
    let mut h = Harness::default_device();
    let p = h.producer(320, 240, YUYV, 2);
    let fast = h.consumer(2);
    let slow = h.consumer(2);
    let mut slow_held = Vec::new();
    for n in 0..10 {
        // The producer gets its buffer back at once, whatever the consumers do (O5).
        h.produce(p, 0, n).unwrap();
        assert_ne!(h.poll(p, POLLOUT) & POLLOUT, 0);
        h.dqbuf(p, Dir::Output).unwrap();
        assert_eq!(recv(&mut h, fast).unwrap().0, n);
        // The slow one dequeues but never re-queues.
        if let Ok(b) = h.dqbuf(slow, Dir::Capture) {
            slow_held.push(b);
        }
    }
    assert_eq!(
        slow_held.len(),
        2,
        "it got the frames its buffers could take"
    );
    // Held frames stay intact (no tearing) however long they are held.
    for (k, b) in slow_held.iter().enumerate() {
        let data = h.view(slow, b.index, b.bytesused as usize).unwrap();
        assert_eq!(check_counter(&data), Some(k as u64));
    }
    // Once it re-queues it gets the next frame, and the sequence shows the gap.
    for b in &slow_held {
        h.qbuf(slow, Dir::Capture, b.index, 0).unwrap();
    }
    send(&mut h, p, 10);
    let (n, b) = recv(&mut h, slow).unwrap();
    assert_eq!(n, 10);
    assert!(b.sequence > slow_held[1].sequence + 1, "gap visible");
    h.dev.check_invariants().unwrap();
}

#[test]
fn o5_output_completes_without_consumers() {
    let mut h = Harness::default_device();
    let p = h.producer(160, 120, YUYV, 3);
    assert_eq!(h.dev.reader_count(), 0);
    for n in 0..100u64 {
        h.advance(FRAME_NS);
        h.dev.take_wakeups();
        h.produce(p, 0, n).unwrap();
        assert!(h.dev.take_wakeups().contains(&p), "POLLOUT waiters woken");
        assert_eq!(h.poll(p, POLLOUT) & (POLLOUT | POLLERR), POLLOUT);
        let b = h.dqbuf(p, Dir::Output).unwrap();
        assert_eq!(b.sequence, n as u32, "O6: output sequence 0,1,2…");
        let ts = b.timestamp.tv_sec as u64 * 1_000_000_000 + b.timestamp.tv_usec as u64 * 1000;
        assert_eq!(ts / 1000, h.now / 1000, "stamped at hand-off");
        assert_eq!(b.bytesused, 160 * 120 * 2);
    }
    h.dev.check_invariants().unwrap();
}

#[test]
fn o6_capture_sequences_and_timestamps() {
    let mut h = Harness::default_device();
    let p = h.producer(320, 240, YUYV, 2);
    let prompt = h.consumer(3);
    let skipper = h.consumer(1);
    let mut last_prompt: Option<u32> = None;
    let mut last_skip: Option<u32> = None;
    let mut last_ts = 0u64;
    for n in 0..12u64 {
        h.advance(FRAME_NS);
        send(&mut h, p, n);
        let (m, b) = recv(&mut h, prompt).unwrap();
        assert_eq!(m, n);
        if let Some(s) = last_prompt {
            assert_eq!(b.sequence, s + 1, "prompt consumer: +1 per frame");
        } else {
            assert_eq!(b.sequence, 0, "relative to its STREAMON");
        }
        last_prompt = Some(b.sequence);
        assert_eq!(
            b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK,
            V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC
        );
        let ts = b.timestamp.tv_sec as u64 * 1_000_000_000 + b.timestamp.tv_usec as u64 * 1000;
        assert!(ts > last_ts, "fresh timestamp per frame");
        assert_eq!(ts / 1000, h.now / 1000);
        last_ts = ts;
        // The skipper only looks every third frame.
        if n % 3 == 2 {
            let (_, b) = recv(&mut h, skipper).unwrap();
            if let Some(s) = last_skip {
                assert!(b.sequence > s + 1, "gaps but strictly increasing");
            }
            last_skip = Some(b.sequence);
        }
    }
    // A consumer that starts later counts from 0 (DESIGN: relative to its STREAMON).
    let late = h.consumer(2);
    send(&mut h, p, 12);
    assert_eq!(recv(&mut h, late).unwrap().1.sequence, 0);
    h.dev.check_invariants().unwrap();
}

#[test]
fn o7_consumers_stream_without_a_producer() {
    let mut h = Harness::default_device();
    let c = h.open();
    let n = h.reqbufs(c, Dir::Capture, 2).unwrap();
    for i in 0..n {
        h.mmap(c, Dir::Capture, i).unwrap();
        h.qbuf(c, Dir::Capture, i, 0).unwrap();
    }
    h.streamon(c, Dir::Capture).unwrap();
    assert_eq!(h.poll(c, POLLIN), 0, "not POLLERR: just nothing yet");
    assert_eq!(h.dqbuf(c, Dir::Capture).map(|_| ()), Err(Errno::EAGAIN));
    let r = h.open();
    assert_eq!(h.read(r, 100), Err(Errno::EAGAIN));
    assert_eq!(h.poll(r, POLLIN), 0);
    // Time passing without timers configured delivers nothing.
    h.advance(10 * FRAME_NS);
    assert_eq!(h.dqbuf(c, Dir::Capture).map(|_| ()), Err(Errno::EAGAIN));
    // The producer arrives: frames flow with no consumer re-setup.
    let p = h.producer(640, 480, YUYV, 2);
    send(&mut h, p, 1);
    assert_eq!(recv(&mut h, c).unwrap().0, 1);
    let data = h.read(r, u32::MAX).unwrap();
    assert_eq!(check_counter(&data), Some(1));
    h.dev.check_invariants().unwrap();
}

#[test]
fn o7_timeout_image_when_no_producer() {
    let mut h = Harness::new(DeviceConfig {
        timeout_ms: 100,
        ..Default::default()
    });
    let c = h.consumer(2);
    h.advance(99_000_000);
    assert_eq!(h.dqbuf(c, Dir::Capture).map(|_| ()), Err(Errno::EAGAIN));
    h.dev.take_wakeups();
    h.advance(1_000_000);
    assert!(h.dev.take_wakeups().contains(&c));
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(b.bytesused, h.dev.format().sizeimage);
    assert_eq!(b.sequence, 0);
    let data = h.view(c, b.index, b.bytesused as usize).unwrap();
    assert!(data.iter().all(|x| *x == 0), "default placeholder is blank");
    h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
    // Repeated at the timeout period, each a new frame with a new timestamp and sequence.
    h.advance(100_000_000);
    let b2 = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(b2.sequence, 1);
    assert!(
        b2.timestamp.tv_sec * 1_000_000 + b2.timestamp.tv_usec
            > b.timestamp.tv_sec * 1_000_000 + b.timestamp.tv_usec
    );
    h.dev.check_invariants().unwrap();
}

#[test]
fn o7_sustain_framerate_repeats_the_last_frame() {
    let mut h = Harness::new(DeviceConfig {
        sustain_framerate: true,
        ..Default::default()
    });
    let p = h.producer(320, 240, YUYV, 2);
    let c = h.consumer(3);
    send(&mut h, p, 42);
    let (n, first) = recv(&mut h, c).unwrap();
    assert_eq!(n, 42);
    // The producer is late: after 1.5 intervals the last frame is repeated, then every interval.
    h.advance(FRAME_NS);
    assert_eq!(h.dqbuf(c, Dir::Capture).map(|_| ()), Err(Errno::EAGAIN));
    h.advance(FRAME_NS / 2 + 1);
    let (n, rep) = recv(&mut h, c).unwrap();
    assert_eq!(n, 42, "same picture");
    assert_eq!(rep.sequence, first.sequence + 1, "but a new frame");
    assert!(
        rep.timestamp.tv_usec != first.timestamp.tv_usec
            || rep.timestamp.tv_sec != first.timestamp.tv_sec
    );
    h.advance(FRAME_NS);
    let (n, rep2) = recv(&mut h, c).unwrap();
    assert_eq!((n, rep2.sequence), (42, first.sequence + 2));
    h.dev.check_invariants().unwrap();
}

#[test]
fn o8_producer_leaving_keeps_consumers_streaming() {
    let mut h = Harness::new(DeviceConfig {
        exclusive_caps: true,
        ..Default::default()
    });
    let p = h.producer(640, 480, YUYV, 2);
    let c = h.open();
    h.subscribe(c, V4L2_EVENT_EOS, 0, 0).unwrap();
    start_consumer(&mut h, c, 2);
    send(&mut h, p, 0);
    h.close(p);
    // Queue and streaming state intact; no POLLERR; EAGAIN; EOS delivered.
    let (_, _, streaming) = h.dev.opener_queue(c).unwrap();
    assert!(streaming);
    assert_eq!(
        recv(&mut h, c).unwrap().0,
        0,
        "the frame already delivered stays"
    );
    assert_eq!(h.poll(c, POLLIN) & POLLERR, 0);
    assert_eq!(h.dqbuf(c, Dir::Capture).map(|_| ()), Err(Errno::EAGAIN));
    assert_eq!(h.dqevent(c).unwrap().type_, V4L2_EVENT_EOS);
    // New opens see OUTPUT again (exclusive caps), so a new producer can start...
    let p2 = h.open();
    let mut cap = v4l2_capability::default();
    h.ioctl(p2, VIDIOC_QUERYCAP, &mut cap).unwrap();
    assert_ne!(cap.device_caps & V4L2_CAP_VIDEO_OUTPUT, 0);
    start_producer(&mut h, p2, 640, 480, YUYV, 2);
    // ...and the same consumer receives its frames without any re-setup.
    send(&mut h, p2, 1);
    assert_eq!(recv(&mut h, c).unwrap().0, 1);
    h.dev.check_invariants().unwrap();
}

#[test]
fn o9_strict_single_reader_mode_for_compliance_runs() {
    let mut h = Harness::new(DeviceConfig {
        strict_single_reader: true,
        ..Default::default()
    });
    let a = h.open();
    let b = h.open();
    h.reqbufs(a, Dir::Capture, 2).unwrap();
    assert_eq!(h.reqbufs(b, Dir::Capture, 2), Err(Errno::EBUSY));
    assert_eq!(h.reqbufs(b, Dir::Capture, 0), Err(Errno::EBUSY));
    assert_eq!(h.read(b, 10), Err(Errno::EBUSY));
    let cur = h.g_fmt(b, Dir::Capture).unwrap();
    let mut f = v4l2_format {
        type_: CAP,
        ..Default::default()
    };
    f.set_pix(&cur);
    let mut cb = v4l2_create_buffers {
        count: 0,
        memory: V4L2_MEMORY_MMAP,
        format: f,
        ..Default::default()
    };
    h.ioctl(b, VIDIOC_CREATE_BUFS, &mut cb).unwrap();
    cb.count = 1;
    assert_eq!(
        h.ioctl(b, VIDIOC_CREATE_BUFS, &mut cb).map(|_| ()),
        Err(Errno::EBUSY)
    );
    h.reqbufs(a, Dir::Capture, 0).unwrap();
    assert_eq!(h.reqbufs(b, Dir::Capture, 2).unwrap(), 2);
    // Default mode: the documented F10 deviation — every consumer gets its own queue.
    let mut h = Harness::default_device();
    let a = h.open();
    let b = h.open();
    h.reqbufs(a, Dir::Capture, 2).unwrap();
    assert_eq!(h.reqbufs(b, Dir::Capture, 2).unwrap(), 2);
}

#[test]
fn o3_compressed_payload_keeps_its_size() {
    // MJPG producer: payloads shorter than sizeimage reach consumers with their own size.
    let mut h = Harness::default_device();
    let p = h.producer(320, 240, MJPG, 2);
    let c = h.consumer(2);
    let payload = counter_pattern(5, 10_000);
    h.fill(p, 0, &payload);
    h.qbuf(p, Dir::Output, 0, payload.len() as u32).unwrap();
    let b = h.dqbuf(c, Dir::Capture).unwrap();
    assert_eq!(b.bytesused, 10_000);
    assert_eq!(check_counter(&h.view(c, b.index, 10_000).unwrap()), Some(5));
    h.dev.check_invariants().unwrap();
}
