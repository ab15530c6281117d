//! Producer and consumers through a real daemon, in one process (threads).

mod common;

use loopcam_abi::*;
use loopcam_client::{Consumer, Manager, Producer};
use loopcam_proto::DeviceSpec;

fn counter(n: u64, len: usize) -> Vec<u8> {
    let mut v = vec![(n as u8).wrapping_mul(7); len];
    v[..8].copy_from_slice(&n.to_le_bytes());
    v
}

#[test]
fn frames_flow_from_producer_to_consumer_in_order() {
    let _d = common::TestDaemon::start("flow");
    let mut m = Manager::connect().unwrap();
    let info = m.add(DeviceSpec::default()).unwrap();
    let path = info.nodes[0].clone();
    let mut p = Producer::open(&path, V4L2_PIX_FMT_YUYV, 320, 240, 30, 4).unwrap();
    let size = p.format().sizeimage as usize;
    assert_eq!(size, 320 * 240 * 2);
    let mut c = Consumer::open(&path, 4).unwrap();
    let consumer = std::thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < 50 {
            let f = c.next_frame().unwrap();
            let d = f.data();
            let n = u64::from_le_bytes(d[..8].try_into().unwrap());
            assert!(
                d[8..].iter().all(|b| *b == (n as u8).wrapping_mul(7)),
                "frame {n} intact"
            );
            got.push(n);
        }
        got
    });
    for n in 0..200u64 {
        let mut b = p.next_buffer().unwrap();
        b.data().copy_from_slice(&counter(n, size));
        b.publish(size as u32).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        if consumer.is_finished() {
            break;
        }
    }
    let got = consumer.join().unwrap();
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {got:?}");
}
