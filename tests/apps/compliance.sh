#!/usr/bin/env bash
# v4l2-compliance -s through `loopcam run`.
#  * strict single-reader mode (`loopcam add --strict`): 0 failures and 0 warnings, on the
#    capture side (exclusive caps, a producer streaming) and on the output side (no producer).
#  * default multi-reader mode: every failing test must be listed in
#    tests/apps/compliance-deviations.txt (documented deviations); any other failure fails.
. "$(dirname "$0")/lib.sh"
lc_require v4l2-compliance
DEVIATIONS=$LC_APPS_DIR/compliance-deviations.txt
[ -r "$DEVIATIONS" ] || lc_abort compliance-deviations "missing $DEVIATIONS"
lc_start_daemon

# Test names (the text between "test " and ": OK|FAIL") that failed, one per line.
failed_tests() { grep -aoE 'test [^:	]+: FAIL' "$1" | sed 's/^test //; s/: FAIL$//' | sort -u; }
# "Total for ...: T, Succeeded: S, Failed: F, Warnings: W" -> "T S F W"
totals() {
  sed -n 's/^Total for .*: \([0-9]*\), Succeeded: \([0-9]*\), Failed: \([0-9]*\), Warnings: \([0-9]*\).*/\1 \2 \3 \4/p' "$1" | tail -n 1
}
# The documented deviations: first field of every non-comment line (comments start with #).
deviations() { sed 's/#.*//; s/[[:space:]]*$//; s/^[[:space:]]*//' "$DEVIATIONS" | grep -v '^$' | sort -u; }

# run_compliance NAME DEV : v4l2-compliance -s on DEV, output in $LC_TMP/NAME.txt; sets T S F W.
run_compliance() {
  local name=$1 dev=$2 rc
  timeout -k 5 180 "$LOOPCAM_BIN" run -- v4l2-compliance -d "$dev" -s >"$LC_TMP/$name.txt" 2>&1
  rc=$?
  read -r T S F W <<<"$(totals "$LC_TMP/$name.txt")"
  if [ -z "${T:-}" ]; then
    fail "$name" "no 'Total for' line (exit $rc): $(tail -n 5 "$LC_TMP/$name.txt" | tr '\n' ' ')"
    return 1
  fi
  [ "$rc" -ne 124 ] || { fail "$name" "timed out after 180 s"; return 1; }
  return 0
}

# Failing tests with the lines v4l2-compliance printed before each (its reason).
explain() { grep -a -B3 ': FAIL' "$1" | grep -aE 'fail:|FAIL' | sed 's/^[[:space:]]*/  | /' | head -n 20; }

strict_check() { # NAME DEV
  local name=$1
  run_compliance "$@" || return
  if [ "$F" -ne 0 ]; then
    fail "$name" "$F failed of $T: $(failed_tests "$LC_TMP/$name.txt" | tr '\n' ';')"
    explain "$LC_TMP/$name.txt"
  elif [ "$W" -ne 0 ]; then
    fail "$name" "$W warnings: $(grep -a 'warn:' "$LC_TMP/$name.txt" | head -n 5 | tr '\n' ' ')"
  else
    ok "$name" "$S/$T succeeded, 0 warnings"
  fi
}

multi_check() { # NAME DEV
  local name=$1 undocumented
  run_compliance "$@" || return
  undocumented=$(comm -23 <(failed_tests "$LC_TMP/$name.txt") <(deviations) | tr '\n' ';')
  if [ "$F" -ne 0 ] && [ "$(failed_tests "$LC_TMP/$name.txt" | wc -l)" -eq 0 ]; then
    fail "$name" "$F failures counted but no 'test X: FAIL' line found"
  elif [ -n "$undocumented" ]; then
    fail "$name" "undocumented failures: $undocumented (of $F failed, $W warnings)"
    explain "$LC_TMP/$name.txt"
  else
    ok "$name" "$S/$T succeeded; documented deviations: $(failed_tests "$LC_TMP/$name.txt" | tr '\n' ';')${W:+ $W warnings}"
  fi
}

# Strict, capture side: exclusive caps and a streaming producer, so the node is capture-only.
lc_add_or_abort SCAP -n "loopcam compliance strict" -x 1 --strict
lc_feed feed-strict "$SCAP" --pattern counter --format YUYV --size 640x480 --fps 30 ||
  lc_abort compliance-feed "loopcam feed did not start on $SCAP"
strict_check compliance-strict-capture "$SCAP"

# Strict, output side: no producer, exclusive caps: the node is output-only.
lc_add_or_abort SOUT -n "loopcam compliance strict out" -x 1 --strict --caps YUYV:640x480@30
strict_check compliance-strict-output "$SOUT"

# Default multi-reader mode, capture side.
lc_add_or_abort MCAP -n "loopcam compliance multi" -x 1
lc_feed feed-multi "$MCAP" --pattern counter --format YUYV --size 640x480 --fps 30 ||
  lc_abort compliance-feed "loopcam feed did not start on $MCAP"
multi_check compliance-multi-capture "$MCAP"

# Default multi-reader mode, output side.
lc_add_or_abort MOUT -n "loopcam compliance multi out" -x 1 --caps YUYV:640x480@30
multi_check compliance-multi-output "$MOUT"

lc_finish
