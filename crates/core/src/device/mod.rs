//! The loopback device: openers, roles, the shared format, and every ioctl as a typed method.
//!
//! Each public method is one V4L2 entry point for one opener (a file description, B12: `dup`ed
//! fds share an opener). Methods validate in the order the kernel does (priority, then type and
//! memory, then ownership, A2/F9), change state only on success, and never block: where a real
//! driver would sleep, core returns `EAGAIN` (DQBUF, read) or `ENOENT` (DQEVENT) and the host
//! waits for a wake-up of that opener (see [`Device::take_wakeups`]) before retrying a blocking
//! call.
//!
//! Submodules: `format` (formats, parameters, inputs/outputs), `buffers` (queues, streaming,
//! mmap), `fileio` (read/write), `delivery` (frame hand-off, timers), `poll`.

mod buffers;
mod delivery;
mod fileio;
mod formats;
mod invariants;
pub mod poll;

use std::collections::{BTreeMap, BTreeSet};

use loopcam_abi::*;

use crate::config::{DeviceConfig, Node, NodeLayout};
use crate::controls::Controls;
use crate::errno::{Errno, VResult};
use crate::events::{event_with_changes, EventQueue, EVENT_PRI_CLIENT_USAGE};
use crate::format::{Fract, PixFormat};
use crate::pool::{BlockId, MemEffect, Pool};
use crate::queue::{Dir, FrameMeta, Queue};
use crate::time::Nanos;

pub use buffers::{DqbufOut, ExpbufOut, MapInfo, MAX_MAPS_PER_OPENER};
pub use fileio::ReadChunk;

/// Identifies one open file description of the device.
pub type OpenerId = u64;

/// Access mode of an open() (O_RDONLY / O_WRONLY / O_RDWR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenMode {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
}

impl OpenMode {
    /// O_RDWR.
    pub const RDWR: OpenMode = OpenMode {
        read: true,
        write: true,
    };
    /// O_RDONLY.
    pub const RDONLY: OpenMode = OpenMode {
        read: true,
        write: false,
    };
    /// O_WRONLY.
    pub const WRONLY: OpenMode = OpenMode {
        read: false,
        write: true,
    };
}

/// Priority values (C).
const PRIO_DEFAULT: u32 = V4L2_PRIORITY_INTERACTIVE;

/// Per-opener state.
#[derive(Clone, Debug)]
pub(crate) struct Opener {
    node: Node,
    mode: OpenMode,
    prio: u32,
    /// The one stream this fd serves (F10), if any.
    queue: Option<Queue>,
    /// DESIGN §3.5: this opener fixed the format for a direction (S_FMT, REQBUFS, read/write).
    claim: Option<Dir>,
    /// The app used the streaming API on this fd (REQBUFS, even count 0): no OBS leniency.
    used_reqbufs: bool,
    /// OBS leniency (DESIGN §3.6): STREAMON(OUTPUT) before any buffers; the next write()
    /// starts the stream.
    pending_output_stream: bool,
    events: EventQueue,
    /// read(): the buffer being read and how far (K3).
    read_cursor: Option<(u32, u32)>,
    /// Live mmaps: handle → (queue generation, buffer index).
    maps: BTreeMap<u64, (u64, u32)>,
}

impl Opener {
    fn queue_dir(&self) -> Option<Dir> {
        self.queue.as_ref().map(|q| q.dir)
    }
}

/// A snapshot of the device for `loopcam query` and the API.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceStatus {
    /// Current format.
    pub format: PixFormat,
    /// Nominal frame interval.
    pub interval: Fract,
    /// Number of open file descriptions.
    pub openers: usize,
    /// A producer holds the output queue.
    pub producer: bool,
    /// The producer is streaming.
    pub producer_streaming: bool,
    /// Streaming consumers (DESIGN §3.11).
    pub readers: usize,
    /// Frames handed out since creation (repeats included).
    pub frames: u64,
    /// Bytes of frame memory allocated.
    pub memory_bytes: u64,
    /// keep_format, sustain_framerate, timeout controls.
    pub keep_format: bool,
    /// sustain_framerate control.
    pub sustain_framerate: bool,
    /// timeout control (ms).
    pub timeout_ms: u32,
}

/// One loopback device (one node, or a split output/capture pair).
#[derive(Clone, Debug)]
pub struct Device {
    cfg: DeviceConfig,
    openers: BTreeMap<OpenerId, Opener>,
    next_opener: OpenerId,
    next_map: u64,
    next_generation: u64,
    /// The one global format (E13), and its generation (bumped on real changes).
    fmt: PixFormat,
    fmt_gen: u64,
    interval: Fract,
    controls: Controls,
    pool: Pool,
    /// Owner of the OUTPUT queue (F9/O1).
    producer: Option<OpenerId>,
    /// Owner of the CAPTURE queue in strict single-reader mode.
    capture_owner: Option<OpenerId>,
    /// Device-wide frame counter (each delivery, repeats included).
    frame_seq: u64,
    /// The last frame handed off (one pool reference), for sustain_framerate.
    last: Option<FrameMeta>,
    /// Time of the last producer frame.
    last_real: Nanos,
    /// Time of the last delivery (real or repeat or timeout image).
    last_delivery: Nanos,
    /// Timeout image (one pool reference), bytesused, and the format generation it is for.
    timeout_image: Option<(BlockId, u32, u64)>,
    /// Streaming consumer count last reported through the usage event.
    reported_readers: usize,
    wake: BTreeSet<OpenerId>,
    /// The readiness each opener had at the last [`Device::take_wakeups`].
    shown: BTreeMap<OpenerId, u32>,
}

impl Device {
    /// A new device; `now` starts its timers.
    pub fn new(cfg: DeviceConfig, now: Nanos) -> Result<Device, String> {
        cfg.validate()?;
        let (fmt, interval) = match &cfg.fixed_caps {
            Some(c) => {
                let req = PixFormat {
                    pixelformat: c.fourcc,
                    width: c.width,
                    height: c.height,
                    ..PixFormat::default_format()
                };
                (crate::format::try_format(&req, Some(c)), c.interval)
            }
            None => (PixFormat::default_format(), crate::format::DEFAULT_INTERVAL),
        };
        Ok(Device {
            controls: Controls::new(cfg.keep_format, cfg.sustain_framerate, cfg.timeout_ms),
            pool: Pool::new(cfg.memory_limit),
            cfg,
            openers: BTreeMap::new(),
            next_opener: 1,
            next_map: 1,
            next_generation: 1,
            fmt,
            fmt_gen: 1,
            interval,
            producer: None,
            capture_owner: None,
            frame_seq: 0,
            last: None,
            last_real: now,
            last_delivery: now,
            timeout_image: None,
            reported_readers: 0,
            wake: BTreeSet::new(),
            shown: BTreeMap::new(),
        })
    }

    /// The options the device was created with.
    pub fn config(&self) -> &DeviceConfig {
        &self.cfg
    }

    /// DESIGN §3.10 with a host-wide budget: the host (the daemon, which caps the memory of all
    /// devices together) says how many bytes this device may hold at most right now. Growth
    /// beyond it gets ENOMEM like growth beyond `memory_limit`; memory already held stays.
    pub fn set_memory_ceiling(&mut self, bytes: u64) {
        self.pool.set_ceiling(bytes);
    }

    /// Bytes of frame memory the device holds (referenced or cached for reuse).
    pub fn memory_bytes(&self) -> u64 {
        self.pool.bytes()
    }

    /// Changes the label (QUERYCAP card) at run time.
    pub fn set_label(&mut self, label: &str) {
        self.cfg.label = label.to_string();
    }

    // ----- open / close (B) -----

    /// open(2) on `node`. EBUSY past `max_openers`, ENODEV for a node the layout lacks.
    pub fn open(&mut self, node: Node, mode: OpenMode) -> VResult<OpenerId> {
        let ok_node = match self.cfg.layout {
            NodeLayout::Single => node == Node::Combined,
            NodeLayout::Split => node != Node::Combined,
        };
        if !ok_node {
            return Err(Errno::ENODEV);
        }
        if self.openers.len() >= self.cfg.max_openers as usize {
            return Err(Errno::EBUSY);
        }
        let id = self.next_opener;
        self.next_opener += 1;
        self.openers.insert(
            id,
            Opener {
                node,
                mode,
                prio: PRIO_DEFAULT,
                queue: None,
                claim: None,
                used_reqbufs: false,
                pending_output_stream: false,
                events: EventQueue::default(),
                read_cursor: None,
                maps: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    /// close(2) of the last fd of an opener, or death of its process (B10, B11): implicit
    /// STREAMOFF and REQBUFS(0), claims and priority dropped; nothing else is disturbed.
    pub fn close(&mut self, id: OpenerId, now: Nanos) {
        if !self.openers.contains_key(&id) {
            return;
        }
        self.release_queue(id, now);
        let op = self.openers.get_mut(&id).expect("checked");
        op.claim = None;
        op.pending_output_stream = false;
        if self.producer == Some(id) {
            self.producer_gone(now);
        }
        self.openers.remove(&id);
        self.wake.remove(&id);
        self.shown.remove(&id);
        self.update_reader_count(now);
        if self.openers.is_empty() {
            // DESIGN §3.10 (memory proportional to use): nobody uses the device, so the blocks
            // cached for reuse go; the last frame (what the next consumer is shown first) and
            // the timeout image stay. The last frame keeps only the memory it needs: a
            // producer's buffer may be far larger than its frames (CREATE_BUFS, F9), and an
            // idle device must not hold on to that (found by the core_ops fuzz target).
            if let Some(last) = self.last.as_mut() {
                let need = crate::pool::page_align(last.bytesused.max(1).into());
                if self.pool.size(last.block).is_some_and(|s| s > need) {
                    if let Ok(small) = self.pool.get(need) {
                        self.pool.copy(last.block, small, last.bytesused.into());
                        self.pool.release(last.block);
                        last.block = small;
                    }
                }
            }
            self.pool.trim(None);
        }
    }

    /// The queue an opener holds: direction, I/O kind and whether it streams.
    pub fn opener_queue(&self, id: OpenerId) -> Option<(Dir, crate::queue::Io, bool)> {
        let q = self.openers.get(&id)?.queue.as_ref()?;
        Some((q.dir, q.io, q.streaming))
    }

    /// Opener ids currently open.
    pub fn opener_ids(&self) -> Vec<OpenerId> {
        self.openers.keys().copied().collect()
    }

    fn opener(&self, id: OpenerId) -> VResult<&Opener> {
        self.openers.get(&id).ok_or(Errno::EBADF)
    }

    fn opener_mut(&mut self, id: OpenerId) -> VResult<&mut Opener> {
        self.openers.get_mut(&id).ok_or(Errno::EBADF)
    }

    // ----- capabilities (B4–B8) -----

    fn producer_streaming(&self) -> bool {
        self.producer.is_some_and(|p| {
            let op = &self.openers[&p];
            op.pending_output_stream || op.queue.as_ref().is_some_and(|q| q.streaming)
        })
    }

    /// The device_caps of `node` at this moment (B6, B7).
    pub fn device_caps(&self, node: Node) -> u32 {
        let io = V4L2_CAP_STREAMING | V4L2_CAP_READWRITE | V4L2_CAP_EXT_PIX_FORMAT;
        let dirs = match node {
            Node::Output => V4L2_CAP_VIDEO_OUTPUT,
            Node::Capture => V4L2_CAP_VIDEO_CAPTURE,
            Node::Combined if !self.cfg.exclusive_caps => {
                V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_OUTPUT
            }
            // B7: OUTPUT while no producer streams, CAPTURE once one does.
            Node::Combined if self.producer_streaming() => V4L2_CAP_VIDEO_CAPTURE,
            Node::Combined => V4L2_CAP_VIDEO_OUTPUT,
        };
        dirs | io
    }

    /// B8/O2: whether `id` may use buffer type `dir` now: the node advertises it, or the opener
    /// already holds a role in that direction.
    fn dir_allowed(&self, id: OpenerId, dir: Dir) -> bool {
        let Some(op) = self.openers.get(&id) else {
            return false;
        };
        if op.queue_dir() == Some(dir)
            || op.claim == Some(dir)
            || (dir == Dir::Output && self.producer == Some(id))
        {
            return true;
        }
        let caps = self.device_caps(op.node);
        let bit = match dir {
            Dir::Output => V4L2_CAP_VIDEO_OUTPUT,
            Dir::Capture => V4L2_CAP_VIDEO_CAPTURE,
        };
        caps & bit != 0
    }

    /// Maps a raw buffer type to a direction this opener may use; EINVAL otherwise (B8, E2).
    fn check_type(&self, id: OpenerId, type_: u32) -> VResult<Dir> {
        let dir = Dir::from_buf_type(type_).ok_or(Errno::EINVAL)?;
        if self.dir_allowed(id, dir) {
            Ok(dir)
        } else {
            Err(Errno::EINVAL)
        }
    }

    /// VIDIOC_QUERYCAP (B4–B7).
    pub fn querycap(&self, id: OpenerId, cap: &mut v4l2_capability) -> VResult<()> {
        let op = self.opener(id)?;
        let device_caps = self.device_caps(op.node);
        *cap = v4l2_capability::default();
        // pyvirtualcam and others look for the v4l2loopback driver name (clients.md E.13).
        copy_str(&mut cap.driver, "v4l2 loopback");
        copy_str(&mut cap.card, &self.cfg.label);
        copy_str(
            &mut cap.bus_info,
            &format!("platform:v4l2loopback-{:03}", self.cfg.number),
        );
        cap.version = kernel_version(6, 1, 0);
        cap.device_caps = device_caps;
        // B6: capabilities ⊇ device_caps plus DEVICE_CAPS. For a split pair the physical
        // device offers both directions.
        let all = match self.cfg.layout {
            NodeLayout::Split => self.device_caps(Node::Output) | self.device_caps(Node::Capture),
            NodeLayout::Single => device_caps,
        };
        cap.capabilities = all | V4L2_CAP_DEVICE_CAPS;
        Ok(())
    }

    // ----- priority (C) -----

    fn max_prio(&self) -> u32 {
        self.openers
            .values()
            .map(|o| o.prio)
            .max()
            .unwrap_or(PRIO_DEFAULT)
    }

    /// C4: EBUSY when the caller's priority is below the device maximum.
    fn check_prio(&self, id: OpenerId) -> VResult<()> {
        if self.opener(id)?.prio < self.max_prio() {
            Err(Errno::EBUSY)
        } else {
            Ok(())
        }
    }

    /// VIDIOC_G_PRIORITY (C2: the highest priority held by any opener).
    pub fn g_priority(&self, id: OpenerId) -> VResult<u32> {
        self.opener(id)?;
        Ok(self.max_prio())
    }

    /// VIDIOC_S_PRIORITY (C3, C4).
    pub fn s_priority(&mut self, id: OpenerId, prio: u32) -> VResult<()> {
        if !(V4L2_PRIORITY_BACKGROUND..=V4L2_PRIORITY_RECORD).contains(&prio) {
            return Err(Errno::EINVAL);
        }
        let mine = self.opener(id)?.prio;
        // C4: a lower-priority fd cannot change anything, including its own priority, while a
        // higher one exists — unless it is the holder of that maximum. S_PRIORITY is itself
        // INFO_FL_PRIO in the kernel, so even re-setting the current value is EBUSY
        // (v4l2-compliance testPrio: "going back to interactive on the other node must fail").
        let max_other = self
            .openers
            .iter()
            .filter(|(k, _)| **k != id)
            .map(|(_, o)| o.prio)
            .max()
            .unwrap_or(0);
        if mine < max_other {
            return Err(Errno::EBUSY);
        }
        self.opener_mut(id)?.prio = prio;
        Ok(())
    }

    // ----- controls (N) -----

    /// VIDIOC_QUERYCTRL.
    pub fn queryctrl(&self, id: OpenerId, q: &mut v4l2_queryctrl) -> VResult<()> {
        self.opener(id)?;
        self.controls.queryctrl(q)
    }

    /// VIDIOC_QUERY_EXT_CTRL.
    pub fn query_ext_ctrl(&self, id: OpenerId, q: &mut v4l2_query_ext_ctrl) -> VResult<()> {
        self.opener(id)?;
        self.controls.query_ext_ctrl(q)
    }

    /// VIDIOC_QUERYMENU: there are no menu controls (N2: EINVAL on non-menu controls).
    pub fn querymenu(&self, id: OpenerId, _q: &mut v4l2_querymenu) -> VResult<()> {
        self.opener(id)?;
        Err(Errno::EINVAL)
    }

    /// VIDIOC_G_CTRL.
    pub fn g_ctrl(&self, id: OpenerId, c: &mut v4l2_control) -> VResult<()> {
        self.opener(id)?;
        c.value = self.controls.get(c.id)?;
        Ok(())
    }

    /// VIDIOC_S_CTRL (N3, N5, M8).
    pub fn s_ctrl(&mut self, id: OpenerId, c: &mut v4l2_control, now: Nanos) -> VResult<()> {
        self.check_prio(id)?;
        let v = self.controls.try_value(c.id, c.value.into())?;
        self.apply_ctrl(id, c.id, v, now)?;
        c.value = v;
        Ok(())
    }

    fn apply_ctrl(&mut self, id: OpenerId, cid: u32, v: i32, now: Nanos) -> VResult<()> {
        // N1: a PRIVATE_BASE alias acts on (and notifies about) the real control.
        let cid = crate::controls::canonical_id(cid);
        if self.controls.store(cid, v)? {
            if cid == crate::controls::CID_TIMEOUT || cid == crate::controls::CID_SUSTAIN_FRAMERATE
            {
                // Timers restart from the moment the setting changes.
                self.last_delivery = self.last_delivery.max(now.min(self.last_delivery));
            }
            if let Some(ev) = self.controls.event(cid, V4L2_EVENT_CTRL_CH_VALUE) {
                let targets: Vec<OpenerId> = self.openers.keys().copied().collect();
                for t in targets {
                    let op = self.openers.get_mut(&t).expect("listed");
                    // M8: not to the fd that made the change, unless ALLOW_FEEDBACK.
                    let feedback = op
                        .events
                        .flags(V4L2_EVENT_CTRL, cid)
                        .is_some_and(|f| f & V4L2_EVENT_SUB_FL_ALLOW_FEEDBACK != 0);
                    if (t != id || feedback) && op.events.push(ev, now) {
                        self.wake.insert(t);
                    }
                }
            }
        }
        Ok(())
    }

    /// VIDIOC_G_EXT_CTRLS / S_EXT_CTRLS / TRY_EXT_CTRLS (N4). `ctrls` is the array the
    /// `controls` pointer designates, marshalled by the caller.
    pub fn ext_ctrls(
        &mut self,
        id: OpenerId,
        op: ExtCtrlOp,
        hdr: &mut v4l2_ext_controls,
        ctrls: &mut [v4l2_ext_control],
        now: Nanos,
    ) -> VResult<()> {
        self.opener(id)?;
        if op == ExtCtrlOp::Set {
            self.check_prio(id)?;
        }
        if ctrls.len() != hdr.count as usize {
            return Err(Errno::EINVAL);
        }
        let which = hdr.which;
        let def_val = which == V4L2_CTRL_WHICH_DEF_VAL;
        if which == V4L2_CTRL_WHICH_REQUEST_VAL {
            // N4 / §P: without a media device the kernel answers EINVAL here
            // (v4l2_g_ext_ctrls_request), and v4l2-compliance's Requests test accepts only
            // EINVAL, EBADR or ENOTTY (the reference's EACCES is for incomplete requests).
            hdr.error_idx = hdr.count;
            return Err(Errno::EINVAL);
        }
        if which != V4L2_CTRL_WHICH_CUR_VAL && !def_val && which != V4L2_CTRL_CLASS_USER {
            hdr.error_idx = hdr.count;
            return Err(Errno::EINVAL);
        }
        if def_val && op != ExtCtrlOp::Get {
            hdr.error_idx = hdr.count;
            return Err(Errno::EINVAL);
        }
        // Validate everything first: all-or-nothing (N4).
        let fail_idx = |i: usize| {
            if op == ExtCtrlOp::Try {
                i as u32
            } else {
                hdr.count
            }
        };
        let mut values = Vec::with_capacity(ctrls.len());
        for (i, c) in ctrls.iter().enumerate() {
            let cid = c.id;
            let class_ok =
                which != V4L2_CTRL_CLASS_USER || cid & 0x0fff_0000 == V4L2_CTRL_CLASS_USER;
            if !self.controls.exists(cid) || !class_ok {
                hdr.error_idx = fail_idx(i);
                return Err(Errno::EINVAL);
            }
            let r = match op {
                ExtCtrlOp::Get if def_val => self.controls.default_of(cid),
                ExtCtrlOp::Get => self.controls.get(cid),
                // N4: every control here is 32-bit, so the kernel reads the s32 `value` member
                // (user_to_new), not `value64`: -5 with a zero upper half must clamp to min.
                _ => self.controls.try_value(cid, c.value().into()),
            };
            match r {
                Ok(v) => values.push(v),
                Err(e) => {
                    hdr.error_idx = fail_idx(i);
                    return Err(e);
                }
            }
        }
        for (c, v) in ctrls.iter_mut().zip(&values) {
            if op == ExtCtrlOp::Set {
                self.apply_ctrl(id, c.id, *v, now)?;
            }
            c.value64 = (*v).into();
        }
        hdr.error_idx = 0;
        Ok(())
    }

    /// Sets a control from the host (`loopcam add --timeout`, `set-timeout-image -t`): like
    /// S_CTRL from an opener that no opener is, so every subscriber gets the CTRL event.
    pub fn host_set_ctrl(&mut self, cid: u32, value: i64, now: Nanos) -> VResult<i32> {
        let v = self.controls.try_value(cid, value)?;
        self.apply_ctrl(0, cid, v, now)?;
        Ok(v)
    }

    /// Current values of keep_format / sustain_framerate / timeout.
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    // ----- events (M) -----

    /// VIDIOC_SUBSCRIBE_EVENT (M1, M6–M8, M10).
    pub fn subscribe_event(
        &mut self,
        id: OpenerId,
        s: &v4l2_event_subscription,
        now: Nanos,
    ) -> VResult<()> {
        self.opener(id)?;
        let initial = s.flags & V4L2_EVENT_SUB_FL_SEND_INITIAL != 0;
        let first = match s.type_ {
            V4L2_EVENT_CTRL => {
                if !self.controls.exists(s.id) {
                    return Err(Errno::EINVAL);
                }
                if initial {
                    self.controls.initial_event(s.id)
                } else {
                    None
                }
            }
            V4L2_EVENT_SOURCE_CHANGE => {
                // M6: input 0 only, and only where capture is possible.
                if s.id != 0 || !self.dir_allowed(id, Dir::Capture) {
                    return Err(Errno::EINVAL);
                }
                None
            }
            V4L2_EVENT_EOS => None,
            EVENT_PRI_CLIENT_USAGE => {
                if initial {
                    Some(usage_event(self.reader_count()))
                } else {
                    None
                }
            }
            _ => return Err(Errno::EINVAL),
        };
        let op = self.opener_mut(id)?;
        let already = op.events.is_subscribed(s.type_, s.id);
        op.events.subscribe(s.type_, s.id, s.flags);
        if let (false, Some(ev)) = (already, first) {
            op.events.push(ev, now);
            self.wake.insert(id);
        }
        Ok(())
    }

    /// VIDIOC_UNSUBSCRIBE_EVENT (M2).
    pub fn unsubscribe_event(&mut self, id: OpenerId, s: &v4l2_event_subscription) -> VResult<()> {
        self.opener_mut(id)?.events.unsubscribe(s.type_, s.id);
        self.wake.insert(id); // L1: dropped pending events may end POLLPRI
        Ok(())
    }

    /// VIDIOC_DQEVENT (M3): ENOENT when nothing is pending (a blocking caller waits for a
    /// wake-up and retries).
    pub fn dqevent(&mut self, id: OpenerId, ev: &mut v4l2_event) -> VResult<()> {
        *ev = self.opener_mut(id)?.events.dequeue().ok_or(Errno::ENOENT)?;
        self.wake.insert(id); // L1: the last pending event ends POLLPRI
        Ok(())
    }

    fn broadcast_event(&mut self, ev: v4l2_event, now: Nanos, filter: impl Fn(&Opener) -> bool) {
        for (k, op) in self.openers.iter_mut() {
            if filter(op) && op.events.push(ev, now) {
                self.wake.insert(*k);
            }
        }
    }

    /// Streaming consumers (DESIGN §3.11).
    pub fn reader_count(&self) -> usize {
        self.openers
            .values()
            .filter(|o| {
                o.queue
                    .as_ref()
                    .is_some_and(|q| q.dir == Dir::Capture && q.streaming)
            })
            .count()
    }

    fn update_reader_count(&mut self, now: Nanos) {
        let n = self.reader_count();
        if n != self.reported_readers {
            self.reported_readers = n;
            self.broadcast_event(usage_event(n), now, |_| true);
        }
    }

    // ----- misc -----

    /// VIDIOC_LOG_STATUS: nothing to log from core; the host logs [`Device::status`].
    pub fn log_status(&self, id: OpenerId) -> VResult<()> {
        self.opener(id)?;
        Ok(())
    }

    /// A snapshot for tools.
    pub fn status(&self) -> DeviceStatus {
        DeviceStatus {
            format: self.fmt,
            interval: self.interval,
            openers: self.openers.len(),
            producer: self.producer.is_some(),
            producer_streaming: self.producer_streaming(),
            readers: self.reader_count(),
            frames: self.frame_seq,
            memory_bytes: self.pool.bytes(),
            keep_format: self.controls.keep_format(),
            sustain_framerate: self.controls.sustain_framerate(),
            timeout_ms: self.controls.timeout_ms(),
        }
    }

    /// Openers whose readiness (poll) may have changed since the last call. The host
    /// re-evaluates [`Device::poll`] for each and wakes blocked callers.
    pub fn take_wakeups(&mut self) -> Vec<OpenerId> {
        // L1 by construction: besides the explicit wake-ups (a new frame is an edge even when
        // POLLIN already shows), every opener whose readiness differs from what the host was
        // last told is woken. Readiness depends on state other openers change (the producer's
        // claim and stream, memory a consumer returns, B7's exclusive caps), and a change
        // nobody reports is a lost wake-up (found by the world check in `testing::ops`).
        let ids: Vec<OpenerId> = self.openers.keys().copied().collect();
        for id in ids {
            let now = self.signal_readiness(id);
            if self.shown.insert(id, now) != Some(now) {
                self.wake.insert(id);
            }
        }
        std::mem::take(&mut self.wake).into_iter().collect()
    }

    /// Memory the host must create or destroy, in order.
    pub fn take_mem_effects(&mut self) -> Vec<MemEffect> {
        self.pool.take_effects()
    }

    fn wake_all(&mut self) {
        self.wake.extend(self.openers.keys().copied());
    }

    /// Removes the device: every opener is closed and all memory released. The host answers
    /// later calls with ENODEV (B13).
    pub fn shutdown(&mut self, now: Nanos) {
        for id in self.opener_ids() {
            self.close(id, now);
        }
        if let Some(last) = self.last.take() {
            self.pool.release(last.block);
        }
        if let Some((b, _, _)) = self.timeout_image.take() {
            self.pool.release(b);
        }
        self.pool.clear();
    }
}

/// Which EXT_CTRLS ioctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtCtrlOp {
    /// VIDIOC_G_EXT_CTRLS.
    Get,
    /// VIDIOC_S_EXT_CTRLS.
    Set,
    /// VIDIOC_TRY_EXT_CTRLS.
    Try,
}

fn usage_event(readers: usize) -> v4l2_event {
    event_with_changes(EVENT_PRI_CLIENT_USAGE, 0, readers as u32)
}

/// Copies a string into a NUL-terminated fixed array, truncating (B5).
pub(crate) fn copy_str<const N: usize>(dst: &mut [u8; N], s: &str) {
    let n = s.len().min(N - 1);
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
    dst[n..].fill(0);
}
