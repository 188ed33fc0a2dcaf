#!/usr/bin/env bash
# options_doc.sh PYTHON GENERATOR OPTIONS_MD: regenerates docs/options.md
# into a temporary file and fails, showing the difference, when the
# committed file is out of date.
set -euo pipefail
python=$1 generator=$2 doc=$3
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$python" "$generator" --output "$tmp"
if ! diff -u "$doc" "$tmp"; then
  echo "docs/options.md is out of date with src/config/options.def: run scripts/gen-options-doc.py" >&2
  exit 1
fi
echo "docs/options.md is up to date"
