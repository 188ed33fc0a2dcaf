#!/usr/bin/env bash
# stacks.sh: reports whose stacks were captured away from where the thread's
# stack was at its first capture (rz_stacks.c): each must report the bug
# with a whole allocation stack, then go on (halt_on_error=0) to "END".
# usage: stacks.sh PROGRAM /path/to/libmalloc.so MODE
set -euo pipefail
PROG=$1 LIB=$2 MODE=$3
WORK=$(mktemp -d /tmp/lm_rzstacks.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
rc=0
bind_now=
[[ $MODE == stale-scan ]] && bind_now=1  # (start-up then leaves the loader's and our frames where the scan looks)
LD_BIND_NOW=$bind_now LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:halt_on_error=0 timeout 50 "$PROG" "$MODE" >"$WORK/out" 2>"$WORK/err" ||
  rc=$?
fail() {
  echo "FAIL ($MODE): $1" >&2
  head -n 60 "$WORK/err" >&2
  exit 1
}
[[ $rc -eq 0 ]] || fail "status $rc"
grep -qx END "$WORK/out" || fail "no END on stdout"
kind=heap-buffer-overflow heading="allocated by thread T0 here:"
[[ $MODE == stale-frame ]] && kind=double-free heading="previously allocated by thread T0 here:"
grep -q "ERROR: libmalloc: $kind" "$WORK/err" || fail "no $kind report"
# The allocation stack: the frame lines after its heading.
sed -n "/^$heading/,/^[^ ]/p" "$WORK/err" | grep '^    #' >"$WORK/alloc" || true
case $MODE in
  deep-frames)
    # 16 frames (the most kept): the allocating frame, then deep() again and again.
    [[ $(wc -l <"$WORK/alloc") -eq 16 ]] || fail "$(wc -l <"$WORK/alloc") allocation frames, want 16"
    [[ $(grep -c ' in deep ' "$WORK/alloc") -ge 15 ]] || fail "deep() frames missing";;
  wrapper)
    head -n 3 "$WORK/alloc" | sed 's/^    #\([0-9]*\) 0x[0-9a-f]* in \([^ ]*\) .*/\1 \2/' >"$WORK/top3"
    printf '0 xmalloc\n1 user_fn\n2 main\n' | cmp -s - "$WORK/top3" || fail "allocation stack starts: $(tr '\n' ' ' <"$WORK/top3")";;
  stale-frame)
    head -n 3 "$WORK/alloc" | sed 's/^    #\([0-9]*\) 0x[0-9a-f]* in \([^ ]*\) .*/\1 \2/' >"$WORK/top3"
    printf '0 stale_f\n1 stale_g\n2 main\n' | cmp -s - "$WORK/top3" || fail "allocation stack starts: $(tr '\n' ' ' <"$WORK/top3")";;
  stale-scan)
    head -n 3 "$WORK/alloc" | sed 's/^    #\([0-9]*\) 0x[0-9a-f]* in \([^ ]*\) .*/\1 \2/' >"$WORK/top3"
    printf '0 inner\n1 mid\n' | cmp -s - <(head -n 2 "$WORK/top3") || fail "allocation stack starts: $(tr '\n' ' ' <"$WORK/top3")"
    grep -q ' in main (' "$WORK/alloc" || fail "main is not in the allocation stack"
    # (Module names only: a checkout's path may hold "libmalloc".)
    if grep -E -q '/(libmalloc[^/ ]*\.so[^/ ]*|ld-linux[^/ ]*)\+0x' "$WORK/alloc"; then
      fail "stale frames of libmalloc or the loader"
    fi;;
  altstack-report)
    [[ -s $WORK/alloc ]] || fail "no allocation stack";;
  cache-ways)
    # Each report (after its CALLER line) names ways_site, then that caller.
    for k in 0 1 2 3 4 5 6 7; do
      sed -n "/^CALLER $k\$/,/^CALLER/p" "$WORK/err" | sed -n "/^$heading/,/^[^ ]/p" | grep '^    #' |
        head -n 2 | sed 's/^    #\([0-9]*\) 0x[0-9a-f]* in \([^ ]*\) .*/\1 \2/' >"$WORK/top2"
      printf '0 ways_site\n1 ways_caller_%s\n' "$k" | cmp -s - "$WORK/top2" ||
        fail "report $k: allocation stack starts: $(tr '\n' ' ' <"$WORK/top2")"
    done;;
  *) fail "unknown mode";;
esac
echo "ok ($MODE): $(wc -l <"$WORK/alloc") allocation frames"
