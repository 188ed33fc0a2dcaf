#!/usr/bin/env bash
# heap_check.sh: libmalloc_heap_check() with many findings and racing with
# frees (rz_heap_check.c), halt_on_error=0: each problem reported once.
# usage: heap_check.sh PROGRAM /path/to/libmalloc.so MODE
set -euo pipefail
PROG=$1 LIB=$2 MODE=$3
WORK=$(mktemp -d /tmp/lm_rzcheck.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
rc=0
LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:halt_on_error=0:quarantine_mb=4 timeout 60 "$PROG" "$MODE" \
  >"$WORK/out" 2>"$WORK/err" || rc=$?
fail() {
  echo "FAIL ($MODE): $1" >&2
  head -n 20 "$WORK/out" >&2
  grep -m 20 "ERROR: libmalloc" "$WORK/err" >&2 || true
  exit 1
}
[[ $rc -eq 0 ]] || fail "status $rc"
reports=$(grep -c "ERROR: libmalloc: heap-buffer-overflow" "$WORK/err" || true)
others=$(grep -c "ERROR: libmalloc" "$WORK/err" || true)
[[ $others -eq $reports ]] || fail "$((others - reports)) report(s) of another kind"
case $MODE in
  many)
    grep -qx "heap check: -1" "$WORK/out" || fail "the check did not return -1"
    [[ $reports -eq 17 ]] || fail "$reports reports for 17 problems"
    [[ $(grep -c "found by libmalloc_heap_check()" "$WORK/err") -eq 15 ]] || fail "the check did not report 15"
    [[ $(grep -c "found at exit" "$WORK/err") -eq 2 ]] || fail "the exit check did not report the last 2";;
  header)
    grep -qx "heap checks: -1 0 0" "$WORK/out" || fail "the checks did not return -1 0 0"
    [[ $reports -eq 1 ]] || fail "$reports reports of one damaged header";;
  race)
    grep -qx "overflows: 2000" "$WORK/out" || fail "no end line"
    [[ $reports -eq 2000 ]] || fail "$reports reports for 2000 overflows";;
  *) fail "unknown mode";;
esac
echo "ok ($MODE): $reports reports"
