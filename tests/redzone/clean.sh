#!/usr/bin/env bash
# clean.sh: a correct program must print the same thing with and without
# redzone mode (leak detection on), exit 0 and produce no report.
# usage: clean.sh PROGRAM /path/to/libmalloc.so [ARGS...]
# (RZ_EXTRA_OPTIONS in the environment: more LIBMALLOC_OPTIONS items for the
# redzone run)
# (an empty library path: PROGRAM is linked with libmalloc; its plain run
# is then libmalloc's fast mode)
set -euo pipefail
PROG=$1 LIB=$2
shift 2
WORK=$(mktemp -d /tmp/lm_rzclean.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
timeout 50 "$PROG" "$@" >"$WORK/plain.out" 2>"$WORK/plain.err"
rc=0
LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:detect_leaks=1${RZ_EXTRA_OPTIONS:+:$RZ_EXTRA_OPTIONS} timeout 50 "$PROG" "$@" >"$WORK/rz.out" 2>"$WORK/rz.err" || rc=$?
if [[ $rc -ne 0 ]] || ! cmp -s "$WORK/plain.out" "$WORK/rz.out" || ! cmp -s "$WORK/plain.err" "$WORK/rz.err"; then
  echo "FAIL: status $rc; diff of stdout and stderr:" >&2
  diff "$WORK/plain.out" "$WORK/rz.out" >&2 || true
  head -n 60 "$WORK/rz.err" >&2
  exit 1
fi
echo "ok: $(wc -l <"$WORK/rz.out") lines of identical output, no report"
