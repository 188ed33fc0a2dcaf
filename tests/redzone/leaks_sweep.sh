#!/usr/bin/env bash
# leaks_sweep.sh: rz_roots 'held N' for N from FROM to TO by STEP, each run
# checked by leaks.sh (exactly the one 77-byte leak). Where the leak check's
# lists land depends on N; the sweep covers the sizes that put them next to
# the main thread's TLS.
# usage: leaks_sweep.sh PROGRAM /path/to/libmalloc.so FROM TO STEP
set -euo pipefail
PROG=$1 LIB=$2 FROM=$3 TO=$4 STEP=$5
here=$(dirname "$0")
for ((n = FROM; n <= TO; n += STEP)); do
  bash "$here/leaks.sh" "$PROG" "$LIB" 77 1 held "$n" >/dev/null || { echo "FAIL: held $n" >&2; exit 1; }
done
echo "ok: held $FROM..$TO by $STEP: the leak reported every time"
