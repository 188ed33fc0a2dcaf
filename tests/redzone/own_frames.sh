#!/usr/bin/env bash
# own_frames.sh PROGRAM: PROGRAM (rz_own_frames.c, linked with libmalloc.a)
# run with redzone=1 must report its overflow with main among the frames
# and no frame of libmalloc's own functions (namespace lm: _ZN2lm...), but
# the frame of the program's own lm::ngram::allocate.
set -euo pipefail
prog=${1:?usage: $0 PROGRAM}
work=$(mktemp -d /tmp/lm_own_frames.XXXXXX)
trap 'rm -rf "$work"' EXIT
rc=0
LIBMALLOC_OPTIONS=redzone=1 timeout 30 "$prog" 2>"$work/err" || rc=$?
grep -q "ERROR: libmalloc: heap-buffer-overflow" "$work/err" || { cat "$work/err" >&2; echo "FAIL: no report (status $rc)" >&2; exit 1; }
frames=$(grep -E '^    #[0-9]+ ' "$work/err" || true)
grep -q ' in main (' <<<"$frames" || { cat "$work/err" >&2; echo "FAIL: no frame names main" >&2; exit 1; }
grep -q ' in _ZN2lm5ngram8allocateEm (' <<<"$frames" || {
  cat "$work/err" >&2
  echo "FAIL: the program's own lm::ngram::allocate frame is missing" >&2
  exit 1
}
if grep -v ' in _ZN2lm5ngram' <<<"$frames" | grep -q ' in _ZN2lm'; then
  cat "$work/err" >&2
  echo "FAIL: libmalloc's own functions appear as frames" >&2
  exit 1
fi
echo "ok: $(grep -c . <<<"$frames") frames, main and lm::ngram::allocate among them, none of libmalloc's"
