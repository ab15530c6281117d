//! End-to-end smoke test of the model: one MMAP producer, two MMAP consumers.

use loopcam_abi::*;
use loopcam_core::testing::{check_counter, Harness};
use loopcam_core::Dir;

#[test]
fn producer_to_two_consumers_in_order_and_intact() {
    let mut h = Harness::default_device();
    let p = h.producer(640, 480, V4L2_PIX_FMT_YUYV, 4);
    let c1 = h.consumer(4);
    let c2 = h.consumer(2);
    let size = h.dev.format().sizeimage as usize;
    assert_eq!(size, 640 * 480 * 2);
    let mut next = [0u32; 2];
    let mut got = [Vec::new(), Vec::new()];
    for n in 0..20u64 {
        // Producer: a free buffer is either never queued (n < 4) or dequeued.
        let index = if n < 4 {
            n as u32
        } else {
            h.dqbuf(p, Dir::Output).unwrap().index
        };
        h.produce(p, index, n).unwrap();
        h.dev.check_invariants().unwrap();
        for (k, c) in [c1, c2].into_iter().enumerate() {
            // c2 is slow: it only drains every other frame.
            if k == 1 && n % 2 == 1 {
                continue;
            }
            while let Ok(b) = h.dqbuf(c, Dir::Capture) {
                let data = h.view(c, b.index, b.bytesused as usize).unwrap();
                let frame = check_counter(&data).expect("intact frame");
                assert!(b.sequence >= next[k], "sequence increases");
                next[k] = b.sequence + 1;
                got[k].push(frame);
                h.qbuf(c, Dir::Capture, b.index, 0).unwrap();
            }
            h.dev.check_invariants().unwrap();
        }
    }
    assert_eq!(got[0], (0..20).collect::<Vec<_>>());
    assert!(got[1].windows(2).all(|w| w[0] < w[1]));
    assert!(got[1].len() >= 10);
    h.close(p);
    h.close(c1);
    h.close(c2);
    h.dev.check_invariants().unwrap();
}
