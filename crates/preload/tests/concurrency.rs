//! Regression: a thread blocked in DQBUF returns when another thread of the same process frees
//! the queue with REQBUFS(0) (V4L2: vb2 cancels the queue and wakes the waiter, which gets
//! EINVAL; DESIGN §3.5: REQBUFS(0) implies STREAMOFF). Found by the issue 7 reliability work:
//! through the preload library the DQBUF waited forever, because with no producer the opener's
//! readiness stays 0 after REQBUFS(0) and nothing woke the poll.
//!
//! Regression: after fork(), parent and child calling ioctls on the same inherited device fd at
//! the same time each get their own answers (they share the daemon connection; without a lock
//! shared by both processes they read each other's replies).
//!
//! The tests re-run this test binary as a child with LD_PRELOAD set to the freshly built
//! libloopcam_preload.so; the child uses plain libc calls, exactly like a C application.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use loopcam_abi::*;
use loopcam_daemon::{Daemon, DaemonOptions, NodeDir};

const CHILD: &str = "LOOPCAM_PRELOAD_TEST_CHILD";

/// Clients find the daemon through the process environment: one daemon at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn preload_lib() -> PathBuf {
    // Cargo builds the cdylib for this test next to the test binary (target/<profile>/deps);
    // target/<profile>/libloopcam_preload.so is only refreshed by `cargo build`.
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let here = deps.join("libloopcam_preload.so");
    if here.exists() {
        here
    } else {
        deps.parent().unwrap().join("libloopcam_preload.so")
    }
}

fn ioctl<T>(fd: i32, req: u32, arg: &mut T) -> Result<(), i32> {
    // SAFETY: `arg` is the request's argument type (V4L2 UAPI layout from loopcam-abi).
    let r = unsafe { libc::ioctl(fd, req as _, arg as *mut T) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// The fork case: parent and child issue different ioctls on the shared fd concurrently and
/// check every answer. Exit 0 when all were right.
fn fork_child(fd: i32) -> ! {
    let check = |capture_side: bool| -> usize {
        let mut bad = 0;
        for _ in 0..2000 {
            if capture_side {
                let mut c = v4l2_capability::default();
                if ioctl(fd, VIDIOC_QUERYCAP, &mut c).is_err() || !c.card.starts_with(b"loopcam") {
                    bad += 1;
                }
            } else {
                let mut f = v4l2_format {
                    type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
                    ..Default::default()
                };
                if ioctl(fd, VIDIOC_G_FMT, &mut f).is_err() || f.pix().width != 640 {
                    bad += 1;
                }
            }
        }
        bad
    };
    // SAFETY: fork in a process whose other threads (the test harness's) hold no lock we need:
    // glibc makes malloc fork-safe, and the child only calls into the preload and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let bad = check(true);
        // SAFETY: leave the forked child without running the harness's atexit work.
        unsafe { libc::_exit(if bad == 0 { 0 } else { 1 }) };
    }
    let bad = check(false);
    let mut st = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    println!("child-result: parent wrong answers {bad}, child exit status {st}");
    std::process::exit(if bad == 0 && st == 0 { 0 } else { 1 });
}

/// The child: runs under LD_PRELOAD; exit 0 when the blocked DQBUF returned EINVAL in time.
fn child(dev: &str, release: &str) -> ! {
    let path = std::ffi::CString::new(dev).unwrap();
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR) };
    assert!(fd >= 0, "open {dev} under the preload");
    if release == "fork" {
        fork_child(fd);
    }
    let t = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    let mut r = v4l2_requestbuffers {
        count: 2,
        type_: t,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    ioctl(fd, VIDIOC_REQBUFS, &mut r).expect("REQBUFS");
    for i in 0..r.count {
        let mut b = v4l2_buffer {
            index: i,
            type_: t,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        ioctl(fd, VIDIOC_QBUF, &mut b).expect("QBUF");
    }
    let mut tt = t;
    ioctl(fd, VIDIOC_STREAMON, &mut tt).expect("STREAMON");
    // No producer: this DQBUF blocks until the other thread releases the queue.
    let waiter = std::thread::spawn(move || {
        let mut b = v4l2_buffer {
            type_: t,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        let r = ioctl(fd, VIDIOC_DQBUF, &mut b);
        (r, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(300));
    let released = Instant::now();
    match release {
        "reqbufs0" => {
            let mut z = v4l2_requestbuffers {
                count: 0,
                type_: t,
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            ioctl(fd, VIDIOC_REQBUFS, &mut z).expect("REQBUFS(0)");
        }
        _ => {
            let mut tt = t;
            ioctl(fd, VIDIOC_STREAMOFF, &mut tt).expect("STREAMOFF");
        }
    }
    let (r, at) = waiter.join().unwrap();
    let waited = at.saturating_duration_since(released);
    println!("child-result: DQBUF -> {r:?} {waited:?} after {release}");
    std::process::exit(
        if r == Err(libc::EINVAL) && waited < Duration::from_secs(1) {
            0
        } else {
            1
        },
    );
}

fn run_case(release: &str, test_name: &str) {
    if let Ok(spec) = std::env::var(CHILD) {
        let (dev, rel) = spec.split_once(' ').unwrap();
        if rel == release {
            child(dev, rel);
        }
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let lib = preload_lib();
    assert!(lib.exists(), "{} not built", lib.display());
    let dir =
        std::env::temp_dir().join(format!("loopcam-preload-{}-{release}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("sock");
    let opts = DaemonOptions {
        socket: socket.clone(),
        node_dir: NodeDir::Dir(dir.join("dev")),
        ..DaemonOptions::for_user()
    };
    let d = Daemon::bind(&opts).expect("bind");
    let stop = d.stop_handle();
    let th = std::thread::spawn(move || d.run().expect("daemon"));
    std::env::set_var("LOOPCAM_SOCKET", &socket);
    let dev = loopcam_client::Manager::connect()
        .unwrap()
        .add(Default::default())
        .unwrap()
        .nodes[0]
        .clone();
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture"])
        .stdout(std::process::Stdio::piped())
        .env(CHILD, format!("{dev} {release}"))
        .env("LD_PRELOAD", &lib)
        .env("LOOPCAM_SOCKET", &socket)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break Some(s);
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = c.kill();
            let _ = c.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    stop.stop();
    th.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let mut out = String::new();
    if let Some(mut o) = c.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut o, &mut out);
    }
    let status = status.expect("the child hung for 10 s");
    // The child must really have run the case (a test-name mismatch would run nothing).
    assert!(
        out.contains("child-result:"),
        "the child did not run the case: {out}"
    );
    assert!(status.success(), "{release}: {status}: {out}");
}

#[test]
fn blocked_dqbuf_returns_einval_after_reqbufs0_from_another_thread() {
    run_case(
        "reqbufs0",
        "blocked_dqbuf_returns_einval_after_reqbufs0_from_another_thread",
    );
}

#[test]
fn blocked_dqbuf_returns_einval_after_streamoff_from_another_thread() {
    run_case(
        "streamoff",
        "blocked_dqbuf_returns_einval_after_streamoff_from_another_thread",
    );
}

#[test]
fn forked_processes_calling_on_one_fd_get_their_own_answers() {
    run_case(
        "fork",
        "forked_processes_calling_on_one_fd_get_their_own_answers",
    );
}
