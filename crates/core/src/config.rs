//! Per-device options: the equivalents of v4l2loopback's module parameters and `v4l2loopback-ctl
//! add` flags (reference/v4l2loopback.md §1.1, §1.5), plus loopcam's own limits.

use crate::format::FixedCaps;

/// Hard upper bound of buffers per queue: VIDEO_MAX_FRAME, also vb2's default `max_num_buffers`.
pub const MAX_BUFFERS_LIMIT: u32 = 32;

/// How the device appears as nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeLayout {
    /// One node carrying both directions (v4l2loopback's layout).
    Single,
    /// DESIGN §3.9 split mode: an output-only node for the producer and an always-capture node
    /// for consumers, so applications that enumerate before the producer starts still see a camera.
    Split,
}

/// Which node of a device an opener opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// The single node of a [`NodeLayout::Single`] device.
    Combined,
    /// The producer node of a split device.
    Output,
    /// The consumer node of a split device.
    Capture,
}

/// Device options. `Default` gives what `loopcam add` without flags creates.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceConfig {
    /// QUERYCAP `card` (truncated to 31 bytes).
    pub label: String,
    /// The N in `platform:v4l2loopback-NNN` and in `/dev/videoN`.
    pub number: u32,
    /// Largest buffer count a queue may be granted (1..=32). Default 16 (row 9 of
    /// reference/v4l2loopback.md §6: PipeWire asks for 16). Memory is only allocated for
    /// buffers that are used, so a high limit costs nothing.
    pub max_buffers: u32,
    /// Most simultaneous openers; the next open() gets EBUSY (v4l2loopback `max_openers`).
    pub max_openers: u32,
    /// B7: on a single node, announce OUTPUT while no producer streams and CAPTURE once one does.
    pub exclusive_caps: bool,
    /// Single node or split output/capture pair.
    pub layout: NodeLayout,
    /// `--caps FOURCC:WxH@FPS`: the only format and rate the device accepts.
    pub fixed_caps: Option<FixedCaps>,
    /// Initial value of the keep_format control.
    pub keep_format: bool,
    /// Initial value of the sustain_framerate control.
    pub sustain_framerate: bool,
    /// Initial value of the timeout control in ms (0 = off).
    pub timeout_ms: u32,
    /// A strict single-consumer mode: the capture queue has one owner like a plain vb2 queue, so
    /// v4l2-compliance's "second fd gets EBUSY" checks pass (rules F9/F10).
    pub strict_single_reader: bool,
    /// Cap on frame memory this device may hold, in bytes (DESIGN §3.10). Requests beyond it get
    /// ENOMEM instead of growing the daemon.
    pub memory_limit: u64,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            label: "loopcam".to_string(),
            number: 0,
            max_buffers: 16,
            // B1: v4l2-compliance opens the node 100 times ("no artificial limit").
            max_openers: 1024,
            exclusive_caps: false,
            layout: NodeLayout::Single,
            fixed_caps: None,
            keep_format: false,
            sustain_framerate: false,
            timeout_ms: 0,
            strict_single_reader: false,
            memory_limit: 1 << 30,
        }
    }
}

impl DeviceConfig {
    /// Checks the ranges a user can get wrong, with a one-line message.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_buffers == 0 || self.max_buffers > MAX_BUFFERS_LIMIT {
            return Err(format!(
                "max_buffers must be between 1 and {MAX_BUFFERS_LIMIT}, got {}",
                self.max_buffers
            ));
        }
        if self.max_openers == 0 {
            return Err("max_openers must be at least 1".into());
        }
        if self.timeout_ms > crate::controls::TIMEOUT_MAX_MS {
            return Err(format!(
                "timeout must be at most {} ms, got {}",
                crate::controls::TIMEOUT_MAX_MS,
                self.timeout_ms
            ));
        }
        Ok(())
    }
}
