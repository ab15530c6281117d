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
//! owner = "root"         # user name or uid (default: the daemon's user)
//! group = "video"        # group name or gid (default: the daemon's group)
//! mode = 0o660           # like the node's permission bits (default 0o660; "0660" also works)
//! max_memory = "512M"    # frame memory cap of this device (bytes, or K/M/G; default 1G)
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
    owner: Option<NumOrText>,
    group: Option<NumOrText>,
    mode: Option<NumOrText>,
    max_memory: Option<NumOrText>,
}

/// A TOML integer or string (`mode = 0o660` or `mode = "0660"`, `group = 44` or `"video"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(u64),
    Text(String),
}

impl NumOrText {
    fn id(&self, resolve: fn(&str) -> Result<u32, String>) -> Result<u32, String> {
        match self {
            NumOrText::Num(n) => u32::try_from(*n).map_err(|_| format!("{n} is not an id")),
            NumOrText::Text(t) => resolve(t),
        }
    }
}

/// Parses a byte count: `1048576`, `512K`, `256M`, `2G` (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("invalid size '{s}' (expected e.g. 512M or 2G)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid size '{s}' (expected e.g. 512M or 2G)"))
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
        self.device
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let ctx = |e: String| format!("device {}: {e}", i + 1);
                Ok(DeviceSpec {
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
                    owner: d
                        .owner
                        .as_ref()
                        .map(|o| o.id(crate::access::resolve_user))
                        .transpose()
                        .map_err(ctx)?,
                    group: d
                        .group
                        .as_ref()
                        .map(|g| g.id(crate::access::resolve_group))
                        .transpose()
                        .map_err(ctx)?,
                    mode: d
                        .mode
                        .as_ref()
                        .map(|m| match m {
                            NumOrText::Num(n) if *n <= 0o777 => Ok(*n as u32),
                            NumOrText::Num(n) => Err(format!("mode {n:o} is not rwxrwxrwx bits")),
                            NumOrText::Text(t) => crate::access::parse_mode(t),
                        })
                        .transpose()
                        .map_err(ctx)?,
                    max_memory: d
                        .max_memory
                        .as_ref()
                        .map(|m| match m {
                            NumOrText::Num(n) => Ok(*n),
                            NumOrText::Text(t) => parse_size(t),
                        })
                        .transpose()
                        .map_err(ctx)?,
                })
            })
            .collect()
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
