#!/usr/bin/env bash
# python_suite.sh: a part of CPython's own regression test suite (Debian's
# libpython3.11-testsuite) run on libmalloc, with PYTHONMALLOC=malloc so
# that every object goes through malloc: threads, fork, mmap, gc and weak
# references, pickling, compression, ctypes, decimal. Run twice, without and
# with LD_PRELOAD=$LIB (and whatever LIBMALLOC_OPTIONS the caller set); every
# test case must end with libmalloc as it ends without it (a case this
# machine fails anyway, for want of a network say, may fail with it too),
# and both runs must have run the same cases. A case that fails only with
# libmalloc gets a second run, with its module alone, which it must pass.
# usage: python_suite.sh /path/to/libmalloc.so [TEST_MODULE...]
source "$(dirname "$0")/common.sh"
shift
need python3
PY=$(python3_path)
"$PY" -c 'import test.test_json' 2>/dev/null ||
  fail "CPython's test suite is not installed (libpython3.11-testsuite); run scripts/install-deps.sh"

MODULES=("$@")
if [[ ${#MODULES[@]} -eq 0 ]]; then
  MODULES=(test_threading test_thread test_fork1 test_queue test_mmap test_gc test_weakref test_dict test_list
    test_set test_bytes test_unicode test_json test_re test_pickle test_collections test_functools
    test_itertools test_zlib test_bz2 test_lzma test_ctypes test_decimal test_select)
fi

# run MODE NAME MODULE...: one run of regrtest, its outcomes in
# $WORK/NAME.xml, its output in $WORK/NAME.log.
run() {
  local mode=$1 name=$2 preload="" options="" rc=0
  shift 2
  # (Reports go to files, looked for below: a report at a worker's exit
  # would not change a test case's outcome.)
  [[ $mode == preload ]] && preload=$LIB options=${LIBMALLOC_OPTIONS:+$LIBMALLOC_OPTIONS:}log_path=$WORK/report
  (cd "$WORK" && LD_PRELOAD=$preload LIBMALLOC_OPTIONS=$options PYTHONMALLOC=malloc timeout "$STEP_TIMEOUT" \
    "$PY" -m test -j2 --timeout=240 --junit-xml "$WORK/$name.xml" "$@") >"$WORK/$name.log" 2>&1 || rc=$?
  # regrtest exits 2 when a test failed: compared below. 124: timeout(1).
  if [[ $rc -ne 0 && $rc -ne 2 ]]; then
    tail -n 30 "$WORK/$name.log" >&2
    fail "$name run: exit status $rc"
  fi
  for report in "$WORK"/report.*; do
    [[ -e $report ]] || continue
    head -n 20 "$report" >&2
    fail "libmalloc wrote a report: $report"
  done
}

# compare PLAIN_XML PRELOAD_XML [RERUN_XML]: exit 0 when every case ends as
# without libmalloc; else the modules to run again on stdout (those of the
# cases that did not, or all of them when a case's module is not plain from
# its name), and exit 3 (with RERUN_XML, whose outcomes replace
# PRELOAD_XML's: exit 1).
compare() {
  MODULES="${MODULES[*]}" "$PY" - "$@" <<'PYEOF'
import os
import sys
import xml.etree.ElementTree as ET

def outcomes(path):
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = ".".join(part for part in (case.get("classname"), case.get("name")) if part)
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[name] = kinds[0] if kinds else "passed"
    return out

plain, preload = outcomes(sys.argv[1]), outcomes(sys.argv[2])
rerun = outcomes(sys.argv[3]) if len(sys.argv) > 3 else {}
bad, modules = [], set()
for name in sorted(set(plain) | set(preload)):
    want, got = plain.get(name), rerun.get(name, preload.get(name))
    if got is None or (got in ("failure", "error") and want not in ("failure", "error")):
        bad.append("%s: %s with libmalloc, %s without" % (name, got or "not run", want or "not run"))
        parts = name.split(".")
        modules.add(parts[1] if len(parts) > 1 and parts[0] == "test" else "?")
counts = {}
for got in preload.values():
    counts[got] = counts.get(got, 0) + 1
print("python_suite: %d test cases, %s" % (len(preload), ", ".join("%s %d" % kv for kv in sorted(counts.items()))),
      file=sys.stderr)
if bad or not preload:
    print("%d test case(s) end differently with libmalloc%s" % (len(bad), " after a rerun" if rerun else ""),
          file=sys.stderr)
    for line in bad[:40]:
        print("  " + line, file=sys.stderr)
    listed = os.environ["MODULES"].split()
    print(" ".join(listed if modules - set(listed) else sorted(modules)))
    sys.exit(1 if rerun else 3)
PYEOF
}

run plain plain "${MODULES[@]}"
run preload preload "${MODULES[@]}"
rc=0
rerun=$(compare "$WORK/plain.xml" "$WORK/preload.xml") || rc=$?
[[ $rc -eq 0 ]] && exit 0
# (regrtest's own lines about tests that crashed or timed out.)
grep -E "crashed|timed out|Timeout" "$WORK/preload.log" | head -n 10 >&2 || true
[[ $rc -eq 3 && -n $rerun ]] || fail "python_suite: could not compare the runs"
# A case that fails only with libmalloc gets one more chance, alone with its
# module: timing-sensitive cases (threading, select) fail now and then on a
# loaded machine with any allocator. A heap bug fails again.
echo "python_suite: running again with libmalloc: $rerun" >&2
# shellcheck disable=SC2086
run preload rerun $rerun
if ! compare "$WORK/plain.xml" "$WORK/preload.xml" "$WORK/rerun.xml" >/dev/null; then
  grep -E "crashed|timed out|Timeout" "$WORK/rerun.log" | head -n 10 >&2 || true
  fail "python_suite: test cases end differently with libmalloc"
fi
echo "python_suite: passed on the second run: $rerun"
