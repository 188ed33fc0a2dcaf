#!/usr/bin/env bash
# logfd.sh: with log_path, a parent and its forked child each write their
# report to their own PATH.PID file, and the child holds no descriptor of
# the parent's (rz_logfd.c).
# With MODE 'own': the program puts its own file on the log's descriptor
# number before it forks; the child must still be able to write to it.
# With MODE 'reused': the program closes the log's descriptor and opens a
# file of its own on that number; later reports and the statistics must
# still go to the log file, and the program's file hold only its data.
# MODE 'reused0': the same with the log opened on descriptor 0.
# usage: logfd.sh PROGRAM /path/to/libmalloc.so [own|reused|reused0]
set -euo pipefail
PROG=$1 LIB=$2 MODE=${3:-}
WORK=$(mktemp -d /tmp/lm_rzlogfd.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
rc=0
args=($MODE) opts=
[[ $MODE == reused* ]] && args+=("$WORK/data") opts=:stats=1
LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:halt_on_error=0:log_path=$WORK/log$opts timeout 50 "$PROG" "${args[@]}" \
  >"$WORK/out" 2>"$WORK/err" || rc=$?
fail() {
  echo "FAIL: $1" >&2
  cat "$WORK/out" "$WORK/err" >&2
  exit 1
}
[[ $rc -eq 0 ]] || fail "status $rc"
if [[ $MODE == reused* ]]; then
  [[ $(cat "$WORK/data") == DATA ]] || fail "the program's file holds: $(head -c 300 "$WORK/data")"
  log=$(grep -l "ERROR: libmalloc" "$WORK"/log.* | head -n 1)  # (timeout, preloaded too, writes statistics of its own)
  [[ $(grep -c "ERROR: libmalloc: heap-buffer-overflow" "$log") -eq 2 ]] || fail "the log does not hold both reports"
  grep -q "== libmalloc stats" "$log" || fail "the log has no statistics"
  echo "ok: both reports and the statistics in the log, the program's file untouched"
  exit 0
fi
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
