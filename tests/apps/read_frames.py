"""Captures frames with plain read() (V4L2 read/write I/O), as the simplest V4L2 readers do.

usage: read_frames.py DEV COUNT OUT

Checks QUERYCAP's READWRITE capability, takes the frame size from G_FMT, then reads COUNT
frames with one read(sizeimage) each (every read must return a whole frame) and writes them
back to back to OUT. Prints frames=N short_reads=N and exits non-zero on any problem.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import v4l2  # noqa: E402


def main():
    dev, count, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fd = v4l2.open_dev(dev)
    cap = v4l2.querycap(fd)
    caps = cap["device_caps"] if cap["capabilities"] & v4l2.CAP_DEVICE_CAPS else cap["capabilities"]
    if not caps & v4l2.CAP_READWRITE:
        print("error: no V4L2_CAP_READWRITE in 0x%08x" % caps)
        return 1
    w, h, _pf, _bpl, size = v4l2.g_fmt(fd)
    frames = short = 0
    with open(out_path, "wb") as out:
        while frames < count:
            data = os.read(fd, size)
            if len(data) != size:
                short += 1
                print("error: read() returned %d bytes, expected %d" % (len(data), size))
                if short > 3:
                    break
                continue
            out.write(data)
            frames += 1
    os.close(fd)
    print("frames=%d short_reads=%d size=%dx%d sizeimage=%d" % (frames, short, w, h, size))
    return 0 if frames == count and short == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
