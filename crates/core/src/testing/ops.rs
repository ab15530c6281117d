//! A scripted world of several openers driving one [`Device`] through random operations, with
//! the checks that must hold after every step. Shared by the property tests
//! (`tests/properties.rs`, proptest chooses the operations) and the `core_ops` fuzz target
//! (`fuzz/`, libFuzzer's bytes are decoded by [`Op::decode`]).
//!
//! After every operation [`World::check`] verifies:
//! * the model's own invariants ([`Device::check_invariants`]);
//! * a frame a consumer holds (dequeued, not re-queued) never changes — no tearing, no buffer
//!   handed out twice (v4l2loopback §6);
//! * poll readiness equals "the next DQBUF / read / write / DQEVENT would succeed" (I3, K1);
//!
//! and [`World::finish`] checks that memory returns to a small bound once everybody is gone.

use std::collections::HashMap;

use loopcam_abi::*;

use super::{counter_pattern, Harness};
use crate::config::{DeviceConfig, Node};
use crate::device::{OpenMode, OpenerId};
use crate::ioctl::{arg_size, Outcome, HANDLED};
use crate::queue::{Dir, Io};

const POLLIN: u32 = 0x001;
const POLLPRI: u32 = 0x002;
const POLLOUT: u32 = 0x004;

/// The memory ceiling of a world's device.
pub const MEMORY_CEILING: u64 = 96 << 20;

/// Most openers a world keeps at once.
pub const MAX_OPENERS: usize = 6;

/// Requests the raw-ioctl operation picks from besides every one the dispatcher handles
/// ([`HANDLED`]): the TIME32 forms a 64-bit caller must not use (A5), which must be ENOTTY.
pub const REFUSED: &[u32] = &[
    VIDIOC_DQEVENT_TIME32,
    VIDIOC_QUERYBUF_TIME32,
    VIDIOC_QBUF_TIME32,
    VIDIOC_DQBUF_TIME32,
    VIDIOC_PREPARE_BUF_TIME32,
];

/// The `i`-th request of [`HANDLED`] followed by [`REFUSED`] (wrapping).
fn request_at(i: usize) -> u32 {
    let i = i % (HANDLED.len() + REFUSED.len());
    HANDLED
        .get(i)
        .copied()
        .unwrap_or_else(|| REFUSED[i - HANDLED.len()])
}

/// The position of `request` in [`HANDLED`] followed by [`REFUSED`].
fn request_position(request: u32) -> Option<usize> {
    HANDLED.iter().chain(REFUSED).position(|r| *r == request)
}

/// One step of a world.
#[derive(Clone, Debug)]
pub enum Op {
    /// open() O_RDWR (every third opener O_WRONLY).
    Open,
    /// close() of opener k.
    Close(usize),
    /// S_FMT of one of three small formats on a direction (`true`: output).
    SFmt(usize, bool, u8),
    /// REQBUFS(count) MMAP.
    Reqbufs(usize, bool, u32),
    /// CREATE_BUFS(count) with a `sizeimage` the application chose.
    CreateBufs(usize, bool, u32, u32),
    /// mmap() of buffer i (both directions, whichever exists).
    Mmap(usize, u32),
    /// mmap() with an arbitrary offset, length and protection (G1–G5).
    MmapRaw(usize, u32, u32, bool, bool),
    /// munmap() of the j-th live mapping.
    Munmap(usize),
    /// QBUF of buffer i.
    Qbuf(usize, bool, u32),
    /// DQBUF.
    Dqbuf(usize, bool),
    /// STREAMON.
    StreamOn(usize, bool),
    /// STREAMOFF.
    StreamOff(usize, bool),
    /// Producer: fill output buffer i with the next counter frame and QBUF it.
    Produce(usize, u32),
    /// write() of one whole frame.
    Write(usize),
    /// write() of an arbitrary number of bytes.
    WriteLen(usize, u32),
    /// read() of up to n bytes.
    Read(usize, u32),
    /// poll() with one of eight event masks.
    Poll(usize, u32),
    /// SUBSCRIBE_EVENT of one of three event types.
    Subscribe(usize, u8),
    /// DQEVENT.
    DqEvent(usize),
    /// S_CTRL of one of the loopback controls.
    Ctrl(u8, i32),
    /// The clock advances by n ms (timers run).
    Advance(u32),
    /// An ioctl from [`HANDLED`] and [`REFUSED`] (or any number) with arbitrary argument bytes and array;
    /// `true`: the argument is cut to the request's size like the daemon does, `false`: passed
    /// as given (shorter must be EFAULT, longer must be harmless).
    Raw(usize, u32, Vec<u8>, Vec<u8>, bool),
}

/// A little reader over fuzz input bytes; returns zeroes once the input is exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    fn small(&mut self) -> u32 {
        u32::from(self.u8() % 8)
    }
    fn vec(&mut self, max: usize) -> Vec<u8> {
        let n = (usize::from(self.u8()) * 2).min(max).min(self.0.len());
        let (v, rest) = self.0.split_at(n);
        self.0 = rest;
        v.to_vec()
    }
}

impl Op {
    /// Decodes a sequence of operations from arbitrary bytes (the fuzz input). Every input
    /// decodes; the first byte of each operation selects it, the next bytes are its operands.
    pub fn decode_all(data: &[u8]) -> Vec<Op> {
        let mut b = Bytes(data);
        let mut ops = Vec::new();
        while !b.0.is_empty() && ops.len() < 400 {
            ops.push(Op::decode(&mut b));
        }
        ops
    }

    /// Decodes a sequence of raw ioctls only ([`Op::Raw`]): the `ioctl_dispatch` fuzz target.
    pub fn decode_raw_all(data: &[u8]) -> Vec<Op> {
        let mut b = Bytes(data);
        let mut ops = Vec::new();
        while !b.0.is_empty() && ops.len() < 400 {
            let k = usize::from(b.u8());
            ops.push(Op::decode_raw(k, &mut b));
        }
        ops
    }

    fn decode_raw(k: usize, b: &mut Bytes<'_>) -> Op {
        let sel = b.u8();
        let request = if sel == 255 {
            b.u32()
        } else {
            request_at(usize::from(sel))
        };
        let cut = b.bool();
        let arg = b.vec(512);
        let extra = b.vec(512);
        Op::Raw(k, request, arg, extra, cut)
    }

    fn decode(b: &mut Bytes<'_>) -> Op {
        let k = usize::from(b.u8());
        match b.u8() % 22 {
            0 => Op::Open,
            1 => Op::Close(k),
            2 => Op::SFmt(k, b.bool(), b.u8() % 3),
            3 => Op::Reqbufs(k, b.bool(), b.small()),
            4 => {
                let out = b.bool();
                let count = b.small();
                // Sizes around the frame size matter most: small, page-ish, huge.
                let size = match b.u8() % 4 {
                    0 => 0,
                    1 => u32::from(b.u8()) << 8,
                    2 => u32::from(b.u8()) << 14,
                    _ => b.u32(),
                };
                Op::CreateBufs(k, out, count, size)
            }
            5 => Op::Mmap(k, b.small()),
            6 => Op::MmapRaw(k, b.u32(), b.u32(), b.bool(), b.bool()),
            7 => Op::Munmap(k),
            8 | 9 => Op::Qbuf(k, b.bool(), b.small()),
            10 | 11 => Op::Dqbuf(k, b.bool()),
            12 => Op::StreamOn(k, b.bool()),
            13 => Op::StreamOff(k, b.bool()),
            14 | 15 => Op::Produce(k, b.small()),
            16 => Op::Write(k),
            17 => match b.u8() % 3 {
                0 => Op::WriteLen(k, b.u32()),
                1 => Op::Read(k, b.u32()),
                _ => Op::Poll(k, b.small()),
            },
            18 => match b.u8() % 3 {
                0 => Op::Subscribe(k, b.u8() % 3),
                1 => Op::DqEvent(k),
                _ => Op::Ctrl(b.u8() % 3, b.u32() as i32),
            },
            19 => Op::Advance(u32::from(b.u8()) * 4),
            _ => Op::decode_raw(k, b),
        }
    }
}

impl Op {
    /// Encodes operations so that [`Op::decode_all`] gives them back (values are reduced the
    /// way decoding reduces them: counts and indexes mod 8, ...). Fuzz seeds are made with it.
    pub fn encode_all(ops: &[Op]) -> Vec<u8> {
        let mut out = Vec::new();
        for op in ops {
            op.encode(&mut out);
        }
        out
    }

    /// Encodes raw ioctls for [`Op::decode_raw_all`]; other operations are skipped.
    pub fn encode_raw_all(ops: &[Op]) -> Vec<u8> {
        let mut out = Vec::new();
        for op in ops {
            if let Op::Raw(k, ..) = op {
                out.push(*k as u8);
                op.encode_raw_operands(&mut out);
            }
        }
        out
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let k = self.opener().unwrap_or(match *self {
            Op::Munmap(j) => j,
            _ => 0,
        }) as u8;
        let le = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
        match *self {
            Op::Open => out.extend([k, 0]),
            Op::Close(_) => out.extend([k, 1]),
            Op::SFmt(_, o, f) => out.extend([k, 2, o.into(), f]),
            Op::Reqbufs(_, o, c) => out.extend([k, 3, o.into(), c as u8]),
            Op::CreateBufs(_, o, c, size) => {
                out.extend([k, 4, o.into(), c as u8, 3]);
                le(out, size);
            }
            Op::Mmap(_, i) => out.extend([k, 5, i as u8]),
            Op::MmapRaw(_, off, len, w, sh) => {
                out.extend([k, 6]);
                le(out, off);
                le(out, len);
                out.extend([u8::from(w), u8::from(sh)]);
            }
            Op::Munmap(_) => out.extend([k, 7]),
            Op::Qbuf(_, o, i) => out.extend([k, 8, o.into(), i as u8]),
            Op::Dqbuf(_, o) => out.extend([k, 10, o.into()]),
            Op::StreamOn(_, o) => out.extend([k, 12, o.into()]),
            Op::StreamOff(_, o) => out.extend([k, 13, o.into()]),
            Op::Produce(_, i) => out.extend([k, 14, i as u8]),
            Op::Write(_) => out.extend([k, 16]),
            Op::WriteLen(_, n) => {
                out.extend([k, 17, 0]);
                le(out, n);
            }
            Op::Read(_, n) => {
                out.extend([k, 17, 1]);
                le(out, n);
            }
            Op::Poll(_, e) => out.extend([k, 17, 2, e as u8]),
            Op::Subscribe(_, t) => out.extend([k, 18, 0, t]),
            Op::DqEvent(_) => out.extend([k, 18, 1]),
            Op::Ctrl(c, v) => {
                out.extend([k, 18, 2, c]);
                le(out, v as u32);
            }
            Op::Advance(ms) => out.extend([k, 19, (ms / 4).min(255) as u8]),
            Op::Raw(..) => {
                out.extend([k, 20]);
                self.encode_raw_operands(out);
            }
        }
    }

    fn encode_raw_operands(&self, out: &mut Vec<u8>) {
        let Op::Raw(_, request, arg, extra, cut) = self else {
            return;
        };
        match request_position(*request) {
            Some(i) => out.push(i as u8),
            None => {
                out.push(255);
                out.extend_from_slice(&request.to_le_bytes());
            }
        }
        out.push((*cut).into());
        for v in [arg, extra] {
            // Lengths travel halved in one byte: even, at most 510.
            let n = (v.len().div_ceil(2) * 2).min(510);
            out.push((n / 2) as u8);
            out.extend(v.iter().copied().chain(std::iter::repeat(0)).take(n));
        }
    }

    /// The opener selector of an operation that acts on one opener.
    fn opener(&self) -> Option<usize> {
        match *self {
            Op::Open | Op::Ctrl(..) | Op::Advance(_) | Op::Munmap(_) => None,
            Op::Close(k)
            | Op::SFmt(k, ..)
            | Op::Reqbufs(k, ..)
            | Op::CreateBufs(k, ..)
            | Op::Mmap(k, _)
            | Op::MmapRaw(k, ..)
            | Op::Qbuf(k, ..)
            | Op::Dqbuf(k, _)
            | Op::StreamOn(k, _)
            | Op::StreamOff(k, _)
            | Op::Produce(k, _)
            | Op::Write(k)
            | Op::WriteLen(k, _)
            | Op::Read(k, _)
            | Op::Poll(k, _)
            | Op::Subscribe(k, _)
            | Op::DqEvent(k)
            | Op::Raw(k, ..) => Some(k),
        }
    }
}

fn dir(output: bool) -> Dir {
    if output {
        Dir::Output
    } else {
        Dir::Capture
    }
}

/// Several openers around one device, with what the "applications" hold.
pub struct World {
    /// The fake host and the device.
    pub h: Harness,
    /// Open openers, oldest first.
    pub openers: Vec<OpenerId>,
    /// Last counter frame produced.
    pub frame: u64,
    /// Consumer buffers the "application" holds, with the content seen at DQBUF.
    pub held: HashMap<(OpenerId, u32), Vec<u8>>,
    /// Live mappings (opener, handle).
    pub maps: Vec<(OpenerId, u64)>,
    /// A violation seen while applying an operation, reported by the next [`World::check`].
    pub fault: Option<String>,
    /// What the host last showed on each opener's pollable fd ([`Device::signal_readiness`]).
    ///
    /// [`Device::signal_readiness`]: crate::Device::signal_readiness
    shown: HashMap<OpenerId, u32>,
    /// The opener whose call the last operation was (the host refreshes its readiness with
    /// the reply; everyone else learns of a change only through a wake-up).
    actor: Option<OpenerId>,
}

fn pick(openers: &[OpenerId], k: usize) -> Option<OpenerId> {
    (!openers.is_empty()).then(|| openers[k % openers.len()])
}

impl World {
    /// A device with `cfg` and four openers.
    pub fn new(cfg: DeviceConfig) -> World {
        let mut w = World {
            h: Harness::new(cfg),
            openers: vec![],
            frame: 0,
            held: HashMap::new(),
            maps: vec![],
            fault: None,
            shown: HashMap::new(),
            actor: None,
        };
        // Bounded like a daemon with --max-memory: a fuzzed S_FMT + REQBUFS cannot make the
        // fake host allocate gigabytes; beyond it the model answers ENOMEM.
        w.h.dev.set_memory_ceiling(MEMORY_CEILING);
        for _ in 0..4 {
            w.apply(&Op::Open);
        }
        w
    }

    /// The device options a fuzz input's first byte selects: exclusive caps, strict single
    /// reader, 2..=9 buffers.
    pub fn fuzz_config(flags: u8) -> DeviceConfig {
        DeviceConfig {
            exclusive_caps: flags & 1 != 0,
            strict_single_reader: flags & 2 != 0,
            max_buffers: 2 + u32::from(flags >> 2 & 7),
            ..DeviceConfig::default()
        }
    }

    /// Applies `ops` with [`World::check`] after each, then [`World::finish`]; the first
    /// violation, with the operation that caused it.
    pub fn run(mut self, ops: &[Op]) -> Result<(), String> {
        for (n, op) in ops.iter().enumerate() {
            self.apply(op);
            self.check().map_err(|e| format!("step {n} {op:?}: {e}"))?;
        }
        self.finish()
    }

    /// A world already streaming: opener 0 is a producer (64x48 YUYV, 2 buffers mapped, one
    /// frame queued), opener 1 a consumer (2 buffers mapped and queued), openers 2 and 3 idle
    /// (3 opened write-only). The start state of the `ioctl_dispatch` fuzz target.
    pub fn streaming(cfg: DeviceConfig) -> World {
        let mut w = World::new(cfg);
        let (p, c) = (w.openers[0], w.openers[1]);
        let h = &mut w.h;
        h.s_fmt(p, Dir::Output, 64, 48, V4L2_PIX_FMT_YUYV)
            .expect("S_FMT");
        for i in 0..h.reqbufs(p, Dir::Output, 2).expect("REQBUFS") {
            let m = h.mmap(p, Dir::Output, i).expect("mmap");
            w.maps.push((p, m.handle));
        }
        h.streamon(p, Dir::Output).expect("STREAMON");
        for i in 0..h.reqbufs(c, Dir::Capture, 2).expect("REQBUFS") {
            let m = h.mmap(c, Dir::Capture, i).expect("mmap");
            w.maps.push((c, m.handle));
            h.qbuf(c, Dir::Capture, i, 0).expect("QBUF");
        }
        h.streamon(c, Dir::Capture).expect("STREAMON");
        w.frame = 1;
        h.produce(p, 0, 1).expect("produce");
        w
    }

    /// Applies one operation; refusals by the model are part of the game, not failures.
    pub fn apply(&mut self, op: &Op) {
        self.actor = None;
        let id = match op.opener() {
            None => 0,
            Some(k) => match pick(&self.openers, k) {
                Some(id) => {
                    self.actor = Some(id);
                    id
                }
                None => return, // an operation on an opener while nobody is open
            },
        };
        let h = &mut self.h;
        match op {
            Op::Open => {
                if self.openers.len() < MAX_OPENERS {
                    let mode = if self.openers.len() % 3 == 2 {
                        OpenMode::WRONLY
                    } else {
                        OpenMode::RDWR
                    };
                    if let Ok(o) = h.open_as(Node::Combined, mode) {
                        self.openers.push(o);
                    }
                }
            }
            Op::Close(_) => {
                h.close(id);
                self.openers.retain(|o| *o != id);
                self.held.retain(|(o, _), _| *o != id);
                self.maps.retain(|(o, _)| *o != id);
            }
            Op::SFmt(_, out, s) => {
                let (w, hh, f) = [
                    (64, 48, V4L2_PIX_FMT_YUYV),
                    (32, 16, V4L2_PIX_FMT_NV12),
                    (40, 30, V4L2_PIX_FMT_MJPEG),
                ][usize::from(*s % 3)];
                let _ = h.s_fmt(id, dir(*out), w, hh, f);
            }
            Op::Reqbufs(_, out, c) => {
                if h.reqbufs(id, dir(*out), *c).is_ok() {
                    self.held.retain(|(o, _), _| *o != id);
                }
            }
            Op::CreateBufs(_, out, count, size) => {
                let mut cb = v4l2_create_buffers {
                    count: *count,
                    memory: V4L2_MEMORY_MMAP,
                    ..Default::default()
                };
                let mut f = v4l2_format {
                    type_: dir(*out).buf_type(),
                    ..Default::default()
                };
                if h.dev.g_fmt(id, &mut f).is_ok() {
                    let mut pix = f.pix();
                    pix.sizeimage = *size;
                    f.set_pix(&pix);
                }
                cb.format = f;
                let _ = h.ioctl(id, VIDIOC_CREATE_BUFS, &mut cb);
            }
            Op::Mmap(_, i) => {
                for d in [Dir::Output, Dir::Capture] {
                    if let Ok(m) = self.h.mmap(id, d, *i) {
                        self.maps.push((id, m.handle));
                        self.check_backing(id, m.index, m.length);
                    }
                }
            }
            Op::MmapRaw(_, offset, len, write, shared) => {
                let h = &mut self.h;
                let r = h.dev.mmap(
                    id,
                    u64::from(*offset),
                    u64::from(*len),
                    true,
                    *write,
                    *shared,
                );
                h.sync();
                if let Ok(m) = r {
                    self.maps.push((id, m.handle));
                    if let Some(block) = m.block {
                        self.h.mapped.insert((id, m.index), block);
                        self.check_backing(id, m.index, m.length);
                    }
                }
            }
            Op::Munmap(j) => {
                if !self.maps.is_empty() {
                    let (o, handle) = self.maps.remove(j % self.maps.len());
                    h.dev.munmap(o, handle);
                    h.sync();
                }
            }
            Op::Qbuf(_, out, i) => {
                if h.qbuf(id, dir(*out), *i, 0).is_ok() {
                    self.held.remove(&(id, *i));
                }
            }
            Op::Dqbuf(_, out) => {
                if let Ok(b) = h.dqbuf(id, dir(*out)) {
                    self.note_dequeued(id, *out, &b);
                }
            }
            Op::StreamOn(_, out) => {
                let _ = h.streamon(id, dir(*out));
            }
            Op::StreamOff(_, out) => {
                let _ = h.streamoff(id, dir(*out));
            }
            Op::Produce(_, i) => {
                if h.querybuf(id, Dir::Output, *i)
                    .is_ok_and(|b| b.flags & (V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE) == 0)
                    && h.dev
                        .opener_queue(id)
                        .is_some_and(|(d, io, _)| d == Dir::Output && io == Io::Streaming)
                {
                    self.frame += 1;
                    let _ = h.produce(id, *i, self.frame);
                }
            }
            Op::Write(_) => {
                self.frame += 1;
                // A whole frame, up to 4 MiB (a fuzzed S_FMT may ask for far bigger frames).
                let len = (h.dev.format().sizeimage as usize).min(4 << 20);
                let data = counter_pattern(self.frame, len);
                let _ = h.write(id, &data);
            }
            Op::WriteLen(_, n) => {
                // Bounded so a fuzz input cannot make the harness allocate gigabytes; the
                // model still sees the length the application asked for.
                self.frame += 1;
                let len = (*n as usize).min(4 << 20);
                let data = counter_pattern(self.frame, len);
                if let Ok(block) = h.dev.prepare_write(id, h.now) {
                    h.sync();
                    let mem = h.mem.get_mut(&block).expect("write block memory");
                    let m = data.len().min(mem.len());
                    mem[..m].copy_from_slice(&data[..m]);
                    let _ = h.dev.commit_write(id, *n, h.now);
                    h.sync();
                }
            }
            Op::Read(_, n) => {
                let _ = h.read(id, *n);
            }
            Op::Poll(_, e) => {
                let ev = [
                    POLLIN,
                    POLLOUT,
                    POLLPRI,
                    POLLIN | POLLPRI,
                    POLLOUT | POLLPRI,
                    0,
                    POLLIN | POLLOUT,
                    0x40,
                ][(*e % 8) as usize];
                let _ = h.poll(id, ev);
            }
            Op::Subscribe(_, t) => {
                let ty = [
                    V4L2_EVENT_SOURCE_CHANGE,
                    V4L2_EVENT_EOS,
                    crate::events::EVENT_PRI_CLIENT_USAGE,
                ][usize::from(*t % 3)];
                let _ = h.subscribe(id, ty, 0, V4L2_EVENT_SUB_FL_SEND_INITIAL);
            }
            Op::DqEvent(_) => {
                let _ = h.dqevent(id);
            }
            Op::Ctrl(c, v) => {
                if let Some(first) = self.openers.first().copied() {
                    let cid = [
                        crate::controls::CID_SUSTAIN_FRAMERATE,
                        crate::controls::CID_TIMEOUT,
                        crate::controls::CID_KEEP_FORMAT,
                    ][usize::from(*c % 3)];
                    let mut ctl = v4l2_control {
                        id: cid,
                        value: if *c % 3 == 1 { *v } else { *v & 1 },
                    };
                    let _ = h.ioctl(first, VIDIOC_S_CTRL, &mut ctl);
                }
            }
            Op::Advance(ms) => h.advance(u64::from(*ms) * 1_000_000),
            Op::Raw(_, request, arg, extra, cut) => {
                let mut arg = arg.clone();
                let mut extra = extra.clone();
                if *cut {
                    arg.resize(arg_size(*request), 0);
                }
                let r = h.ioctl_raw(id, *request, &mut arg, &mut extra);
                if r.is_ok() {
                    // What the application now holds follows from what the call did.
                    match *request {
                        VIDIOC_REQBUFS => self.held.retain(|(o, _), _| *o != id),
                        VIDIOC_QBUF => {
                            let index = u32::from_le_bytes(arg[0..4].try_into().unwrap());
                            self.held.remove(&(id, index));
                        }
                        _ => {}
                    }
                }
                if let Ok(Outcome::Dqbuf(_)) = r {
                    let b: v4l2_buffer = bytemuck::pod_read_unaligned(&arg[..88]);
                    self.note_dequeued(id, b.type_ == V4L2_BUF_TYPE_VIDEO_OUTPUT, &b);
                }
            }
        }
    }

    fn note_dequeued(&mut self, id: OpenerId, output: bool, b: &v4l2_buffer) {
        if b.bytesused > b.length {
            self.fault.get_or_insert(format!(
                "DQBUF bytesused {} > length {}",
                b.bytesused, b.length
            ));
        }
        if b.memory == V4L2_MEMORY_MMAP {
            self.check_backing(id, b.index, u64::from(b.length));
        }
        if !output && b.flags & V4L2_BUF_FLAG_ERROR == 0 {
            let data = self
                .h
                .view(id, b.index, b.bytesused as usize)
                .unwrap_or_default();
            self.held.insert((id, b.index), data);
        }
    }

    /// The memory an application maps for buffer `index` must cover `length` bytes: a mapping
    /// past the end of a memfd is SIGBUS in the client.
    fn check_backing(&mut self, id: OpenerId, index: u32, length: u64) {
        let Some(block) = self.h.mapped.get(&(id, index)) else {
            return;
        };
        let size = self.h.mem.get(block).map_or(0, |m| m.len() as u64);
        if size.div_ceil(4096) * 4096 < length {
            self.fault.get_or_insert(format!(
                "opener {id} buffer {index}: {length} bytes mapped over a block of {size} bytes"
            ));
        }
    }

    /// The checks that hold after every step.
    pub fn check(&mut self) -> Result<(), String> {
        if let Some(e) = self.fault.take() {
            return Err(e);
        }
        let h = &mut self.h;
        h.dev.check_invariants()?;
        // L1, DESIGN §3.7: no lost wake-up. The daemon re-reads the readiness only of the
        // openers core wakes (and of the caller); any other change would never reach a poller.
        let woken = h.dev.take_wakeups();
        for &id in &self.openers {
            let now = h.dev.signal_readiness(id);
            let before = self.shown.insert(id, now);
            if before.is_some_and(|b| b != now) && self.actor != Some(id) && !woken.contains(&id) {
                return Err(format!(
                    "opener {id} readiness {:#x} -> {now:#x} without a wake-up",
                    before.unwrap_or(0)
                ));
            }
        }
        self.shown.retain(|id, _| self.openers.contains(id));
        // A held frame never changes (no tearing).
        for ((id, index), data) in &self.held {
            let now = h.view(*id, *index, data.len()).unwrap_or_default();
            if &now != data {
                return Err(format!("held frame of opener {id} buffer {index} changed"));
            }
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
                if (rev & bit != 0) != ok {
                    return Err(format!("opener {id} readiness {rev:#x} vs dequeue {ok}"));
                }
            }
            let mut probe = h.dev.clone();
            let mut ev = v4l2_event::default();
            let pri = h.dev.clone().poll(id, POLLPRI, h.now) & POLLPRI != 0;
            if pri != probe.dqevent(id, &mut ev).is_ok() {
                return Err(format!("POLLPRI {pri} vs DQEVENT of {id}"));
            }
        }
        Ok(())
    }

    /// Closes every opener and checks that memory is proportional to use: once everyone is
    /// gone, only the last frame and the timeout image may remain.
    pub fn finish(mut self) -> Result<(), String> {
        for id in self.openers.clone() {
            self.h.close(id);
        }
        self.h.dev.check_invariants()?;
        let frame = u64::from(self.h.dev.format().sizeimage).div_ceil(4096) * 4096;
        let bound = 8 * frame.max(4096 * 400);
        let used = self.h.dev.status().memory_bytes;
        if used > bound {
            return Err(format!("memory {used} > {bound} after every opener closed"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_through_the_fuzz_decoder() {
        let ops = vec![
            Op::Open,
            Op::Close(3),
            Op::SFmt(1, true, 2),
            Op::Reqbufs(0, false, 4),
            Op::CreateBufs(2, false, 3, 40000),
            Op::Mmap(1, 2),
            Op::MmapRaw(0, 4096, 8192, true, false),
            Op::Munmap(5),
            Op::Qbuf(1, false, 1),
            Op::Dqbuf(1, true),
            Op::StreamOn(0, true),
            Op::StreamOff(0, false),
            Op::Produce(0, 1),
            Op::Write(2),
            Op::WriteLen(2, 123_456),
            Op::Read(3, 77),
            Op::Poll(3, 6),
            Op::Subscribe(1, 2),
            Op::DqEvent(1),
            Op::Ctrl(1, -5),
            Op::Advance(40),
            Op::Raw(1, VIDIOC_QBUF, vec![1; 88], vec![], true),
            Op::Raw(2, 0xdead_beef, vec![7; 5], vec![9; 20], false),
        ];
        let back = Op::decode_all(&Op::encode_all(&ops));
        // Odd byte vectors come back padded to an even length.
        let mut want = ops.clone();
        if let Some(Op::Raw(_, _, arg, _, _)) = want.last_mut() {
            arg.push(0);
        }
        assert_eq!(format!("{back:?}"), format!("{want:?}"));
        let raw = Op::decode_raw_all(&Op::encode_raw_all(&ops));
        assert_eq!(format!("{raw:?}"), format!("{:?}", &want[21..]));
    }
}
