//! `loopcam bench`: the performance table of issue 6. Every figure is a ratio against a
//! reference measured in the same run (machines here are shared and noisy); nothing here is
//! asserted by a test except that the quick mode runs.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use loopcam_abi::*;
use loopcam_client::{Consumer, Manager, Producer, VirtualFd};
use loopcam_proto::DeviceSpec;
use serde_json::json;

#[derive(Args)]
pub struct BenchArgs {
    /// A short run (< 60 s) that only checks every row works (used by CI)
    #[arg(long)]
    quick: bool,
    /// Also write the table as JSON
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Only these rows (e.g. `--rows 9,10`; rows 1-6 share measurements and run together)
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    rows: Vec<u32>,
}

/// One row of the table.
struct Row {
    name: &'static str,
    value: f64,
    unit: &'static str,
    reference: Option<f64>,
    ratio: Option<f64>,
    target: &'static str,
    note: String,
}

struct Env {
    dir: PathBuf,
    daemon: Child,
    seconds: f64,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn self_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| "loopcam".into())
}

impl Env {
    fn start(seconds: f64) -> Result<Env> {
        let dir = std::env::temp_dir().join(format!("loopcam-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("loopcam.sock");
        let daemon = Command::new(self_exe())
            .args(["daemon", "--node-dir"])
            .arg(dir.join("dev"))
            .env("LOOPCAM_SOCKET", &socket)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the daemon")?;
        let t0 = Instant::now();
        while !socket.exists() {
            if t0.elapsed() > Duration::from_secs(10) {
                bail!("the benchmark daemon did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::env::set_var("LOOPCAM_SOCKET", &socket);
        Ok(Env {
            dir,
            daemon,
            seconds,
        })
    }

    fn device(&self, spec: DeviceSpec) -> Result<String> {
        Ok(Manager::connect()?.add(spec)?.nodes[0].clone())
    }
}

/// Last-level cache size, from sysfs (64 MiB when unknown).
fn llc_bytes() -> usize {
    let mut best = 0usize;
    for i in 0..8 {
        let p = format!("/sys/devices/system/cpu/cpu0/cache/index{i}/size");
        if let Ok(s) = std::fs::read_to_string(p) {
            let s = s.trim();
            let (num, mul) = if let Some(k) = s.strip_suffix('K') {
                (k, 1024)
            } else if let Some(m) = s.strip_suffix('M') {
                (m, 1 << 20)
            } else {
                (s, 1)
            };
            best = best.max(num.parse::<usize>().unwrap_or(0) * mul);
        }
    }
    if best == 0 {
        64 << 20
    } else {
        best
    }
}

/// Row 1: memcpy of whole frames through a rotating set larger than the last-level cache.
fn memcpy_fps(frame: usize, seconds: f64) -> f64 {
    let n = (2 * llc_bytes() / frame).max(4) + 2;
    let mut bufs: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; frame]).collect();
    let start = Instant::now();
    let mut copies = 0u64;
    let mut i = 0usize;
    while start.elapsed().as_secs_f64() < seconds {
        let (a, b) = if i + 1 < n {
            bufs.split_at_mut(i + 1)
        } else {
            bufs.split_at_mut(1)
        };
        let (src, dst) = if i + 1 < n {
            (&a[i], &mut b[0])
        } else {
            (&b[n - 2], &mut a[0])
        };
        dst.copy_from_slice(src);
        copies += 1;
        i = (i + 1) % n;
    }
    std::hint::black_box(&bufs);
    copies as f64 / start.elapsed().as_secs_f64()
}

/// Rows 2/3: an unpaced MMAP producer and one MMAP consumer in this process; frames/s the
/// consumer receives. Neither side copies pixels: the producer touches one byte, the consumer
/// reads one byte per page... of the first and last page.
fn mmap_fps(dev: &str, w: u32, h: u32, seconds: f64) -> Result<f64> {
    let mut p = Producer::open(dev, V4L2_PIX_FMT_YUYV, w, h, 1000, 4)?;
    let mut c = Consumer::open(dev, 4)?;
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let prod = std::thread::spawn(move || -> Result<u64> {
        let mut n = 0u64;
        while !s2.load(Ordering::Relaxed) {
            let mut b = p.next_buffer()?;
            let size = b.data().len();
            b.data()[0] = n as u8;
            b.publish(size as u32)?;
            n += 1;
        }
        Ok(n)
    });
    let start = Instant::now();
    let mut got = 0u64;
    let mut sum = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        let f = c.next_frame()?;
        let d = f.data();
        sum += u64::from(d[0]) + u64::from(d[d.len() - 1]);
        got += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    drop(c);
    let _ = prod.join();
    std::hint::black_box(sum);
    Ok(got as f64 / secs)
}

/// Row 6: write() producer (one copy into shared memory) → MMAP consumer.
fn write_fps(dev: &str, w: u32, h: u32, seconds: f64) -> Result<f64> {
    let mut v = VirtualFd::open(dev, false, true, false)?;
    let mut f = v4l2_format {
        type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
        ..Default::default()
    };
    f.set_pix(&v4l2_pix_format {
        width: w,
        height: h,
        pixelformat: V4L2_PIX_FMT_YUYV,
        ..Default::default()
    });
    v.xioctl(VIDIOC_S_FMT, &mut f)?;
    let size = f.pix().sizeimage as usize;
    // Prime the stream so the consumer sees the format in use.
    let frame = vec![0x80u8; size];
    v.write(&frame)?;
    let mut c = Consumer::open(dev, 4)?;
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let prod = std::thread::spawn(move || -> Result<()> {
        while !s2.load(Ordering::Relaxed) {
            v.write(&frame)?;
        }
        Ok(())
    });
    let start = Instant::now();
    let mut got = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        let fr = c.next_frame()?;
        std::hint::black_box(fr.data()[0]);
        got += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    drop(c);
    let _ = prod.join();
    Ok(got as f64 / secs)
}

/// A paced producer thread (for the fan-out and latency rows).
fn paced_producer(
    dev: &str,
    fps: u32,
    stop: Arc<AtomicBool>,
    unpaced: bool,
) -> Result<std::thread::JoinHandle<Result<()>>> {
    let mut p = Producer::open(dev, V4L2_PIX_FMT_YUYV, 1920, 1080, fps, 4)?;
    Ok(std::thread::spawn(move || -> Result<()> {
        let period = Duration::from_nanos(1_000_000_000 / u64::from(fps));
        let start = Instant::now();
        let mut n = 0u32;
        while !stop.load(Ordering::Relaxed) {
            if !unpaced {
                let due = start + period * n;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            let mut b = p.next_buffer()?;
            let size = b.data().len();
            // The time of the QBUF call, for `dump --stamped` (row 5).
            let stamp = loopcam_client::cadence::monotonic_ns();
            b.data()[..8].copy_from_slice(&stamp.to_le_bytes());
            b.publish(size as u32)?;
            n = n.wrapping_add(1);
        }
        Ok(())
    }))
}

/// Row 5's reference: the machine's own wake-up floor. A thread sends its clock reading over a
/// `SOCK_SEQPACKET` socket pair at 30 Hz to a thread blocked in recv(); the p50/p99 of
/// send → recv return. No loopcam code is involved: a blocking consumer of any design cannot
/// wake faster than this on the machine (on a VM an idle vCPU's wake-up dominates it).
fn wakeup_floor(seconds: f64) -> Result<(f64, f64)> {
    use rustix::net::{
        recv, send, socketpair, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType,
    };
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let n = ((seconds * 30.0) as usize).max(30);
    let now = loopcam_client::cadence::monotonic_ns;
    let sender = std::thread::spawn(move || -> Result<()> {
        for _ in 0..n {
            std::thread::sleep(Duration::from_nanos(1_000_000_000 / 30));
            send(&a, &now().to_le_bytes(), SendFlags::empty())?;
        }
        Ok(())
    });
    let mut lat = Vec::with_capacity(n);
    let mut buf = [0u8; 8];
    for _ in 0..n {
        recv(&b, &mut buf, RecvFlags::empty())?;
        lat.push(now().saturating_sub(u64::from_le_bytes(buf)) as f64 / 1000.0);
    }
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("wake-up floor sender panicked"))??;
    lat.sort_by(f64::total_cmp);
    Ok((lat[n / 2], lat[n * 99 / 100]))
}

/// `loopcam dump` children; returns their JSON summaries. `spin: false` runs them with
/// `LOOPCAM_SPIN=0` (no spin-before-sleep, loopcam_client::cadence).
fn dump_children(dev: &str, n: usize, seconds: f64, spin: bool) -> Result<Vec<serde_json::Value>> {
    let kids: Vec<Child> = (0..n)
        .map(|_| {
            let mut c = Command::new(self_exe());
            if !spin {
                c.env("LOOPCAM_SPIN", "0");
            }
            c.args([
                "dump",
                dev,
                "--duration",
                &format!("{seconds}"),
                "--json",
                "--buffers",
                "4",
                "--stamped",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    let mut out = Vec::new();
    for k in kids {
        let o = k.wait_with_output()?;
        if !o.status.success() {
            bail!(
                "a dump child failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        let s = String::from_utf8_lossy(&o.stdout);
        let line = s
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .context("a dump child printed no summary")?;
        out.push(serde_json::from_str(line)?);
    }
    Ok(out)
}

/// Row 8: ns per open/ioctl(FIONREAD)/close on /dev/null, run by a child with and without
/// the preload library, alternating, best of several.
fn passthrough_ratio(quick: bool) -> Result<(f64, f64)> {
    let lib = crate::run::find_preload()?;
    let iters = if quick { "20000" } else { "200000" };
    let run = |preload: bool| -> Result<f64> {
        let mut c = Command::new(self_exe());
        c.args(["bench-syscalls", "--iterations", iters]);
        if preload {
            c.env("LD_PRELOAD", &lib);
        } else {
            c.env_remove("LD_PRELOAD");
        }
        let o = c.output()?;
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<f64>()
            .context("bench-syscalls output")
    };
    let (mut plain, mut pre) = (f64::MAX, f64::MAX);
    for _ in 0..if quick { 2 } else { 5 } {
        plain = plain.min(run(false)?);
        pre = pre.min(run(true)?);
    }
    Ok((pre, plain))
}

/// `loopcam bench-syscalls`: the pass-through loop, in ns per iteration.
pub fn syscall_loop(iterations: u64) -> Result<()> {
    let path = c"/dev/null";
    let start = Instant::now();
    for _ in 0..iterations {
        // SAFETY: plain libc calls on a valid path and our own fd; they go through the PLT,
        // so an LD_PRELOAD library interposes them exactly as in an application.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
            let mut n: libc::c_int = 0;
            libc::ioctl(fd, libc::FIONREAD, &mut n);
            libc::close(fd);
        }
    }
    println!(
        "{:.1}",
        start.elapsed().as_nanos() as f64 / iterations as f64
    );
    Ok(())
}

fn daemon_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn run(a: BenchArgs) -> Result<()> {
    let secs = if a.quick { 1.0 } else { 5.0 };
    let env = Env::start(secs)?;
    let frame = 1920 * 1080 * 2;
    let mut rows: Vec<Row> = Vec::new();
    let say = |r: &Row| eprintln!("  {:<44} {:>12.1} {}", r.name, r.value, r.unit);
    let want = |n: u32| a.rows.is_empty() || a.rows.contains(&n);
    eprintln!(
        "loopcam bench ({} mode)",
        if a.quick { "quick" } else { "full" }
    );

    if (1..=6).any(want) {
        // 1
        let mem = memcpy_fps(frame, env.seconds);
        rows.push(Row {
            name: "1 memcpy reference (1080p YUYV, cache-cold)",
            value: mem,
            unit: "frames/s",
            reference: None,
            ratio: None,
            target: "-",
            note: format!(
                "rotating {} MiB > LLC {} MiB",
                (((2 * llc_bytes() / frame).max(4) + 2) * frame) >> 20,
                llc_bytes() >> 20
            ),
        });
        say(rows.last().unwrap());

        // 2
        let dev = env.device(DeviceSpec::default())?;
        let mm = mmap_fps(&dev, 1920, 1080, env.seconds)?;
        rows.push(Row {
            name: "2 MMAP producer -> 1 MMAP consumer",
            value: mm,
            unit: "frames/s",
            reference: Some(mem),
            ratio: Some(mm / mem),
            target: ">= 2.0",
            note: String::new(),
        });
        say(rows.last().unwrap());

        // 3
        let d4k = env.device(DeviceSpec::default())?;
        let big = mmap_fps(&d4k, 3840, 2160, env.seconds)?;
        let dsm = env.device(DeviceSpec::default())?;
        let small = mmap_fps(&dsm, 640, 480, env.seconds)?;
        rows.push(Row {
            name: "3 frame-size independence (4K / 480p fps)",
            value: big,
            unit: "frames/s at 4K",
            reference: Some(small),
            ratio: Some(big / small),
            target: ">= 0.7",
            note: format!("640x480: {small:.0} frames/s"),
        });
        say(rows.last().unwrap());

        // 4 and 5: fan-out and latency with dump processes.
        let stop = Arc::new(AtomicBool::new(false));
        let dfan = env.device(DeviceSpec::default())?;
        let prod = paced_producer(&dfan, 1000, stop.clone(), true)?;
        std::thread::sleep(Duration::from_millis(200));
        let sums = dump_children(&dfan, 8, env.seconds, true)?;
        stop.store(true, Ordering::Relaxed);
        let _ = prod.join();
        let fps: Vec<f64> = sums
            .iter()
            .map(|s| s["fps"].as_f64().unwrap_or(0.0))
            .collect();
        let agg: f64 = fps.iter().sum();
        let slowest = fps.iter().copied().fold(f64::MAX, f64::min);
        rows.push(Row {
            name: "4 fan-out: 8 consumer processes, aggregate",
            value: agg,
            unit: "frames/s",
            reference: Some(mm),
            ratio: Some(agg / mm),
            target: ">= 1.0",
            note: format!(
                "slowest reader {:.0}% of the mean",
                100.0 * slowest / (agg / 8.0)
            ),
        });
        say(rows.last().unwrap());
        let (floor50, floor99) = wakeup_floor((2.0 * env.seconds).max(2.0))?;
        for (readers, spin) in [(1usize, true), (1, false), (8, true)] {
            let stop = Arc::new(AtomicBool::new(false));
            let dl = env.device(DeviceSpec::default())?;
            let prod = paced_producer(&dl, 30, stop.clone(), false)?;
            std::thread::sleep(Duration::from_millis(200));
            // 300 frames in a full run: the p99 is then the 3rd-worst frame, not the 2nd.
            let seconds = (2.0 * env.seconds).max(2.0);
            let sums = dump_children(&dl, readers, seconds, spin)?;
            stop.store(true, Ordering::Relaxed);
            let _ = prod.join();
            let worst = |k: &str| {
                sums.iter()
                    .map(|s| s[k].as_f64().unwrap_or(0.0))
                    .fold(0.0, f64::max)
            };
            let total = |k: &str| {
                sums.iter()
                    .map(|s| s[k].as_f64().unwrap_or(0.0))
                    .sum::<f64>()
            };
            let (p50, p99) = (worst("latency_p50_us"), worst("latency_p99_us"));
            let frames = total("frames").max(1.0);
            let how = if spin {
                format!(
                    "windows hit {:.0}% (early {:.0}%, late {:.0}%); reader CPU {:.1} ms/s",
                    100.0 * total("wait_hits") / frames,
                    100.0 * total("wait_early") / frames,
                    100.0 * total("wait_late") / frames,
                    total("cpu_ms") / readers as f64 / seconds
                )
            } else {
                format!(
                    "LOOPCAM_SPIN=0: the reader sleeps; reader CPU {:.1} ms/s",
                    total("cpu_ms") / seconds
                )
            };
            let (name50, name99, target50, target99) = match (readers, spin) {
                (1, true) => (
                    "5 wake-up latency p50, 1 reader",
                    "5 wake-up latency p99, 1 reader",
                    "<= 30",
                    "<= 200",
                ),
                (1, false) => (
                    "5 wake-up latency p50, 1 reader, no spin",
                    "5 wake-up latency p99, 1 reader, no spin",
                    "-",
                    "-",
                ),
                _ => (
                    "5 wake-up latency p50, 8 readers",
                    "5 wake-up latency p99, 8 readers",
                    "-",
                    "<= 500",
                ),
            };
            rows.push(Row {
                name: name50,
                value: p50,
                unit: "us",
                reference: Some(floor50),
                ratio: Some(p50 / floor50),
                target: target50,
                note: how,
            });
            say(rows.last().unwrap());
            rows.push(Row {
                name: name99,
                value: p99,
                unit: "us",
                reference: Some(floor99),
                ratio: Some(p99 / floor99),
                target: target99,
                note: "daemon hand-off -> consumer DQBUF return, worst reader; reference: socket wake-up floor".into(),
            });
            say(rows.last().unwrap());
            if readers == 1 && spin {
                // The same frames timed from the producer's QBUF call (the stamp it wrote into
                // the frame): adds the producer -> daemon hop.
                for (name, k) in [
                    ("5 from the QBUF call: p50, 1 reader", "qbuf_latency_p50_us"),
                    ("5 from the QBUF call: p99, 1 reader", "qbuf_latency_p99_us"),
                ] {
                    rows.push(Row {
                        name,
                        value: worst(k),
                        unit: "us",
                        reference: Some(if k.contains("p50") { p50 } else { p99 }),
                        ratio: None,
                        target: "-",
                        note: "producer QBUF call -> consumer DQBUF return; reference: the row from the hand-off".into(),
                    });
                    say(rows.last().unwrap());
                }
            }
        }

        // 6
        let dw = env.device(DeviceSpec::default())?;
        let wf = write_fps(&dw, 1920, 1080, env.seconds)?;
        rows.push(Row {
            name: "6 write() producer -> MMAP consumer",
            value: wf,
            unit: "frames/s",
            reference: Some(mem),
            ratio: Some(wf / mem),
            target: ">= 0.5",
            note: String::new(),
        });
        say(rows.last().unwrap());
    }

    if want(7) {
        // 7: the commands users run.
        let row7 = v4l2ctl_row(&env, a.quick);
        match row7 {
            Ok(r) => rows.push(r),
            Err(e) => rows.push(Row {
                name: "7 v4l2-ctl --stream-out-mmap -> --stream-mmap",
                value: 0.0,
                unit: "fps",
                reference: None,
                ratio: None,
                target: "-",
                note: format!("not measured: {e}"),
            }),
        }
        say(rows.last().unwrap());
    }

    if want(8) {
        // 8
        let (pre, plain) = passthrough_ratio(a.quick)?;
        rows.push(Row {
            name: "8 preload pass-through open/ioctl/close",
            value: pre,
            unit: "ns/iteration",
            reference: Some(plain),
            ratio: Some(pre / plain),
            target: "<= 1.05",
            note: format!("without preload {plain:.0} ns"),
        });
        say(rows.last().unwrap());
    }

    if want(9) {
        // 9: the streamer against ustreamer, same source, one HTTP client each.
        match streamer_rows(&env, a.quick) {
            Ok(mut r) => rows.append(&mut r),
            Err(e) => rows.push(Row {
                name: "9 streamer vs ustreamer (1080p YUYV, 1 worker)",
                value: 0.0,
                unit: "frames/s",
                reference: None,
                ratio: None,
                target: ">= 1.0",
                note: format!("not measured: {e}"),
            }),
        }
        say(rows.last().unwrap());
        match passthrough_rows(&env, a.quick) {
            Ok(r) => {
                for row in r {
                    rows.push(row);
                    say(rows.last().unwrap());
                }
            }
            Err(e) => {
                rows.push(Row {
                    name: "9 MJPEG passthrough: slowest of N clients",
                    value: 0.0,
                    unit: "frames/s",
                    reference: None,
                    ratio: None,
                    target: ">= 28",
                    note: format!("not measured: {e}"),
                });
                say(rows.last().unwrap());
            }
        }
    }

    if want(10) {
        // 10: memory.
        let stop = Arc::new(AtomicBool::new(false));
        let dm = env.device(DeviceSpec::default())?;
        let prod = paced_producer(&dm, 60, stop.clone(), false)?;
        let consumed = Arc::new(AtomicU64::new(0));
        let mut cons = Vec::new();
        for _ in 0..4 {
            let (dev, stop, consumed) = (dm.clone(), stop.clone(), consumed.clone());
            cons.push(std::thread::spawn(move || -> Result<()> {
                let mut c = Consumer::open(&dev, 4)?;
                while !stop.load(Ordering::Relaxed) {
                    let _f = c.next_frame()?;
                    consumed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }));
        }
        std::thread::sleep(Duration::from_secs_f64(env.seconds.max(1.0)));
        let rss = daemon_rss_kib(env.daemon.id()).unwrap_or(0) * 1024;
        let alloc = Manager::connect()?.query(&dm)?.memory_bytes;
        stop.store(true, Ordering::Relaxed);
        let _ = prod.join();
        for c in cons {
            let _ = c.join();
        }
        rows.push(Row {
            name: "10 memory: daemon RSS + frame memfds",
            value: (rss + alloc) as f64 / (1 << 20) as f64,
            unit: "MiB",
            reference: Some(alloc as f64 / (1 << 20) as f64),
            ratio: None,
            target: "<= frames + 20 MiB",
            note: format!(
                "RSS {} MiB, frames allocated {} MiB",
                rss >> 20,
                alloc >> 20
            ),
        });
        say(rows.last().unwrap());
    }

    print_table(&rows);
    if let Some(p) = &a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| json!({"row": r.name, "value": r.value, "unit": r.unit, "reference": r.reference, "ratio": r.ratio, "target": r.target, "note": r.note}))
            .collect();
        std::fs::write(
            p,
            serde_json::to_string_pretty(&json!({"quick": a.quick, "rows": v}))?,
        )?;
    }
    Ok(())
}

fn v4l2ctl_row(env: &Env, quick: bool) -> Result<Row> {
    // Applications use the /dev/videoN name (the preload maps it to the device).
    // exclusive_caps: a node advertising capture and output together looks like a mem2mem
    // device to v4l2-ctl, which then streams both directions on one fd.
    let node = env.device(DeviceSpec {
        exclusive_caps: true,
        ..DeviceSpec::default()
    })?;
    let dev = format!("/dev/{}", node.rsplit('/').next().unwrap_or("video0"));
    let lib = crate::run::find_preload()?;
    // v4l2-ctl prints its fps once a second: stream long enough for a few reports.
    // (tens of thousands of frames/s here: the counts must span several seconds).
    let count = if quick { "60000" } else { "200000" };
    let mut prod = Command::new("v4l2-ctl")
        .args([
            "-d",
            &dev,
            "--stream-out-mmap",
            "--stream-count",
            "10000000",
        ])
        .env("LD_PRELOAD", &lib)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("v4l2-ctl is not installed")?;
    // With exclusive caps the node shows CAPTURE once the producer streams: wait for that.
    let t0 = Instant::now();
    while !Manager::connect()?.query(&node)?.streaming {
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = prod.kill();
            bail!("v4l2-ctl --stream-out-mmap did not start streaming");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let cons = Command::new("v4l2-ctl")
        .args(["-d", &dev, "--stream-mmap", "--stream-count", count])
        .env("LD_PRELOAD", &lib)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = cons.id();
    // A stuck pipeline must not stall the benchmark.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        // SAFETY: plain kill(2) of our child's pid (harmless if it already exited).
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let out = cons.wait_with_output()?;
    drop(killer);
    let _ = prod.kill();
    let _ = prod.wait();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let fps = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1].starts_with("fps"))
        .filter_map(|w| w[0].trim_start_matches('<').parse::<f64>().ok())
        .next_back()
        .with_context(|| {
            let tail: String = text
                .chars()
                .filter(|c| *c != '<' && *c != '>')
                .take(200)
                .collect();
            format!("v4l2-ctl ({}) printed no fps: {}", out.status, tail.trim())
        })?;
    Ok(Row {
        name: "7 v4l2-ctl --stream-out-mmap -> --stream-mmap",
        value: fps,
        unit: "fps",
        reference: None,
        ratio: None,
        target: "-",
        note: "as v4l2-ctl prints it (640x480 YUYV, unpaced)".into(),
    })
}

/// Counts the JPEG parts an HTTP client receives from `/stream` on `port` in `seconds`.
fn count_stream_parts(port: u16, seconds: f64) -> Result<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let needle = b"Content-Type: image/jpeg";
    let mut buf = vec![0u8; 1 << 20];
    let mut tail: Vec<u8> = Vec::new();
    let mut parts = 0u64;
    // Skip the first part (it may be a cached frame), then count for `seconds`.
    let mut start: Option<Instant> = None;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            bail!("the stream ended");
        }
        tail.extend_from_slice(&buf[..n]);
        // memmem (SIMD): 100 clients scan ~300 MB/s of MJPEG; a naive search would cost the
        // streamer its CPU.
        let found = memchr::memmem::find_iter(&tail, needle).count() as u64;
        let keep = tail.len().saturating_sub(needle.len());
        tail.drain(..keep);
        match start {
            None if found > 0 => start = Some(Instant::now()),
            None => {}
            Some(t0) => {
                parts += found;
                if t0.elapsed().as_secs_f64() >= seconds {
                    return Ok(parts as f64 / t0.elapsed().as_secs_f64());
                }
            }
        }
    }
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("bad /proc/{pid}/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let hz = rustix::param::clock_ticks_per_second() as f64;
    Ok(ticks / hz)
}

/// Row 9, passthrough: `clients` HTTP clients on `/stream` of a streamer serving a 30 fps MJPG
/// source for `secs`: the slowest client's fps and the streamer's CPU seconds meanwhile.
fn passthrough_load(cmd: &mut Command, port: u16, clients: usize, secs: f64) -> Result<(f64, f64)> {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let pid = child.id();
    let r = (|| -> Result<(f64, f64)> {
        wait_http(port)?;
        std::thread::sleep(Duration::from_millis(500));
        let cpu0 = cpu_seconds(pid)?;
        let threads: Vec<_> = (0..clients)
            .map(|_| std::thread::spawn(move || count_stream_parts(port, secs)))
            .collect();
        let mut slowest = f64::MAX;
        for t in threads {
            let fps = t
                .join()
                .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
            slowest = slowest.min(fps);
        }
        Ok((slowest, cpu_seconds(pid)? - cpu0))
    })();
    let _ = child.kill();
    let _ = child.wait();
    r
}

/// Row 9, MJPEG passthrough to many clients: ours against ustreamer (`--encoder HW`, its
/// passthrough) on the same paced 30 fps 1280x720 MJPG source.
fn passthrough_rows(env: &Env, quick: bool) -> Result<Vec<Row>> {
    let node = env.device(DeviceSpec::default())?;
    let dev = format!("/dev/{}", node.rsplit('/').next().unwrap_or("video0"));
    let mut feed = Command::new(self_exe())
        .args([
            "feed", "--format", "MJPG", "--size", "1280x720", "--fps", "30", &node,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(500));
    let (clients, secs) = if quick { (10, 2.0) } else { (100, 10.0) };
    let base = 19000 + (std::process::id() % 1000) as u16 * 2;
    let ours = passthrough_load(
        Command::new(self_exe()).args(["stream", "--device", &node, "--port", &base.to_string()]),
        base,
        clients,
        secs,
    );
    let ust = passthrough_load(
        Command::new(self_exe()).args([
            "run",
            "--",
            "ustreamer",
            "--device",
            &dev,
            "--format",
            "MJPEG",
            "--encoder",
            "HW",
            "--resolution",
            "1280x720",
            "--port",
            &(base + 1).to_string(),
        ]),
        base + 1,
        clients,
        secs,
    );
    let _ = feed.kill();
    let _ = feed.wait();
    let (ours_fps, ours_cpu) = ours?;
    let (ust_fps, ust_cpu, ust_note) = match ust {
        Ok(v) => (Some(v.0), Some(v.1), "ustreamer --encoder HW".to_string()),
        Err(e) => (None, None, format!("ustreamer not measured: {e}")),
    };
    Ok(vec![
        Row {
            name: "9 MJPEG passthrough: slowest of N clients",
            value: ours_fps,
            unit: "frames/s",
            reference: ust_fps,
            ratio: None,
            target: ">= 28",
            note: format!(
                "{clients} clients for {secs} s, 1280x720 MJPG at 30 fps; reference: {ust_note}"
            ),
        },
        Row {
            name: "9 MJPEG passthrough: streamer CPU time",
            value: ours_cpu * 1000.0,
            unit: "ms",
            reference: ust_cpu.map(|u| u * 1000.0),
            ratio: ust_cpu.map(|u| ours_cpu / u.max(0.001)),
            target: "<= 1.0",
            note: format!("over the {secs} s; reference: {ust_note}"),
        },
    ])
}

fn wait_http(port: u16) -> Result<()> {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t0.elapsed() > Duration::from_secs(10) {
            bail!("nothing listens on port {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Row 9: JPEG encode rate of `loopcam stream` against ustreamer (through `loopcam run`) on
/// the same 1000 fps 1080p YUYV source, one worker each, then ours with two workers.
fn streamer_rows(env: &Env, quick: bool) -> Result<Vec<Row>> {
    let node = env.device(DeviceSpec::default())?;
    let dev = format!("/dev/{}", node.rsplit('/').next().unwrap_or("video0"));
    let stop = Arc::new(AtomicBool::new(false));
    // A source faster than the encoders together (1000 fps: a 250 fps source capped two
    // workers at 250 fps while one did 230, which read as a 1.08 ratio), paced so that
    // producing it does not take a core from the encoders (an unpaced producer publishes tens
    // of thousands of frames/s and competes with the workers it is measuring).
    let prod = paced_producer(&node, 1000, stop.clone(), false)?;
    let secs = if quick { 2.0 } else { 10.0 };
    let run = |cmd: &mut Command, port: u16| -> Result<f64> {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        let r = wait_http(port).and_then(|_| count_stream_parts(port, secs));
        let _ = child.kill();
        let _ = child.wait();
        r
    };
    let base = 18000 + (std::process::id() % 1000) as u16 * 3;
    let ours1 = run(
        Command::new(self_exe()).args([
            "stream",
            "--device",
            &node,
            "--workers",
            "1",
            "--port",
            &base.to_string(),
            "--resolution",
            "1920x1080",
        ]),
        base,
    )?;
    let ours2 = run(
        Command::new(self_exe()).args([
            "stream",
            "--device",
            &node,
            "--workers",
            "2",
            "--port",
            &(base + 1).to_string(),
            "--resolution",
            "1920x1080",
        ]),
        base + 1,
    )?;
    let ust = run(
        Command::new(self_exe()).args([
            "run",
            "--",
            "ustreamer",
            "--device",
            &dev,
            "--workers",
            "1",
            "--port",
            &(base + 2).to_string(),
            "--resolution",
            "1920x1080",
            "--format",
            "YUYV",
        ]),
        base + 2,
    );
    stop.store(true, Ordering::Relaxed);
    let _ = prod.join();
    let mut rows = vec![Row {
        name: "9 streamer 2 workers vs 1 worker",
        value: ours2,
        unit: "frames/s",
        reference: Some(ours1),
        ratio: Some(ours2 / ours1),
        target: ">= 1.7",
        note: "one HTTP client on /stream".into(),
    }];
    match ust {
        Ok(u) => rows.insert(
            0,
            Row {
                name: "9 streamer vs ustreamer (1080p YUYV, 1 worker)",
                value: ours1,
                unit: "frames/s",
                reference: Some(u),
                ratio: Some(ours1 / u),
                target: ">= 1.0",
                note: "reference: ustreamer 4.9 through loopcam run".into(),
            },
        ),
        Err(e) => rows.insert(
            0,
            Row {
                name: "9 streamer vs ustreamer (1080p YUYV, 1 worker)",
                value: ours1,
                unit: "frames/s",
                reference: None,
                ratio: None,
                target: ">= 1.0",
                note: format!("ustreamer not measured: {e}"),
            },
        ),
    }
    Ok(rows)
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<46} {:>14} {:<14} {:>12} {:>8} {:<18} note",
        "row", "value", "unit", "reference", "ratio", "target"
    );
    for r in rows {
        println!(
            "{:<46} {:>14.1} {:<14} {:>12} {:>8} {:<18} {}",
            r.name,
            r.value,
            r.unit,
            r.reference.map_or("-".into(), |v| format!("{v:.1}")),
            r.ratio.map_or("-".into(), |v| format!("{v:.2}")),
            r.target,
            r.note
        );
    }
}
