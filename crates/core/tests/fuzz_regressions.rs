//! Inputs the fuzz targets and the property test found, replayed through the same world
//! (`testing::ops`) with the same checks; each failed before its fix.

use loopcam_abi::*;
use loopcam_core::device::poll::POLLOUT;
use loopcam_core::testing::ops::{Op, World};
use loopcam_core::testing::Harness;
use loopcam_core::{DeviceConfig, Dir, Errno};

fn replay(cfg: DeviceConfig, ops: &[Op]) {
    if let Err(e) = World::new(cfg).run(ops) {
        panic!("{e}");
    }
}

/// A consumer whose CREATE_BUFS asked for a sizeimage larger than the producer's frames was
/// handed the producer's (smaller) block at DQBUF: touching the end of its mapping would be
/// SIGBUS. It now gets memory of its own with the frame copied in.
#[test]
fn oversized_capture_buffer_is_never_mapped_over_a_smaller_block() {
    replay(
        DeviceConfig::default(),
        &[
            Op::SFmt(0, true, 0), // producer 64x48 YUYV: 6144-byte frames
            Op::Reqbufs(0, true, 2),
            Op::Mmap(0, 0),
            Op::Mmap(0, 1),
            Op::StreamOn(0, true),
            Op::CreateBufs(1, false, 2, 40000), // consumer buffers of 40000 bytes
            Op::Mmap(1, 0),
            Op::Qbuf(1, false, 0),
            Op::StreamOn(1, false),
            Op::Produce(0, 0),
            Op::Dqbuf(1, false),
            Op::Qbuf(1, false, 0),
            Op::Produce(0, 1),
            Op::Dqbuf(1, false),
        ],
    );
}

/// A producer frame larger than a read() consumer's buffer was queued to it with the ERROR
/// mark: poll said POLLIN but read() found nothing (EAGAIN), a busy loop for a poller.
/// read() consumers now miss such frames.
#[test]
fn read_consumer_is_not_woken_for_a_frame_it_cannot_read() {
    replay(
        DeviceConfig {
            exclusive_caps: false,
            strict_single_reader: false,
            ..DeviceConfig::default()
        },
        &[
            Op::SFmt(0, false, 0),
            Op::Read(3, 1),
            Op::Open,
            Op::Reqbufs(0, true, 1),
            Op::Close(1),
            Op::CreateBufs(4, true, 2, 6145),
            Op::Qbuf(4, true, 1),
            Op::Open,
            Op::StreamOn(0, true),
        ],
    );
}

/// A producer whose buffers are far larger than its frames (CREATE_BUFS with a 32 MiB
/// sizeimage for 6 KiB frames) left the last frame in a 32 MiB block after every opener had
/// closed. An idle device now keeps the last frame in a block of the frame's size.
#[test]
fn idle_device_keeps_the_last_frame_in_memory_of_its_size() {
    replay(
        DeviceConfig::default(),
        &[
            Op::SFmt(0, true, 0),
            Op::CreateBufs(0, true, 2, 33_619_968),
            Op::StreamOn(0, true),
            Op::Produce(0, 0),
        ],
    );
}

/// Bytes of one 64x48 YUYV frame's block.
const SMALL_BLOCK: u64 = 8192;

/// A producer at the memory limit got POLLOUT while its DQBUF failed with ENOMEM (the
/// published frame belongs to the consumers, so DQBUF needs fresh memory). Found by the
/// core_ops fuzz target in CI. With only the device's copy of the last frame left on the
/// published block, the producer now takes that block back.
#[test]
fn producer_at_the_memory_limit_takes_back_the_unshared_last_frame() {
    // The consumer's buffer is larger than the frames, so it gets memory of its own with the
    // frame copied in, filling the ceiling exactly: only the last frame refers to block 0.
    let x = loopcam_core::testing::ops::MEMORY_CEILING - 2 * SMALL_BLOCK;
    replay(
        DeviceConfig::default(),
        &[
            Op::SFmt(0, true, 0),
            Op::Reqbufs(0, true, 2),
            Op::Mmap(0, 0),
            Op::Mmap(0, 1),
            Op::StreamOn(0, true),
            Op::CreateBufs(1, false, 1, x as u32),
            Op::Qbuf(1, false, 0),
            Op::StreamOn(1, false),
            Op::Produce(0, 0),
            Op::Dqbuf(0, true),
            Op::Produce(0, 0),
        ],
    );
}

/// With every byte held by a consumer, the producer waits: no POLLOUT, DQBUF EAGAIN (a
/// blocking DQBUF parks), and it is woken when the consumer gives the frame back.
#[test]
fn producer_at_the_memory_limit_waits_for_a_consumer_to_return_memory() {
    let mut h = Harness::default_device();
    let p = h.producer(64, 48, V4L2_PIX_FMT_YUYV, 2);
    let c = h.consumer(2);
    h.dev.set_memory_ceiling(2 * SMALL_BLOCK);
    h.produce(p, 0, 1).expect("QBUF");
    let _ = h.dev.take_wakeups();
    assert_eq!(h.poll(p, POLLOUT) & POLLOUT, 0, "no memory: no POLLOUT");
    assert_eq!(h.dqbuf(p, Dir::Output).err(), Some(Errno::EAGAIN));
    let frame = h.dqbuf(c, Dir::Capture).expect("consumer DQBUF");
    assert!(
        !h.dev.take_wakeups().contains(&p),
        "still no memory while the consumer holds the frame"
    );
    h.qbuf(c, Dir::Capture, frame.index, 0)
        .expect("consumer QBUF");
    assert!(h.dev.take_wakeups().contains(&p), "the producer is woken");
    assert_ne!(h.poll(p, POLLOUT) & POLLOUT, 0);
    let b = h.dqbuf(p, Dir::Output).expect("producer DQBUF");
    assert_eq!(b.index, 0);
    // The memory stayed within the ceiling: the producer got the returned block back.
    assert!(h.dev.memory_bytes() <= 2 * SMALL_BLOCK);
    h.produce(p, 0, 2).expect("next frame");
}

/// The same for write(): a blocking write() waits for POLLOUT instead of failing ENOMEM.
#[test]
fn write_producer_at_the_memory_limit_waits_for_memory() {
    let mut h = Harness::default_device();
    let w = h.open();
    h.s_fmt(w, Dir::Output, 64, 48, V4L2_PIX_FMT_YUYV)
        .expect("S_FMT");
    let c = h.consumer(2);
    let frame = vec![7u8; 64 * 48 * 2];
    h.write(w, &frame).expect("first write");
    h.dev.set_memory_ceiling(SMALL_BLOCK);
    let _ = h.dev.take_wakeups();
    assert_eq!(h.poll(w, POLLOUT) & POLLOUT, 0);
    assert_eq!(h.write(w, &frame).err(), Some(Errno::EAGAIN));
    let held = h.dqbuf(c, Dir::Capture).expect("consumer DQBUF");
    h.qbuf(c, Dir::Capture, held.index, 0)
        .expect("consumer QBUF");
    assert!(h.dev.take_wakeups().contains(&w));
    assert_ne!(h.poll(w, POLLOUT) & POLLOUT, 0);
    h.write(w, &frame)
        .expect("write after the consumer returned the frame");
}

/// An fd without buffers shows POLLOUT while the output is free (it may write()); when
/// another opener claimed the output, that readiness ended without a wake-up, so the host
/// kept showing POLLOUT and a level-triggered poller spun on write() = EBUSY. Found by the
/// lost-wake-up check of the world (`take_wakeups` now reports every readiness change).
#[test]
fn claiming_the_output_wakes_the_other_openers() {
    let mut h = Harness::default_device();
    let idle = h.open();
    let _ = h.dev.take_wakeups();
    assert_ne!(h.dev.signal_readiness(idle) & POLLOUT, 0);
    let p = h.producer(64, 48, V4L2_PIX_FMT_YUYV, 2);
    assert_eq!(h.dev.signal_readiness(idle) & POLLOUT, 0);
    assert!(h.dev.take_wakeups().contains(&idle));
    let _ = p;
}

/// A false alarm of the world's own bookkeeping (core_ops, 2026-12-04): mapping a queued
/// capture buffer (no block: the client maps a placeholder) was checked against the block an
/// earlier DQBUF had shown in that buffer, long since freed. The harness now forgets a
/// buffer's block when a new mapping shows none.
#[test]
fn mapping_a_queued_capture_buffer_is_not_checked_against_a_freed_frame() {
    replay(
        World::fuzz_config(0), // 2 buffers
        &[
            Op::SFmt(0, true, 1),
            Op::Reqbufs(0, true, 2),
            Op::Mmap(0, 0),
            Op::Mmap(0, 1),
            Op::StreamOn(0, true),
            Op::Reqbufs(1, false, 3),
            Op::Mmap(1, 0),
            Op::Mmap(1, 1),
            Op::Qbuf(1, false, 0),
            Op::Qbuf(1, false, 1),
            Op::StreamOn(1, false),
            Op::Produce(0, 0),
            Op::Produce(0, 1),
            Op::Dqbuf(1, false), // the consumer's buffer 0 shows frame 0's block
            Op::Dqbuf(0, true),
            Op::Qbuf(1, false, 0), // given back: the buffer has no block any more
            Op::Produce(0, 2),
            Op::Close(0),         // the producer goes
            Op::SFmt(2, true, 0), // another opener changes the format: cached blocks freed
            Op::Mmap(0, 0),       // the consumer maps its queued buffer 0 again
        ],
    );
}
