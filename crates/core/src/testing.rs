//! Test doubles, as first-class code: a fake host that backs blocks with `Vec<u8>`, follows
//! the remapping a real client does after DQBUF, and offers one-line helpers for every ioctl.
//! Core's own tests, the scenario replays and the property tests all drive the model through
//! it; the daemon's tests can use it as an oracle.

pub mod ops;

use std::collections::HashMap;

use bytemuck::Pod;
use loopcam_abi::*;

use crate::config::{DeviceConfig, Node};
use crate::device::{Device, MapInfo, OpenMode, OpenerId};
use crate::errno::VResult;
use crate::ioctl::{dispatch, Outcome};
use crate::pool::{BlockId, MemEffect};
use crate::queue::Dir;
use crate::time::Nanos;

/// V4L2 buffer type for a direction.
pub fn buf_type(dir: Dir) -> u32 {
    dir.buf_type()
}

/// Fills a frame with the `counter` test pattern: the frame number in the first 8 bytes
/// (little-endian), then bytes derived from it, so both order and integrity can be checked.
pub fn counter_pattern(frame: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let n = frame.to_le_bytes();
    for (i, b) in v.iter_mut().enumerate() {
        *b = if i < 8 {
            n[i]
        } else {
            (frame as u8).wrapping_mul(31).wrapping_add(i as u8)
        };
    }
    v
}

/// The frame number of a counter-pattern frame, if the content is intact.
pub fn check_counter(data: &[u8]) -> Option<u64> {
    if data.len() < 8 {
        return None;
    }
    let n = u64::from_le_bytes(data[..8].try_into().ok()?);
    (counter_pattern(n, data.len()) == data).then_some(n)
}

/// A fake host around one [`Device`].
pub struct Harness {
    /// The model under test.
    pub dev: Device,
    /// Backing memory of each live block.
    pub mem: HashMap<BlockId, Vec<u8>>,
    /// Current time.
    pub now: Nanos,
    /// What each opener's buffer is mapped to (after remaps), per (opener, index).
    pub mapped: HashMap<(OpenerId, u32), BlockId>,
}

impl Harness {
    /// A device with the given options, at time 1 s.
    pub fn new(cfg: DeviceConfig) -> Harness {
        let now = 1_000_000_000;
        Harness {
            dev: Device::new(cfg, now).expect("valid config"),
            mem: HashMap::new(),
            now,
            mapped: HashMap::new(),
        }
    }

    /// A default device.
    pub fn default_device() -> Harness {
        Harness::new(DeviceConfig::default())
    }

    /// Applies pending memory effects (creates zeroed memory, drops freed memory).
    pub fn sync(&mut self) {
        for e in self.dev.take_mem_effects() {
            match e {
                MemEffect::Alloc { id, size } => {
                    self.mem.insert(id, vec![0; size as usize]);
                }
                MemEffect::Free { id } => {
                    self.mem.remove(&id);
                }
                MemEffect::Copy { from, to, len } => {
                    let src = self.mem[&from][..len as usize].to_vec();
                    self.mem.get_mut(&to).expect("copy target")[..len as usize]
                        .copy_from_slice(&src);
                }
            }
        }
    }

    /// open() on the single node, O_RDWR.
    pub fn open(&mut self) -> OpenerId {
        self.dev.open(Node::Combined, OpenMode::RDWR).expect("open")
    }

    /// open() with a node and mode.
    pub fn open_as(&mut self, node: Node, mode: OpenMode) -> VResult<OpenerId> {
        self.dev.open(node, mode)
    }

    /// close().
    pub fn close(&mut self, id: OpenerId) {
        self.dev.close(id, self.now);
        self.mapped.retain(|(o, _), _| *o != id);
        self.sync();
    }

    /// Advances the clock by `ns` and runs the device timers.
    pub fn advance(&mut self, ns: u64) {
        self.now += ns;
        self.dev.tick(self.now);
        self.sync();
    }

    /// A raw ioctl through [`dispatch`] with a typed argument.
    pub fn ioctl<T: Pod>(&mut self, id: OpenerId, req: u32, arg: &mut T) -> VResult<Outcome> {
        let mut bytes = bytemuck::bytes_of(arg).to_vec();
        let r = self.ioctl_raw(id, req, &mut bytes, &mut []);
        *arg = bytemuck::pod_read_unaligned(&bytes);
        r
    }

    /// A raw ioctl through [`dispatch`]: argument bytes and the EXT_CTRLS array as given;
    /// follows the remap of DQBUF/EXPBUF like a real client.
    pub fn ioctl_raw(
        &mut self,
        id: OpenerId,
        req: u32,
        arg: &mut [u8],
        extra: &mut [u8],
    ) -> VResult<Outcome> {
        let r = dispatch(&mut self.dev, id, req, arg, extra, self.now);
        self.sync();
        match r {
            Ok(Outcome::Dqbuf(out)) => {
                if let Some(b) = out.block {
                    self.mapped.insert((id, out.index), b);
                }
            }
            Ok(Outcome::Expbuf(out)) => {
                self.mapped.insert((id, out.index), out.block);
            }
            _ => {}
        }
        r
    }

    /// S_FMT with a size and fourcc; returns the resulting pix format.
    pub fn s_fmt(
        &mut self,
        id: OpenerId,
        dir: Dir,
        width: u32,
        height: u32,
        fourcc: u32,
    ) -> VResult<v4l2_pix_format> {
        let mut f = v4l2_format {
            type_: dir.buf_type(),
            ..Default::default()
        };
        f.set_pix(&v4l2_pix_format {
            width,
            height,
            pixelformat: fourcc,
            field: V4L2_FIELD_NONE,
            ..Default::default()
        });
        self.ioctl(id, VIDIOC_S_FMT, &mut f)?;
        Ok(f.pix())
    }

    /// G_FMT.
    pub fn g_fmt(&mut self, id: OpenerId, dir: Dir) -> VResult<v4l2_pix_format> {
        let mut f = v4l2_format {
            type_: dir.buf_type(),
            ..Default::default()
        };
        self.ioctl(id, VIDIOC_G_FMT, &mut f)?;
        Ok(f.pix())
    }

    /// REQBUFS; returns the granted count.
    pub fn reqbufs_mem(&mut self, id: OpenerId, dir: Dir, count: u32, memory: u32) -> VResult<u32> {
        let mut r = v4l2_requestbuffers {
            count,
            type_: dir.buf_type(),
            memory,
            ..Default::default()
        };
        self.ioctl(id, VIDIOC_REQBUFS, &mut r)?;
        Ok(r.count)
    }

    /// REQBUFS with MMAP memory.
    pub fn reqbufs(&mut self, id: OpenerId, dir: Dir, count: u32) -> VResult<u32> {
        self.reqbufs_mem(id, dir, count, V4L2_MEMORY_MMAP)
    }

    /// QUERYBUF.
    pub fn querybuf(&mut self, id: OpenerId, dir: Dir, index: u32) -> VResult<v4l2_buffer> {
        let mut b = v4l2_buffer {
            index,
            type_: dir.buf_type(),
            ..Default::default()
        };
        self.ioctl(id, VIDIOC_QUERYBUF, &mut b)?;
        Ok(b)
    }

    /// QBUF of an MMAP buffer (`bytesused` for output).
    pub fn qbuf(
        &mut self,
        id: OpenerId,
        dir: Dir,
        index: u32,
        bytesused: u32,
    ) -> VResult<v4l2_buffer> {
        let mut b = v4l2_buffer {
            index,
            type_: dir.buf_type(),
            memory: V4L2_MEMORY_MMAP,
            bytesused,
            field: V4L2_FIELD_NONE,
            ..Default::default()
        };
        self.ioctl(id, VIDIOC_QBUF, &mut b)?;
        Ok(b)
    }

    /// DQBUF (MMAP); follows the remap like a real client.
    pub fn dqbuf(&mut self, id: OpenerId, dir: Dir) -> VResult<v4l2_buffer> {
        let mut b = v4l2_buffer {
            type_: dir.buf_type(),
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        self.ioctl(id, VIDIOC_DQBUF, &mut b)?;
        Ok(b)
    }

    /// STREAMON.
    pub fn streamon(&mut self, id: OpenerId, dir: Dir) -> VResult<()> {
        let mut t = dir.buf_type();
        self.ioctl(id, VIDIOC_STREAMON, &mut t).map(|_| ())
    }

    /// STREAMOFF.
    pub fn streamoff(&mut self, id: OpenerId, dir: Dir) -> VResult<()> {
        let mut t = dir.buf_type();
        self.ioctl(id, VIDIOC_STREAMOFF, &mut t).map(|_| ())
    }

    /// mmap() of buffer `index` with PROT_READ|PROT_WRITE, MAP_SHARED.
    pub fn mmap(&mut self, id: OpenerId, dir: Dir, index: u32) -> VResult<MapInfo> {
        let b = self.querybuf(id, dir, index)?;
        let m = self.dev.mmap(
            id,
            b.m_offset().into(),
            b.length.into(),
            true,
            dir == Dir::Output,
            true,
        )?;
        self.sync();
        // A queued capture buffer has no block: the new mapping shows none (the client maps
        // a placeholder), whatever an earlier mapping of the buffer showed.
        match m.block {
            Some(block) => self.mapped.insert((id, index), block),
            None => self.mapped.remove(&(id, index)),
        };
        Ok(m)
    }

    /// Writes `data` into the memory behind the producer's buffer `index` (as an application
    /// writes into its mapping). Panics if the buffer has no memory.
    pub fn fill(&mut self, id: OpenerId, index: u32, data: &[u8]) {
        self.try_fill(id, index, data).expect("producer buffer");
    }

    /// [`Harness::fill`], with the model's refusal (no such buffer, ENOMEM) as an error.
    pub fn try_fill(&mut self, id: OpenerId, index: u32, data: &[u8]) -> VResult<()> {
        let block = self.dev.output_staging_block(id, index);
        self.sync();
        let block = block?;
        self.mapped.insert((id, index), block);
        let mem = self.mem.get_mut(&block).expect("block memory");
        let n = data.len().min(mem.len()); // an application writes at most its mapping
        mem[..n].copy_from_slice(&data[..n]);
        Ok(())
    }

    /// The bytes a consumer sees through its mapping of buffer `index` (first `len` bytes).
    pub fn view(&self, id: OpenerId, index: u32, len: usize) -> Option<Vec<u8>> {
        let b = self.mapped.get(&(id, index))?;
        self.mem.get(b).map(|m| m[..len.min(m.len())].to_vec())
    }

    /// Producer helper: DQBUF-less first use or a dequeued buffer: fill with counter frame `n`
    /// and QBUF it.
    pub fn produce(&mut self, id: OpenerId, index: u32, n: u64) -> VResult<v4l2_buffer> {
        let size = self.dev.format().sizeimage as usize;
        let data = counter_pattern(n, size);
        self.try_fill(id, index, &data)?;
        self.qbuf(id, Dir::Output, index, size as u32)
    }

    /// write() of `data` (one frame).
    pub fn write(&mut self, id: OpenerId, data: &[u8]) -> VResult<u32> {
        let block = self.dev.prepare_write(id, self.now)?;
        self.sync();
        let mem = self.mem.get_mut(&block).expect("block memory");
        let n = data.len().min(mem.len());
        mem[..n].copy_from_slice(&data[..n]);
        let r = self.dev.commit_write(id, data.len() as u32, self.now);
        self.sync();
        r
    }

    /// read() of up to `count` bytes.
    pub fn read(&mut self, id: OpenerId, count: u32) -> VResult<Vec<u8>> {
        let r = self.dev.read(id, count, self.now);
        self.sync();
        match r? {
            None => Ok(Vec::new()),
            Some(c) => {
                let mem = &self.mem[&c.block];
                Ok(mem[c.offset as usize..(c.offset + c.len) as usize].to_vec())
            }
        }
    }

    /// poll(); returns revents.
    pub fn poll(&mut self, id: OpenerId, events: u32) -> u32 {
        let r = self.dev.poll(id, events, self.now);
        self.sync();
        r
    }

    /// SUBSCRIBE_EVENT.
    pub fn subscribe(&mut self, id: OpenerId, type_: u32, ev_id: u32, flags: u32) -> VResult<()> {
        let mut s = v4l2_event_subscription {
            type_,
            id: ev_id,
            flags,
            ..Default::default()
        };
        self.ioctl(id, VIDIOC_SUBSCRIBE_EVENT, &mut s).map(|_| ())
    }

    /// DQEVENT.
    pub fn dqevent(&mut self, id: OpenerId) -> VResult<v4l2_event> {
        let mut e = v4l2_event::default();
        self.ioctl(id, VIDIOC_DQEVENT, &mut e)?;
        Ok(e)
    }

    /// A ready-made producer: open, S_FMT(OUTPUT), REQBUFS(n), mmap all, STREAMON.
    pub fn producer(&mut self, width: u32, height: u32, fourcc: u32, count: u32) -> OpenerId {
        let p = self.open();
        self.s_fmt(p, Dir::Output, width, height, fourcc)
            .expect("S_FMT");
        let n = self.reqbufs(p, Dir::Output, count).expect("REQBUFS");
        for i in 0..n {
            self.mmap(p, Dir::Output, i).expect("mmap");
        }
        self.streamon(p, Dir::Output).expect("STREAMON");
        p
    }

    /// A ready-made consumer: open, REQBUFS(n), mmap all, QBUF all, STREAMON.
    pub fn consumer(&mut self, count: u32) -> OpenerId {
        let c = self.open();
        let n = self.reqbufs(c, Dir::Capture, count).expect("REQBUFS");
        for i in 0..n {
            self.mmap(c, Dir::Capture, i).expect("mmap");
            self.qbuf(c, Dir::Capture, i, 0).expect("QBUF");
        }
        self.streamon(c, Dir::Capture).expect("STREAMON");
        c
    }
}
