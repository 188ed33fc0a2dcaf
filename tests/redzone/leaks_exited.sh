#!/usr/bin/env bash
# leaks_exited.sh: a block held only by the stack of a thread that exited
# (joined just before exit: glibc keeps the stack for reuse) must be
# reported as a leak whatever the thread's id.
#   tid-alias   the thread's id made equal to the high half of its
#               descriptor's address (ASLR off, the program sets the next
#               id through /proc/sys/kernel/ns_last_pid): that number then occurs many
#               times in the descriptor, the descriptor's layout was taken
#               for unknowable, for good, and every exited thread's stack
#               scanned as a live one. Skipped (77) where the next pid cannot
#               be chosen (not root) or setarch is missing.
# usage: leaks_exited.sh PROGRAM /path/to/libmalloc.so tid-alias
set -euo pipefail
PROG=$1 LIB=$2 MODE=$3

[[ $MODE == tid-alias ]] || { echo "unknown mode $MODE" >&2; exit 2; }
NS=/proc/sys/kernel/ns_last_pid
if [[ ! -w $NS ]] || ! command -v setarch >/dev/null; then
  echo "skip: cannot choose the next thread id (needs root and setarch)"
  exit 77
fi
WORK=$(mktemp -d /tmp/lm_rzexited.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ARCH=$(uname -m)
run() {  # run [LAST]: stdout to $WORK/out, stderr to $WORK/err
  LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:detect_leaks=1:halt_on_error=0 \
    timeout 50 setarch "$ARCH" -R "$PROG" exited-stack-tid "$@" >"$WORK/out" 2>"$WORK/err"
}
run
read -r _ _ _ high <"$WORK/out"
pid_max=$(cat /proc/sys/kernel/pid_max)
if [[ $high -le 300 || $high -ge $pid_max ]]; then
  echo "skip: the descriptor's high half ($high) is no possible thread id (pid_max $pid_max)"
  exit 77
fi
want="SUMMARY: libmalloc: memory-leak: 555 byte(s) leaked in 1 allocation(s)."
# Another process may take the chosen id first: a few attempts.
for attempt in $(seq 1 20); do
  rc=0
  run $((high - 1)) || rc=$?
  read -r _ tid _ got_high <"$WORK/out" || true
  [[ $tid == "$high" && $got_high == "$high" ]] || continue
  if [[ $rc -ne 0 ]] || ! grep -qxF "$want" "$WORK/err"; then
    echo "FAIL: thread id $tid = the descriptor's high half: status $rc; want '$want', got:" >&2
    grep -E "SUMMARY|Direct|Indirect" "$WORK/err" >&2 || true
    exit 1
  fi
  echo "ok: thread id $tid, the descriptor's high half: $want"
  exit 0
done
echo "skip: the thread never got id $high (taken by other processes)"
exit 77
