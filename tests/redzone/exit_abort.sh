#!/usr/bin/env bash
# exit_abort.sh: how a report ends a program that has its own SIGABRT
# handler (rz_exit_abort.c): at exit with SIGABRT's default action, while
# running through the handler (as glibc's abort). Also a report made by a
# thread with a pending pthread_cancel (rz_cancel.c report-cancelled): it
# must abort (status 134), not hang.
# usage: exit_abort.sh PROGRAM /path/to/libmalloc.so MODE
set -euo pipefail
PROG=$1 LIB=$2 MODE=$3
WORK=$(mktemp -d /tmp/lm_rzabort.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
rc=0
LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:detect_leaks=1 timeout 50 "$PROG" "$MODE" >"$WORK/out" 2>"$WORK/err" || rc=$?
fail() {
  echo "FAIL ($MODE): $1" >&2
  head -n 20 "$WORK/err" >&2
  exit 1
}
kind=heap-buffer-overflow
[[ $MODE == leak ]] && kind=memory-leak
grep -q "ERROR: libmalloc: $kind" "$WORK/err" || fail "no $kind report"
if [[ $MODE == running ]]; then
  [[ $rc -eq 99 ]] || fail "status $rc, not the handler's 99"
else
  [[ $rc -eq 134 ]] || fail "status $rc, not SIGABRT's default action (134)"
  grep -q "SIGABRT handler ran" "$WORK/err" && fail "the program's handler ran at exit"
fi
echo "ok ($MODE): status $rc"
