#!/usr/bin/env bash
# static_stats.sh BINARY...: each binary (static_prog linked with
# libmalloc.a) run with LIBMALLOC_OPTIONS=stats=1 passes its own checks and
# prints libmalloc's exit report headed `== libmalloc stats (pid N) ==`.
set -euo pipefail
[[ $# -gt 0 ]] || { echo "usage: $0 BINARY..." >&2; exit 2; }
work=$(mktemp -d /tmp/lm_static.XXXXXX)
trap 'rm -rf "$work"' EXIT
for bin in "$@"; do
  rc=0
  LIBMALLOC_OPTIONS=stats=1 timeout 60 "$bin" >"$work/out" 2>"$work/err" || rc=$?
  cat "$work/out"
  [[ $rc -eq 0 ]] || { cat "$work/err" >&2; echo "FAIL: $bin exited with status $rc" >&2; exit 1; }
  pid=$(head -n 1 "$work/out")
  head -n 1 "$work/err" | grep -qxF "== libmalloc stats (pid $pid) ==" || {
    head -n 5 "$work/err" >&2
    echo "FAIL: $bin: stderr does not start with '== libmalloc stats (pid $pid) =='" >&2
    exit 1
  }
  echo "ok: $(basename "$bin") prints the stats report"
done
