# common.sh: sourced by every tests/preload/*.sh script, which meson runs as
# `bash SCRIPT /path/to/libmalloc.so`. Gives a private work dir removed on
# exit (with any background process the script registered), `need` to fail
# clearly when a program is missing, and `compare_runs` to run a command
# without and with LD_PRELOAD and demand identical output and status 0.
set -euo pipefail

LIB=${1:?usage: $0 /path/to/libmalloc.so}
STEP_TIMEOUT=${STEP_TIMEOUT:-180}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

[[ -f $LIB ]] || fail "no such library: $LIB"
LIB=$(readlink -f "$LIB")

WORK=$(mktemp -d /tmp/lm_preload.XXXXXX)
BACKGROUND_PIDS=()
cleanup() {
  local pid
  for pid in "${BACKGROUND_PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# need PROGRAM...: fails the test when a program is not installed.
need() {
  local p
  for p in "$@"; do
    command -v "$p" >/dev/null 2>&1 ||
      fail "'$p' is not installed; run scripts/install-deps.sh"
  done
}

# The distribution's python3 when there is one (not a pyenv shim script).
python3_path() {
  if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3; fi
}

# Proves that the library really lands in a preloaded process: ld.so only
# warns when a preload fails, and the program would then run on glibc.
# shellcheck disable=SC2016
LD_PRELOAD=$LIB bash -c 'grep -qF "$0" /proc/$$/maps' "$LIB" ||
  fail "LD_PRELOAD=$LIB did not map the library into a process"

# compare_runs NAME COMMAND...: runs COMMAND plainly, then with
# LD_PRELOAD=$LIB, each bounded by STEP_TIMEOUT seconds. Both must exit 0
# with identical stdout and stderr. The preloaded output is left in
# $WORK/NAME.preload.{out,err} for further checks.
compare_runs() {
  local name=$1
  shift
  local mode rc
  for mode in plain preload; do
    rc=0
    if [[ $mode == plain ]]; then
      timeout -k 5 "$STEP_TIMEOUT" "$@" >"$WORK/$name.$mode.out" 2>"$WORK/$name.$mode.err" || rc=$?
    else
      timeout -k 5 "$STEP_TIMEOUT" env LD_PRELOAD="$LIB" "$@" \
        >"$WORK/$name.$mode.out" 2>"$WORK/$name.$mode.err" || rc=$?
    fi
    if [[ $rc -ne 0 ]]; then
      echo "--- stderr of the $mode run (last 30 lines):" >&2
      tail -n 30 "$WORK/$name.$mode.err" >&2
      [[ $rc -eq 124 || $rc -eq 137 ]] && fail "$name: the $mode run timed out after ${STEP_TIMEOUT}s"
      fail "$name: the $mode run exited with status $rc"
    fi
  done
  local stream
  for stream in out err; do
    if ! cmp -s "$WORK/$name.plain.$stream" "$WORK/$name.preload.$stream"; then
      echo "--- diff of std$stream, plain vs preloaded:" >&2
      diff "$WORK/$name.plain.$stream" "$WORK/$name.preload.$stream" | head -n 40 >&2 || true
      fail "$name: std$stream differs under LD_PRELOAD"
    fi
  done
  [[ -s $WORK/$name.plain.out ]] || fail "$name: the command printed nothing (the test checks nothing)"
  echo "ok: $name ($(wc -l <"$WORK/$name.plain.out") lines of identical output)"
}
