//! Bad input on the daemon socket: every malformed message gets a clear error, the offender is
//! disconnected, and everyone else keeps being served.

mod common;

use std::os::fd::AsFd;
use std::time::Duration;

use loopcam_abi::*;
use loopcam_client::{Connection, Consumer, Manager, Producer};
use loopcam_proto::{Request, Response};
use rustix::net::{
    connect, recv, send, socket_with, AddressFamily, RecvFlags, SendFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};

fn raw_socket(path: &std::path::Path) -> std::os::fd::OwnedFd {
    let s = socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    connect(&s, &SocketAddrUnix::new(path).unwrap()).unwrap();
    s
}

/// Sends raw bytes; returns the decoded answer (if any) and whether the daemon then closed.
fn exchange(path: &std::path::Path, data: &[u8]) -> (Option<Response>, bool) {
    let s = raw_socket(path);
    // Room for the oversized case (the default send buffer would refuse it locally).
    let _ = rustix::net::sockopt::set_socket_send_buffer_size(&s, 4 << 20);
    send(&s, data, SendFlags::NOSIGNAL).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut answer = None;
    let n = recv(&s, &mut buf, RecvFlags::empty())
        .map(|(n, _)| n)
        .unwrap_or(0);
    if n > 0 {
        answer = loopcam_proto::decode::<Response>(&buf[..n], 0).ok();
    }
    let closed = matches!(recv(&s, &mut buf, RecvFlags::empty()), Ok((0, _)) | Err(_));
    (answer, closed)
}

fn is_eproto(r: &Option<Response>) -> bool {
    matches!(r, Some(Response::Error { errno: 71, message }) if !message.is_empty())
}

#[test]
fn garbage_truncated_and_oversized_messages_are_refused_and_the_daemon_survives() {
    let d = common::TestDaemon::start("abuse");
    let mut m = Manager::connect().unwrap();
    let dev = m.add(Default::default()).unwrap().nodes[0].clone();
    // A healthy producer/consumer pair runs throughout.
    let mut p = Producer::open(&dev, V4L2_PIX_FMT_YUYV, 64, 48, 30, 2).unwrap();
    let mut c = Consumer::open(&dev, 2).unwrap();

    let good = loopcam_proto::encode(&Request::ListDevices, 0).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"hello, daemon".to_vec()),
        ("empty header", vec![]),
        ("wrong magic", [b"XXXX".as_slice(), &good[4..]].concat()),
        ("wrong version", [&good[..4], &[9, 0], &good[6..]].concat()),
        ("truncated body", good[..good.len() - 1].to_vec()),
        ("fd count lie", [&good[..6], &[1, 0], &good[8..]].concat()),
        ("trailing bytes", [good.as_slice(), &[0, 0, 0]].concat()),
        ("huge varint", [&good[..8], &[0xff; 16]].concat()),
    ];
    // Larger than MAX_MESSAGE: the kernel delivers it truncated to the daemon's buffer.
    cases.push(("oversized", vec![0x41; loopcam_proto::MAX_MESSAGE + 4096]));
    for (what, data) in &cases {
        let (answer, closed) = exchange(&d.socket, data);
        if !data.is_empty() {
            assert!(is_eproto(&answer), "{what}: got {answer:?}");
        }
        assert!(closed, "{what}: the offender is disconnected");
        // Others are unaffected.
        let mut b = p.next_buffer().unwrap();
        b.data()[0] = 1;
        b.publish(64 * 48 * 2).unwrap();
        let f = c.next_frame().unwrap();
        assert_eq!(f.data()[0], 1, "{what}");
    }
    // A request before Hello, and an opener request on a management connection.
    let s = raw_socket(&d.socket);
    loopcam_proto::send(&s, &Request::ListDevices, &[]).unwrap();
    let r = loopcam_proto::recv(&s, RecvFlags::empty())
        .unwrap()
        .unwrap();
    assert!(matches!(
        r.decode::<Response>().unwrap(),
        Response::Error { errno: 71, .. }
    ));
    let mut conn = Connection::connect(&d.socket).unwrap();
    let (r, _) = conn.call(&Request::Read { count: 10 }, &[]).unwrap();
    assert!(matches!(r, Response::Error { errno: 9, .. }), "{r:?}");
    // Unknown device.
    let e = loopcam_client::VirtualFd::open("/dev/video999", true, true, false)
        .err()
        .unwrap();
    assert!(e.to_string().contains("no such device"), "{e}");
    assert_eq!(m.list().unwrap().len(), 1, "still serving");
}

#[test]
fn consumer_works_non_blocking_through_its_pollable_fd() {
    let _d = common::TestDaemon::start("nonblock");
    let dev = Manager::connect()
        .unwrap()
        .add(Default::default())
        .unwrap()
        .nodes[0]
        .clone();
    let mut p = Producer::open(&dev, V4L2_PIX_FMT_GREY, 32, 32, 30, 2).unwrap();
    let mut c = Consumer::open(&dev, 2).unwrap();
    c.set_nonblocking(true).unwrap();
    assert!(c.next_frame().is_err(), "EAGAIN when nothing is ready");
    let readable = |c: &Consumer, ms: i64| {
        let fd = c.fd();
        let mut pfd = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        rustix::event::poll(
            &mut pfd,
            Some(&rustix::time::Timespec {
                tv_sec: ms / 1000,
                tv_nsec: (ms % 1000) * 1_000_000,
            }),
        )
        .unwrap()
            == 1
    };
    assert!(!readable(&c, 50), "not readable before a frame");
    let mut b = p.next_buffer().unwrap();
    b.data().fill(7);
    b.publish(32 * 32).unwrap();
    assert!(
        readable(&c, 1000),
        "readable after a frame (an async runtime waits exactly like this)"
    );
    assert_eq!(c.next_frame().unwrap().data()[5], 7);
    assert!(!readable(&c, 50), "not readable once drained");
    let _ = p.fd().as_fd();
    std::thread::sleep(Duration::from_millis(1));
}
