//! `loopcam-torture fuzz-seeds DIR`: writes the starting corpus of each fuzz target
//! (`fuzz/`, run by scripts/fuzz.sh) into `DIR/TARGET/`: well-formed protocol messages, and
//! the operation sequences of real client sessions (a producer and consumers streaming,
//! write()/read(), CREATE_BUFS, events, controls), encoded with the same code the targets
//! decode with (`loopcam_core::testing::ops`). libFuzzer mutates from there, which reaches
//! deep states far sooner than from random bytes.

use std::path::Path;

use anyhow::{Context, Result};
use bytemuck::bytes_of;
use loopcam_abi::*;
use loopcam_core::testing::ops::Op;
use loopcam_proto::{encode, BlockRef, DeviceInfo, DeviceSpec, Request, Response};

fn write(dir: &Path, target: &str, name: &str, data: &[u8]) -> Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    std::fs::write(d.join(name), data).with_context(|| format!("writing seed {name}"))
}

fn proto_seeds() -> Result<Vec<(String, Vec<u8>)>> {
    let requests = [
        Request::Hello { version: 2 },
        Request::AddDevice(DeviceSpec {
            label: Some("cam".into()),
            caps: Some("YUYV:640x480@30".into()),
            mode: Some(0o660),
            ..DeviceSpec::default()
        }),
        Request::ListDevices,
        Request::QueryDevice {
            device: "/dev/video7".into(),
        },
        Request::Open {
            device: "/dev/video7".into(),
            read: true,
            write: true,
        },
        Request::Ioctl {
            request: VIDIOC_DQBUF,
            arg: vec![0; 88],
            extra: vec![],
            wait: true,
            shown: vec![],
        },
        Request::Mmap {
            offset: 0,
            length: 614_400,
            prot_read: true,
            prot_write: false,
            shared: true,
        },
        Request::Read { count: 4096 },
        Request::CommitWrite { len: 614_400 },
        Request::Cancel,
    ];
    let block = Some(BlockRef { id: 3, size: 4096 });
    let responses = [
        Response::Error {
            errno: 22,
            message: "invalid".into(),
        },
        Response::Ok,
        Response::Devices(vec![DeviceInfo::default()]),
        Response::Ioctl {
            result: 0,
            copy_back: true,
            arg: vec![1; 88],
            extra: vec![],
            dqbuf_index: Some(1),
            block,
        },
        Response::Mapped {
            handle: 9,
            index: 0,
            block,
            private: true,
        },
        Response::ReadChunk {
            block,
            offset: 0,
            len: 100,
        },
    ];
    let mut out = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        // Requests that carry an fd in real use are declared with one (the target derives
        // the delivered count from the header half of the time).
        out.push((format!("request-{i}"), encode(r, 0)?));
    }
    for (i, r) in responses.iter().enumerate() {
        let nfds = usize::from(matches!(
            r,
            Response::Ioctl { .. } | Response::Mapped { .. } | Response::ReadChunk { .. }
        ));
        out.push((format!("response-{i}"), encode(r, nfds)?));
    }
    Ok(out)
}

fn raw<T: bytemuck::Pod>(k: usize, request: u32, arg: &T) -> Op {
    Op::Raw(k, request, bytes_of(arg).to_vec(), vec![], true)
}

/// Raw ioctls of a client session, opener 0 the producer and 1 the consumer of
/// `World::streaming`, 2 and 3 idle.
fn ioctl_session() -> Vec<Op> {
    let cap = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    let out = V4L2_BUF_TYPE_VIDEO_OUTPUT;
    let buf = |type_, index| v4l2_buffer {
        index,
        type_,
        memory: V4L2_MEMORY_MMAP,
        bytesused: if type_ == out { 6144 } else { 0 },
        field: V4L2_FIELD_NONE,
        ..Default::default()
    };
    let mut fmt = v4l2_format {
        type_: cap,
        ..Default::default()
    };
    fmt.set_pix(&v4l2_pix_format {
        width: 64,
        height: 48,
        pixelformat: V4L2_PIX_FMT_YUYV,
        ..Default::default()
    });
    let ctrls = v4l2_ext_controls {
        which: V4L2_CTRL_WHICH_CUR_VAL,
        count: 2,
        ..Default::default()
    };
    let c = |id, value64| v4l2_ext_control {
        id,
        value64,
        ..Default::default()
    };
    let array = [
        bytes_of(&c(loopcam_core::controls::CID_TIMEOUT, 100)),
        bytes_of(&c(loopcam_core::controls::CID_KEEP_FORMAT, 1)),
    ]
    .concat();
    vec![
        raw(2, VIDIOC_QUERYCAP, &v4l2_capability::default()),
        raw(
            2,
            VIDIOC_ENUM_FMT,
            &v4l2_fmtdesc {
                type_: cap,
                ..Default::default()
            },
        ),
        raw(2, VIDIOC_G_FMT, &fmt),
        raw(2, VIDIOC_TRY_FMT, &fmt),
        raw(1, VIDIOC_DQBUF, &buf(cap, 0)),
        raw(1, VIDIOC_QBUF, &buf(cap, 0)),
        raw(0, VIDIOC_DQBUF, &buf(out, 0)),
        raw(0, VIDIOC_QBUF, &buf(out, 0)),
        raw(1, VIDIOC_DQBUF, &buf(cap, 1)),
        raw(
            1,
            VIDIOC_EXPBUF,
            &v4l2_exportbuffer {
                type_: cap,
                index: 1,
                ..Default::default()
            },
        ),
        raw(
            2,
            VIDIOC_REQBUFS,
            &v4l2_requestbuffers {
                count: 3,
                type_: cap,
                memory: V4L2_MEMORY_MMAP,
                ..Default::default()
            },
        ),
        raw(
            3,
            VIDIOC_SUBSCRIBE_EVENT,
            &v4l2_event_subscription {
                type_: V4L2_EVENT_SOURCE_CHANGE,
                flags: V4L2_EVENT_SUB_FL_SEND_INITIAL,
                ..Default::default()
            },
        ),
        raw(3, VIDIOC_DQEVENT, &v4l2_event::default()),
        Op::Raw(
            3,
            VIDIOC_S_EXT_CTRLS,
            bytes_of(&ctrls).to_vec(),
            array,
            true,
        ),
        raw(0, VIDIOC_STREAMOFF, &out),
        raw(1, VIDIOC_STREAMOFF, &cap),
    ]
}

/// Operation sequences of typical sessions for `core_ops`.
fn core_sessions() -> Vec<Vec<Op>> {
    let mmap_pair = vec![
        Op::SFmt(0, true, 0),
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
        Op::Dqbuf(1, false),
        Op::Dqbuf(0, true),
        Op::Qbuf(1, false, 0),
        Op::Produce(0, 0),
        Op::Dqbuf(1, false),
    ];
    let mut fan_out = mmap_pair.clone();
    fan_out.extend([
        Op::Reqbufs(3, false, 2),
        Op::Qbuf(3, false, 0),
        Op::StreamOn(3, false),
        Op::Produce(0, 1),
        Op::Dqbuf(3, false),
        Op::Close(1),
        Op::SFmt(0, true, 1),
        Op::Advance(40),
    ]);
    let file_io = vec![
        Op::SFmt(0, true, 1),
        Op::Write(0),
        Op::Read(1, 100),
        Op::Read(1, 1_000_000),
        Op::Write(0),
        Op::WriteLen(0, 5),
        Op::Read(1, 1),
        Op::Poll(1, 0),
    ];
    let create = vec![
        Op::SFmt(0, true, 0),
        Op::Reqbufs(0, true, 2),
        Op::Mmap(0, 0),
        Op::Mmap(0, 1),
        Op::StreamOn(0, true),
        Op::CreateBufs(1, false, 2, 40000),
        Op::Mmap(1, 0),
        Op::Qbuf(1, false, 0),
        Op::StreamOn(1, false),
        Op::Produce(0, 0),
        Op::Dqbuf(1, false),
        Op::MmapRaw(1, 0, 4096, false, true),
        Op::Munmap(0),
        Op::CreateBufs(0, true, 2, 0),
    ];
    let events = vec![
        Op::Subscribe(1, 0),
        Op::Subscribe(1, 1),
        Op::Subscribe(2, 2),
        Op::DqEvent(1),
        Op::Ctrl(1, 100),
        Op::Ctrl(0, 1),
        Op::SFmt(0, true, 2),
        Op::Write(0),
        Op::Advance(200),
        Op::DqEvent(1),
        Op::Close(0),
        Op::DqEvent(1),
    ];
    vec![mmap_pair, fan_out, file_io, create, events]
}

/// Writes every target's seeds under `dir`; returns how many files.
pub fn run(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for (name, data) in proto_seeds()? {
        write(dir, "proto_decode", &name, &data)?;
        n += 1;
    }
    for flags in [0u8, 3] {
        let mut data = vec![flags];
        data.extend(Op::encode_raw_all(&ioctl_session()));
        write(dir, "ioctl_dispatch", &format!("session-{flags}"), &data)?;
        for (i, ops) in core_sessions().iter().enumerate() {
            let mut data = vec![flags];
            data.extend(Op::encode_all(ops));
            write(dir, "core_ops", &format!("session-{i}-{flags}"), &data)?;
            n += 1;
        }
        n += 1;
    }
    Ok(n)
}
