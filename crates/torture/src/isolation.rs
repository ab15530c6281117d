//! `isolation`: what one consumer does to its mapped memory must not reach anyone else, and no
//! opener can map another device's memory.
//!
//! * `isolation-write`: consumer A maps its capture buffers PROT_READ|PROT_WRITE (through
//!   VirtualFd, the preload's path) and overwrites every frame it dequeues with 0xA5 before
//!   re-queueing it. Consumer B on the same device verifies every frame byte for byte; the
//!   producer checks every buffer it gets back before filling it (a fresh block is all zero, a
//!   recycled one holds an exact earlier counter frame); A itself must see an exact frame at
//!   every DQBUF (its scribbles do not outlive the buffer's turn).
//! * `isolation-rawfd`: a consumer that speaks the wire protocol itself receives, with DQBUF,
//!   the frame's memfd. It must not be able to write through it: mmap(PROT_WRITE, MAP_SHARED)
//!   must fail. If it succeeds, the check writes 0x5A over the frame and reports whether B saw
//!   corrupt frames (what an untrusted consumer could do to every other reader).
//! * `isolation-cross`: an opener of device X cannot map device Y's buffers: with no buffers of
//!   its own, mmap of every offset Y's buffers use is EINVAL; with its own buffers, only its own
//!   offsets map.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use bytemuck::{bytes_of, pod_read_unaligned};
use loopcam_abi::*;
use loopcam_client::{Connection, VirtualFd};
use loopcam_media::{render, verify_counter, Pattern};
use loopcam_proto::{Request, Response};
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

use crate::common::*;

#[derive(Default)]
struct Watch {
    stop: AtomicBool,
    frames: AtomicU64,
    corrupt: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// Consumer B: verifies every frame.
fn verifier(dev: String, w: Arc<Watch>) {
    let mut q = match CaptureQueue::open(&dev, 4, ProtFlags::READ, false) {
        Ok(q) => q,
        Err(e) => {
            *w.first_error.lock().unwrap() = Some(format!("B open: {e:#}"));
            return;
        }
    };
    while !w.stop.load(Ordering::SeqCst) {
        wait_ready(&q.vfd, PollFlags::IN, Duration::from_millis(50));
        while let Ok(Some(g)) = q.dqbuf() {
            w.frames.fetch_add(1, Ordering::SeqCst);
            if let Err(e) = q.verify(&g) {
                w.corrupt.fetch_add(1, Ordering::SeqCst);
                w.first_error.lock().unwrap().get_or_insert(e);
            }
            let _ = q.qbuf(g.index);
        }
    }
}

/// The producer: checks every buffer before filling it.
fn checking_producer(dev: String, w: Arc<Watch>, checked: Arc<AtomicU64>) {
    let mut p = match open_producer(&dev, 640, 480, 30, Duration::from_secs(1)) {
        Ok(p) => p,
        Err(e) => {
            *w.first_error.lock().unwrap() = Some(format!("producer: {e:#}"));
            return;
        }
    };
    let l = layout_of(YUYV, 640, 480).expect("layout");
    let mut n = 0u64;
    while !w.stop.load(Ordering::SeqCst) {
        let mut f = match p.next_buffer() {
            Ok(f) => f,
            Err(e) => {
                *w.first_error.lock().unwrap() = Some(format!("producer next_buffer: {e}"));
                return;
            }
        };
        let d = &mut f.data()[..l.sizeimage];
        if !d.iter().all(|b| *b == 0) {
            if let Err(e) = verify_counter(&l, d) {
                w.corrupt.fetch_add(1, Ordering::SeqCst);
                w.first_error
                    .lock()
                    .unwrap()
                    .get_or_insert(format!("producer's buffer was modified: {e}"));
            }
        }
        checked.fetch_add(1, Ordering::SeqCst);
        render(&Pattern::Counter, &l, n, d).expect("render");
        n += 1;
        if let Err(e) = f.publish(l.sizeimage as u32) {
            *w.first_error.lock().unwrap() = Some(format!("publish: {e}"));
            return;
        }
        std::thread::sleep(Duration::from_millis(33));
    }
}

fn raw_ioctl<T: bytemuck::Pod>(
    c: &mut Connection,
    request: u32,
    arg: &mut T,
) -> Result<(i32, Option<OwnedFd>)> {
    let (resp, fd) = c
        .call(
            &Request::Ioctl {
                request,
                arg: bytes_of(arg).to_vec(),
                extra: Vec::new(),
                wait: false,
                shown: Vec::new(),
            },
            &[],
        )
        .map_err(|e| anyhow!("{e}"))?;
    match resp {
        Response::Ioctl {
            result,
            arg: out,
            copy_back,
            ..
        } => {
            if copy_back && out.len() >= std::mem::size_of::<T>() {
                *arg = pod_read_unaligned(&out[..std::mem::size_of::<T>()]);
            }
            Ok((result, fd))
        }
        Response::Error { errno, .. } => Ok((errno, None)),
        other => bail!("unexpected {other:?}"),
    }
}

/// A consumer speaking the protocol itself: the memfd of one dequeued frame.
fn raw_dequeued_memfd(dev: &str) -> Result<(Connection, OwnedFd, usize, u32)> {
    let mut c = Connection::connect_default().map_err(|e| anyhow!("{e}"))?;
    let (resp, _sig) = c
        .call(
            &Request::Open {
                device: dev.to_string(),
                read: true,
                write: false,
            },
            &[],
        )
        .map_err(|e| anyhow!("{e}"))?;
    if !matches!(resp, Response::Opened { .. }) {
        bail!("raw open: {resp:?}");
    }
    let t = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    let mut r = v4l2_requestbuffers {
        count: 2,
        type_: t,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    let (e, _) = raw_ioctl(&mut c, VIDIOC_REQBUFS, &mut r)?;
    if e != 0 {
        bail!("raw REQBUFS errno {e}");
    }
    for i in 0..r.count {
        let mut b = v4l2_buffer {
            index: i,
            type_: t,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        raw_ioctl(&mut c, VIDIOC_QBUF, &mut b)?;
    }
    let mut tt = t;
    raw_ioctl(&mut c, VIDIOC_STREAMON, &mut tt)?;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        let mut b = v4l2_buffer {
            type_: t,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        let (e, fd) = raw_ioctl(&mut c, VIDIOC_DQBUF, &mut b)?;
        if e == 0 {
            let fd = fd.ok_or_else(|| anyhow!("DQBUF without memfd"))?;
            return Ok((c, fd, b.bytesused as usize, b.index));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!("raw consumer got no frame in 3 s")
}

pub fn run(dev_x: &str, dev_y: &str, secs: u64) -> Result<bool> {
    let mut ok = true;
    let w = Arc::new(Watch::default());
    let checked = Arc::new(AtomicU64::new(0));
    let pth = {
        let (w, c, d) = (w.clone(), checked.clone(), dev_x.to_string());
        std::thread::spawn(move || checking_producer(d, w, c))
    };
    std::thread::sleep(Duration::from_millis(200));
    let bth = {
        let (w, d) = (w.clone(), dev_x.to_string());
        std::thread::spawn(move || verifier(d, w))
    };

    // --- isolation-write: A scribbles over every frame through a PROT_WRITE mapping.
    let r = (|| -> Result<(u64, u64)> {
        let mut a = CaptureQueue::open(dev_x, 4, ProtFlags::READ | ProtFlags::WRITE, false)?;
        let (mut frames, mut scribbled) = (0u64, 0u64);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(secs) {
            wait_ready(&a.vfd, PollFlags::IN, Duration::from_millis(100));
            while let Some(g) = a.dqbuf().map_err(|e| anyhow!("A DQBUF {e}"))? {
                frames += 1;
                a.verify(&g)
                    .map_err(|e| anyhow!("A's own frame {frames} not exact: {e}"))?;
                let (p, len) = a.bufs[g.index as usize];
                // SAFETY: A's live PROT_WRITE mapping of a buffer A has dequeued.
                unsafe { std::ptr::write_bytes(p, 0xA5, len) };
                scribbled += len as u64;
                a.qbuf(g.index).map_err(|e| anyhow!("A QBUF {e}"))?;
            }
        }
        Ok((frames, scribbled))
    })();
    let bf = w.frames.load(Ordering::SeqCst);
    let bc = w.corrupt.load(Ordering::SeqCst);
    let err = w.first_error.lock().unwrap().clone();
    match (&r, &err) {
        (Ok((af, bytes)), None) if bc == 0 && *af > 0 && bf > 0 => println!(
            "PASS isolation-write: A scribbled {} MiB over {af} frames; B verified {bf} frames exact; producer found {} reused buffers intact",
            bytes >> 20,
            checked.load(Ordering::SeqCst)
        ),
        _ => {
            ok = false;
            println!(
                "FAIL isolation-write: A {:?}; B {bf} frames, {bc} corrupt; {}",
                r.as_ref().map_err(|e| format!("{e:#}")),
                err.unwrap_or_default()
            );
        }
    }

    // --- isolation-rawfd: the memfd a consumer receives must not be writable.
    match raw_dequeued_memfd(dev_x) {
        Err(e) => {
            ok = false;
            println!("FAIL isolation-rawfd: setup: {e:#}");
        }
        Ok((mut c, fd, used, index)) => {
            let mode = rustix::fs::fcntl_getfl(&fd)
                .map(|f| format!("{:?}", f & rustix::fs::OFlags::RWMODE))
                .unwrap_or_default();
            // SAFETY: a fresh shared mapping of a memfd we own; unmapped below; no Rust
            // reference to it exists besides the raw pointer.
            let m = unsafe {
                rustix::mm::mmap(
                    std::ptr::null_mut(),
                    used.max(1),
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::SHARED,
                    fd.as_fd(),
                    0,
                )
            };
            match m {
                Err(e) => println!(
                    "PASS isolation-rawfd: memfd from DQBUF is {mode}; mmap(PROT_WRITE, MAP_SHARED) fails with {e}"
                ),
                Ok(p) => {
                    // Give the buffer back (the block returns to the pool and is reused for
                    // later frames) and keep writing through the mapping for a second.
                    let mut b = v4l2_buffer {
                        index,
                        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
                        memory: V4L2_MEMORY_MMAP,
                        ..Default::default()
                    };
                    let _ = raw_ioctl(&mut c, VIDIOC_QBUF, &mut b);
                    let before = w.corrupt.load(Ordering::SeqCst);
                    let t0 = Instant::now();
                    while t0.elapsed() < Duration::from_secs(1) {
                        // SAFETY: `p` maps `used` bytes (created above, unmapped below).
                        unsafe { std::ptr::write_bytes(p.cast::<u8>(), 0x5A, used) };
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    // SAFETY: unmapping our own mapping.
                    unsafe {
                        let _ = rustix::mm::munmap(p, used.max(1));
                    }
                    let seen = w.corrupt.load(Ordering::SeqCst) - before;
                    ok = false;
                    println!(
                        "FAIL isolation-rawfd: a consumer receives the frame memfd {mode} and can mmap it PROT_WRITE|MAP_SHARED; writing through it for 1 s after re-queueing the buffer, {seen} corrupt frames were seen by B or the producer ({})",
                        w.first_error.lock().unwrap().clone().unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
    }
    w.stop.store(true, Ordering::SeqCst);
    let _ = bth.join();
    let _ = pth.join();

    // --- isolation-cross.
    match cross(dev_x, dev_y) {
        Ok(s) => println!("PASS isolation-cross: {s}"),
        Err(e) => {
            ok = false;
            println!("FAIL isolation-cross: {e:#}");
        }
    }
    Ok(ok)
}

fn querybufs(v: &mut VirtualFd, n: u32) -> Result<Vec<(u64, usize)>> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut b = v4l2_buffer {
            index: i,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        v.xioctl(VIDIOC_QUERYBUF, &mut b)
            .map_err(|e| anyhow!("QUERYBUF {e}"))?;
        out.push((b.m_offset() as u64, b.length as usize));
    }
    Ok(out)
}

fn reqbufs(v: &mut VirtualFd, count: u32) -> Result<u32> {
    let mut r = v4l2_requestbuffers {
        count,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    v.xioctl(VIDIOC_REQBUFS, &mut r)
        .map_err(|e| anyhow!("REQBUFS {e}"))?;
    Ok(r.count)
}

fn cross(dev_x: &str, dev_y: &str) -> Result<String> {
    // Y: a consumer with 8 buffers (its offsets are what an attacker would try).
    let mut y = VirtualFd::open(dev_y, true, false, true)?;
    let ny = reqbufs(&mut y, 8)?;
    let y_offs = querybufs(&mut y, ny)?;
    let mut x = VirtualFd::open(dev_x, true, false, true)?;
    let mut tried = 0;
    for &(off, len) in &y_offs {
        for prot in [ProtFlags::READ, ProtFlags::READ | ProtFlags::WRITE] {
            tried += 1;
            match x.mmap(len, prot, true, off) {
                Err(Errno::INVAL) => {}
                Err(e) => bail!("X (no buffers) mmap of Y offset {off:#x}: {e}, expected EINVAL"),
                Ok(_) => bail!("X (no buffers) mapped Y's offset {off:#x}"),
            }
        }
    }
    // With 2 buffers of its own, X maps exactly its own offsets.
    let nx = reqbufs(&mut x, 2)?;
    let x_offs = querybufs(&mut x, nx)?;
    let mut own = 0;
    for &(off, len) in &y_offs {
        tried += 1;
        let mine = x_offs.iter().any(|&(o, _)| o == off);
        match x.mmap(len.min(x_offs[0].1), ProtFlags::READ, true, off) {
            Err(Errno::INVAL) if !mine => {}
            Ok(p) if mine => {
                own += 1;
                let _ = x.munmap(p as usize, len.min(x_offs[0].1));
            }
            Err(e) => bail!("X mmap of offset {off:#x} (X's own: {mine}): {e}"),
            Ok(_) => bail!("X mapped offset {off:#x} that is not one of its buffers"),
        }
    }
    // Offsets past every buffer, and huge ones.
    for off in [0x4000_0000u64, 0xffff_f000, 1 << 40] {
        tried += 1;
        if x.mmap(4096, ProtFlags::READ, true, off).is_ok() {
            bail!("X mapped arbitrary offset {off:#x}");
        }
    }
    Ok(format!(
        "{tried} mmap attempts of Y's {ny} buffer offsets and arbitrary offsets from an X opener: all EINVAL except X's own {own} coinciding offsets"
    ))
}
