//! The device's controls: v4l2loopback's private controls in the USER class (reference/
//! v4l2loopback.md §1.6), with the rules of group N of reference/v4l2-uapi-rules.md.
//!
//! `timeout_image_io` is deliberately absent: in v4l2loopback it makes *whichever process opens
//! next* the timeout-image writer (an additional defect in §6 of that reference). loopcam sets
//! the timeout image through the daemon API (`loopcam set-timeout-image`) instead.

use loopcam_abi::{
    v4l2_event, v4l2_event_ctrl, v4l2_query_ext_ctrl, v4l2_queryctrl, V4L2_CID_PRIVATE_BASE,
    V4L2_CID_USER_CLASS, V4L2_CTRL_CLASS_USER, V4L2_CTRL_FLAG_NEXT_COMPOUND,
    V4L2_CTRL_FLAG_NEXT_CTRL, V4L2_CTRL_FLAG_READ_ONLY, V4L2_CTRL_FLAG_WRITE_ONLY,
    V4L2_CTRL_TYPE_BOOLEAN, V4L2_CTRL_TYPE_CTRL_CLASS, V4L2_CTRL_TYPE_INTEGER, V4L2_EVENT_CTRL,
    V4L2_EVENT_CTRL_CH_FLAGS, V4L2_EVENT_CTRL_CH_VALUE,
};

use crate::errno::{Errno, VResult};

/// keep_format: while 1 the format is frozen for everybody (v4l2loopback semantics).
pub const CID_KEEP_FORMAT: u32 = 0x0098_f900;
/// sustain_framerate: repeat the last frame at the nominal rate when the producer is late.
pub const CID_SUSTAIN_FRAMERATE: u32 = 0x0098_f901;
/// timeout: ms without a frame before consumers get the timeout image (0 = off).
pub const CID_TIMEOUT: u32 = 0x0098_f902;
/// Upper bound of the timeout control, as in v4l2loopback.
pub const TIMEOUT_MAX_MS: u32 = 100_000;

/// A control's static description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtrlDef {
    /// Control id.
    pub id: u32,
    /// Name as shown by v4l2-ctl.
    pub name: &'static str,
    /// V4L2_CTRL_TYPE_*.
    pub type_: u32,
    /// Minimum value.
    pub min: i32,
    /// Maximum value.
    pub max: i32,
    /// Step.
    pub step: i32,
    /// Default value.
    pub def: i32,
    /// V4L2_CTRL_FLAG_*.
    pub flags: u32,
}

/// N1: ids strictly increasing, the class control first.
const DEFS: [CtrlDef; 4] = [
    CtrlDef {
        id: V4L2_CID_USER_CLASS,
        name: "User Controls",
        type_: V4L2_CTRL_TYPE_CTRL_CLASS,
        min: 0,
        max: 0,
        step: 0,
        def: 0,
        flags: V4L2_CTRL_FLAG_READ_ONLY | V4L2_CTRL_FLAG_WRITE_ONLY,
    },
    CtrlDef {
        id: CID_KEEP_FORMAT,
        name: "keep_format",
        type_: V4L2_CTRL_TYPE_BOOLEAN,
        min: 0,
        max: 1,
        step: 1,
        def: 0,
        flags: 0,
    },
    CtrlDef {
        id: CID_SUSTAIN_FRAMERATE,
        name: "sustain_framerate",
        type_: V4L2_CTRL_TYPE_BOOLEAN,
        min: 0,
        max: 1,
        step: 1,
        def: 0,
        flags: 0,
    },
    CtrlDef {
        id: CID_TIMEOUT,
        name: "timeout",
        type_: V4L2_CTRL_TYPE_INTEGER,
        min: 0,
        max: TIMEOUT_MAX_MS as i32,
        step: 1,
        def: 0,
        flags: 0,
    },
];

fn is_class(def: &CtrlDef) -> bool {
    def.type_ == V4L2_CTRL_TYPE_CTRL_CLASS
}

/// Current control values of one device.
#[derive(Clone, Debug)]
pub struct Controls {
    values: [i32; DEFS.len()],
}

impl Controls {
    /// Defaults, then the device options applied.
    pub fn new(keep_format: bool, sustain: bool, timeout_ms: u32) -> Controls {
        let mut c = Controls {
            values: DEFS.map(|d| d.def),
        };
        c.values[1] = keep_format as i32;
        c.values[2] = sustain as i32;
        c.values[3] = timeout_ms.min(TIMEOUT_MAX_MS) as i32;
        c
    }

    fn index(id: u32) -> VResult<usize> {
        let id = canonical_id(id);
        DEFS.iter().position(|d| d.id == id).ok_or(Errno::EINVAL)
    }

    /// keep_format value.
    pub fn keep_format(&self) -> bool {
        self.values[1] != 0
    }

    /// sustain_framerate value.
    pub fn sustain_framerate(&self) -> bool {
        self.values[2] != 0
    }

    /// timeout value in ms.
    pub fn timeout_ms(&self) -> u32 {
        self.values[3] as u32
    }

    /// N1: resolves QUERYCTRL's id (with NEXT_CTRL/NEXT_COMPOUND) to a definition.
    pub fn lookup_query(&self, id: u32) -> VResult<&'static CtrlDef> {
        let next_ctrl = id & V4L2_CTRL_FLAG_NEXT_CTRL != 0;
        let next_compound = id & V4L2_CTRL_FLAG_NEXT_COMPOUND != 0;
        let base = id & !(V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND);
        if next_ctrl || next_compound {
            // All our controls are non-compound: NEXT_COMPOUND alone finds nothing.
            if !next_ctrl {
                return Err(Errno::EINVAL);
            }
            return DEFS.iter().find(|d| d.id > base).ok_or(Errno::EINVAL);
        }
        Ok(&DEFS[Self::index(base)?])
    }

    /// VIDIOC_QUERYCTRL.
    pub fn queryctrl(&self, q: &mut v4l2_queryctrl) -> VResult<()> {
        let d = self.lookup_query(q.id)?;
        *q = v4l2_queryctrl {
            id: private_alias_or(q.id, d.id),
            type_: d.type_,
            minimum: d.min,
            maximum: d.max,
            step: d.step,
            default_value: d.def,
            flags: d.flags,
            ..Default::default()
        };
        copy_name(&mut q.name, d.name);
        Ok(())
    }

    /// VIDIOC_QUERY_EXT_CTRL.
    pub fn query_ext_ctrl(&self, q: &mut v4l2_query_ext_ctrl) -> VResult<()> {
        let d = self.lookup_query(q.id)?;
        *q = v4l2_query_ext_ctrl {
            id: private_alias_or(q.id, d.id),
            type_: d.type_,
            minimum: d.min.into(),
            maximum: d.max.into(),
            step: d.step as u64,
            default_value: d.def.into(),
            flags: d.flags,
            elem_size: if is_class(d) { 0 } else { 4 },
            elems: 1,
            nr_of_dims: 0,
            ..Default::default()
        };
        copy_name(&mut q.name, d.name);
        Ok(())
    }

    /// N3: G_CTRL (class controls are write-only → EACCES).
    pub fn get(&self, id: u32) -> VResult<i32> {
        let i = Self::index(id)?;
        if DEFS[i].flags & V4L2_CTRL_FLAG_WRITE_ONLY != 0 {
            return Err(Errno::EACCES);
        }
        Ok(self.values[i])
    }

    /// The default value of `id`.
    pub fn default_of(&self, id: u32) -> VResult<i32> {
        let i = Self::index(id)?;
        if is_class(&DEFS[i]) {
            return Err(Errno::EACCES);
        }
        Ok(DEFS[i].def)
    }

    /// N3: validates and clamps a value for `id` without storing it.
    pub fn try_value(&self, id: u32, value: i64) -> VResult<i32> {
        let i = Self::index(id)?;
        let d = &DEFS[i];
        if d.flags & V4L2_CTRL_FLAG_READ_ONLY != 0 {
            return Err(Errno::EACCES);
        }
        // Out-of-range values are clamped, in-range values rounded to the step (N3).
        let v = value.clamp(d.min.into(), d.max.into()) as i32;
        let step = d.step.max(1);
        Ok(d.min + (v - d.min + step / 2) / step * step)
    }

    /// Stores a value already checked by [`Controls::try_value`]; returns whether it changed.
    pub fn store(&mut self, id: u32, value: i32) -> VResult<bool> {
        let i = Self::index(id)?;
        let changed = self.values[i] != value;
        self.values[i] = value;
        Ok(changed)
    }

    /// M1: whether `id` names a control (CTRL events can be subscribed for it).
    pub fn exists(&self, id: u32) -> bool {
        Self::index(id).is_ok()
    }

    /// M8: the CTRL event describing `id` with the given `changes`.
    pub fn event(&self, id: u32, changes: u32) -> Option<v4l2_event> {
        let i = Self::index(id).ok()?;
        let d = &DEFS[i];
        let mut c = v4l2_event_ctrl {
            changes,
            type_: d.type_,
            flags: d.flags,
            minimum: d.min,
            maximum: d.max,
            step: d.step,
            default_value: d.def,
            ..Default::default()
        };
        c.set_value(if is_class(d) { 0 } else { self.values[i] });
        let mut ev = v4l2_event {
            type_: V4L2_EVENT_CTRL,
            // Events always name the real id, also when set through a PRIVATE_BASE alias.
            id: d.id,
            ..Default::default()
        };
        ev.set_ctrl(&c);
        Some(ev)
    }

    /// M8 SEND_INITIAL: the initial event for a new subscription, none for class controls.
    pub fn initial_event(&self, id: u32) -> Option<v4l2_event> {
        let i = Self::index(id).ok()?;
        if is_class(&DEFS[i]) {
            return None;
        }
        self.event(id, V4L2_EVENT_CTRL_CH_VALUE | V4L2_EVENT_CTRL_CH_FLAGS)
    }

    /// Every definition, in id order.
    pub fn defs() -> &'static [CtrlDef] {
        &DEFS
    }
}

/// N1: old-style private ids. `V4L2_CID_PRIVATE_BASE + n` names the n-th driver-private
/// (`id & 0xffff >= 0x1000`) user-class integer-like control, as the kernel's
/// `find_private_ref` does; v4l2-compliance probes PRIVATE_BASE, +1, … and expects exactly
/// the private user controls it enumerated, with `id` echoed back. Other ids are unchanged.
pub fn canonical_id(id: u32) -> u32 {
    let plain = id & !(V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND) == id;
    if !plain || id < V4L2_CID_PRIVATE_BASE {
        return id;
    }
    let n = (id - V4L2_CID_PRIVATE_BASE) as usize;
    DEFS.iter()
        .filter(|d| {
            !is_class(d) && d.id & 0x0fff_0000 == V4L2_CTRL_CLASS_USER && d.id & 0xffff >= 0x1000
        })
        .nth(n)
        .map_or(id, |d| d.id)
}

/// The id QUERYCTRL returns: the alias itself for a PRIVATE_BASE query (kernel behaviour).
fn private_alias_or(requested: u32, real: u32) -> u32 {
    if requested >= V4L2_CID_PRIVATE_BASE
        && requested & (V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND) == 0
    {
        requested
    } else {
        real
    }
}

fn copy_name(dst: &mut [u8; 32], name: &str) {
    let n = name.len().min(31);
    dst[..n].copy_from_slice(&name.as_bytes()[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n1_next_ctrl_walk_is_increasing_and_starts_with_class() {
        let c = Controls::new(false, false, 0);
        let mut id = 0;
        let mut seen = vec![];
        while let Ok(d) = c.lookup_query(id | V4L2_CTRL_FLAG_NEXT_CTRL) {
            seen.push(d.id);
            id = d.id;
        }
        assert_eq!(seen[0], V4L2_CID_USER_CLASS);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(seen.len(), DEFS.len());
        assert_eq!(c.lookup_query(0x0098_ffff), Err(Errno::EINVAL));
        // N6: MIN_BUFFERS_FOR_CAPTURE must not exist on a non-codec device.
        assert_eq!(c.lookup_query(0x0098_0927), Err(Errno::EINVAL));
    }

    #[test]
    fn n2_ranges_are_consistent() {
        for d in Controls::defs() {
            assert!(d.min <= d.def && d.def <= d.max, "{}", d.name);
            if !is_class(d) {
                assert!(d.step != 0 && (d.max == d.min || d.step <= d.max - d.min));
                assert!(d.id & 0xffff >= 0x900);
                assert!(d.flags & (V4L2_CTRL_FLAG_READ_ONLY | V4L2_CTRL_FLAG_WRITE_ONLY) == 0);
            }
            assert!(d.id < loopcam_abi::V4L2_CID_PRIVATE_BASE);
        }
    }

    #[test]
    fn n3_get_set_clamp_and_access() {
        let mut c = Controls::new(false, false, 0);
        assert_eq!(c.get(0), Err(Errno::EINVAL));
        assert_eq!(c.get(V4L2_CID_USER_CLASS), Err(Errno::EACCES));
        let v = c.try_value(CID_TIMEOUT, 1_000_000).unwrap();
        assert_eq!(v, TIMEOUT_MAX_MS as i32);
        assert!(c.store(CID_TIMEOUT, v).unwrap());
        assert_eq!(c.timeout_ms(), TIMEOUT_MAX_MS);
        assert_eq!(c.try_value(CID_KEEP_FORMAT, -5).unwrap(), 0);
        assert_eq!(c.try_value(V4L2_CID_USER_CLASS, 0), Err(Errno::EACCES));
    }
}
