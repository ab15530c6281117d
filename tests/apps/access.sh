#!/usr/bin/env bash
# Access control seen by a real application: v4l2-ctl through `loopcam run` gets "Permission
# denied" (EACCES from open()) on a device whose owner/group/mode do not let it in, and works
# on one that does. As root the application runs as a second, unprivileged user (uid 4002) that
# shares the socket's group with the device owner (uid 4001) — the issue's "second user" test;
# without root the device's owner bits are checked against the user itself (the kernel's rule:
# the owner class applies to the owner).
. "$(dirname "$0")/lib.sh"
lc_require v4l2-ctl setpriv

if [ "$(id -u)" = 0 ]; then
  G=4242 OWNER=4001 OTHER=4002
  lc_start_daemon --socket-group "$G"
  as_owner() { setpriv --reuid="$OWNER" --regid="$G" --clear-groups "$@"; }
  # The owner creates the devices (through the CLI, as itself).
  lc_add_owner() { as_owner "$LOOPCAM_BIN" add -x 1 "$@"; }
  closed=$(lc_add_owner --mode 0600) || lc_abort access-add "add --mode 0600 failed"
  open_=$(lc_add_owner --mode 0660) || lc_abort access-add "add --mode 0660 failed"
  LC_NODES+=("$closed" "$open_")
  RUNNER=(setpriv --reuid="$OTHER" --regid="$G" --clear-groups)
  who="uid $OTHER (group $G) on devices of uid $OWNER"
else
  lc_start_daemon
  lc_add_or_abort closed -x 1 --mode 0000
  lc_add_or_abort open_ -x 1 --mode 0600
  RUNNER=()
  who="the owner itself"
fi
info "checking as $who"

sock_mode=$(stat -c %a "$LOOPCAM_SOCKET")
check access-socket-not-world "socket mode $sock_mode gives others access" \
  test "$((8#$sock_mode & 8#007))" -eq 0

out=$LC_TMP/denied.txt
timeout -k 5 20 "${RUNNER[@]}" "$LOOPCAM_BIN" run -- v4l2-ctl -d "$closed" --all >"$out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "Permission denied" "$out"; then
  ok access-denied-eacces "v4l2-ctl exit $rc: $(grep -m1 'Permission denied' "$out")"
else
  fail access-denied-eacces "v4l2-ctl on $closed: exit $rc, no 'Permission denied'"; lc_tail "$out"
fi

out=$LC_TMP/allowed.txt
timeout -k 5 20 "${RUNNER[@]}" "$LOOPCAM_BIN" run -- v4l2-ctl -d "$open_" --all >"$out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "Driver name *: " "$out"; then
  ok access-allowed
else
  fail access-allowed "v4l2-ctl on $open_: exit $rc"; lc_tail "$out"
fi

# The refusal is in the daemon's log, with who and why.
check access-logged "no 'refused with EACCES' line in the daemon log" \
  grep -q "refused with EACCES" "$LC_TMP/daemon.log"

lc_finish
