//! The persistent device configuration (TOML), read at daemon start.
//!
//! ```toml
//! [[device]]
//! number = 10            # /dev/video10 (optional: first free)
//! label = "Virtual Cam"
//! exclusive_caps = true
//! max_buffers = 8
//! split = false
//! caps = "YUYV:1280x720@30"
//! sustain_framerate = true
//! timeout_ms = 2000
//! ```

use std::path::Path;

use loopcam_proto::DeviceSpec;
use serde::Deserialize;

/// One `[[device]]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntryConfig {
    number: Option<u32>,
    label: Option<String>,
    #[serde(default)]
    exclusive_caps: bool,
    max_buffers: Option<u32>,
    max_openers: Option<u32>,
    #[serde(default)]
    split: bool,
    caps: Option<String>,
    #[serde(default)]
    sustain_framerate: bool,
    timeout_ms: Option<u32>,
    #[serde(default)]
    strict: bool,
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    device: Vec<DeviceEntryConfig>,
}

impl ConfigFile {
    /// The device specs, in file order.
    pub fn specs(&self) -> Result<Vec<DeviceSpec>, String> {
        Ok(self
            .device
            .iter()
            .map(|d| DeviceSpec {
                label: d.label.clone(),
                number: d.number,
                exclusive_caps: d.exclusive_caps,
                max_buffers: d.max_buffers,
                max_openers: d.max_openers,
                split: d.split,
                caps: d.caps.clone(),
                sustain_framerate: d.sustain_framerate,
                timeout_ms: d.timeout_ms,
                strict: d.strict,
            })
            .collect())
    }
}

/// Reads and parses a configuration file; the error is one line naming the file.
pub fn load_config(path: &Path) -> Result<ConfigFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        // toml's message spans several lines (position, source excerpt, cause): keep the
        // position and the cause on one line.
        let msg = e.to_string();
        let lines: Vec<&str> = msg
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let pos = lines
            .first()
            .map_or("", |l| l.trim_start_matches("TOML parse error at "));
        let cause = lines.last().copied().unwrap_or("invalid TOML");
        format!("{}: {pos}: {cause}", path.display())
    })
}
