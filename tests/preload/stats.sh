#!/usr/bin/env bash
# stats.sh: LIBMALLOC_OPTIONS=stats=1 under LD_PRELOAD prints, at exit of
# each preloaded process, a report headed `== libmalloc stats (pid N) ==`
# with that process's pid, and leaves stdout alone.
source "$(dirname "$0")/common.sh"
need python3
PY=$(python3_path)

# shellcheck disable=SC2016
timeout 60 env LIBMALLOC_OPTIONS=stats=1 LD_PRELOAD="$LIB" bash -c 'echo $$' \
  >"$WORK/bash.out" 2>"$WORK/bash.err" || fail "bash with stats=1 exited with status $?"
pid=$(cat "$WORK/bash.out")
[[ $pid =~ ^[0-9]+$ ]] || fail "bash printed '$pid', not its pid"
head -n 1 "$WORK/bash.err" | grep -qxF "== libmalloc stats (pid $pid) ==" || {
  head -n 5 "$WORK/bash.err" >&2
  fail "stderr does not start with '== libmalloc stats (pid $pid) =='"
}
[[ $(wc -l <"$WORK/bash.err") -gt 3 ]] || fail "the stats report has no body"
echo "ok: bash report for pid $pid"

timeout 60 env LIBMALLOC_OPTIONS=stats=1 LD_PRELOAD="$LIB" PYTHONMALLOC=malloc "$PY" -c \
  'import os; x = [str(i) * 10 for i in range(100000)]; print(os.getpid(), len(x))' \
  >"$WORK/py.out" 2>"$WORK/py.err" || fail "python3 with stats=1 exited with status $?"
read -r pypid count <"$WORK/py.out"
[[ $count == 100000 ]] || fail "python3 printed '$(cat "$WORK/py.out")'"
grep -qxF "== libmalloc stats (pid $pypid) ==" "$WORK/py.err" ||
  fail "no '== libmalloc stats (pid $pypid) ==' line in python3's stderr"
echo "ok: python3 report for pid $pypid"

# Redzone mode adds a line saying where its memory is: the quarantine holds
# the 100000 freed strings (far below quarantine_mb), recycled and spare
# memory, the chunks carved from.
timeout 60 env LIBMALLOC_OPTIONS=stats=1:redzone=1 LD_PRELOAD="$LIB" PYTHONMALLOC=malloc "$PY" -c \
  'x = [str(i) * 10 for i in range(100000)]; del x; print("done")' \
  >"$WORK/rz.out" 2>"$WORK/rz.err" || fail "python3 with stats=1:redzone=1 exited with status $?"
line=$(grep '^redzone: ' "$WORK/rz.err") || fail "no 'redzone:' line in the redzone-mode report"
[[ $line =~ quarantine\ ([0-9]+)\ blocks,\ ([0-9]+)\ bytes\ \(limit\ 268435456\) ]] ||
  fail "unexpected redzone line: $line"
(( BASH_REMATCH[1] >= 100000 && BASH_REMATCH[2] > 0 )) ||
  fail "the quarantine should hold the 100000 freed strings: $line"
[[ $line =~ chunks\ ([0-9]+)\ bytes ]] && (( BASH_REMATCH[1] > 0 )) || fail "no chunk bytes: $line"
echo "ok: redzone line: $line"

# stderr a pipe whose reader is gone: the report must not kill the program
# with SIGPIPE (its exit status was 141). The reader exits at once; the
# program starts 0.3 s later: perl, which leaves SIGPIPE alone and stderr
# open (python3 ignores SIGPIPE; coreutils close stderr before exit).
need perl
set +o pipefail
timeout 60 env LIBMALLOC_OPTIONS=stats=1 LD_PRELOAD="$LIB" bash -c 'sleep 0.3; exec perl -e "my @a = (1) x 1000"' 2>&1 | true
status=${PIPESTATUS[0]}
set -o pipefail
[[ $status -eq 0 ]] || fail "perl with stats=1 and stderr a closed pipe exited with status $status"
echo "ok: stats=1 into a closed pipe: exit status 0"
