//! Format negotiation (E), frame parameters (E.4), inputs and outputs (D).
//!
//! Format ownership (DESIGN §3 item 5, seed 001) — the decision recorded here:
//! * The format is global (E13). The first opener that claims a direction (S_FMT, REQBUFS,
//!   CREATE_BUFS, read/write) fixes it: later openers get the current format back from
//!   S_FMT/TRY_FMT (E17) instead of EBUSY.
//! * Claims on the OUTPUT side are authoritative: consumer claims never stop the producer from
//!   choosing a format. A producer that changes the format between its streams bumps the format
//!   generation; consumers whose buffers were sized for the old one get SOURCE_CHANGE and no
//!   frames until they renegotiate (never a frame of the wrong size).
//! * keep_format and fixed caps freeze the format for everybody.

use loopcam_abi::*;

use super::{copy_str, Device, OpenerId};
use crate::errno::{Errno, VResult};
use crate::events::event_with_changes;
use crate::format::{self, Fract, FrameIntervals, FrameSizes, PixFormat};
use crate::queue::Dir;
use crate::time::Nanos;

/// abi → model. E12: without PRIV_MAGIC the extended fields are not trusted.
pub(crate) fn pix_from_abi(p: &v4l2_pix_format) -> PixFormat {
    let ext = p.priv_ == V4L2_PIX_FMT_PRIV_MAGIC;
    PixFormat {
        width: p.width,
        height: p.height,
        pixelformat: p.pixelformat,
        field: p.field,
        bytesperline: p.bytesperline,
        sizeimage: p.sizeimage,
        colorspace: p.colorspace,
        flags: if ext { p.flags } else { 0 },
        ycbcr_enc: if ext { p.ycbcr_enc } else { 0 },
        quantization: if ext { p.quantization } else { 0 },
        xfer_func: if ext { p.xfer_func } else { 0 },
    }
}

/// model → abi, with E8's PRIV_MAGIC.
pub(crate) fn pix_to_abi(p: &PixFormat) -> v4l2_pix_format {
    v4l2_pix_format {
        width: p.width,
        height: p.height,
        pixelformat: p.pixelformat,
        field: p.field,
        bytesperline: p.bytesperline,
        sizeimage: p.sizeimage,
        colorspace: p.colorspace,
        priv_: V4L2_PIX_FMT_PRIV_MAGIC,
        flags: p.flags,
        ycbcr_enc: p.ycbcr_enc,
        quantization: p.quantization,
        xfer_func: p.xfer_func,
    }
}

fn same_geometry(a: &PixFormat, b: &PixFormat) -> bool {
    a.width == b.width
        && a.height == b.height
        && a.pixelformat == b.pixelformat
        && a.bytesperline == b.bytesperline
        && a.sizeimage == b.sizeimage
}

impl Device {
    /// Whether the format is frozen for `id` in direction `dir` (see the module docs).
    pub(crate) fn format_fixed_for(&self, id: OpenerId, dir: Dir) -> bool {
        if self.controls.keep_format() {
            return true;
        }
        // DESIGN §3.9 split mode: the capture node shows what the producer side decides, as
        // one discrete format, so applications that enumerate before the producer starts
        // (Chromium keeps only DISCRETE sizes) already see a usable camera.
        if dir == Dir::Capture
            && self
                .openers
                .get(&id)
                .is_some_and(|o| o.node == crate::config::Node::Capture)
        {
            return true;
        }
        self.openers.iter().any(|(k, o)| {
            *k != id
                && match dir {
                    Dir::Output => o.claim == Some(Dir::Output) || self.producer == Some(*k),
                    Dir::Capture => o.claim.is_some() || o.queue.is_some(),
                }
        })
    }

    /// The current format.
    pub fn format(&self) -> PixFormat {
        self.fmt
    }

    /// The current format generation.
    pub fn format_generation(&self) -> u64 {
        self.fmt_gen
    }

    /// The nominal frame interval.
    pub fn interval(&self) -> Fract {
        self.interval
    }

    /// VIDIOC_ENUM_FMT (E1–E7).
    pub fn enum_fmt(&self, id: OpenerId, d: &mut v4l2_fmtdesc) -> VResult<()> {
        let dir = self.check_type(id, d.type_)?;
        // E6: ENUM_ALL is not supported; a plain u32 index makes it EINVAL.
        let list: Vec<&'static format::FormatInfo> = if let Some(c) = &self.cfg.fixed_caps {
            format::lookup(c.fourcc).into_iter().collect()
        } else if self.format_fixed_for(id, dir) {
            // E7: only what is actually flowing.
            format::lookup(self.fmt.pixelformat).into_iter().collect()
        } else {
            format::formats().iter().collect()
        };
        let info = list.get(d.index as usize).ok_or(Errno::EINVAL)?;
        let (index, type_) = (d.index, d.type_);
        *d = v4l2_fmtdesc {
            index,
            type_,
            flags: info.fmtdesc_flags(),
            pixelformat: info.fourcc,
            ..Default::default()
        };
        copy_str(&mut d.description, info.description);
        Ok(())
    }

    /// VIDIOC_G_FMT (E8).
    pub fn g_fmt(&self, id: OpenerId, f: &mut v4l2_format) -> VResult<()> {
        self.check_type(id, f.type_)?;
        f.fmt_bytes_mut().fill(0);
        f.set_pix(&pix_to_abi(&self.fmt));
        Ok(())
    }

    fn try_for(&self, id: OpenerId, dir: Dir, f: &v4l2_format) -> PixFormat {
        if self.format_fixed_for(id, dir) {
            // E17: an inflexible device returns the current format.
            return self.fmt;
        }
        format::try_format(&pix_from_abi(&f.pix()), self.cfg.fixed_caps.as_ref())
    }

    /// VIDIOC_TRY_FMT (E10, E11: no side effects, never EBUSY).
    pub fn try_fmt(&self, id: OpenerId, f: &mut v4l2_format) -> VResult<()> {
        let dir = self.check_type(id, f.type_)?;
        let p = self.try_for(id, dir, f);
        f.fmt_bytes_mut().fill(0);
        f.set_pix(&pix_to_abi(&p));
        Ok(())
    }

    /// VIDIOC_S_FMT (E10–E17).
    pub fn s_fmt(&mut self, id: OpenerId, f: &mut v4l2_format, now: Nanos) -> VResult<()> {
        self.check_prio(id)?;
        let dir = self.check_type(id, f.type_)?;
        let p = self.try_for(id, dir, f);
        let op = self.opener(id)?;
        if let Some(q) = &op.queue {
            // F10: one fd, one stream.
            if q.dir != dir {
                return Err(Errno::EBUSY);
            }
            // E14: buffers exist; the layout cannot change under them.
            if !same_geometry(&p, &self.fmt) && q.count() > 0 {
                return Err(Errno::EBUSY);
            }
        }
        // Only an S_FMT that chose the format claims it: an opener that got the current
        // format back (E17) must not freeze it for the one that set it (v4l2-compliance keeps
        // a second fd open after its global-format test).
        let chose = !self.format_fixed_for(id, dir);
        self.set_format(p, now);
        if chose {
            self.opener_mut(id)?.claim = Some(dir);
        }
        f.fmt_bytes_mut().fill(0);
        f.set_pix(&pix_to_abi(&p));
        Ok(())
    }

    /// Installs a new device format; a geometry change bumps the generation and notifies
    /// consumers whose buffers no longer fit (M6).
    pub(crate) fn set_format(&mut self, p: PixFormat, now: Nanos) {
        let changed = !same_geometry(&p, &self.fmt);
        self.fmt = p;
        if !changed {
            return;
        }
        self.fmt_gen += 1;
        self.pool.trim(Some(p.sizeimage.into()));
        if let Some((b, _, _)) = self.timeout_image.take() {
            self.pool.release(b);
        }
        let ev = event_with_changes(V4L2_EVENT_SOURCE_CHANGE, 0, V4L2_EVENT_SRC_CH_RESOLUTION);
        let gen = self.fmt_gen;
        self.broadcast_event(ev, now, |o| {
            o.queue
                .as_ref()
                .is_some_and(|q| q.dir == Dir::Capture && q.fmt_gen != gen)
                || o.claim == Some(Dir::Capture)
        });
        self.wake_all();
    }

    /// Sets the format and rate from outside V4L2 (`loopcam set-caps`): like a producer S_FMT
    /// that is not bound to an opener. EBUSY while a producer holds buffers of another layout.
    pub fn set_caps(&mut self, caps: &format::FixedCaps, now: Nanos) -> VResult<()> {
        let req = PixFormat {
            pixelformat: caps.fourcc,
            width: caps.width,
            height: caps.height,
            ..PixFormat::default_format()
        };
        let p = format::try_format(&req, Some(caps));
        if let Some(pid) = self.producer {
            if self.openers[&pid]
                .queue
                .as_ref()
                .is_some_and(|q| q.count() > 0)
                && !same_geometry(&p, &self.fmt)
            {
                return Err(Errno::EBUSY);
            }
        }
        self.cfg.fixed_caps = Some(*caps);
        self.interval = format::clamp_interval(caps.interval);
        self.set_format(p, now);
        Ok(())
    }

    /// Sets the nominal rate from outside V4L2 (`loopcam set-fps`).
    pub fn set_interval(&mut self, interval: Fract) {
        self.interval = format::clamp_interval(interval);
        if let Some(c) = self.cfg.fixed_caps.as_mut() {
            c.interval = self.interval;
        }
    }

    fn locked_format(&self, id: OpenerId, dir: Dir) -> Option<PixFormat> {
        self.format_fixed_for(id, dir).then_some(self.fmt)
    }

    /// The direction used for enumeration requests that carry no buffer type: the opener's
    /// own, else capture when capture is possible.
    fn enum_dir(&self, id: OpenerId) -> Dir {
        if let Some(d) = self
            .openers
            .get(&id)
            .and_then(|o| o.queue_dir().or(o.claim))
        {
            return d;
        }
        if self.dir_allowed(id, Dir::Capture) {
            Dir::Capture
        } else {
            Dir::Output
        }
    }

    /// VIDIOC_ENUM_FRAMESIZES (E18, E19).
    pub fn enum_framesizes(&self, id: OpenerId, s: &mut v4l2_frmsizeenum) -> VResult<()> {
        self.opener(id)?;
        let dir = self.enum_dir(id);
        let locked = self.locked_format(id, dir);
        let sizes = format::frame_sizes(
            s.pixel_format,
            self.cfg.fixed_caps.as_ref(),
            locked.as_ref(),
        )
        .ok_or(Errno::EINVAL)?;
        let (index, pixel_format) = (s.index, s.pixel_format);
        *s = v4l2_frmsizeenum {
            index,
            pixel_format,
            ..Default::default()
        };
        match sizes {
            FrameSizes::Discrete(list) => {
                let (w, h) = *list.get(index as usize).ok_or(Errno::EINVAL)?;
                s.type_ = V4L2_FRMSIZE_TYPE_DISCRETE;
                s.set_discrete(&v4l2_frmsize_discrete {
                    width: w,
                    height: h,
                });
            }
            ref sw @ FrameSizes::Stepwise {
                min_w,
                max_w,
                step_w,
                min_h,
                max_h,
                step_h,
            } => {
                if index != 0 {
                    return Err(Errno::EINVAL);
                }
                s.type_ = if sw.is_continuous() {
                    V4L2_FRMSIZE_TYPE_CONTINUOUS
                } else {
                    V4L2_FRMSIZE_TYPE_STEPWISE
                };
                s.set_stepwise(&v4l2_frmsize_stepwise {
                    min_width: min_w,
                    max_width: max_w,
                    step_width: step_w,
                    min_height: min_h,
                    max_height: max_h,
                    step_height: step_h,
                });
            }
        }
        Ok(())
    }

    /// VIDIOC_ENUM_FRAMEINTERVALS (E20).
    pub fn enum_frameintervals(&self, id: OpenerId, e: &mut v4l2_frmivalenum) -> VResult<()> {
        self.opener(id)?;
        let dir = self.enum_dir(id);
        let locked = self.locked_format(id, dir);
        let ivals = format::frame_intervals(
            e.pixel_format,
            e.width,
            e.height,
            self.cfg.fixed_caps.as_ref(),
            locked.as_ref().map(|f| (f, self.interval)),
        )
        .ok_or(Errno::EINVAL)?;
        let (index, pixel_format, width, height) = (e.index, e.pixel_format, e.width, e.height);
        *e = v4l2_frmivalenum {
            index,
            pixel_format,
            width,
            height,
            ..Default::default()
        };
        let fr = |f: Fract| v4l2_fract {
            numerator: f.numerator,
            denominator: f.denominator,
        };
        match ivals {
            FrameIntervals::Discrete(list) => {
                let f = *list.get(index as usize).ok_or(Errno::EINVAL)?;
                e.type_ = V4L2_FRMIVAL_TYPE_DISCRETE;
                e.set_discrete(&fr(f));
            }
            ref sw @ FrameIntervals::Stepwise { min, max, step } => {
                if index != 0 {
                    return Err(Errno::EINVAL);
                }
                e.type_ = if sw.is_continuous() {
                    V4L2_FRMIVAL_TYPE_CONTINUOUS
                } else {
                    V4L2_FRMIVAL_TYPE_STEPWISE
                };
                e.set_stepwise(&v4l2_frmival_stepwise {
                    min: fr(min),
                    max: fr(max),
                    step: fr(step),
                });
            }
        }
        Ok(())
    }

    fn fill_parm(&self, dir: Dir, p: &mut v4l2_streamparm) {
        let type_ = p.type_;
        *p = v4l2_streamparm {
            type_,
            ..Default::default()
        };
        let tpf = v4l2_fract {
            numerator: self.interval.numerator,
            denominator: self.interval.denominator,
        };
        // E23/K9: READWRITE and STREAMING are both advertised, so the r/w buffer count is
        // non-zero: the number of buffers the read()/write() emulation uses.
        match dir {
            Dir::Capture => p.set_capture(&v4l2_captureparm {
                capability: V4L2_CAP_TIMEPERFRAME,
                timeperframe: tpf,
                readbuffers: super::fileio::FILEIO_BUFFERS,
                ..Default::default()
            }),
            Dir::Output => p.set_output(&v4l2_outputparm {
                capability: V4L2_CAP_TIMEPERFRAME,
                timeperframe: tpf,
                writebuffers: super::fileio::FILEIO_BUFFERS,
                ..Default::default()
            }),
        }
    }

    /// VIDIOC_G_PARM (E22, E23).
    pub fn g_parm(&self, id: OpenerId, p: &mut v4l2_streamparm) -> VResult<()> {
        let dir = self.check_type(id, p.type_)?;
        self.fill_parm(dir, p);
        Ok(())
    }

    /// VIDIOC_S_PARM (E24–E26): the producer side sets the nominal rate; a consumer gets the
    /// current rate back while the format is someone else's.
    pub fn s_parm(&mut self, id: OpenerId, p: &mut v4l2_streamparm) -> VResult<()> {
        self.check_prio(id)?;
        let dir = self.check_type(id, p.type_)?;
        let req = match dir {
            Dir::Capture => p.capture().timeperframe,
            Dir::Output => p.output().timeperframe,
        };
        let fixed = self.cfg.fixed_caps.is_some() || self.format_fixed_for(id, dir);
        if !fixed {
            self.interval = format::clamp_interval(Fract::new(req.numerator, req.denominator));
        }
        self.fill_parm(dir, p);
        Ok(())
    }

    // ----- inputs / outputs (D) -----

    fn input_check(&self, id: OpenerId, dir: Dir) -> VResult<()> {
        self.opener(id)?;
        // D1: without the cap, the whole family is ENOTTY.
        if self.dir_allowed(id, dir) {
            Ok(())
        } else {
            Err(Errno::ENOTTY)
        }
    }

    /// VIDIOC_ENUMINPUT (D2).
    pub fn enuminput(&self, id: OpenerId, i: &mut v4l2_input) -> VResult<()> {
        self.input_check(id, Dir::Capture)?;
        if i.index != 0 {
            return Err(Errno::EINVAL);
        }
        *i = v4l2_input {
            type_: V4L2_INPUT_TYPE_CAMERA,
            // D2: NO_SIGNAL while no producer streams.
            status: if self.producer_streaming() {
                0
            } else {
                V4L2_IN_ST_NO_SIGNAL
            },
            ..Default::default()
        };
        copy_str(&mut i.name, "loopback");
        Ok(())
    }

    /// VIDIOC_G_INPUT.
    pub fn g_input(&self, id: OpenerId) -> VResult<u32> {
        self.input_check(id, Dir::Capture)?;
        Ok(0)
    }

    /// VIDIOC_S_INPUT (D3, D4).
    pub fn s_input(&mut self, id: OpenerId, index: u32) -> VResult<()> {
        self.input_check(id, Dir::Capture)?;
        self.check_prio(id)?;
        if index != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// VIDIOC_ENUMOUTPUT (D2).
    pub fn enumoutput(&self, id: OpenerId, o: &mut v4l2_output) -> VResult<()> {
        self.input_check(id, Dir::Output)?;
        if o.index != 0 {
            return Err(Errno::EINVAL);
        }
        *o = v4l2_output {
            type_: V4L2_OUTPUT_TYPE_ANALOG,
            ..Default::default()
        };
        copy_str(&mut o.name, "loopback in");
        Ok(())
    }

    /// VIDIOC_G_OUTPUT.
    pub fn g_output(&self, id: OpenerId) -> VResult<u32> {
        self.input_check(id, Dir::Output)?;
        Ok(0)
    }

    /// VIDIOC_S_OUTPUT (D3, D4).
    pub fn s_output(&mut self, id: OpenerId, index: u32) -> VResult<()> {
        self.input_check(id, Dir::Output)?;
        self.check_prio(id)?;
        if index != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}
