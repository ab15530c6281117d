"""The seed-003 scenario: readiness notification when the fd is watched while a frame is
already ready, first for EPOLLPRI only, then for EPOLLIN.

usage: seed003.py DEV MODE ITERATIONS OUT      MODE: epoll-lt | epoll-et | select | poll

A capture consumer (MMAP, 4 buffers, O_NONBLOCK) starts streaming and waits until frames are
ready; then it watches the fd for priority events only (nothing must hang), switches to
input readiness, and runs ITERATIONS times: wait (1 s timeout) -> DQBUF -> QBUF. Every
iteration must get a frame within 1 s. Frames are written to OUT for `loopcam verify`.
Prints one summary line and exits non-zero on any failure.
"""
import os
import select
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import v4l2  # noqa: E402


class Waiter:
    """One of epoll (level- or edge-triggered), select or poll, watching one fd."""

    def __init__(self, mode, fd):
        self.mode, self.fd = mode, fd
        et = select.EPOLLET if mode == "epoll-et" else 0
        self.et = et
        if mode.startswith("epoll"):
            self.ep = select.epoll()
            self.ep.register(fd, select.EPOLLPRI | et)
        elif mode == "poll":
            self.p = select.poll()
            self.p.register(fd, select.POLLPRI)
        elif mode != "select":
            raise SystemExit("unknown mode " + mode)

    def wait_pri(self, timeout):
        """Waits for priority events only; returns a description of what was reported."""
        if self.mode.startswith("epoll"):
            return str(self.ep.poll(timeout))
        if self.mode == "poll":
            return str(self.p.poll(timeout * 1000))
        return str(select.select([], [], [self.fd], timeout))

    def want_in(self):
        if self.mode.startswith("epoll"):
            self.ep.modify(self.fd, select.EPOLLIN | select.EPOLLPRI | self.et)
        elif self.mode == "poll":
            self.p.modify(self.fd, select.POLLIN | select.POLLPRI)

    def wait_in(self, timeout):
        """True if input readiness was reported within timeout seconds."""
        if self.mode.startswith("epoll"):
            return any(ev & select.EPOLLIN for _, ev in self.ep.poll(timeout))
        if self.mode == "poll":
            return any(ev & select.POLLIN for _, ev in self.p.poll(timeout * 1000))
        r, _, _ = select.select([self.fd], [], [], timeout)
        return bool(r)


def main():
    dev, mode, iterations, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    fd = v4l2.open_dev(dev, nonblock=True)
    n = v4l2.reqbufs(fd, 4)
    maps = v4l2.map_buffers(fd, n)
    for i in range(n):
        v4l2.qbuf(fd, i)
    v4l2.streamon(fd)
    # A frame is ready before the fd is watched (the producer runs at 30 fps).
    time.sleep(0.3)
    w = Waiter(mode, fd)
    pri = w.wait_pri(0.1)
    w.want_in()
    timeouts = eagain = 0
    worst = 0.0
    errors = []
    with open(out_path, "wb") as out:
        for it in range(iterations):
            t0 = time.monotonic()
            got = False
            while time.monotonic() - t0 < 1.0:
                if not w.wait_in(max(0.0, 1.0 - (time.monotonic() - t0))):
                    break
                try:
                    b = v4l2.dqbuf(fd)
                except BlockingIOError:
                    eagain += 1  # readiness without a frame: wait again within the same second
                    continue
                out.write(maps[b.index][:b.bytesused])
                v4l2.qbuf(fd, b.index)
                got = True
                break
            dt = time.monotonic() - t0
            worst = max(worst, dt)
            if not got:
                timeouts += 1
                if len(errors) < 3:
                    errors.append("iteration %d: no frame within 1 s" % it)
    v4l2.streamoff(fd)
    os.close(fd)
    print("mode=%s iterations=%d timeouts=%d spurious_wakeups=%d worst_wait_ms=%.0f pri_only=%s%s" % (
        mode, iterations, timeouts, eagain, worst * 1000, pri, (" errors: " + "; ".join(errors)) if errors else ""))
    return 0 if timeouts == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
