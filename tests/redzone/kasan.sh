#!/usr/bin/env bash
# kasan.sh: compiler-assisted redzone mode. Builds rz_kasan.c with GCC's and
# Clang's -fsanitize=kernel-address in outline mode (the flags documented in
# docs/redzone.md), linked with libmalloc.so, and checks that each
# out-of-bounds or freed access is reported at the faulting instruction
# (check_reports.py group "kasan"), that a clean run prints no report, and
# that the same binaries run plainly without redzone mode.
# usage: kasan.sh rz_kasan.c check_reports.py /path/to/libmalloc.so
set -euo pipefail
SRC=$1 CHECK=$2 LIB=$3
LIBDIR=$(dirname "$(readlink -f "$LIB")")
WORK=$(mktemp -d /tmp/lm_kasan.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

GCC_FLAGS="-fsanitize=kernel-address --param asan-instrumentation-with-call-threshold=0 --param asan-stack=0 --param asan-globals=0"
CLANG_FLAGS="-fsanitize=kernel-address -mllvm -asan-instrumentation-with-call-threshold=0 -mllvm -asan-stack=0 -mllvm -asan-globals=0"

# quiet_run CC MODE OPTIONS REGEX: runs kasan_CC MODE in redzone mode with
# OPTIONS; it must exit 0, print a line matching REGEX and report nothing.
quiet_run() {
  local cc=$1 mode=$2 options=$3 want=$4 out
  out=$(LIBMALLOC_OPTIONS=$options timeout 60 "$WORK/kasan_$cc" "$mode" 2>"$WORK/err") ||
    { cat "$WORK/err" >&2; echo "FAIL: $cc $mode run failed" >&2; exit 1; }
  [[ $out =~ $want ]] || { echo "FAIL: $cc $mode run printed '$out'" >&2; exit 1; }
  if grep -q "ERROR: libmalloc" "$WORK/err"; then
    cat "$WORK/err" >&2
    echo "FAIL: $cc $mode run reported" >&2
    exit 1
  fi
}

built=0
for cc in gcc clang; do
  if ! command -v $cc >/dev/null 2>&1; then
    echo "skip: $cc is not installed"
    continue
  fi
  flags=$GCC_FLAGS
  [[ $cc == clang ]] && flags=$CLANG_FLAGS
  # shellcheck disable=SC2086
  $cc -O1 -g $flags "$SRC" -o "$WORK/kasan_$cc" -L"$LIBDIR" -lmalloc -Wl,-rpath,"$LIBDIR"
  # Every emitted hook is provided: nothing __asan_* is left undefined.
  if nm -u "$WORK/kasan_$cc" | grep __asan_ | grep -v -q -f <(nm -D --defined-only "$LIB" | awk '{print $3}'); then
    echo "FAIL: $cc emitted __asan_* symbols libmalloc.so does not define" >&2
    exit 1
  fi
  timeout 50 python3 "$CHECK" kasan "$WORK/kasan_$cc"
  quiet_run "$cc" clean redzone=1 '^clean 66 66 1$'
  # Addresses the heap gave back to the kernel read as addressable in the
  # program's own mapping there (their shadow was left poisoned once).
  quiet_run "$cc" trimmed redzone=1:quarantine_mb=1 '^trimmed [1-8] 0$'
  # Threads churning blocks through every path, contents checked by
  # instrumented loads and stores: no report, no damage.
  quiet_run "$cc" churn redzone=1:quarantine_mb=2 '^churn 0$'
  # Redzone mode off: no shadow, no reports, the bug goes unnoticed.
  timeout 20 "$WORK/kasan_$cc" read-overflow 2>"$WORK/err" || { echo "FAIL: $cc plain run failed" >&2; exit 1; }
  grep -q CONTINUED "$WORK/err" || { echo "FAIL: $cc plain run did not finish" >&2; exit 1; }
  echo "ok: $cc -fsanitize=kernel-address (outline)"
  built=$((built + 1))
done
[[ $built -gt 0 ]] || { echo "FAIL: neither gcc nor clang is installed" >&2; exit 1; }
