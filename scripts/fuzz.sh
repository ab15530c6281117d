#!/usr/bin/env bash
# Runs the cargo-fuzz (libFuzzer) targets of fuzz/ for a bounded time each.
#   proto_decode    the wire-protocol decoder on arbitrary datagrams
#   ioctl_dispatch  every ioctl request number with arbitrary argument bytes and sizes,
#                   from four openers of a streaming device, invariants checked after each
#   core_ops        the device model under arbitrary operation sequences from six openers
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET[:RUNS]...]
#   RUNS          stop a target after this many inputs (else only the time bounds it)
#   FUZZ_SEED=N   libFuzzer's random seed (default: a new one each run)
#   FUZZ_FRESH=1  start from the seeds alone, in a temporary corpus (fuzz/corpus untouched)
# scripts/test.sh runs a fixed budget (seed 1, fresh corpus, RUNS inputs per target) so runs
# are comparable across machines; they are not bit-identical (hash-map iteration order
# differs per process and steers coverage). Long exploring runs use a random seed and keep
# their corpus (docs/FUZZING.md).
# Inputs are at most FUZZ_MAX_LEN bytes (default 512: short operation sequences run fast and
# found more than long ones). The corpus grows in fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET, written first); a crash leaves its
# input in fuzz/artifacts/TARGET and this script prints how to reproduce it. Ends with one
# line "fuzz: N passed, N failed" (one per target).
#
# cargo-fuzz needs rustc's unstable flags: on the stable toolchain RUSTC_BOOTSTRAP=1 allows
# them. No sanitizer is used (Rust code without unsafe at these entry points; the panics and
# the world checks are the oracle), which also keeps the run fast on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(proto_decode ioctl_dispatch core_ops)

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked --quiet || { echo "fuzz: could not install cargo-fuzz"; echo "fuzz: 0 passed, ${#targets[@]} failed"; exit 1; }
fi

# Seeds: well-formed messages and real client sessions, encoded by the code the targets
# decode with (loopcam-torture fuzz-seeds), regenerated each run so they track the formats.
if ! cargo run --quiet -p loopcam-torture -- fuzz-seeds fuzz/seeds; then
  echo "fuzz: could not write the seed corpus"; echo "fuzz: 0 passed, ${#targets[@]} failed"; exit 1
fi

FLAGS=(-O -a --sanitizer none)   # optimised, with debug assertions (overflow checks)
cd fuzz
if ! cargo fuzz build "${FLAGS[@]}" 2>&1 | tail -n 3; then
  echo "fuzz: build failed"; echo "fuzz: 0 passed, ${#targets[@]} failed"; exit 1
fi

corpus_root=corpus
if [ "${FUZZ_FRESH:-0}" = 1 ]; then
  corpus_root=$(mktemp -d)
  trap 'rm -rf "$corpus_root"' EXIT
fi
extra=()
[ -n "${FUZZ_SEED:-}" ] && extra+=(-seed="$FUZZ_SEED")

passed=0
failed=0
for spec in "${targets[@]}"; do
  t=${spec%%:*}
  limit=()
  [ "$spec" != "$t" ] && limit=(-runs="${spec#*:}")
  mkdir -p "$corpus_root/$t" "seeds/$t" "artifacts/$t"
  log=$(mktemp)
  # -timeout: one input that runs 10 s is a hang; -rss_limit_mb: a leak or an unbounded
  # allocation is a failure too.
  cargo fuzz run "${FLAGS[@]}" "$t" "$corpus_root/$t" "seeds/$t" -- \
    -max_total_time="$secs" -max_len="${FUZZ_MAX_LEN:-512}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${limit[@]}" "${extra[@]}" >"$log" 2>&1
  rc=$?
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
  rate=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+' || echo "?")
  corpus=$(find "$corpus_root/$t" -type f | wc -l)
  seed=$(grep -Eo 'Seed: [0-9]+' "$log" | head -n 1 | grep -Eo '[0-9]+' || echo "?")
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz $t: ok, ${runs} inputs (at most ${secs} s, ${rate}/s, seed ${seed}), coverage ${cov} edges, corpus ${corpus}"
  else
    failed=$((failed + 1))
    echo "fuzz $t: FAILED (exit $rc) after ${runs} inputs"
    grep -E "panicked at|^[a-z].*: .*|Failing input|artifacts/" "$log" | grep -v '^INFO' | head -n 12 | sed 's/^/  /'
    art=$(grep -Eo "artifacts/$t/[a-z]+-[0-9a-f]+" "$log" | head -n 1)
    [ -n "$art" ] && echo "  reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run ${FLAGS[*]} $t $art)"
    echo "  or the whole run: FUZZ_SEED=${seed} FUZZ_FRESH=${FUZZ_FRESH:-0} scripts/fuzz.sh ${secs} ${spec}"
  fi
  rm -f "$log"
done
echo "fuzz: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
