//! The devices the daemon hosts, their nodes and their frame memory.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use loopcam_core::format::{fourcc_str, FixedCaps};
use loopcam_core::{BlockId, Device, DeviceConfig, MemEffect, Node, NodeLayout};
use loopcam_proto::{DeviceInfo, DeviceSpec};

use crate::access::{Access, Peer};
use crate::memory::Memfd;
use crate::nodes::{self, NodeDir};

/// Errors of device management, with the errno a client gets.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
    /// No such device.
    #[error("no such device: {0}")]
    NotFound(String),
    /// Number or node taken.
    #[error("{0}")]
    Exists(String),
    /// The system refused.
    #[error("{0}")]
    Io(String),
    /// The requester may not do this (owner/group/mode).
    #[error("{0}")]
    Denied(String),
}

impl RegistryError {
    /// errno for the wire.
    pub fn errno(&self) -> i32 {
        match self {
            RegistryError::Invalid(_) => 22,
            RegistryError::NotFound(_) => 19,
            RegistryError::Exists(_) => 17,
            RegistryError::Io(_) => 5,
            RegistryError::Denied(_) => 1,
        }
    }
}

/// One node of a device.
pub struct NodeEntry {
    /// Path in the file system.
    pub path: PathBuf,
    /// Which node of the device.
    pub node: Node,
}

/// One hosted device.
pub struct DeviceEntry {
    /// N of videoN.
    pub number: u32,
    /// The model.
    pub dev: Device,
    /// Its nodes.
    pub nodes: Vec<NodeEntry>,
    /// Frame memory, by block id.
    pub blocks: HashMap<BlockId, Memfd>,
    /// The spec it was created with.
    #[allow(dead_code)]
    pub spec: DeviceSpec,
    /// Timeout image source (RGB24) to re-render when the format changes.
    pub timeout_rgb: Option<(u32, u32, Vec<u8>)>,
    /// Format generation the timeout image was rendered for.
    pub timeout_gen: u64,
    /// Owner, group and mode.
    pub access: Access,
}

impl DeviceEntry {
    /// Applies the model's memory effects: creates and frees memfds.
    pub fn sync_memory(&mut self) -> Result<(), rustix::io::Errno> {
        let mut result = Ok(());
        for e in self.dev.take_mem_effects() {
            match e {
                MemEffect::Alloc { id, size } => match Memfd::new(size) {
                    Ok(m) => {
                        self.blocks.insert(id, m);
                    }
                    Err(err) => result = Err(err),
                },
                MemEffect::Free { id } => {
                    self.blocks.remove(&id);
                }
                MemEffect::Copy { from, to, len } => {
                    if let (Some(src), Some(dst)) = (self.blocks.get(&from), self.blocks.get(&to)) {
                        if let Err(err) = crate::memory::copy(src, dst, len) {
                            result = Err(err);
                        }
                    }
                }
            }
        }
        result
    }

    /// Stores a timeout image (RGB24) and renders it in the current format.
    pub fn set_timeout_rgb(
        &mut self,
        width: u32,
        height: u32,
        rgb: Vec<u8>,
        now: u64,
    ) -> Result<(), RegistryError> {
        if rgb.len() != width as usize * height as usize * 3 || width == 0 || height == 0 {
            return Err(RegistryError::Invalid(
                "image data does not match its size".into(),
            ));
        }
        self.timeout_rgb = Some((width, height, rgb));
        self.render_timeout_image(now)
    }

    /// Renders the stored timeout image for the current format (after a format change too).
    pub fn render_timeout_image(&mut self, _now: u64) -> Result<(), RegistryError> {
        let Some((w, h, rgb)) = &self.timeout_rgb else {
            return Ok(());
        };
        let gen = self.dev.format_generation();
        self.timeout_gen = gen;
        let f = self.dev.format();
        let l = loopcam_media::layout(f.pixelformat, f.width, f.height)
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        if l.is_compressed() {
            return Err(RegistryError::Invalid(format!(
                "a timeout image needs a raw format; the device uses {}",
                fourcc_str(f.pixelformat)
            )));
        }
        let img = loopcam_media::RgbImage {
            width: *w,
            height: *h,
            data: rgb.clone(),
        };
        let img = loopcam_media::fit(&img, f.width, f.height);
        let mut frame = vec![0u8; l.sizeimage];
        loopcam_media::rgb_to_frame(&img, &l, &mut frame)
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let block = self
            .dev
            .alloc_block(frame.len() as u64)
            .map_err(|e| RegistryError::Io(format!("no memory for the timeout image: {e}")))?;
        self.sync_memory()
            .map_err(|e| RegistryError::Io(e.to_string()))?;
        let m = self
            .blocks
            .get(&block)
            .ok_or_else(|| RegistryError::Io("timeout image memory missing".into()))?;
        m.write_at(0, &frame)
            .map_err(|e| RegistryError::Io(e.to_string()))?;
        self.dev
            .set_timeout_image(block, frame.len() as u32)
            .map_err(|e| RegistryError::Io(e.to_string()))?;
        Ok(())
    }

    /// The node an opener of `path` opens.
    pub fn node_for(&self, path: &str) -> Node {
        let p = Path::new(path);
        self.nodes
            .iter()
            .find(|n| n.path == p || dev_alias(&n.path).as_deref() == Some(p))
            .map_or(self.nodes[0].node, |n| n.node)
    }

    /// What list/query show.
    pub fn info(&self) -> DeviceInfo {
        let s = self.dev.status();
        let cfg = self.dev.config();
        DeviceInfo {
            number: self.number,
            label: cfg.label.clone(),
            nodes: self
                .nodes
                .iter()
                .map(|n| n.path.display().to_string())
                .collect(),
            fourcc: fourcc_str(s.format.pixelformat),
            width: s.format.width,
            height: s.format.height,
            sizeimage: s.format.sizeimage,
            interval_num: s.interval.numerator,
            interval_den: s.interval.denominator,
            caps: cfg.fixed_caps.map(|c| c.to_string()),
            exclusive_caps: cfg.exclusive_caps,
            split: cfg.layout == NodeLayout::Split,
            max_buffers: cfg.max_buffers,
            max_openers: cfg.max_openers,
            openers: s.openers as u32,
            producer: s.producer,
            streaming: s.producer_streaming,
            readers: s.readers as u32,
            frames: s.frames,
            memory_bytes: s.memory_bytes,
            keep_format: s.keep_format,
            sustain_framerate: s.sustain_framerate,
            timeout_ms: s.timeout_ms,
            owner: self.access.owner,
            group: self.access.group,
            mode: self.access.mode,
            max_memory: cfg.memory_limit,
        }
    }
}

/// `/dev/videoN` for a node that lives elsewhere (unprivileged mode).
fn dev_alias(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    name.starts_with("video")
        .then(|| Path::new("/dev").join(name))
}

/// All devices.
pub struct Registry {
    /// Devices by number.
    pub devices: BTreeMap<u32, DeviceEntry>,
    /// Where nodes go.
    pub node_dir: NodeDir,
    /// Where the nodes are recorded for the next daemon (after a SIGKILL).
    ledger: Option<nodes::Ledger>,
}

impl Registry {
    /// Empty registry.
    pub fn new(node_dir: NodeDir) -> Registry {
        Registry {
            devices: BTreeMap::new(),
            node_dir,
            ledger: None,
        }
    }

    /// Records every node in `ledger` from now on.
    pub fn set_ledger(&mut self, ledger: nodes::Ledger) {
        self.ledger = Some(ledger);
        self.record_nodes();
    }

    fn record_nodes(&self) {
        if let Some(l) = &self.ledger {
            l.record(
                self.devices
                    .values()
                    .flat_map(|d| d.nodes.iter().map(|n| n.path.as_path())),
            );
        }
    }

    fn free_number(&self, from: u32) -> u32 {
        (from..)
            .find(|n| {
                !self.devices.contains_key(n) && nodes::number_taken(&self.node_dir, *n).is_none()
            })
            .expect("a free number")
    }

    /// Creates a device from a spec (the `loopcam add` semantics) for `creator`.
    pub fn add(
        &mut self,
        spec: DeviceSpec,
        creator: &Peer,
        now: u64,
    ) -> Result<u32, RegistryError> {
        let access = Access::for_new_device(creator, spec.owner, spec.group, spec.mode)
            .map_err(|d| RegistryError::Denied(d.0))?;
        let fixed_caps = match &spec.caps {
            Some(c) => Some(
                c.parse::<FixedCaps>()
                    .map_err(|e| RegistryError::Invalid(format!("invalid caps '{c}': {e}")))?,
            ),
            None => None,
        };
        let number = match spec.number {
            Some(n) => {
                if self.devices.contains_key(&n) {
                    return Err(RegistryError::Exists(format!("device {n} already exists")));
                }
                if let Some(p) = nodes::number_taken(&self.node_dir, n) {
                    return Err(RegistryError::Exists(format!(
                        "{} already exists",
                        p.display()
                    )));
                }
                n
            }
            None => self.free_number(0),
        };
        let mut cfg = DeviceConfig {
            number,
            label: spec
                .label
                .clone()
                .unwrap_or_else(|| format!("loopcam {number}")),
            exclusive_caps: spec.exclusive_caps,
            layout: if spec.split {
                NodeLayout::Split
            } else {
                NodeLayout::Single
            },
            fixed_caps,
            sustain_framerate: spec.sustain_framerate,
            timeout_ms: spec.timeout_ms.unwrap_or(0),
            strict_single_reader: spec.strict,
            ..DeviceConfig::default()
        };
        if let Some(b) = spec.max_buffers {
            cfg.max_buffers = b;
        }
        if let Some(o) = spec.max_openers {
            cfg.max_openers = o;
        }
        if let Some(m) = spec.max_memory {
            cfg.memory_limit = m;
        }
        let dev = Device::new(cfg, now).map_err(RegistryError::Invalid)?;
        let mut names = vec![(
            format!("video{number}"),
            if spec.split {
                Node::Output
            } else {
                Node::Combined
            },
        )];
        if spec.split {
            let second = self.free_number(number + 1);
            names.push((format!("video{second}"), Node::Capture));
        }
        let mut made = Vec::new();
        for (name, node) in names {
            match nodes::create(&self.node_dir, &name, &access) {
                Ok(path) => made.push(NodeEntry { path, node }),
                Err(e) => {
                    for n in &made {
                        nodes::remove(&n.path);
                    }
                    return Err(RegistryError::Io(format!(
                        "cannot create {}: {e}",
                        self.node_dir.path(&name).display()
                    )));
                }
            }
        }
        // Recorded before it is used, so a SIGKILL at any later moment leaves no orphan.
        if let Some(l) = &self.ledger {
            l.record(
                self.devices
                    .values()
                    .flat_map(|d| d.nodes.iter().map(|n| n.path.as_path()))
                    .chain(made.iter().map(|n| n.path.as_path())),
            );
        }
        self.devices.insert(
            number,
            DeviceEntry {
                number,
                dev,
                nodes: made,
                blocks: HashMap::new(),
                spec,
                timeout_rgb: None,
                timeout_gen: 0,
                access,
            },
        );
        Ok(number)
    }

    /// Finds a device by path (`/dev/video10`, the runtime path, a split node), name
    /// (`video10`) or number (`10`).
    pub fn find(&self, key: &str) -> Result<u32, RegistryError> {
        let key = key.trim();
        if let Ok(n) = key.parse::<u32>() {
            if self.devices.contains_key(&n) {
                return Ok(n);
            }
        }
        let p = Path::new(key);
        for (n, d) in &self.devices {
            for node in &d.nodes {
                let name = node.path.file_name().and_then(|s| s.to_str()).unwrap_or("");
                if node.path == p || dev_alias(&node.path).as_deref() == Some(p) || name == key {
                    return Ok(*n);
                }
            }
        }
        Err(RegistryError::NotFound(key.to_string()))
    }

    /// Removes a device and its nodes.
    pub fn remove(&mut self, number: u32, now: u64) -> Option<DeviceEntry> {
        let mut e = self.devices.remove(&number)?;
        e.dev.shutdown(now);
        let _ = e.sync_memory();
        for n in &e.nodes {
            nodes::remove(&n.path);
        }
        self.record_nodes();
        Some(e)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for d in self.devices.values() {
            for n in &d.nodes {
                nodes::remove(&n.path);
            }
        }
        if let Some(l) = &self.ledger {
            l.clear();
        }
    }
}
