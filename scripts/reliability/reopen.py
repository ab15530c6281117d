#!/usr/bin/env python3
"""An application that outlives the daemon (run under `loopcam run`, x86_64/aarch64 layouts).

Opens DEVICE, maps two capture buffers, then waits for "killed" on stdin (the script SIGKILLs
the daemon): QUERYCAP on the old fd must fail with ENODEV or EIO, the mapped buffers must stay
readable (no SIGBUS), munmap and close must not crash. Then waits for "restarted": a new open of
DEVICE must work again in the same process. Prints one line per step; exit 0 when all hold.
"""
import errno, fcntl, mmap, os, struct, sys

QUERYCAP = 0x80685600
REQBUFS = 0xC0145608
QUERYBUF = 0xC0585609
CAPTURE, MMAP = 1, 1
dev = sys.argv[1]


def querycap(fd):
    buf = bytearray(104)
    fcntl.ioctl(fd, QUERYCAP, buf)
    return buf[16:48].split(b"\0")[0].decode()


fd = os.open(dev, os.O_RDWR)
print("open ok:", querycap(fd), flush=True)
req = bytearray(struct.pack("IIII4x", 2, CAPTURE, MMAP, 0))
fcntl.ioctl(fd, REQBUFS, req)
maps = []
for i in range(struct.unpack_from("I", req, 0)[0]):
    b = bytearray(88)
    struct.pack_into("II", b, 0, i, CAPTURE)
    struct.pack_into("I", b, 60, MMAP)
    fcntl.ioctl(fd, QUERYBUF, b)
    off, length = struct.unpack_from("I", b, 64)[0], struct.unpack_from("I", b, 72)[0]
    maps.append(mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ, offset=off))
print("mapped", len(maps), "buffers", flush=True)
ok = True
sys.stdin.readline()  # "killed"
try:
    querycap(fd)
    print("FAIL: QUERYCAP on the old fd succeeded after the daemon died", flush=True)
    ok = False
except OSError as e:
    good = e.errno in (errno.ENODEV, errno.EIO)
    ok &= good
    print(("ok" if good else "FAIL") + ": old fd QUERYCAP ->", errno.errorcode.get(e.errno), flush=True)
total = sum(sum(m[:: 4096]) for m in maps)  # touch every page
print("ok: mappings still readable after the daemon died", flush=True)
for m in maps:
    m.close()
try:
    os.close(fd)
    print("ok: close", flush=True)
except OSError as e:
    print("ok: close ->", errno.errorcode.get(e.errno), flush=True)
sys.stdin.readline()  # "restarted"
try:
    fd = os.open(dev, os.O_RDWR)
    print("ok: reopen after restart:", querycap(fd), flush=True)
    os.close(fd)
except OSError as e:
    print("FAIL: reopen after restart ->", errno.errorcode.get(e.errno), e, flush=True)
    ok = False
sys.exit(0 if ok else 1)
