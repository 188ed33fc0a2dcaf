#!/usr/bin/env bash
# limits.sh: redzone mode under an address-space limit (rz_limits.c).
# usage: limits.sh PROGRAM /path/to/libmalloc.so MODE
set -euo pipefail
PROG=$1 LIB=$2 MODE=$3
WORK=$(mktemp -d /tmp/lm_rzlimits.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
rc=0
LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:detect_leaks=1 timeout 50 "$PROG" "$MODE" >"$WORK/out" 2>"$WORK/err" || rc=$?
fail() {
  echo "FAIL ($MODE): $1" >&2
  head -n 40 "$WORK/out" "$WORK/err" >&2
  exit 1
}
case $MODE in
  ring-retry)
    [[ $rc -eq 0 ]] || fail "status $rc"
    grep -qx "handed back 0" "$WORK/out" || fail "freed blocks came back at once: the quarantine is off";;
  shrink-nomem)
    [[ $rc -eq 0 ]] || fail "status $rc"
    grep -qx "shrink: ok" "$WORK/out" || fail "a shrinking realloc failed";;
  reclaim)
    [[ $rc -eq 0 ]] || fail "status $rc"
    grep -qx "after freeing: ok" "$WORK/out" || fail "malloc failed after everything was freed";;
  leak-nomem)
    grep -q "^libmalloc: redzone: the leak check could not run" "$WORK/err" || fail "no word that the leak check did not run";;
  *) fail "unknown mode";;
esac
echo "ok ($MODE)"
