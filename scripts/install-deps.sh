#!/usr/bin/env bash
# install-deps.sh: installs everything building, testing and benchmarking
# libmalloc needs on a fresh Debian 12 machine, with apt only. Idempotent:
# when every package is already installed it does not touch apt at all.
# Uses sudo only when not run as root.
set -euo pipefail

packages=(
  # build
  meson ninja-build g++ gcc pkg-config libc6-dev
  # the redzone suite builds its compiler-assisted test with both compilers
  clang
  # tests and benchmarks
  doctest-dev libbenchmark-dev libjemalloc-dev libmimalloc-dev
  # programs the preload tests run, and the tools their scripts use
  python3 git sqlite3 perl redis-server redis-tools procps
  # CPython's own regression tests (tests/preload/python_suite.sh)
  libpython3.11-testsuite
  binutils file coreutils diffutils findutils grep sed mawk make tar xz-utils
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || {
    echo "install-deps: not root and no sudo; install as root: ${missing[*]}" >&2
    exit 1
  }
  sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
