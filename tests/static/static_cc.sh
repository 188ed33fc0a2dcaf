#!/usr/bin/env bash
# static_cc.sh SOURCE INCLUDE_DIR LIBMALLOC_A: what a C user types, with no
# build system: `cc prog.c libmalloc.a` and `cc -static prog.c libmalloc.a`.
# Both must link and the programs must pass their own checks; so must a
# program that never calls malloc itself, linked with -Wl,-u,malloc.
set -euo pipefail
src=${1:?usage: $0 SOURCE INCLUDE_DIR LIBMALLOC_A}
inc=${2:?}
lib=${3:?}
cc=${CC:-cc}
command -v "$cc" >/dev/null || { echo "FAIL: $cc is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/lm_static_cc.XXXXXX)
trap 'rm -rf "$work"' EXIT
for mode in dynamic static; do
  flags=()
  [[ $mode == static ]] && flags=(-static)
  echo "\$ $cc ${flags[*]} -I$inc $(basename "$src") $(basename "$lib") -o prog_$mode"
  timeout 120 "$cc" "${flags[@]}" -O1 -I"$inc" "$src" "$lib" -o "$work/prog_$mode" 2>"$work/cc.err" || {
    head -n 20 "$work/cc.err" >&2
    echo "FAIL: '$cc ${flags[*]} prog.c libmalloc.a' does not link" >&2
    exit 1
  }
  rc=0
  timeout 60 "$work/prog_$mode" >"$work/out" 2>&1 || rc=$?
  cat "$work/out"
  [[ $rc -eq 0 ]] || { echo "FAIL: the $mode program exited with status $rc" >&2; exit 1; }
done
# A program that never calls malloc itself (only libc does, inside fopen):
# the linker takes no member of libmalloc.a unless told to, and libc's
# malloc serves it. The README's -Wl,-u,malloc pulls libmalloc in; checked
# by its verbose=1 line, which only libmalloc prints.
cat >"$work/nomalloc.c" <<'SRC'
#include <stdio.h>
int main(void) {
  FILE* f = fopen("/proc/self/stat", "r");
  char line[512];
  int ok = f && fgets(line, sizeof line, f);
  if (f) fclose(f);
  puts(ok ? "read" : "unread");
  return ok ? 0 : 1;
}
SRC
# check_pulled_in COMPILER SOURCE UNDEF [FLAGS...]: links SOURCE with
# -Wl,-u,UNDEF and libmalloc.a, runs it with verbose=1 and checks that
# libmalloc served it (its "options in force" lines).
check_pulled_in() {
  local compiler=$1 src=$2 undef=$3
  shift 3
  local name
  name=$(basename "$src")
  echo "\$ $compiler $* -Wl,-u,$undef $name $(basename "$lib")"
  timeout 180 "$compiler" "$@" -O1 -Wl,-u,"$undef" "$src" "$lib" -o "$work/pulled" 2>"$work/cc.err" || {
    head -n 20 "$work/cc.err" >&2
    echo "FAIL: '$compiler $* -Wl,-u,$undef $name libmalloc.a' does not link" >&2
    exit 1
  }
  LIBMALLOC_OPTIONS=verbose=1 timeout 60 "$work/pulled" >"$work/out" 2>"$work/err" || {
    cat "$work/out" "$work/err"
    echo "FAIL: $name linked with $* -Wl,-u,$undef failed" >&2
    exit 1
  }
  grep -q "libmalloc: options in force" "$work/err" || {
    cat "$work/out" "$work/err"
    echo "FAIL: -Wl,-u,$undef did not bring libmalloc into $name ($*), which never calls malloc itself" >&2
    exit 1
  }
}
check_pulled_in "$cc" "$work/nomalloc.c" malloc
check_pulled_in "$cc" "$work/nomalloc.c" malloc -static
# The same for a C++ program that allocates only through libstdc++'s code
# (std::string, std::ostringstream): the README's g++ commands.
cxx=${CXX:-g++}
command -v "$cxx" >/dev/null || { echo "FAIL: $cxx is not installed" >&2; exit 1; }
cat >"$work/stdlib_only.cpp" <<'SRC'
#include <iostream>
#include <sstream>
#include <string>
int main() {
  std::string s(1000, 'x');
  std::ostringstream out;
  out << s.size();
  std::cout << out.str() << '\n';
  return out.str() == "1000" ? 0 : 1;
}
SRC
check_pulled_in "$cxx" "$work/stdlib_only.cpp" malloc -static
check_pulled_in "$cxx" "$work/stdlib_only.cpp" _Znwm -static
echo "ok: cc links libmalloc.a both ways; g++ with -Wl,-u,malloc and -Wl,-u,_Znwm"
