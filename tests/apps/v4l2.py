"""Minimal V4L2 bindings for the app tests' own small programs (x86_64 / aarch64, LP64).

Everything goes through libc (fcntl.ioctl, os.read, mmap.mmap, select.*), so under `loopcam
run` these programs exercise the LD_PRELOAD library exactly like any C application.
"""
import fcntl
import mmap
import os
import struct

_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(d, nr, size):
    return (d << 30) | (size << 16) | (ord("V") << 8) | nr


BUF_TYPE_VIDEO_CAPTURE = 1
MEMORY_MMAP = 1
CAP_VIDEO_CAPTURE = 0x1
CAP_READWRITE = 0x01000000
CAP_STREAMING = 0x04000000
CAP_DEVICE_CAPS = 0x80000000

# struct v4l2_buffer (88 bytes on LP64): index, type, bytesused, flags, field, pad,
# timestamp (2 x long), timecode (16 bytes), sequence, memory, m (8), length, reserved2,
# request_fd/reserved, pad.
BUFFER = struct.Struct("=IIIII4xqq16sII8sIIi4x")
assert BUFFER.size == 88
REQBUFS_S = struct.Struct("=IIIIB3x")  # count, type, memory, capabilities, flags(u8), reserved[3]
assert REQBUFS_S.size == 20
FORMAT_SIZE = 208  # struct v4l2_format: type (4) + pad (4) + union (200)

VIDIOC_QUERYCAP = _ioc(_IOC_READ, 0, 104)
VIDIOC_G_FMT = _ioc(_IOC_READ | _IOC_WRITE, 4, FORMAT_SIZE)
VIDIOC_REQBUFS = _ioc(_IOC_READ | _IOC_WRITE, 8, REQBUFS_S.size)
VIDIOC_QUERYBUF = _ioc(_IOC_READ | _IOC_WRITE, 9, BUFFER.size)
VIDIOC_QBUF = _ioc(_IOC_READ | _IOC_WRITE, 15, BUFFER.size)
VIDIOC_DQBUF = _ioc(_IOC_READ | _IOC_WRITE, 17, BUFFER.size)
VIDIOC_STREAMON = _ioc(_IOC_WRITE, 18, 4)
VIDIOC_STREAMOFF = _ioc(_IOC_WRITE, 19, 4)


class Buffer:
    """A decoded struct v4l2_buffer."""

    def __init__(self, raw):
        (self.index, self.type, self.bytesused, self.flags, self.field, self.sec, self.usec, _tc,
         self.sequence, self.memory, m, self.length, _r2, _rq) = BUFFER.unpack(raw)
        self.offset = struct.unpack_from("=I", m)[0]


def buffer_arg(index=0, memory=MEMORY_MMAP, btype=BUF_TYPE_VIDEO_CAPTURE):
    return bytearray(BUFFER.pack(index, btype, 0, 0, 0, 0, 0, b"", 0, memory, b"", 0, 0, 0))


def querycap(fd):
    a = bytearray(104)
    fcntl.ioctl(fd, VIDIOC_QUERYCAP, a)
    driver, card, bus = (bytes(a[o:o + n]).split(b"\0")[0].decode() for o, n in ((0, 16), (16, 32), (48, 32)))
    version, caps, device_caps = struct.unpack_from("=III", a, 80)
    return {"driver": driver, "card": card, "bus_info": bus, "capabilities": caps, "device_caps": device_caps}


def g_fmt(fd, btype=BUF_TYPE_VIDEO_CAPTURE):
    """(width, height, pixelformat, bytesperline, sizeimage) of the current format."""
    a = bytearray(FORMAT_SIZE)
    struct.pack_into("=I", a, 0, btype)
    fcntl.ioctl(fd, VIDIOC_G_FMT, a)
    w, h, pf, _field, bpl, size = struct.unpack_from("=IIIIII", a, 8)
    return w, h, pf, bpl, size


def reqbufs(fd, count, memory=MEMORY_MMAP, btype=BUF_TYPE_VIDEO_CAPTURE):
    a = bytearray(REQBUFS_S.pack(count, btype, memory, 0, 0))
    fcntl.ioctl(fd, VIDIOC_REQBUFS, a)
    return REQBUFS_S.unpack(a)[0]


def querybuf(fd, index):
    a = buffer_arg(index)
    fcntl.ioctl(fd, VIDIOC_QUERYBUF, a)
    return Buffer(a)


def qbuf(fd, index):
    a = buffer_arg(index)
    fcntl.ioctl(fd, VIDIOC_QBUF, a)


def dqbuf(fd):
    """Raises BlockingIOError (EAGAIN) on a non-blocking fd with nothing ready."""
    a = buffer_arg()
    fcntl.ioctl(fd, VIDIOC_DQBUF, a)
    return Buffer(a)


def streamon(fd, btype=BUF_TYPE_VIDEO_CAPTURE):
    fcntl.ioctl(fd, VIDIOC_STREAMON, struct.pack("=I", btype))


def streamoff(fd, btype=BUF_TYPE_VIDEO_CAPTURE):
    fcntl.ioctl(fd, VIDIOC_STREAMOFF, struct.pack("=I", btype))


def map_buffers(fd, count):
    """QUERYBUF + mmap each buffer; returns the mmap objects (index order)."""
    maps = []
    for i in range(count):
        b = querybuf(fd, i)
        maps.append(mmap.mmap(fd, b.length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=b.offset))
    return maps


def open_dev(path, nonblock=False):
    return os.open(path, os.O_RDWR | (os.O_NONBLOCK if nonblock else 0))
