//! The HTTP API against a loopcam device fed by a producer thread (embedded daemon): snapshot,
//! state, the stream under 20 clients, a client that reads nothing, pass-through of MJPEG,
//! drop-same-frames and the wire format ustreamer clients parse.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Content, Feeder, Mjpeg, TestDaemon};
use loopcam_abi::*;
use loopcam_media::Pattern;
use loopcam_stream::{serve, Backend, Handle, Listen, Source, StreamOptions};

fn options(device: &str) -> StreamOptions {
    StreamOptions {
        source: Source::Device {
            path: device.to_string(),
            backend: Backend::Auto,
        },
        listen: Listen::Tcp {
            host: "127.0.0.1".into(),
            port: 0,
        },
        ..StreamOptions::default()
    }
}

fn start(device: &str) -> Handle {
    let h = serve(options(device)).expect("serve");
    common::wait_online(h.url(), 10);
    h
}

#[test]
fn snapshot_is_a_jpeg_of_the_source_size_with_ustreamer_headers() {
    let d = TestDaemon::start("snapshot");
    let dev = d.add_device();
    let _feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_YUYV,
        640,
        480,
        30,
        Content::Pattern(Pattern::Bars),
    );
    let h = start(&dev);
    let r = common::get(h.url(), "/snapshot");
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Content-Type"), Some("image/jpeg"));
    assert_eq!(r.header("X-UStreamer-Online"), Some("true"));
    assert_eq!(r.header("X-UStreamer-Width"), Some("640"));
    assert_eq!(r.header("X-UStreamer-Height"), Some("480"));
    for name in [
        "Cache-Control",
        "Pragma",
        "Expires",
        "X-Timestamp",
        "X-UStreamer-Dropped",
        "X-UStreamer-Grab-Timestamp",
        "X-UStreamer-Encode-Begin-Timestamp",
        "X-UStreamer-Encode-End-Timestamp",
        "X-UStreamer-Expose-Begin-Timestamp",
        "X-UStreamer-Expose-Cmp-Timestamp",
        "X-UStreamer-Expose-End-Timestamp",
        "X-UStreamer-Send-Timestamp",
        "Date",
    ] {
        assert!(r.header(name).is_some(), "missing {name}: {:?}", r.headers);
    }
    assert_eq!(
        r.header("Content-Length")
            .map(|v| v.parse::<usize>().unwrap()),
        Some(r.body.len())
    );
    let (w, hh, rgb) = common::decode(&r.body);
    assert_eq!((w, hh), (640, 480), "snapshot size");
    common::check_bars(w, hh, &rgb, 20, false).expect("the test pattern");

    // mjpg-streamer compatibility and HEAD.
    let r2 = common::get(h.url(), "/?action=snapshot");
    assert_eq!(r2.header("Content-Type"), Some("image/jpeg"));
    let head = common::request(h.url(), "HEAD", "/snapshot");
    assert!(head.body.is_empty(), "HEAD has no body");
    assert_eq!(head.header("Content-Type"), Some("image/jpeg"));
    assert!(common::get(h.url(), "/nothing").status_line.contains("404"));
    assert!(common::request(h.url(), "POST", "/state")
        .status_line
        .contains("501"));
    h.stop();
}

#[test]
fn state_matches_the_source_and_lists_clients() {
    let d = TestDaemon::start("state");
    let dev = d.add_device();
    let _feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_YUYV,
        320,
        240,
        30,
        Content::Pattern(Pattern::Bars),
    );
    let h = start(&dev);
    let url = h.url().to_string();
    let reader = std::thread::spawn(move || {
        common::count_distinct(
            &url,
            "?key=abc&extra_headers=1",
            Duration::ZERO,
            Duration::from_millis(3500),
        )
    });
    std::thread::sleep(Duration::from_millis(2500));
    let s = common::state(h.url());
    assert_eq!(s["ok"], true);
    let r = &s["result"];
    assert_eq!(r["encoder"]["type"], "CPU");
    assert_eq!(r["encoder"]["quality"], 80);
    assert_eq!(r["source"]["resolution"]["width"], 320);
    assert_eq!(r["source"]["resolution"]["height"], 240);
    assert_eq!(r["source"]["online"], true);
    assert_eq!(r["source"]["desired_fps"], 0);
    let cfps = r["source"]["captured_fps"].as_u64().unwrap();
    assert!((25..=35).contains(&cfps), "captured_fps {cfps}: {s}");
    assert_eq!(r["stream"]["clients"], 1, "{s}");
    let qfps = r["stream"]["queued_fps"].as_u64().unwrap();
    assert!((20..=35).contains(&qfps), "queued_fps {qfps}: {s}");
    let stat = r["stream"]["clients_stat"].as_object().unwrap();
    assert_eq!(stat.len(), 1);
    let (id, c) = stat.iter().next().unwrap();
    assert!(u64::from_str_radix(id, 16).is_ok(), "hex client id {id}");
    assert_eq!(c["key"], "abc");
    assert_eq!(c["extra_headers"], true);
    assert_eq!(c["advance_headers"], false);
    assert_eq!(c["dual_final_frames"], false);
    assert_eq!(c["zero_data"], false);
    let fps = c["fps"].as_u64().unwrap();
    assert!((20..=35).contains(&fps), "client fps {fps}: {s}");
    reader.join().unwrap();
    // The client is gone once its connection is.
    let end = Instant::now() + Duration::from_secs(3);
    while common::state(h.url())["result"]["stream"]["clients"] != 0 {
        assert!(Instant::now() < end, "client not unregistered");
        std::thread::sleep(Duration::from_millis(50));
    }
    h.stop();
}

#[test]
fn twenty_clients_each_get_25_distinct_frames_per_second() {
    let d = TestDaemon::start("twenty");
    let dev = d.add_device();
    let _feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_YUYV,
        640,
        480,
        30,
        Content::Pattern(Pattern::Bars),
    );
    let h = start(&dev);
    let secs = 3.0;
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let url = h.url().to_string();
            std::thread::spawn(move || {
                common::count_distinct(
                    &url,
                    "",
                    Duration::from_millis(700),
                    Duration::from_secs_f64(secs),
                )
            })
        })
        .collect();
    let rates: Vec<f64> = clients
        .into_iter()
        .map(|c| c.join().unwrap().1 as f64 / secs)
        .collect();
    eprintln!("distinct frames/s per client (20 clients, 30 fps 640x480 YUYV source): {rates:.1?}");
    for (i, r) in rates.iter().enumerate() {
        assert!(
            *r >= 25.0,
            "client {i}: {r:.1} distinct frames/s (all: {rates:.1?})"
        );
    }
    h.stop();
}

#[test]
fn a_client_that_reads_nothing_costs_no_memory_and_others_keep_their_rate() {
    let d = TestDaemon::start("stalled");
    let dev = d.add_device();
    let _feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_YUYV,
        1280,
        720,
        30,
        Content::Pattern(Pattern::Bars),
    );
    // A long --server-timeout keeps the stalled client connected for the whole test.
    let h = serve(StreamOptions {
        server_timeout: Duration::from_secs(60),
        ..options(&dev)
    })
    .unwrap();
    common::wait_online(h.url(), 10);
    // The stalled client: asks for the stream and never reads.
    let mut stalled = TcpStream::connect(common::addr(h.url())).unwrap();
    write!(
        stalled,
        "GET /stream?key=stalled HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    .unwrap();
    let secs = 10.0;
    let others: Vec<_> = (0..3)
        .map(|_| {
            let url = h.url().to_string();
            std::thread::spawn(move || {
                common::count_distinct(
                    &url,
                    "",
                    Duration::from_millis(2000),
                    Duration::from_secs_f64(secs),
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2000));
    let frame_bytes = common::get(h.url(), "/snapshot").body.len();
    let rss0 = common::rss_kib();
    let mut peak = rss0;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs_f64(secs) {
        std::thread::sleep(Duration::from_millis(500));
        peak = peak.max(common::rss_kib());
    }
    let rss1 = common::rss_kib();
    let rates: Vec<f64> = others
        .into_iter()
        .map(|c| c.join().unwrap().1 as f64 / secs)
        .collect();
    let s = common::state(h.url());
    let stalled_fps = s["result"]["stream"]["clients_stat"]
        .as_object()
        .unwrap()
        .values()
        .find(|c| c["key"] == "stalled")
        .map(|c| c["fps"].as_u64().unwrap());
    let queued = 30.0 * secs * frame_bytes as f64 / 1024.0;
    eprintln!(
        "stalled client: VmRSS {rss0} KiB -> {rss1} KiB (peak {peak} KiB) over {secs} s; \
         one frame is {} KiB, a per-client queue would have grown by ~{queued:.0} KiB; \
         stalled client's fps {stalled_fps:?}; others' distinct frames/s {rates:.1?}",
        frame_bytes / 1024
    );
    // A queue of the frames the stalled client missed would add ~300 frames; allow a few
    // frames of allocator noise.
    let allowed = (8 * frame_bytes / 1024) as u64 + 2048;
    assert!(
        peak.saturating_sub(rss0) < allowed,
        "RSS grew by {} KiB (allowed {allowed})",
        peak - rss0
    );
    assert_eq!(
        stalled_fps,
        Some(0),
        "the stalled client is still connected and gets nothing"
    );
    for r in &rates {
        assert!(*r >= 25.0, "others' rates {rates:.1?}");
    }
    drop(stalled);
    h.stop();
}

#[test]
fn mjpeg_sources_pass_through_unchanged() {
    let d = TestDaemon::start("mjpeg");
    let dev = d.add_device();
    // Three distinct JPEGs, encoded by our own encoder from the bars.
    let l = loopcam_media::layout(V4L2_PIX_FMT_YUYV, 320, 240).unwrap();
    let f = loopcam_stream::SourceFormat {
        fourcc: V4L2_PIX_FMT_YUYV,
        width: 320,
        height: 240,
        bytesperline: 640,
        sizeimage: l.sizeimage as u32,
    };
    let mut enc = loopcam_stream::jpeg::JpegEncoder::new(70).unwrap();
    let jpegs: Vec<Vec<u8>> = (0..3)
        .map(|n| {
            let mut raw = vec![0; l.sizeimage];
            loopcam_media::render(&Pattern::Bars, &l, n * 20, &mut raw).unwrap();
            enc.encode(&f, &raw).unwrap()
        })
        .collect();
    let _feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_MJPEG,
        320,
        240,
        30,
        Content::Jpegs(jpegs.clone()),
    );
    let h = start(&dev);
    let s = common::state(h.url());
    assert_eq!(s["result"]["encoder"]["type"], "HW", "{s}");
    let mut m = Mjpeg::open(h.url(), "");
    for _ in 0..10 {
        let p = m.next().unwrap();
        assert!(
            jpegs.contains(&p.data),
            "a part that is not one of the source JPEGs"
        );
    }
    let snap = common::get(h.url(), "/snapshot");
    assert!(jpegs.contains(&snap.body));
    h.stop();
}

#[test]
fn drop_same_frames_and_dual_final_frames() {
    let d = TestDaemon::start("dropsame");
    let dev = d.add_device();
    let _feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_YUYV,
        320,
        240,
        30,
        Content::Pattern(Pattern::Solid {
            r: 10,
            g: 120,
            b: 200,
        }),
    );
    let h = serve(StreamOptions {
        drop_same_frames: 10,
        ..options(&dev)
    })
    .unwrap();
    common::wait_online(h.url(), 10);
    let secs = 3.0;
    let (plain, _) = common::count_distinct(
        h.url(),
        "",
        Duration::from_millis(300),
        Duration::from_secs_f64(secs),
    );
    let (dual, _) = common::count_distinct(
        h.url(),
        "?dual_final_frames=1",
        Duration::from_millis(300),
        Duration::from_secs_f64(secs),
    );
    let (plain, dual) = (plain as f64 / secs, dual as f64 / secs);
    eprintln!("identical 30 fps source, --drop-same-frames 10: {plain:.1} parts/s, with dual_final_frames {dual:.1}");
    // Every 11th identical frame is sent: ~2.7/s; dual_final_frames sends each twice.
    assert!((1.5..=4.5).contains(&plain), "plain {plain:.1}/s");
    assert!(
        dual > plain * 1.5 && dual < plain * 2.5,
        "dual {dual:.1}/s vs {plain:.1}/s"
    );
    let mut m = Mjpeg::open(h.url(), "?extra_headers=1");
    m.next().unwrap();
    let p = m.next().unwrap();
    assert_eq!(
        p.header("X-UStreamer-Dropped"),
        Some("0"),
        "sent right after exposure"
    );
    h.stop();
}

#[test]
fn stream_wire_format_is_ustreamers() {
    let d = TestDaemon::start("wire");
    let dev = d.add_device();
    let _feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_YUYV,
        320,
        240,
        30,
        Content::Pattern(Pattern::Bars),
    );
    let h = serve(StreamOptions {
        allow_origin: Some("*".into()),
        ..options(&dev)
    })
    .unwrap();
    common::wait_online(h.url(), 10);
    let mut m = Mjpeg::open(h.url(), "?key=k1&extra_headers=1");
    assert_eq!(m.status_line, "HTTP/1.0 200 OK");
    let hd = |n: &str| {
        m.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        hd("Content-Type").as_deref(),
        Some("multipart/x-mixed-replace;boundary=boundarydonotcross")
    );
    assert_eq!(hd("Access-Control-Allow-Origin").as_deref(), Some("*"));
    let cookie = hd("Set-Cookie").unwrap();
    assert!(cookie.starts_with("stream_client=k1/"), "{cookie}");
    assert!(cookie.ends_with("; path=/; max-age=30"), "{cookie}");
    assert_eq!(hd("Pragma").as_deref(), Some("no-cache"));
    let p = m.next().unwrap();
    assert_eq!(p.header("Content-Type"), Some("image/jpeg"));
    for n in [
        "X-Timestamp",
        "X-UStreamer-Online",
        "X-UStreamer-Dropped",
        "X-UStreamer-Width",
        "X-UStreamer-Height",
        "X-UStreamer-Client-FPS",
        "X-UStreamer-Grab-Time",
        "X-UStreamer-Encode-Begin-Time",
        "X-UStreamer-Encode-End-Time",
        "X-UStreamer-Expose-Begin-Time",
        "X-UStreamer-Expose-Cmp-Time",
        "X-UStreamer-Expose-End-Time",
        "X-UStreamer-Send-Time",
        "X-UStreamer-Latency",
    ] {
        assert!(p.header(n).is_some(), "part header {n}: {:?}", p.headers);
    }
    assert_eq!(p.header("X-UStreamer-Width"), Some("320"));
    let latency: f64 = p.header("X-UStreamer-Latency").unwrap().parse().unwrap();
    assert!((0.0..1.0).contains(&latency), "latency {latency}");

    // advance_headers: each JPEG is followed by the boundary and the next part's headers.
    let mut s = TcpStream::connect(common::addr(h.url())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /stream?advance_headers=1 HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    while buf.windows(2).filter(|w| w == &[0xFF, 0xD9]).count() < 2 {
        let n = std::io::Read::read(&mut s, &mut chunk).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let after_head = text.split_once("\r\n\r\n").unwrap().1;
    assert!(
        after_head.starts_with("--boundarydonotcross\r\nContent-Type: image/jpeg\r\nX-Timestamp: "),
        "{:?}",
        &after_head[..80]
    );
    assert!(
        !text.contains("Content-Length"),
        "no Content-Length with advance_headers"
    );
    let eoi = buf.windows(2).position(|w| w == [0xFF, 0xD9]).unwrap();
    assert!(buf[eoi + 2..]
        .starts_with(b"\r\n--boundarydonotcross\r\nContent-Type: image/jpeg\r\nX-Timestamp: "));

    // The viewer page.
    let v = common::get(h.url(), "/");
    assert!(v.header("Content-Type").unwrap().starts_with("text/html"));
    let page = String::from_utf8(v.body).unwrap();
    assert!(
        page.contains("stream?") && page.contains("state"),
        "viewer uses /stream and /state"
    );
    h.stop();
}

#[test]
fn desired_fps_limits_encoding() {
    let d = TestDaemon::start("desiredfps");
    let dev = d.add_device();
    let _feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_YUYV,
        320,
        240,
        30,
        Content::Pattern(Pattern::Bars),
    );
    let h = serve(StreamOptions {
        desired_fps: 10,
        ..options(&dev)
    })
    .unwrap();
    common::wait_online(h.url(), 10);
    let (_, distinct) = common::count_distinct(
        h.url(),
        "",
        Duration::from_millis(500),
        Duration::from_secs(2),
    );
    let fps = distinct as f64 / 2.0;
    let s = common::state(h.url());
    eprintln!("--desired-fps 10 on a 30 fps source: {fps:.1} distinct frames/s");
    assert!((8.0..=12.0).contains(&fps), "{fps:.1} frames/s");
    assert_eq!(s["result"]["source"]["desired_fps"], 10);
    let cfps = s["result"]["source"]["captured_fps"].as_u64().unwrap();
    assert!(cfps >= 25, "capture still runs at the source rate: {cfps}");
    h.stop();
}

#[test]
fn unix_socket_listener() {
    let d = TestDaemon::start("unix");
    let dev = d.add_device();
    let _feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_YUYV,
        320,
        240,
        30,
        Content::Pattern(Pattern::Bars),
    );
    let path = d.dir.join("stream.sock");
    // A stale socket file from a previous run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let h = serve(StreamOptions {
        listen: Listen::Unix {
            path: path.clone(),
            remove: false,
            mode: Some(0o660),
        },
        ..options(&dev)
    })
    .unwrap();
    assert_eq!(h.url(), format!("unix:{}", path.display()));
    let snapshot = || {
        let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
        write!(s, "GET /snapshot HTTP/1.0\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut buf).unwrap();
        assert!(buf.starts_with(b"HTTP/1.1 200 OK\r\n"));
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let online = String::from_utf8_lossy(&buf[..split]).contains("X-UStreamer-Online: true");
        (online, buf[split + 4..].to_vec())
    };
    let t = Instant::now();
    let body = loop {
        let (online, body) = snapshot();
        if online {
            break body;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "never online");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(common::decode(&body).0, 320);
    h.stop();
    assert!(!path.exists(), "the socket file is removed on stop");
}

#[test]
fn a_producer_changing_format_is_followed() {
    let d = TestDaemon::start("fmtchange");
    let dev = d.add_device();
    let mut feed = Feeder::start(
        &dev,
        V4L2_PIX_FMT_YUYV,
        320,
        240,
        30,
        Content::Pattern(Pattern::Bars),
    );
    let h = start(&dev);
    let mut m = Mjpeg::open(h.url(), "?extra_headers=1");
    assert_eq!(m.next().unwrap().header("X-UStreamer-Width"), Some("320"));
    feed.stop();
    let _feed2 = Feeder::start(
        &dev,
        V4L2_PIX_FMT_NV12,
        640,
        360,
        30,
        Content::Pattern(Pattern::Bars),
    );
    let t = Instant::now();
    loop {
        let p = m.next().unwrap();
        if p.header("X-UStreamer-Online") == Some("true")
            && p.header("X-UStreamer-Width") == Some("640")
        {
            let (w, hh, rgb) = common::decode(&p.data);
            assert_eq!((w, hh), (640, 360));
            common::check_bars(w, hh, &rgb, 20, false).unwrap();
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the new format never showed up"
        );
    }
    eprintln!(
        "new producer format streamed {:?} after the switch",
        t.elapsed()
    );
    let s = common::state(h.url());
    assert_eq!(s["result"]["source"]["resolution"]["width"], 640);
    h.stop();
}
