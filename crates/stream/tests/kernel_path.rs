//! The plain-V4L2 (kernel) capture path, exercised on a loopcam device: the `loopcam` binary
//! runs `loopcam stream --kernel-path` under `loopcam run`, so its open/ioctl/mmap calls go
//! through libc into the preload library exactly as they would reach a kernel driver.
//!
//! Needs the workspace binaries (`cargo build --workspace`, which scripts/test.sh runs first).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Content, Feeder, TestDaemon};
use loopcam_abi::*;
use loopcam_media::Pattern;

fn target_dir() -> PathBuf {
    // target/debug/deps/kernel_path-HASH -> target/debug
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kernel_path_through_the_preload_library() {
    let bin = target_dir().join("loopcam");
    let lib = target_dir().join("libloopcam_preload.so");
    assert!(
        bin.is_file() && lib.is_file(),
        "{} and {} are needed: run `cargo build --workspace` first",
        bin.display(),
        lib.display()
    );
    let d = TestDaemon::start_in("kernel", "loopcam");
    let dev = d.add_device();
    let _feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_YUYV,
        640,
        480,
        30,
        Content::Pattern(Pattern::Bars),
    );
    let mut child = Command::new(&bin)
        .args(["run", "--"])
        .arg(&bin)
        .args(["stream", "--kernel-path", "--port", "0", "--device", &dev])
        .env("LOOPCAM_SOCKET", &d.socket)
        .env("XDG_RUNTIME_DIR", &d.dir)
        .env("LOOPCAM_TRACE", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("loopcam run");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = Kill(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    // Collect the preload's trace in the background.
    let trace = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for l in BufReader::new(stderr).lines() {
            match l {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
        }
        lines
    });

    common::wait_online(&url, 10);
    let snap = common::get(&url, "/snapshot");
    let (w, h, rgb) = common::decode(&snap.body);
    assert_eq!((w, h), (640, 480));
    common::check_bars(w, h, &rgb, 20, false).expect("the test pattern");
    let (_, distinct) =
        common::count_distinct(&url, "", Duration::from_millis(300), Duration::from_secs(2));
    let fps = distinct as f64 / 2.0;
    eprintln!("kernel path through the preload: {fps:.1} distinct frames/s");
    assert!(fps >= 25.0, "{fps:.1} distinct frames/s");
    let s = common::state(&url);
    assert_eq!(s["result"]["source"]["resolution"]["width"], 640);

    drop(child);
    let trace = trace.join().unwrap();
    let count = |what: &str| trace.iter().filter(|l| l.contains(what)).count();
    // The frames came through the preload's ioctl interposition, not the native client.
    assert!(
        count("VIDIOC_DQBUF") >= 30 && count("VIDIOC_QUERYCAP") >= 1,
        "preload trace: {} DQBUF, {} QUERYCAP lines (last lines: {:?})",
        count("VIDIOC_DQBUF"),
        count("VIDIOC_QUERYCAP"),
        &trace[trace.len().saturating_sub(5)..]
    );
}
