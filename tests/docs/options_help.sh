#!/usr/bin/env bash
# options_help.sh PYTHON GENERATOR LIBMALLOC_SO: the generator's parse of
# options.def must give the same option names, in the same order, as the
# compiled table that LIBMALLOC_OPTIONS=help=1 prints.
set -euo pipefail
python=$1 generator=$2 lib=$3
expected=$("$python" "$generator" --names)
# help=1 prints a heading, a column header, then one option per line, when
# the first allocation initialises the library: ls allocates (/bin/true would
# not), and is one process (a wrapper script would print one table each).
actual=$(LIBMALLOC_OPTIONS=help=1 LD_PRELOAD=$lib ls -d / 2>&1 >/dev/null |
  awk '/^libmalloc options/ { n = 1; next } n == 1 { n = 2; next } n == 2 && /^  / { print $1; next } n == 2 { exit }')
if [[ $expected != "$actual" ]]; then
  echo "option names differ (left: gen-options-doc.py --names, right: help=1)" >&2
  diff <(echo "$expected") <(echo "$actual") >&2 || true
  exit 1
fi
echo "$(wc -l <<<"$expected") options agree"
