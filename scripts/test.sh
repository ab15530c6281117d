#!/usr/bin/env bash
# The full test suite: formatting, lints, and every test of the workspace.
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

step "cargo test --workspace"
cargo test --workspace 2>&1 | tee target/test-output.txt

# Summary line in the plain "N passed, N failed" form, summed over every test binary.
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' target/test-output.txt | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' target/test-output.txt | awk '{s+=$1} END {print s+0}')
echo
echo "tests: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
