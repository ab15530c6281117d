#!/usr/bin/env bash
# Installs (with apt-get) every tool the real-application tests (scripts/app-tests.sh,
# tests/apps/*.sh) need. Idempotent: packages already installed are left alone.
# Exits non-zero with one line naming what is still missing afterwards.
# Usage: scripts/install-test-deps.sh        (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  # V4L2 tools: v4l2-ctl, v4l2-compliance
  v4l-utils
  # producers / consumers
  ffmpeg
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  ustreamer
  python3 python3-opencv python3-numpy
  chromium
  # harness helpers
  curl procps psmisc coreutils util-linux ca-certificates gcc libc6-dev file
)

# Commands (or, for python modules, "python3:MODULE") that must exist afterwards.
REQUIRED=(
  v4l2-ctl v4l2-compliance ffmpeg ffprobe gst-launch-1.0 gst-inspect-1.0 ustreamer
  /usr/bin/python3 chromium curl pgrep timeout setpriv gcc file
  python3:cv2 python3:numpy gst:v4l2src gst:v4l2sink
)

missing() {
  local out=() r
  for r in "${REQUIRED[@]}"; do
    case "$r" in
      python3:*) /usr/bin/python3 -c "import ${r#python3:}" >/dev/null 2>&1 || out+=("$r") ;;
      gst:*) command -v gst-inspect-1.0 >/dev/null 2>&1 && gst-inspect-1.0 "${r#gst:}" >/dev/null 2>&1 || out+=("$r") ;;
      /*) [ -x "$r" ] || out+=("$r") ;;
      *) command -v "$r" >/dev/null 2>&1 || out+=("$r") ;;
    esac
  done
  echo "${out[*]:-}"
}

if [ -z "$(missing)" ]; then
  echo "install-test-deps: everything already installed"
  exit 0
fi

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "install-test-deps: missing $(missing) and not root (no sudo)" >&2; exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing $(missing) and apt-get is not available" >&2; exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/install-test-deps.XXXXXX.log)
if ! "${SUDO[@]}" apt-get update -qq >"$log" 2>&1; then
  echo "install-test-deps: apt-get update failed (see $log)" >&2; exit 1
fi
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >>"$log" 2>&1; then
  echo "install-test-deps: apt-get install failed: $(tail -n 1 "$log") (see $log)" >&2; exit 1
fi

still=$(missing)
if [ -n "$still" ]; then
  echo "install-test-deps: still missing after apt-get install: $still" >&2
  exit 1
fi
rm -f "$log"
echo "install-test-deps: ok"
