//! `loopcam dump`: a consumer that writes frames and reports fps, drops and latency.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use loopcam_abi::*;
use loopcam_client::VirtualFd;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::mm::ProtFlags;

#[derive(Args)]
pub struct DumpArgs {
    /// Device path, name or number
    device: String,
    /// Stop after N frames
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Write frames here (".y4m" writes Y4M where the format allows; "-" is stdout)
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Buffers to allocate
    #[arg(long, default_value_t = 4)]
    buffers: u32,
    /// Check every frame against the `counter` test pattern (order and every byte)
    #[arg(long)]
    verify: bool,
    /// ustreamer-style loop: poll, drain with non-blocking DQBUF, keep the newest buffer for
    /// MS milliseconds, re-queue the rest; fails if the device ever returns a held buffer
    #[arg(long, value_name = "MS")]
    hold: Option<u64>,
    /// Print the summary as JSON on stdout
    #[arg(long)]
    json: bool,
    /// Frames carry the producer's CLOCK_MONOTONIC time of its QBUF call, in ns, in their first
    /// 8 bytes (little endian; `loopcam bench` writes them): also report the latency from that
    /// call to our DQBUF return (`qbuf_latency_*` in the JSON)
    #[arg(long)]
    stamped: bool,
}

#[derive(Default)]
struct Stats {
    frames: u64,
    drops: u64,
    corrupt: u64,
    out_of_order: u64,
    held_returned: u64,
    latencies_us: Vec<u64>,
    qbuf_latencies_us: Vec<u64>,
    last_seq: Option<u32>,
    last_counter: Option<u64>,
    first_error: Option<String>,
}

fn xioctl<T: bytemuck::Pod>(v: &mut VirtualFd, req: u32, arg: &mut T) -> Result<()> {
    v.xioctl(req, arg)
        .map_err(|e| anyhow::anyhow!("{}: {e}", ioctl_name(req).unwrap_or("ioctl")))
}

pub fn run(a: DumpArgs) -> Result<()> {
    let mut v = VirtualFd::open(&a.device, true, false, a.hold.is_some())
        .with_context(|| format!("cannot open {}", a.device))?;
    let ty = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    let mut f = v4l2_format {
        type_: ty,
        ..Default::default()
    };
    xioctl(&mut v, VIDIOC_G_FMT, &mut f)?;
    let pix = f.pix();
    let l = loopcam_media::layout(pix.pixelformat, pix.width, pix.height)?;
    let mut r = v4l2_requestbuffers {
        count: a.buffers,
        type_: ty,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    xioctl(&mut v, VIDIOC_REQBUFS, &mut r)?;
    let mut views = Vec::new();
    for i in 0..r.count {
        let mut b = v4l2_buffer {
            index: i,
            type_: ty,
            ..Default::default()
        };
        xioctl(&mut v, VIDIOC_QUERYBUF, &mut b)?;
        let p = v
            .mmap(
                b.length as usize,
                ProtFlags::READ,
                true,
                b.m_offset().into(),
            )
            .map_err(|e| anyhow::anyhow!("mmap: {e}"))?;
        views.push((p, b.length as usize));
        let mut q = v4l2_buffer {
            index: i,
            type_: ty,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        xioctl(&mut v, VIDIOC_QBUF, &mut q)?;
    }
    let mut t = ty;
    xioctl(&mut v, VIDIOC_STREAMON, &mut t)?;
    let mut out: Option<Box<dyn Write>> = match &a.output {
        None => None,
        Some(p) if p.as_os_str() == "-" => {
            Some(Box::new(std::io::BufWriter::new(std::io::stdout())))
        }
        Some(p) => {
            let mut w: Box<dyn Write> = Box::new(std::io::BufWriter::new(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            ));
            if p.extension().is_some_and(|e| e == "y4m") {
                let parm = {
                    let mut s = v4l2_streamparm {
                        type_: ty,
                        ..Default::default()
                    };
                    xioctl(&mut v, VIDIOC_G_PARM, &mut s)?;
                    s.capture().timeperframe
                };
                let hdr = loopcam_media::y4m_header(
                    pix.width,
                    pix.height,
                    parm.denominator,
                    parm.numerator,
                    pix.pixelformat,
                )?;
                w.write_all(hdr.as_bytes())?;
            }
            Some(w)
        }
    };
    let y4m = a
        .output
        .as_ref()
        .is_some_and(|p| p.extension().is_some_and(|e| e == "y4m"));
    let mut st = Stats::default();
    let start = Instant::now();
    let deadline = a.duration.map(|s| start + Duration::from_secs_f64(s));
    let mut held: Option<u32> = None;
    let done = |st: &Stats| {
        a.count.is_some_and(|c| st.frames >= c) || deadline.is_some_and(|d| Instant::now() >= d)
    };
    while !done(&st) {
        if a.hold.is_some() {
            // ustreamer's loop: wait for readability, then drain everything available.
            let fd = v.fd();
            let mut p = [PollFd::new(&fd, PollFlags::IN)];
            let _ = poll(
                &mut p,
                Some(&rustix::time::Timespec {
                    tv_sec: 0,
                    tv_nsec: 200_000_000,
                }),
            );
        }
        let mut newest: Option<v4l2_buffer> = None;
        loop {
            let mut b = v4l2_buffer {
                type_: ty,
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            match v.xioctl(VIDIOC_DQBUF, &mut b) {
                Ok(()) => {}
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => bail!("VIDIOC_DQBUF: {e}"),
            }
            if held == Some(b.index) {
                // The seed-000 failure: "grabbed device buffer=N is already used".
                st.held_returned += 1;
                st.first_error
                    .get_or_insert(format!("buffer {} returned while held", b.index));
            }
            let (ptr, len) = views[b.index as usize];
            // SAFETY: the buffer was just dequeued; its mapping lives as long as `v`.
            let data = unsafe {
                loopcam_client::mapping::buffer_slice(ptr, len.min(b.bytesused as usize))
            };
            account(&mut st, &a, &l, &b, data);
            if let Some(w) = out.as_mut() {
                if y4m {
                    w.write_all(b"FRAME\n")?;
                }
                w.write_all(data)?;
            }
            if a.hold.is_some() {
                if let Some(old) = newest.replace(b) {
                    requeue(&mut v, old.index)?;
                }
                if done(&st) {
                    break;
                }
            } else {
                requeue(&mut v, b.index)?;
                break;
            }
        }
        if let (Some(ms), Some(b)) = (a.hold, newest) {
            // Hold the newest frame (as a streamer encoding it would), then give back the
            // previously held one.
            if let Some(prev) = held.replace(b.index) {
                requeue(&mut v, prev)?;
            }
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
    if let Some(w) = out.as_mut() {
        w.flush()?;
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    st.latencies_us.sort_unstable();
    st.qbuf_latencies_us.sort_unstable();
    let percentile = |v: &[u64], p: f64| {
        v.get(((v.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let pct = |p: f64| percentile(&st.latencies_us, p);
    let cpu = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let cpu_ms = cpu.tv_sec as f64 * 1e3 + cpu.tv_nsec as f64 / 1e6;
    // How blocking DQBUFs met their predicted frames (loopcam_client::cadence).
    let w = v.wait_stats();
    let mut summary = serde_json::json!({
        "frames": st.frames, "seconds": secs, "fps": st.frames as f64 / secs, "drops": st.drops,
        "latency_p50_us": pct(0.5), "latency_p99_us": pct(0.99), "corrupt": st.corrupt,
        "out_of_order": st.out_of_order, "held_returned": st.held_returned,
        "cpu_ms": cpu_ms, "wait_hits": w.hits, "wait_early": w.early, "wait_late": w.late,
    });
    if a.stamped {
        summary["qbuf_latency_p50_us"] = percentile(&st.qbuf_latencies_us, 0.5).into();
        summary["qbuf_latency_p99_us"] = percentile(&st.qbuf_latencies_us, 0.99).into();
    }
    if a.json {
        println!("{summary}");
    }
    eprintln!(
        "dump: frames={} seconds={:.2} fps={:.2} drops={} latency_p50_us={} latency_p99_us={} corrupt={} out_of_order={} held_returned={}",
        st.frames,
        secs,
        st.frames as f64 / secs,
        st.drops,
        pct(0.5),
        pct(0.99),
        st.corrupt,
        st.out_of_order,
        st.held_returned
    );
    if let Some(e) = st.first_error {
        bail!("{e}");
    }
    Ok(())
}

fn requeue(v: &mut VirtualFd, index: u32) -> Result<()> {
    let mut q = v4l2_buffer {
        index,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    xioctl(v, VIDIOC_QBUF, &mut q)
}

fn account(st: &mut Stats, a: &DumpArgs, l: &loopcam_media::Layout, b: &v4l2_buffer, data: &[u8]) {
    st.frames += 1;
    let ts = b.timestamp.tv_sec as u64 * 1_000_000_000 + b.timestamp.tv_usec as u64 * 1000;
    let now = loopcam_client::cadence::monotonic_ns();
    st.latencies_us.push(now.saturating_sub(ts) / 1000);
    if a.stamped {
        if let Some(stamp) = data.get(..8) {
            let stamp = u64::from_le_bytes(stamp.try_into().expect("8 bytes"));
            if stamp > 0 && stamp <= now {
                st.qbuf_latencies_us.push((now - stamp) / 1000);
            }
            // The buffer timestamp is taken when the QBUF is processed, so it cannot precede
            // the call (it is in µs: allow its truncation).
            if stamp >= ts + 1000 {
                st.first_error.get_or_insert(format!(
                    "frame {} (sequence {}): buffer timestamp {ts} ns precedes the producer's QBUF call at {stamp} ns",
                    st.frames, b.sequence
                ));
            }
        }
    }
    if let Some(prev) = st.last_seq {
        if b.sequence <= prev {
            st.out_of_order += 1;
            st.first_error
                .get_or_insert(format!("sequence {} after {prev}", b.sequence));
        } else {
            st.drops += u64::from(b.sequence - prev - 1);
        }
    }
    st.last_seq = Some(b.sequence);
    if a.verify {
        match loopcam_media::verify_counter(l, data) {
            Ok(n) => {
                if st.last_counter.is_some_and(|p| n <= p) {
                    st.out_of_order += 1;
                    st.first_error.get_or_insert(format!(
                        "counter frame {n} after {}",
                        st.last_counter.unwrap_or(0)
                    ));
                }
                st.last_counter = Some(n);
            }
            Err(e) => {
                st.corrupt += 1;
                st.first_error.get_or_insert(format!(
                    "frame {} (sequence {}) is corrupt: {e}",
                    st.frames, b.sequence
                ));
            }
        }
    }
}
