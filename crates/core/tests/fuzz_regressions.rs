//! Inputs the fuzz targets and the property test found, replayed through the same world
//! (`testing::ops`) with the same checks; each failed before its fix.

use loopcam_core::testing::ops::{Op, World};
use loopcam_core::DeviceConfig;

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
