#!/usr/bin/env bash
# leaks.sh: a program that leaks a known set of blocks must have every one
# reported, and the summary must count exactly them.
# usage: leaks.sh PROGRAM /path/to/libmalloc.so BYTES BLOCKS [ARGS...]
set -euo pipefail
PROG=$1 LIB=$2 BYTES=$3 BLOCKS=$4
shift 4
WORK=$(mktemp -d /tmp/lm_rzleaks.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
rc=0
LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:detect_leaks=1:halt_on_error=0 timeout 50 "$PROG" "$@" >/dev/null 2>"$WORK/err" || rc=$?
want="SUMMARY: libmalloc: memory-leak: $BYTES byte(s) leaked in $BLOCKS allocation(s)."
if [[ $rc -ne 0 ]] || ! grep -qxF "$want" "$WORK/err"; then
  echo "FAIL: status $rc; want '$want', got:" >&2
  grep -E "SUMMARY|Direct|Indirect" "$WORK/err" >&2 || true
  exit 1
fi
echo "ok: $want"
