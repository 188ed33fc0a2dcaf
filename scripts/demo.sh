#!/usr/bin/env bash
# demo.sh: the README's first command. On a fresh Debian 12 machine it
# installs what the build needs (scripts/install-deps.sh: apt, with sudo only
# when not root), configures and builds build/ (libmalloc.so, libmalloc.a,
# tests, benchmarks), then runs a real program, python3, with every one of
# its allocations going to libmalloc (LD_PRELOAD, PYTHONMALLOC=malloc) and
# LIBMALLOC_OPTIONS=stats=1, so that you see the program's own output
# followed by libmalloc's statistics report at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

if [[ -f build/meson-private/coredata.dat ]]; then
  meson setup --reconfigure build
else
  meson setup build
fi
ninja -C build

# Debian's interpreter, not a wrapper script that would start other
# processes (each would print its own report).
python=/usr/bin/python3
[[ -x $python ]] || python=$(command -v python3)

lib=$PWD/build/libmalloc.so
echo
echo "== python3 under libmalloc: PYTHONMALLOC=malloc LIBMALLOC_OPTIONS=stats=1 LD_PRELOAD=$lib"
echo
PYTHONMALLOC=malloc LIBMALLOC_OPTIONS=stats=1 LD_PRELOAD="$lib" "$python" - <<'PYEOF'
import collections, ctypes, json, random, sys

# libmalloc_version() is exported by libmalloc.so alone: proof it is loaded.
version = ctypes.CDLL(None).libmalloc_version
version.restype = ctypes.c_char_p
print("allocator: libmalloc", version().decode())

random.seed(1)
words = ["".join(random.choice("abcdefgh") for _ in range(random.randint(2, 6)))
         for _ in range(300000)]
counts = collections.Counter(words)
doc = json.dumps({w: [c, w * c] for w, c in counts.items()})
assert json.loads(doc) == {w: [c, w * c] for w, c in counts.items()}
big = [bytearray(200_000 + i) for i in range(20)]  # above the mmap threshold
print(f"{len(words)} words, {len(counts)} distinct, a JSON document of "
      f"{len(doc)} bytes, round trip ok; most common: {counts.most_common(2)}")
print(f"{len(big)} buffers of about 200 KB each; python {sys.version.split()[0]}")
sys.stdout.flush()
print("\n== libmalloc's report (stats=1), printed at exit:", file=sys.stderr)
PYEOF
