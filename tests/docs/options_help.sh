#!/usr/bin/env bash
# options_help.sh PYTHON GENERATOR LIBMALLOC_SO: the generator's parse of
# options.def must give the same option names, in the same order, as the
# compiled table that LIBMALLOC_OPTIONS=help=1 prints.
set -euo pipefail
python=$1 generator=$2 lib=$3
expected=$("$python" "$generator" --names)
# help=1 prints a heading, a column header, then one option per line, at
# start-up: /bin/true, which never allocates, prints it too (it printed
# nothing while the first allocation read the options), and is one process
# (a wrapper script would print one table each).
actual=$(LIBMALLOC_OPTIONS=help=1 LD_PRELOAD=$lib /bin/true 2>&1 >/dev/null |
  awk '/^libmalloc options/ { n = 1; next } n == 1 { n = 2; next } n == 2 && /^  / { print $1; next } n == 2 { exit }')
if [[ $expected != "$actual" ]]; then
  echo "option names differ (left: gen-options-doc.py --names, right: help=1)" >&2
  diff <(echo "$expected") <(echo "$actual") >&2 || true
  exit 1
fi
echo "$(wc -l <<<"$expected") options agree"

# A bad item is reported at start-up too, once.
msg=$(LIBMALLOC_OPTIONS=colour=1 LD_PRELOAD=$lib /bin/true 2>&1)
if [[ $msg != "libmalloc: LIBMALLOC_OPTIONS: unknown option 'colour' (ignored)" ]]; then
  echo "/bin/true with a bad option printed: '$msg'" >&2
  exit 1
fi
echo "a bad option is reported once by a program that never allocates"
