#!/usr/bin/env bash
# logfd.sh: with log_path, a parent and its forked child each write their
# report to their own PATH.PID file, and the child holds no descriptor of
# the parent's (rz_logfd.c).
# With MODE 'own': the program puts its own file on the log's descriptor
# number before it forks; the child must still be able to write to it.
# usage: logfd.sh PROGRAM /path/to/libmalloc.so [own]
set -euo pipefail
PROG=$1 LIB=$2 MODE=${3:-}
WORK=$(mktemp -d /tmp/lm_rzlogfd.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
rc=0
LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:halt_on_error=0:log_path=$WORK/log timeout 50 "$PROG" $MODE >"$WORK/out" 2>"$WORK/err" || rc=$?
fail() {
  echo "FAIL: $1" >&2
  cat "$WORK/out" "$WORK/err" >&2
  exit 1
}
[[ $rc -eq 0 ]] || fail "status $rc"
if [[ $MODE == own ]]; then
  grep -qx "own file: ok" "$WORK/out" || fail "the child lost the program's own descriptor"
  echo "ok: the program's own file on the log's number survived the fork"
  exit 0
fi
logs=$(ls "$WORK" | grep -c '^log\.' || true)
[[ $logs -eq 2 ]] || fail "$logs log files, want 2 (parent and child)"
for f in "$WORK"/log.*; do
  [[ $(grep -c "ERROR: libmalloc: heap-buffer-overflow" "$f") -eq 1 ]] || fail "$f does not hold one report"
done
grep -qx "parent's log open in child: 0" "$WORK/out" || fail "the child kept the parent's log file open"
echo "ok: two log files, one report each, nothing inherited"
