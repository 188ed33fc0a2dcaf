#!/usr/bin/env bash
# static_secure.sh PROG: PROG (static_secure.c, linked with libmalloc.a) run
# as a set-user-ID root program by user 65534 must ignore LIBMALLOC_OPTIONS
# and glibc's MALLOC_ variables, as glibc does there: log_path would let any
# user make root create PATH.PID wherever they like. The same environment
# in a normal run (the control) must take effect, so the check can fail.
set -euo pipefail
prog=${1:?usage: $0 PROG}
skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root to make a set-user-ID root copy"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# A directory user 65534 can reach: next to the program first (a build tree
# is rarely on a nosuid mount, /tmp may be), but a checkout under /root (700,
# as on a CI machine) is out of its reach.
work=
for base in "$(cd "$(dirname "$prog")" && pwd)" /tmp /var/tmp /dev/shm; do
  [[ -d $base ]] || continue
  cand=$(mktemp -d "$base/lm_secure.XXXXXX" 2>/dev/null) || continue
  chmod 755 "$cand"
  cp "$prog" "$cand/prog"
  if as_nobody test -x "$cand/prog"; then
    work=$cand
    break
  fi
  rm -rf "$cand"
done
[[ -n $work ]] || skip "no directory where user 65534 can run a copy"
trap 'rm -rf "$work"' EXIT
chown root:root "$work/prog"
chmod 4755 "$work/prog"
opts="LIBMALLOC_OPTIONS=stats=1:verbose=1:log_path=$work/log"

echo "\$ $opts MALLOC_PERTURB_=171 prog   (as root: the control)"
env "$opts" MALLOC_PERTURB_=171 "$work/prog" >"$work/out" 2>"$work/err"
cat "$work/out" "$work/err"
grep -qx perturbed "$work/out" || { echo "FAIL: MALLOC_PERTURB_ had no effect in a normal run" >&2; exit 1; }
compgen -G "$work/log.*" >/dev/null || { echo "FAIL: log_path wrote nothing in a normal run" >&2; exit 1; }
rm -f "$work"/log.*

echo "\$ setpriv --reuid=65534 --regid=65534 --clear-groups $opts MALLOC_PERTURB_=171 prog   (set-user-ID root)"
as_nobody env "$opts" MALLOC_PERTURB_=171 GLIBC_TUNABLES=glibc.malloc.perturb=171 "$work/prog" >"$work/out" 2>"$work/err"
cat "$work/out" "$work/err"
grep -qx "secure=1" "$work/out" || skip "the kernel did not run the copy set-user-ID (nosuid mount?)"
fail=0
grep -qx plain "$work/out" || { echo "FAIL: MALLOC_PERTURB_ took effect in a set-user-ID program" >&2; fail=1; }
if compgen -G "$work/log.*" >/dev/null; then
  echo "FAIL: log_path created $(ls "$work"/log.*) in a set-user-ID program" >&2
  fail=1
fi
[[ ! -s $work/err ]] || { echo "FAIL: the set-user-ID program wrote to stderr" >&2; fail=1; }
[[ $fail -eq 0 ]] && echo "ok: a set-user-ID program ignores the environment's options"
exit $fail
