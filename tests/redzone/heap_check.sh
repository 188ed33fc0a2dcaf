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
kind=heap-buffer-overflow
[[ $MODE == late-free ]] && kind=bad-free
reports=$(grep -c "ERROR: libmalloc: $kind" "$WORK/err" || true)
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
  restore)
    grep -qx "heap checks: -1 0" "$WORK/out" || fail "the checks did not return -1 0"
    [[ $reports -eq 1 ]] || fail "$reports reports of one damaged header, mended";;
  exit-many)
    [[ $reports -eq 40 ]] || fail "$reports reports for 40 overflows"
    [[ $(grep -c "found at exit" "$WORK/err") -eq 40 ]] || fail "not all found at exit";;
  quarantined)
    grep -qx "heap check: -1" "$WORK/out" || fail "the check did not return -1"
    [[ $reports -eq 1 ]] || fail "$reports reports of one overflow"
    grep -q "found by libmalloc_heap_check()" "$WORK/err" || fail "not found by the heap check";;
  damaged-free)
    [[ $reports -eq 1 ]] || fail "$reports reports of one damaged header (free, then exit)";;
  late-free)
    [[ $reports -eq 1 ]] || fail "$reports reports of one late double free"
    if grep -q -e "-byte region" -e "allocated by thread" "$WORK/err"; then
      fail "the report describes a block the address is not in"
    fi;;
  race)
    grep -qx "overflows: 2000" "$WORK/out" || fail "no end line"
    [[ $reports -eq 2000 ]] || fail "$reports reports for 2000 overflows";;
  *) fail "unknown mode";;
esac
echo "ok ($MODE): $reports reports"
