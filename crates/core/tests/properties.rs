//! Property tests: random interleavings of operations from several openers (producers,
//! consumers, file I/O, format changes, timers). After every step the model's invariants must
//! hold (`Device::check_invariants`), a frame a consumer holds must never change, poll
//! readiness must equal "the next DQBUF/read/DQEVENT would succeed", and memory must return
//! to a small bound once everybody is gone.

use std::collections::HashMap;

use loopcam_abi::*;
use loopcam_core::device::OpenMode;
use loopcam_core::queue::Io;
use loopcam_core::testing::{counter_pattern, Harness};
use loopcam_core::{DeviceConfig, Dir, Node, OpenerId};
use proptest::prelude::*;

const POLLIN: u32 = 0x001;
const POLLPRI: u32 = 0x002;
const POLLOUT: u32 = 0x004;

#[derive(Clone, Debug)]
enum Op {
    Open,
    Close(usize),
    SFmt(usize, bool, u8),
    Reqbufs(usize, bool, u32),
    Mmap(usize, u32),
    Qbuf(usize, bool, u32),
    Dqbuf(usize, bool),
    StreamOn(usize, bool),
    StreamOff(usize, bool),
    Produce(usize, u32),
    Write(usize),
    Read(usize, u32),
    Poll(usize, u32),
    Subscribe(usize, u8),
    DqEvent(usize),
    Ctrl(u8, i32),
    Advance(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0usize..6;
    prop_oneof![
        2 => Just(Op::Open),
        1 => k.clone().prop_map(Op::Close),
        2 => (k.clone(), any::<bool>(), 0u8..3).prop_map(|(k, d, s)| Op::SFmt(k, d, s)),
        3 => (k.clone(), any::<bool>(), 0u32..5).prop_map(|(k, d, c)| Op::Reqbufs(k, d, c)),
        2 => (k.clone(), 0u32..5).prop_map(|(k, i)| Op::Mmap(k, i)),
        6 => (k.clone(), any::<bool>(), 0u32..5).prop_map(|(k, d, i)| Op::Qbuf(k, d, i)),
        6 => (k.clone(), any::<bool>()).prop_map(|(k, d)| Op::Dqbuf(k, d)),
        3 => (k.clone(), any::<bool>()).prop_map(|(k, d)| Op::StreamOn(k, d)),
        1 => (k.clone(), any::<bool>()).prop_map(|(k, d)| Op::StreamOff(k, d)),
        6 => (k.clone(), 0u32..5).prop_map(|(k, i)| Op::Produce(k, i)),
        2 => k.clone().prop_map(Op::Write),
        2 => (k.clone(), 1u32..700_000).prop_map(|(k, n)| Op::Read(k, n)),
        2 => (k.clone(), 0u32..8).prop_map(|(k, e)| Op::Poll(k, e)),
        1 => (k.clone(), 0u8..3).prop_map(|(k, t)| Op::Subscribe(k, t)),
        1 => k.clone().prop_map(Op::DqEvent),
        1 => (0u8..3, 0i32..300).prop_map(|(c, v)| Op::Ctrl(c, v)),
        2 => (0u32..100).prop_map(Op::Advance),
    ]
}

fn dir(output: bool) -> Dir {
    if output {
        Dir::Output
    } else {
        Dir::Capture
    }
}

struct World {
    h: Harness,
    openers: Vec<OpenerId>,
    frame: u64,
    /// Consumer buffers the "application" holds, with the content seen at DQBUF.
    held: HashMap<(OpenerId, u32), Vec<u8>>,
}

fn pick(openers: &[OpenerId], k: usize) -> Option<OpenerId> {
    (!openers.is_empty()).then(|| openers[k % openers.len()])
}

impl World {
    fn apply(&mut self, op: &Op) {
        let h = &mut self.h;
        match *op {
            Op::Open => {
                if self.openers.len() < 6 {
                    let mode = if self.openers.len() % 3 == 2 {
                        OpenMode::WRONLY
                    } else {
                        OpenMode::RDWR
                    };
                    self.openers.push(h.open_as(Node::Combined, mode).unwrap());
                }
            }
            Op::Close(k) => {
                if let Some(id) = pick(&self.openers, k) {
                    h.close(id);
                    self.openers.retain(|o| *o != id);
                    self.held.retain(|(o, _), _| *o != id);
                }
            }
            Op::SFmt(k, out, s) => {
                if let Some(id) = pick(&self.openers, k) {
                    let (w, hh, f) = [
                        (64, 48, V4L2_PIX_FMT_YUYV),
                        (32, 16, V4L2_PIX_FMT_NV12),
                        (40, 30, V4L2_PIX_FMT_MJPEG),
                    ][s as usize];
                    let _ = h.s_fmt(id, dir(out), w, hh, f);
                }
            }
            Op::Reqbufs(k, out, c) => {
                if let Some(id) = pick(&self.openers, k) {
                    if h.reqbufs(id, dir(out), c).is_ok() {
                        self.held.retain(|(o, _), _| *o != id);
                    }
                }
            }
            Op::Mmap(k, i) => {
                if let Some(id) = pick(&self.openers, k) {
                    for d in [Dir::Output, Dir::Capture] {
                        let _ = h.mmap(id, d, i);
                    }
                }
            }
            Op::Qbuf(k, out, i) => {
                if let Some(id) = pick(&self.openers, k) {
                    if h.qbuf(id, dir(out), i, 0).is_ok() {
                        self.held.remove(&(id, i));
                    }
                }
            }
            Op::Dqbuf(k, out) => {
                if let Some(id) = pick(&self.openers, k) {
                    if let Ok(b) = h.dqbuf(id, dir(out)) {
                        if !out && b.flags & V4L2_BUF_FLAG_ERROR == 0 {
                            let data = h
                                .view(id, b.index, b.bytesused as usize)
                                .unwrap_or_default();
                            self.held.insert((id, b.index), data);
                        }
                    }
                }
            }
            Op::StreamOn(k, out) => {
                if let Some(id) = pick(&self.openers, k) {
                    let _ = h.streamon(id, dir(out));
                }
            }
            Op::StreamOff(k, out) => {
                if let Some(id) = pick(&self.openers, k) {
                    let _ = h.streamoff(id, dir(out));
                }
            }
            Op::Produce(k, i) => {
                if let Some(id) = pick(&self.openers, k) {
                    if h.querybuf(id, Dir::Output, i)
                        .is_ok_and(|b| b.flags & (V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE) == 0)
                        && h.dev
                            .opener_queue(id)
                            .is_some_and(|(d, io, _)| d == Dir::Output && io == Io::Streaming)
                    {
                        self.frame += 1;
                        let _ = h.produce(id, i, self.frame);
                    }
                }
            }
            Op::Write(k) => {
                if let Some(id) = pick(&self.openers, k) {
                    self.frame += 1;
                    let data = counter_pattern(self.frame, h.dev.format().sizeimage as usize);
                    let _ = h.write(id, &data);
                }
            }
            Op::Read(k, n) => {
                if let Some(id) = pick(&self.openers, k) {
                    let _ = h.read(id, n);
                }
            }
            Op::Poll(k, e) => {
                if let Some(id) = pick(&self.openers, k) {
                    let ev = [
                        POLLIN,
                        POLLOUT,
                        POLLPRI,
                        POLLIN | POLLPRI,
                        POLLOUT | POLLPRI,
                        0,
                        POLLIN | POLLOUT,
                        0x40,
                    ][e as usize];
                    let _ = h.poll(id, ev);
                }
            }
            Op::Subscribe(k, t) => {
                if let Some(id) = pick(&self.openers, k) {
                    let ty = [
                        V4L2_EVENT_SOURCE_CHANGE,
                        V4L2_EVENT_EOS,
                        loopcam_core::events::EVENT_PRI_CLIENT_USAGE,
                    ][t as usize];
                    let _ = h.subscribe(id, ty, 0, V4L2_EVENT_SUB_FL_SEND_INITIAL);
                }
            }
            Op::DqEvent(k) => {
                if let Some(id) = pick(&self.openers, k) {
                    let _ = h.dqevent(id);
                }
            }
            Op::Ctrl(c, v) => {
                if let Some(id) = self.openers.first().copied() {
                    let cid = [
                        loopcam_core::controls::CID_SUSTAIN_FRAMERATE,
                        loopcam_core::controls::CID_TIMEOUT,
                        loopcam_core::controls::CID_KEEP_FORMAT,
                    ][c as usize];
                    let mut ctl = v4l2_control {
                        id: cid,
                        value: if c == 1 { v } else { v & 1 },
                    };
                    let _ = h.ioctl(id, VIDIOC_S_CTRL, &mut ctl);
                }
            }
            Op::Advance(ms) => h.advance(u64::from(ms) * 1_000_000),
        }
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        let h = &mut self.h;
        h.dev.check_invariants().map_err(TestCaseError::fail)?;
        // A held frame never changes (no tearing).
        for ((id, index), data) in &self.held {
            let now = h.view(*id, *index, data.len()).unwrap_or_default();
            prop_assert_eq!(
                &now,
                data,
                "held frame of opener {} buffer {} changed",
                id,
                index
            );
        }
        // Poll readiness equals "the next dequeue would succeed".
        for &id in &self.openers {
            let rev = h.dev.queue_readiness(id, POLLIN | POLLOUT);
            if let Some((d, io, _)) = h.dev.opener_queue(id) {
                let mut probe = h.dev.clone();
                let ok = match (d, io) {
                    (_, Io::Streaming) => {
                        let mut b = v4l2_buffer {
                            type_: d.buf_type(),
                            ..Default::default()
                        };
                        probe.dqbuf(id, &mut b).is_ok()
                    }
                    (Dir::Capture, Io::File) => probe.read(id, 1, h.now).is_ok(),
                    (Dir::Output, Io::File) => probe.prepare_write(id, h.now).is_ok(),
                };
                let bit = if d == Dir::Capture { POLLIN } else { POLLOUT };
                prop_assert_eq!(
                    rev & bit != 0,
                    ok,
                    "opener {} readiness {:#x} vs dequeue {}",
                    id,
                    rev,
                    ok
                );
            }
            let mut probe = h.dev.clone();
            let mut ev = v4l2_event::default();
            let pri = h.dev.clone().poll(id, POLLPRI, h.now) & POLLPRI != 0;
            prop_assert_eq!(
                pri,
                probe.dqevent(id, &mut ev).is_ok(),
                "POLLPRI vs DQEVENT of {}",
                id
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_keep_every_invariant(ops in proptest::collection::vec(op(), 1..120), excl in any::<bool>(), strict in any::<bool>()) {
        let cfg = DeviceConfig { exclusive_caps: excl, strict_single_reader: strict, max_buffers: 4, ..DeviceConfig::default() };
        let mut w = World { h: Harness::new(cfg), openers: vec![], frame: 0, held: HashMap::new() };
        for _ in 0..4 {
            w.apply(&Op::Open);
        }
        for op in &ops {
            w.apply(op);
            w.check()?;
        }
        // Memory is proportional to use: once everyone is gone, only the cache and the last
        // frame/timeout image may remain.
        for id in w.openers.clone() {
            w.h.close(id);
        }
        w.h.dev.check_invariants().map_err(TestCaseError::fail)?;
        let frame = u64::from(w.h.dev.format().sizeimage).div_ceil(4096) * 4096;
        let bound = 8 * frame.max(4096 * 400);
        prop_assert!(w.h.dev.status().memory_bytes <= bound, "memory {} > {}", w.h.dev.status().memory_bytes, bound);
    }
}
