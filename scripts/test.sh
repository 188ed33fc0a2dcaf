#!/usr/bin/env bash
# test.sh: the one test command. Installs dependencies, configures build/
# (release, warnings as errors), builds, runs every meson suite (unit, api,
# glibc, preload, static), and prints as its very last line
#   N passed, M failed
# counting doctest cases from each doctest binary's own summary and one case
# per other meson test (the preload and static scripts). Exits non-zero when
# anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

setup_args=(--buildtype=release -Dwerror=true -Dtests=true -Dbench=true)
if [[ -f build/meson-private/coredata.dat ]]; then
  meson setup --reconfigure build "${setup_args[@]}"
else
  meson setup build "${setup_args[@]}"
fi

if ! ninja -C build; then
  echo "test.sh: the build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

rm -f build/meson-logs/testlog.json
meson_rc=0
meson test -C build --num-processes 2 --print-errorlogs || meson_rc=$?

summary=$(python3 - build/meson-logs/testlog.json <<'PYEOF'
import json, re, sys

summary = re.compile(r"\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed")
passed = failed = 0
try:
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
except OSError:
    runs = []
for run in runs:
    ok = run.get("result") in ("OK", "EXPECTEDFAIL")
    out = (run.get("stdout") or "") + (run.get("stderr") or "")
    found = summary.findall(out)
    if found:
        _, p, f = map(int, found[-1])
        passed += p
        # A binary that failed without a failed case (crash at exit, leak,
        # timeout after the summary) still counts as one failure.
        failed += f if (f or ok) else 1
    elif run.get("result") == "SKIP":
        continue
    elif ok:
        passed += 1
    else:
        failed += 1
if not runs:
    failed += 1  # meson ran nothing: that is a failure, not a pass
print(f"{passed} passed, {failed} failed")
PYEOF
)

failed=${summary#*, }
failed=${failed%% *}
echo "$summary"
[[ $meson_rc -eq 0 && $failed == 0 ]]
