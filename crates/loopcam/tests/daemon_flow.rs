//! Issue 3 acceptance: multi-process flows through a real daemon.

mod common;

use std::time::{Duration, Instant};

use common::{output_of, summary, wait_timeout, Env};

#[test]
fn producer_and_four_consumer_processes_get_every_frame_in_order_and_intact() {
    let e = Env::start("fanout");
    let dev = e.ok(&["add"]).trim().to_string();
    let mut feed = e.spawn(&[
        "feed",
        &dev,
        "--pattern",
        "counter",
        "--size",
        "1280x720",
        "--fps",
        "30",
        "--count",
        "420",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let consumers: Vec<_> = (0..4)
        .map(|_| e.spawn(&["dump", &dev, "--count", "300", "--verify", "--json"]))
        .collect();
    for mut c in consumers {
        let st = wait_timeout(&mut c, Duration::from_secs(60));
        let (out, err) = output_of(c);
        assert!(st.success(), "consumer failed: {err}");
        let s = summary(&out);
        assert_eq!(s["frames"], 300, "{err}");
        assert_eq!(s["corrupt"], 0, "content verified: {err}");
        assert_eq!(s["out_of_order"], 0, "{err}");
        // Each consumer re-queues at once and has 4 buffers at 30 fps: it never lacks a
        // queued buffer, so it must not miss a frame.
        assert_eq!(s["drops"], 0, "{err}");
    }
    wait_timeout(&mut feed, Duration::from_secs(30));
}

#[test]
fn killed_producer_is_replaced_within_a_second_and_consumers_continue() {
    let e = Env::start("killprod");
    let dev = e.ok(&["add"]).trim().to_string();
    let mut p1 = e.spawn(&["feed", &dev, "--pattern", "counter", "--fps", "30"]);
    std::thread::sleep(Duration::from_millis(300));
    let mut c = e.spawn(&["dump", &dev, "--count", "90", "--verify", "--json"]);
    std::thread::sleep(Duration::from_millis(700));
    p1.kill().unwrap(); // SIGKILL
    p1.wait().unwrap();
    let t0 = Instant::now();
    // A new producer must attach: retry for at most 1 s.
    let mut p2 = loop {
        let mut p = e.spawn(&[
            "feed",
            &dev,
            "--pattern",
            "counter",
            "--fps",
            "30",
            "--count",
            "200",
            "--start",
            "100000",
        ]);
        std::thread::sleep(Duration::from_millis(100));
        match p.try_wait().unwrap() {
            None => break p,
            Some(_) => {
                let (_, err) = output_of(p);
                assert!(
                    t0.elapsed() < Duration::from_secs(1),
                    "no new producer within 1 s: {err}"
                );
            }
        }
    };
    let st = wait_timeout(&mut c, Duration::from_secs(20));
    let (out, err) = output_of(c);
    assert!(st.success(), "{err}");
    let s = summary(&out);
    assert_eq!(s["frames"], 90);
    assert_eq!(s["corrupt"], 0, "{err}");
    let _ = p2.kill();
    let _ = p2.wait();
}

#[test]
fn killed_consumer_holding_buffers_stalls_nobody_and_its_memory_is_reclaimed() {
    let e = Env::start("killcons");
    let dev = e.ok(&["add"]).trim().to_string();
    let mut feed = e.spawn(&[
        "feed",
        &dev,
        "--pattern",
        "counter",
        "--size",
        "1280x720",
        "--fps",
        "30",
        "--count",
        "240",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let mem_before: u64 =
        serde_json::from_str::<serde_json::Value>(&e.ok(&["query", &dev, "--json"])).unwrap()
            ["memory_bytes"]
            .as_u64()
            .unwrap();
    // The victim holds its newest buffer for 10 s, so it holds frame memory when killed.
    let mut victim = e.spawn(&["dump", &dev, "--hold", "10000", "--buffers", "8"]);
    let mut healthy = e.spawn(&["dump", &dev, "--count", "150", "--verify", "--json"]);
    std::thread::sleep(Duration::from_millis(1500));
    victim.kill().unwrap();
    victim.wait().unwrap();
    let st = wait_timeout(&mut healthy, Duration::from_secs(20));
    let (out, err) = output_of(healthy);
    assert!(st.success(), "{err}");
    let s = summary(&out);
    assert_eq!(s["frames"], 150);
    assert_eq!(s["drops"], 0, "the healthy consumer never stalled: {err}");
    std::thread::sleep(Duration::from_millis(200));
    let q: serde_json::Value = serde_json::from_str(&e.ok(&["query", &dev, "--json"])).unwrap();
    assert_eq!(q["readers"], 0, "the killed consumer is gone");
    let mem_after = q["memory_bytes"].as_u64().unwrap();
    assert!(
        mem_after <= mem_before + 6 * 1843200,
        "held memory reclaimed: before {mem_before} after {mem_after}"
    );
    wait_timeout(&mut feed, Duration::from_secs(30));
}

#[test]
fn stopping_the_daemon_unblocks_a_waiting_client_within_a_second() {
    let mut e = Env::start("stopdaemon");
    let dev = e.ok(&["add"]).trim().to_string();
    // No producer: dump blocks in DQBUF.
    let mut c = e.spawn(&["dump", &dev, "--count", "1"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(c.try_wait().unwrap().is_none(), "dump waits for a frame");
    let t0 = Instant::now();
    e.kill_daemon();
    let st = wait_timeout(&mut c, Duration::from_secs(5));
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
    assert!(!st.success());
    let (_, err) = output_of(c);
    assert!(
        err.contains("No such device") || err.contains("ENODEV") || err.contains("closed"),
        "clean error: {err}"
    );
}

#[test]
fn seed_000_sequence_never_hands_out_a_held_buffer() {
    let e = Env::start("seed000");
    let dev = e.ok(&["add", "-x", "1"]).trim().to_string();
    e.ok(&["set-caps", &dev, "YUYV:1280x720@30/1"]);
    e.ok(&["set-fps", &dev, "30"]);
    let mut feed = e.spawn(&[
        "feed",
        &dev,
        "--pattern",
        "counter",
        "--size",
        "1280x720",
        "--fps",
        "10",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let secs = std::env::var("LOOPCAM_SEED_SECONDS").unwrap_or_else(|_| "30".into());
    let mut c = e.spawn(&[
        "dump",
        &dev,
        "--hold",
        "100",
        "--buffers",
        "2",
        "--duration",
        &secs,
        "--verify",
        "--json",
    ]);
    let st = wait_timeout(&mut c, Duration::from_secs(120));
    let (out, err) = output_of(c);
    assert!(st.success(), "{err}");
    let s = summary(&out);
    assert_eq!(s["held_returned"], 0, "{err}");
    assert_eq!(s["corrupt"], 0, "{err}");
    assert!(s["frames"].as_u64().unwrap() > 0);
    let _ = feed.kill();
    let _ = feed.wait();
}

#[test]
fn bad_input_gets_clear_errors_and_the_daemon_keeps_serving() {
    let e = Env::start("badinput");
    let dev = e.ok(&["add"]).trim().to_string();
    // Unknown device.
    let o = e.run(&["query", "/dev/video999"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no such device"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    // Impossible caps strings.
    for caps in [
        "YUYV",
        "FOO1:640x480@30",
        "YUYV:0x480@30",
        "YUYV:640x480@0",
        "NV12:641x481@30",
    ] {
        let o = e.run(&["set-caps", &dev, caps]);
        assert!(!o.status.success(), "{caps} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.starts_with("loopcam: ") && err.lines().count() == 1,
            "{caps}: {err}"
        );
    }
    let o = e.run(&["add", "--caps", "nonsense"]);
    assert!(!o.status.success());
    // An image that does not decode.
    let bad = e.dir.join("bad.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    let o = e.run(&["set-timeout-image", &dev, bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
    // Still serving.
    assert!(e.ok(&["list"]).contains(&dev));
}

#[test]
fn timeout_image_is_shown_to_consumers_without_a_producer() {
    let e = Env::start("timeoutimg");
    let dev = e
        .ok(&["add", "--caps", "YUYV:64x48@30", "--sustain-framerate"])
        .trim()
        .to_string();
    // A solid red PNG, 16x16.
    let png_path = e.dir.join("red.png");
    {
        let f = std::fs::File::create(&png_path).unwrap();
        let mut enc = png::Encoder::new(f, 16, 16);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[255, 0, 0].repeat(256)).unwrap();
    }
    e.ok(&[
        "set-timeout-image",
        "-t",
        "200",
        &dev,
        png_path.to_str().unwrap(),
    ]);
    let q: serde_json::Value = serde_json::from_str(&e.ok(&["query", &dev, "--json"])).unwrap();
    assert_eq!(q["timeout_ms"], 200);
    let out = e.dir.join("frames.raw");
    let mut c = e.spawn(&[
        "dump",
        &dev,
        "--count",
        "5",
        "--output",
        out.to_str().unwrap(),
        "--json",
    ]);
    let st = wait_timeout(&mut c, Duration::from_secs(10));
    let (so, err) = output_of(c);
    assert!(st.success(), "{err}");
    let s = summary(&so);
    assert_eq!(s["frames"], 5);
    assert_eq!(
        s["out_of_order"], 0,
        "placeholder frames have increasing sequence numbers"
    );
    let data = std::fs::read(&out).unwrap();
    let frame = 64 * 48 * 2;
    assert_eq!(data.len(), 5 * frame);
    // The square image is fitted into 64x48 (pillarboxed): the middle 40 columns are red.
    // YUYV of pure red in BT.601 limited range: Y≈81, U≈90, V≈240.
    for px in data[..frame]
        .chunks(128)
        .flat_map(|row| row[48..80].chunks(4))
    {
        assert!(
            (70..=92).contains(&px[0])
                && (80..=100).contains(&px[1])
                && (230..=250).contains(&px[3]),
            "not red: {px:?}"
        );
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn unprivileged_user_runs_the_whole_flow_with_a_per_user_socket() {
    // As root (CI), the flow runs as `nobody` through setpriv; otherwise as the current user.
    let e = Env::start("nonroot"); // only for the private directory and the serial lock
    let runtime = e.dir.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    if is_root() {
        let st = std::process::Command::new("chown")
            .args(["nobody:nogroup"])
            .arg(&runtime)
            .status()
            .unwrap();
        assert!(st.success());
        // The private test directory must be traversable by nobody.
        std::fs::set_permissions(&e.dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let as_user = |args: &[&str]| {
        let mut c = if is_root() {
            let mut c = std::process::Command::new("setpriv");
            c.args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                common::BIN,
            ]);
            c
        } else {
            std::process::Command::new(common::BIN)
        };
        c.args(args)
            .env_remove("LOOPCAM_SOCKET")
            .env("XDG_RUNTIME_DIR", &runtime);
        c
    };
    let mut daemon = as_user(&["daemon"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sock = runtime.join("loopcam.sock");
    let t0 = Instant::now();
    while !sock.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "per-user daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660, "socket mode 0660");
    if is_root() {
        assert_ne!(meta.uid(), 0, "the socket belongs to the unprivileged user");
    }
    let out = as_user(&["add"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        node.starts_with(runtime.to_str().unwrap()),
        "without root the node lives in the runtime dir: {node}"
    );
    let name = std::path::Path::new(&node)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // The /dev/videoN name is accepted too.
    let dev_name = format!("/dev/{name}");
    let q = as_user(&["query", &dev_name]).output().unwrap();
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    let mut feed = as_user(&[
        "feed",
        &dev_name,
        "--pattern",
        "counter",
        "--fps",
        "60",
        "--count",
        "200",
    ])
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let dump = as_user(&["dump", &node, "--count", "60", "--verify", "--json"])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let s = summary(&String::from_utf8_lossy(&dump.stdout));
    assert_eq!(s["frames"], 60);
    assert_eq!(s["corrupt"], 0);
    let _ = feed.wait();
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(&daemon),
        rustix::process::Signal::TERM,
    );
    wait_timeout(&mut daemon, Duration::from_secs(5));
    assert!(!sock.exists(), "the socket is removed on SIGTERM");
}

#[test]
fn as_root_devices_are_real_character_nodes_removed_on_delete() {
    if !is_root() {
        eprintln!("not root: /dev nodes are covered by the unprivileged test");
        return;
    }
    let mut e = Env::start("rootnodes");
    e.kill_daemon();
    let _ = std::fs::remove_file(&e.socket);
    // A daemon that makes nodes in /dev (the default as root).
    let mut d = e
        .cmd(&["daemon"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !e.socket.exists() {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let node = e.ok(&["add", "--split"]);
    let nodes: Vec<&str> = node.lines().collect();
    assert_eq!(
        nodes.len(),
        2,
        "split mode makes an output and a capture node"
    );
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for n in &nodes {
        assert!(n.starts_with("/dev/video"), "{n}");
        let m = std::fs::metadata(n).unwrap();
        assert!(m.file_type().is_char_device(), "{n} is a character device");
        assert_eq!(rustix::fs::major(m.rdev()), 81, "{n}: the V4L2 major");
    }
    e.ok(&["delete", nodes[0]]);
    for n in &nodes {
        assert!(!std::path::Path::new(n).exists(), "{n} removed on delete");
    }
    // Nodes of devices still present at shutdown are removed too.
    let again = e.ok(&["add"]).trim().to_string();
    assert!(std::path::Path::new(&again).exists());
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(&d),
        rustix::process::Signal::TERM,
    );
    wait_timeout(&mut d, Duration::from_secs(5));
    assert!(
        !std::path::Path::new(&again).exists(),
        "{again} removed at daemon exit"
    );
}

#[test]
fn demo_runs_and_stops_cleanly() {
    let e = Env::start("demo");
    let o = e.run(&["demo", "--duration", "2", "--size", "320x240"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("device"), "{out}");
    let err = String::from_utf8_lossy(&o.stderr);
    let fps: f64 = err
        .split("fps=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    assert!(fps > 20.0, "the demo produced frames at ~30 fps: {err}");
}

#[test]
fn feed_reads_y4m_and_raw_files_and_dump_writes_y4m() {
    use loopcam_media::{fourcc, layout, render, y4m_header, Pattern};
    let e = Env::start("files");
    let dev = e.ok(&["add"]).trim().to_string();
    let l = layout(fourcc::YU12, 320, 240).unwrap();
    let mut frame = vec![0u8; l.sizeimage];
    // A Y4M file of 40 counter frames; feed takes size, format and rate from its header.
    let y4m = e.dir.join("in.y4m");
    let mut data = y4m_header(320, 240, 30, 1, fourcc::YU12)
        .unwrap()
        .into_bytes();
    for n in 0..40 {
        render(&Pattern::Counter, &l, n, &mut frame).unwrap();
        data.extend_from_slice(b"FRAME\n");
        data.extend_from_slice(&frame);
    }
    std::fs::write(&y4m, &data).unwrap();
    let out = e.dir.join("out.y4m");
    let mut feed = e.spawn(&["feed", &dev, "--input", y4m.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(200));
    let mut c = e.spawn(&[
        "dump",
        &dev,
        "--count",
        "20",
        "--verify",
        "--json",
        "--output",
        out.to_str().unwrap(),
    ]);
    let st = wait_timeout(&mut c, Duration::from_secs(20));
    let (so, err) = output_of(c);
    assert!(st.success(), "{err}");
    let s = summary(&so);
    assert_eq!(s["frames"], 20);
    assert_eq!(s["corrupt"], 0, "{err}");
    let st = wait_timeout(&mut feed, Duration::from_secs(20));
    assert!(st.success());
    // The dump is a valid Y4M stream of 20 frames.
    let written = std::fs::read(&out).unwrap();
    assert!(
        written.starts_with(b"YUV4MPEG2 W320 H240 F30:1"),
        "{:?}",
        String::from_utf8_lossy(&written[..40])
    );
    assert_eq!(written.windows(6).filter(|w| w == b"FRAME\n").count(), 20);
    // Raw input: size and format from the command line.
    let raw = e.dir.join("in.raw");
    let mut rawdata = Vec::new();
    for n in 100..130 {
        render(&Pattern::Counter, &l, n, &mut frame).unwrap();
        rawdata.extend_from_slice(&frame);
    }
    std::fs::write(&raw, &rawdata).unwrap();
    let mut feed = e.spawn(&[
        "feed",
        &dev,
        "--input",
        raw.to_str().unwrap(),
        "--format",
        "YU12",
        "--size",
        "320x240",
        "--fps",
        "30",
    ]);
    let st = wait_timeout(&mut feed, Duration::from_secs(20));
    assert!(st.success());
    // A raw file whose length is not a whole number of frames is an error, not a hang.
    std::fs::write(&raw, &rawdata[..rawdata.len() - 7]).unwrap();
    let o = e.run(&[
        "feed",
        &dev,
        "--input",
        raw.to_str().unwrap(),
        "--format",
        "YU12",
        "--size",
        "320x240",
        "--fps",
        "300",
    ]);
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .filter(|l| l.starts_with("loopcam:"))
            .count(),
        1
    );
}
