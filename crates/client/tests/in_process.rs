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

fn qbuf(v: &mut loopcam_client::VirtualFd, index: u32) {
    let mut q = v4l2_buffer {
        index,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    v.xioctl(VIDIOC_QBUF, &mut q).unwrap();
}

/// A consumer may write into its (private) buffer mapping; the next frame in that buffer shows
/// the producer's pixels, never the consumer's writes — also when the frame comes in the very
/// memory block the buffer showed before (the client skips the remap only for mappings that
/// hold no private copy of a page). Read-only mappings, and writable ones the application only
/// read, get every frame intact without a remap once each buffer shows its block.
#[test]
fn a_consumer_never_sees_its_own_writes_in_a_later_frame() {
    use loopcam_client::VirtualFd;
    use rustix::mm::ProtFlags;
    let _d = common::TestDaemon::start("private-writes");
    let mut m = Manager::connect().unwrap();
    let path = m.add(DeviceSpec::default()).unwrap().nodes[0].clone();
    let mut p = Producer::open(&path, V4L2_PIX_FMT_YUYV, 160, 120, 30, 2).unwrap();
    let size = p.format().sizeimage as usize;
    let rw = ProtFlags::READ | ProtFlags::WRITE;
    for (prot, writes) in [(rw, true), (rw, false), (ProtFlags::READ, false)] {
        // Read-write, as applications open a camera (a PROT_WRITE mapping needs it).
        let mut v = VirtualFd::open(&path, true, true, false).unwrap();
        // Two buffers each side: in lock step, buffer i gets the block of the producer's
        // buffer i every time, so the same block comes back to the same mapping.
        let mut r = v4l2_requestbuffers {
            count: 2,
            type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        v.xioctl(VIDIOC_REQBUFS, &mut r).unwrap();
        let mut maps = Vec::new();
        for i in 0..2 {
            let mut b = v4l2_buffer {
                index: i,
                type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
                ..Default::default()
            };
            v.xioctl(VIDIOC_QUERYBUF, &mut b).unwrap();
            let len = b.length as usize;
            maps.push((v.mmap(len, prot, true, b.m_offset().into()).unwrap(), len));
            qbuf(&mut v, i);
        }
        let mut t = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        v.xioctl(VIDIOC_STREAMON, &mut t).unwrap();
        for n in 0..8u64 {
            let mut out = p.next_buffer().unwrap();
            out.data().copy_from_slice(&counter(n, size));
            out.publish(size as u32).unwrap();
            let mut d = v4l2_buffer {
                type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            };
            v.xioctl(VIDIOC_DQBUF, &mut d).unwrap();
            let (ptr, len) = maps[d.index as usize];
            // SAFETY: the buffer is dequeued and mapped for `len` bytes by `v`.
            let data = unsafe { loopcam_client::mapping::buffer_slice(ptr, len) };
            assert!(
                data[..size] == counter(n, size)[..],
                "{prot:?}: frame {n} intact"
            );
            if writes {
                // SAFETY: as above, and the mapping is writable (a private copy).
                unsafe { loopcam_client::mapping::buffer_slice_mut(ptr, len) }.fill(0xEE);
            }
            qbuf(&mut v, d.index);
        }
        // Lock step: buffer i always gets the block of the producer's buffer i.
        let remaps = v.remap_count();
        if writes {
            assert_eq!(
                remaps, 8,
                "{prot:?}: a written buffer is remapped every frame"
            );
        } else {
            assert_eq!(remaps, 2, "{prot:?}: one remap per buffer, then none");
        }
    }
}

/// Protocol v3 `shown`: a DQBUF answer carries the frame's memfd unless the request said the
/// buffer's mappings show that block already — then the fd is left out, and only then.
#[test]
fn a_dqbuf_answer_leaves_out_the_memfd_only_for_a_block_the_buffer_shows() {
    use loopcam_client::Connection;
    use loopcam_proto::{Request, Response};
    let _d = common::TestDaemon::start("shown");
    let mut m = Manager::connect().unwrap();
    let path = m.add(DeviceSpec::default()).unwrap().nodes[0].clone();
    let mut p = Producer::open(&path, V4L2_PIX_FMT_YUYV, 160, 120, 30, 2).unwrap();
    let mut c = Connection::connect_default().unwrap();
    let opened = c.call(
        &Request::Open {
            device: path.clone(),
            read: true,
            write: false,
        },
        &[],
    );
    assert!(matches!(opened, Ok((Response::Opened { .. }, Some(_)))));
    let mut ioctl = |request: u32, arg: &[u8], shown: Vec<(u32, u64)>| match c.call(
        &Request::Ioctl {
            request,
            arg: arg.to_vec(),
            extra: Vec::new(),
            wait: false,
            shown,
        },
        &[],
    ) {
        Ok((
            Response::Ioctl {
                result: 0, block, ..
            },
            fd,
        )) => (block, fd),
        other => panic!("{}: {other:?}", ioctl_name(request).unwrap_or("ioctl")),
    };
    let reqbufs = v4l2_requestbuffers {
        count: 1,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    ioctl(VIDIOC_REQBUFS, bytemuck::bytes_of(&reqbufs), Vec::new());
    let buf = v4l2_buffer {
        index: 0,
        type_: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_MMAP,
        ..Default::default()
    };
    ioctl(VIDIOC_QBUF, bytemuck::bytes_of(&buf), Vec::new());
    let on = V4L2_BUF_TYPE_VIDEO_CAPTURE.to_le_bytes();
    ioctl(VIDIOC_STREAMON, &on, Vec::new());
    let mut first = None;
    let (mut without, mut with) = (0, 0);
    for n in 0..8u64 {
        let mut out = p.next_buffer().unwrap();
        let size = out.data().len();
        out.data().copy_from_slice(&counter(n, size));
        out.publish(size as u32).unwrap();
        // Claim that buffer 0 shows the first frame's block.
        let shown = first.map(|id| vec![(0, id)]).unwrap_or_default();
        let (block, fd) = ioctl(VIDIOC_DQBUF, bytemuck::bytes_of(&buf), shown);
        let id = block.expect("a DQBUF answer names its block").id;
        let expect_fd = first != Some(id);
        assert_eq!(fd.is_some(), expect_fd, "frame {n} in block {id}");
        if expect_fd {
            with += 1;
        } else {
            without += 1;
        }
        first.get_or_insert(id);
        ioctl(VIDIOC_QBUF, bytemuck::bytes_of(&buf), Vec::new());
    }
    // The producer's two buffers alternate: the first block comes back every other frame.
    assert!(
        with > 0 && without > 0,
        "{with} with, {without} without the fd"
    );
}
