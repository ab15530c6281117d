//! Issue 7: access control (owner, group, mode per device; the socket as the first gate) and
//! limits (memory caps, max openers, max clients, request floods), against a real daemon
//! process and the real CLI.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::*;
use loopcam_abi::*;
use loopcam_client::{Connection, Error, VirtualFd};
use rustix::mm::ProtFlags;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn query(env: &Env, dev: &str) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["query", "--json", dev])).unwrap()
}

fn open(env: &Env, dev: &str, read: bool, write: bool) -> Result<VirtualFd, Error> {
    VirtualFd::open_with(Connection::connect(&env.socket)?, dev, read, write, false)
}

fn errno_of(r: Result<VirtualFd, Error>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(Error::Daemon { errno, .. }) => errno,
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn owner_group_and_mode_are_set_at_add_and_shown_by_query() {
    let env = Env::start("acc-query");
    let dev = env.ok(&["add", "--mode", "0640", "--max-memory", "64M"]);
    let dev = dev.trim();
    let q = query(&env, dev);
    assert_eq!(q["owner"], rustix::process::geteuid().as_raw());
    assert_eq!(q["group"], rustix::process::getegid().as_raw());
    assert_eq!(q["mode"], 0o640);
    assert_eq!(q["max_memory"], 64u64 << 20);
    let text = env.ok(&["query", dev]);
    assert!(text.contains("mode=0640"), "{text}");

    // The node shows the same mode, like a device node made by udev.
    let node = q["nodes"][0].as_str().unwrap();
    let meta = std::fs::metadata(node).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640, "{node}");
    // The socket is not world-accessible.
    let sock = std::fs::metadata(&env.socket).unwrap();
    assert_eq!(sock.permissions().mode() & 0o007, 0, "socket mode");

    // Bad modes are refused before anything is sent (clap adds its usage hint line).
    let o = env.run(&["add", "--mode", "0999"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines()
            .next()
            .unwrap_or("")
            .contains("invalid mode '0999'"),
        "{err}"
    );
    // Giving a device away needs root, like chown.
    let o = env.run(&["add", "--owner", "12345"]);
    if is_root() {
        assert!(o.status.success());
        let dev2 = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert_eq!(query(&env, &dev2)["owner"], 12345);
        assert_eq!(
            std::fs::metadata(&dev2).unwrap().uid(),
            12345,
            "the node belongs to the owner"
        );
    } else {
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("only root"), "{err}");
    }
}

#[test]
fn owner_bits_decide_what_the_owner_may_open() {
    // The kernel's rule: the owner class applies to the owner, whatever the others may do.
    // (Root bypasses permission bits; as root, run this as another user.)
    let env = Env::start("acc-owner");
    let dev = env.ok(&["add", "--mode", "0400", "-x", "1"]);
    let dev = dev.trim();
    if is_root() {
        // Root passes every check (CAP_DAC_OVERRIDE).
        assert_eq!(errno_of(open(&env, dev, true, true)), 0);
        return;
    }
    assert_eq!(errno_of(open(&env, dev, true, false)), 0, "r allowed");
    assert_eq!(errno_of(open(&env, dev, true, true)), libc::EACCES);
    assert_eq!(errno_of(open(&env, dev, false, true)), libc::EACCES);
    assert!(env.daemon_log().contains("refused with EACCES: owner"));
}

/// Runs the CLI as `uid`:`gid` (no supplementary groups).
fn run_as(env: &Env, uid: u32, gid: u32, args: &[&str]) -> std::process::Output {
    env.cmd(args)
        .uid(uid)
        .gid(gid)
        .output()
        .expect("run loopcam as another user")
}

#[test]
fn a_second_user_without_permission_gets_eacces_and_cannot_manage() {
    if !is_root() {
        // Switching users needs root; CI runs the suite as root. Without root the same rules
        // are exercised by owner_bits_decide_what_the_owner_may_open.
        eprintln!("a_second_user_...: needs root to switch users; covered as root in CI");
        return;
    }
    // Users A and B share the socket's group 4242; C is outside it.
    const G: u32 = 4242;
    const A: u32 = 4001;
    const B: u32 = 4002;
    const C: u32 = 4003;
    let env = Env::start_with("acc-users", &["--socket-group", "4242"]);
    let sock = std::fs::metadata(&env.socket).unwrap();
    assert_eq!((sock.gid(), sock.permissions().mode() & 0o777), (G, 0o660));

    // A makes a private device and a group-readable one.
    let o = run_as(&env, A, G, &["add", "--mode", "0600", "-x", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let private = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let o = run_as(&env, A, G, &["add", "--mode", "0640", "-x", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shared = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let q = query(&env, &private);
    assert_eq!(
        (q["owner"].as_u64(), q["group"].as_u64()),
        (Some(A as u64), Some(G as u64))
    );

    // A streams into the shared device.
    let mut feed = env
        .cmd(&["feed", "--pattern", "counter", &shared])
        .uid(A)
        .gid(G)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // B may not open the private device (read) nor write into the shared one.
    let o = run_as(&env, B, G, &["dump", "--count", "1", &private]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("ermission denied"),
        "{err}"
    );
    let o = run_as(&env, B, G, &["feed", "--count", "1", &shared]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("ermission denied"),
        "{err}"
    );
    // ... but may read the shared one (group r).
    let o = run_as(&env, B, G, &["dump", "--count", "5", "--json", &shared]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(summary(&String::from_utf8_lossy(&o.stdout))["frames"], 5);
    // B may not delete or reconfigure A's device.
    for args in [
        vec!["delete", private.as_str()],
        vec!["set-fps", private.as_str(), "15"],
        vec!["set-caps", private.as_str(), "YUYV:320x240@30"],
    ] {
        let o = run_as(&env, B, G, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("only its owner"),
            "{args:?}: {err}"
        );
    }
    // B may not create a device for A nor in a group it is not in.
    let o = run_as(&env, B, G, &["add", "--owner", "4001"]);
    assert!(!o.status.success());
    let o = run_as(&env, B, G, &["add", "--group", "4343"]);
    assert!(!o.status.success());
    // C cannot even reach the daemon: the socket is the first gate.
    let o = run_as(&env, C, 4343, &["list"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("ermission denied"),
        "{err}"
    );
    // The refusals are logged; the owner still manages its device.
    let log = env.daemon_log();
    assert!(log.contains("refused with EACCES"), "{log}");
    let _ = feed.kill();
    let _ = feed.wait();
    let o = run_as(&env, A, G, &["delete", &private]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// REQBUFS on `v` (type, memory MMAP), returning the granted count or the errno.
fn reqbufs(v: &mut VirtualFd, type_: u32, count: u32) -> Result<u32, i32> {
    let mut r = v4l2_requestbuffers {
        count,
        type_,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    v.xioctl(VIDIOC_REQBUFS, &mut r)
        .map(|_| r.count)
        .map_err(|e| e.raw_os_error())
}

/// mmaps every output buffer of a producer; the first failure's errno, if any.
fn map_all(v: &mut VirtualFd, count: u32) -> Result<(), i32> {
    for i in 0..count {
        let mut b = v4l2_buffer {
            index: i,
            type_: V4L2_BUF_TYPE_VIDEO_OUTPUT,
            ..Default::default()
        };
        v.xioctl(VIDIOC_QUERYBUF, &mut b)
            .map_err(|e| e.raw_os_error())?;
        v.mmap(
            b.length as usize,
            ProtFlags::READ | ProtFlags::WRITE,
            true,
            b.m_offset().into(),
        )
        .map_err(|e| e.raw_os_error())?;
    }
    Ok(())
}

#[test]
fn memory_caps_and_max_openers_fail_with_an_errno_and_a_log_line() {
    // 640x480 YUYV = 614400 bytes (150 pages) per buffer.
    let env = Env::start_with("limits-mem", &["--max-memory", "8M"]);
    let caps = "YUYV:640x480@30";
    let a = env.ok(&[
        "add",
        "-x",
        "1",
        "--caps",
        caps,
        "--max-memory",
        "4M",
        "-o",
        "2",
    ]);
    let a = a.trim();
    let b = env.ok(&["add", "-x", "1", "--caps", caps]);
    let b = b.trim();
    let out = V4L2_BUF_TYPE_VIDEO_OUTPUT;

    // Per device: 8 buffers (4.7 MiB) do not fit in A's 4 MiB.
    let mut pa = open(&env, a, true, true).unwrap();
    assert_eq!(reqbufs(&mut pa, out, 8), Err(libc::ENOMEM));
    assert!(env.daemon_log().contains("frame memory limit reached"));
    // Six do (3.5 MiB) and stay mapped.
    assert_eq!(reqbufs(&mut pa, out, 6), Ok(6));
    map_all(&mut pa, 6).unwrap();

    // max_openers 2: the producer and one more; the third open is EBUSY, logged.
    let second = open(&env, a, true, false).unwrap();
    assert_eq!(errno_of(open(&env, a, true, false)), libc::EBUSY);
    assert!(env.daemon_log().contains("max_openers (2) reached"));
    drop(second);
    assert_eq!(
        errno_of(open(&env, a, true, false)),
        0,
        "a slot is free again"
    );

    // Daemon-wide: B may only grow to 8 MiB minus what A holds; its 8th buffer does not fit.
    let mut pb = open(&env, b, true, true).unwrap();
    assert_eq!(reqbufs(&mut pb, out, 8), Ok(8));
    assert_eq!(map_all(&mut pb, 8), Err(libc::ENOMEM));
    std::thread::sleep(Duration::from_millis(1100)); // the log is throttled to 1 line/s
    let _ = map_all(&mut pb, 8);
    let log = env.daemon_log();
    assert!(log.contains("all devices"), "{log}");
    // A lets go of its memory: B's buffers fit now.
    drop(pa);
    assert_eq!(reqbufs(&mut pb, out, 0), Ok(0));
    assert_eq!(reqbufs(&mut pb, out, 8), Ok(8));
    map_all(&mut pb, 8).unwrap();
    // The daemon is fine throughout.
    let q = query(&env, b);
    assert!(q["memory_bytes"].as_u64().unwrap() >= 8 * 614400);
}

#[test]
fn the_connection_limit_refuses_with_ebusy_and_recovers() {
    let env = Env::start_with("limits-conn", &["--max-clients", "6"]);
    let mut held: Vec<Connection> = (0..6)
        .map(|_| Connection::connect(&env.socket).unwrap())
        .collect();
    match Connection::connect(&env.socket) {
        Err(Error::Daemon { errno, message }) => {
            assert_eq!(errno, libc::EBUSY);
            assert!(message.contains("too many connections"), "{message}");
        }
        Err(e) => panic!("expected EBUSY, got {e}"),
        Ok(_) => panic!("a 7th connection was accepted"),
    }
    let o = env.run(&["list"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("too many connections")
            && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(env.daemon_log().contains("refused with EBUSY"));
    held.pop();
    // The daemon notices the closed connection on its next loop round.
    let t0 = Instant::now();
    loop {
        match Connection::connect(&env.socket) {
            Ok(_) => break,
            Err(e) => assert!(t0.elapsed() < Duration::from_secs(2), "{e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_client_flooding_requests_slows_only_itself() {
    let env = Env::start("limits-flood");
    let dev = env.ok(&["add", "-x", "1"]);
    let dev = dev.trim().to_string();
    let mut feed = env.spawn(&["feed", "--pattern", "counter", "--fps", "30", &dev]);
    std::thread::sleep(Duration::from_millis(300));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Two flooders issue QUERYCAP back to back on their own opens.
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            let socket = env.socket.clone();
            let dev = dev.clone();
            std::thread::spawn(move || {
                let mut v = VirtualFd::open_with(
                    Connection::connect(&socket).unwrap(),
                    &dev,
                    true,
                    false,
                    false,
                )
                .unwrap();
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut cap = v4l2_capability::default();
                    v.xioctl(VIDIOC_QUERYCAP, &mut cap).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    // A third pipelines requests without ever reading an answer: it is disconnected when its
    // socket fills, and never blocks the daemon.
    let piper = {
        let socket = env.socket.clone();
        std::thread::spawn(move || {
            let c = Connection::connect(&socket).unwrap();
            let mut sent = 0u32;
            for _ in 0..200_000 {
                if loopcam_proto::send(c.socket(), &loopcam_proto::Request::ListDevices, &[])
                    .is_err()
                {
                    break;
                }
                sent += 1;
            }
            sent
        })
    };
    let o = env.run(&["dump", "--count", "90", "--json", &dev]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let counts: Vec<u64> = flooders.into_iter().map(|t| t.join().unwrap()).collect();
    let sent = piper.join().unwrap();
    let _ = feed.kill();
    let _ = feed.wait();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(s["frames"], 90);
    assert_eq!(s["drops"], 0, "{s}");
    assert_eq!(s["corrupt"], 0, "{s}");
    assert!(s["fps"].as_f64().unwrap() > 25.0, "{s}");
    // The flooders got service too (each well over one request per frame).
    assert!(counts.iter().all(|n| *n > 300), "{counts:?}");
    assert!(
        sent < 200_000,
        "the pipelining client was never cut off ({sent} sent)"
    );
    eprintln!(
        "flood: QUERYCAP counts {counts:?}; pipeliner cut off after {sent} requests; consumer {s}"
    );
}
