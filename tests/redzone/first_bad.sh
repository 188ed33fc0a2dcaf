#!/usr/bin/env bash
# first_bad.sh: a C program whose first allocator call passes a bad pointer
# (rz_first_aligned.c: bad-free, bad-realloc, bad-usable) must get redzone
# mode's report, not fast mode's one-line message: libmalloc initialises
# inside that call, and redzone mode is known only then.
# usage: first_bad.sh PROGRAM /path/to/libmalloc.so MODE
set -euo pipefail
PROG=$1 LIB=$2 MODE=$3
err=$(LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1 MALLOC_PERTURB_=0 timeout 50 "$PROG" "$MODE" 2>&1 >/dev/null) || true
if ! grep -q "ERROR: libmalloc: bad-free on address 0x" <<<"$err" || ! grep -q "is located in the stack of thread T0" <<<"$err"; then
  echo "FAIL: $MODE: no redzone bad-free report; stderr:" >&2
  head -n 30 <<<"$err" >&2
  exit 1
fi
echo "ok: $MODE: redzone report"
