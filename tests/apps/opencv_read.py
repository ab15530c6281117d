"""Reads frames from a V4L2 device with OpenCV's VideoCapture (CAP_V4L2 backend).

usage: opencv_read.py DEV COUNT WIDTH HEIGHT bgr|raw [OUT]

bgr: frames as OpenCV delivers them by default (converted to BGR); each must be HxWx3.
raw: CAP_PROP_CONVERT_RGB off: the driver's YUYV bytes, written back to back to OUT for
     `loopcam verify`; each must be W*H*2 bytes.
Prints one summary line: frames=N bad=N shape=... and exits non-zero on any problem.
"""
import sys
import time

import cv2


def main():
    dev, count, w, h, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    out = open(sys.argv[6], "wb") if mode == "raw" else None
    cap = cv2.VideoCapture(dev, cv2.CAP_V4L2)
    if not cap.isOpened():
        print("error: VideoCapture(%s, CAP_V4L2) did not open" % dev)
        return 1
    cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"YUYV"))
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
    if mode == "raw":
        cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
    got_w, got_h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    frames = bad = 0
    first_bad = None
    t0 = time.monotonic()
    for i in range(count):
        ok, f = cap.read()
        if not ok or f is None:
            print("error: read() failed at frame %d" % i)
            break
        frames += 1
        if mode == "raw":
            data = f.tobytes()
            if len(data) != w * h * 2:
                bad += 1
                first_bad = first_bad or "frame %d: %d bytes (shape %s), expected %d" % (i, len(data), f.shape, w * h * 2)
            out.write(data)
        elif f.shape != (h, w, 3):
            bad += 1
            first_bad = first_bad or "frame %d: shape %s, expected %s" % (i, f.shape, (h, w, 3))
    secs = time.monotonic() - t0
    cap.release()
    if out:
        out.close()
    print("frames=%d bad=%d size=%dx%d seconds=%.2f%s" % (frames, bad, got_w, got_h, secs,
                                                          " first_bad=" + first_bad if first_bad else ""))
    return 0 if frames == count and bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
