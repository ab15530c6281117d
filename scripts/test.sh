#!/usr/bin/env bash
# The full test suite: formatting, lints, every Rust test of the workspace, then the
# real-application tests (v4l2-ctl, v4l2-compliance, ffmpeg, GStreamer, ustreamer, OpenCV,
# Chromium, ...) through `loopcam run`, as root and — when run as root — again as an
# unprivileged user. The applications must be installed (scripts/install-test-deps.sh; CI
# does it in .ci/run): a missing tool is a failure, never a skip.
# Usage: scripts/test.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --workspace (the CLI and the preload library the app tests use)"
cargo build --workspace

mkdir -p target
rm -f target/test-output.txt target/app-tests.txt target/app-tests-nobody.txt target/reliability.txt target/fuzz.txt
status=0

step "cargo test --workspace"
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt || status=1

step "real-application tests"
scripts/app-tests.sh --no-build 2>&1 | tee target/app-tests.txt || status=1

if [ "$(id -u)" = 0 ]; then
  step "real-application tests as an unprivileged user"
  scripts/app-tests.sh --no-build --as-user nobody 2>&1 | tee target/app-tests-nobody.txt || status=1
fi

step "reliability checks (quick: stress, kill, soak, isolation, preload-stress, daemon failure)"
scripts/reliability.sh --quick --no-build 2>&1 | tee target/reliability.txt || status=1

step "fuzzing: a fixed budget per cargo-fuzz target (docs/FUZZING.md)"
FUZZ_SEED=1 FUZZ_FRESH=1 scripts/fuzz.sh 120 proto_decode:30000000 ioctl_dispatch:200000 core_ops:30000 2>&1 \
  | tee target/fuzz.txt || status=1

step "quick benchmark (checks every row runs; figures are not asserted)"
target/debug/loopcam bench --quick 2>/dev/null | tee target/bench-quick.txt || { echo "bench --quick failed"; status=1; }

# One closing line in the plain "N passed, N failed" form, summed over every test binary
# and every application check.
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' target/test-output.txt | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' target/test-output.txt | awk '{s+=$6} END {print s+0}')
# add_summary LABEL FILE [optional]: adds the last "LABEL: N passed, N failed" line of FILE; a
# missing line is a failure (an optional FILE that does not exist is skipped).
add_summary() {
  local label=$1 f=$2 line
  if [ "${3:-}" = optional ] && [ ! -f "$f" ]; then return; fi
  line=$(grep -E "^$label: [0-9]+ passed, [0-9]+ failed" "$f" 2>/dev/null | tail -n 1 || true)
  if [ -z "$line" ]; then
    failed=$((failed + 1))
    return
  fi
  line=${line#"$label: "}
  passed=$((passed + $(echo "$line" | awk '{print $1}')))
  failed=$((failed + $(echo "$line" | awk '{print $3}')))
}
add_summary "app tests" target/app-tests.txt optional
add_summary "app tests" target/app-tests-nobody.txt optional
add_summary reliability target/reliability.txt
add_summary fuzz target/fuzz.txt
echo
echo "tests: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
