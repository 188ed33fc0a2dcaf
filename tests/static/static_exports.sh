#!/usr/bin/env bash
# static_exports.sh LIBMALLOC_SO LIBMALLOC_A: every function of glibc's
# malloc.o that libc.so.6 exports to programs (malloc, mallopt,
# __libc_mallopt, ...) is defined by libmalloc.so, so a preloaded
# libmalloc serves all of them; and a -static program that takes the
# address of every one of them links with libmalloc.a alone (a name
# libmalloc.a lacked would pull glibc's malloc.o in: "multiple
# definition of malloc"). The list comes from this machine's glibc, not
# from a list written here.
set -euo pipefail
so=${1:?usage: $0 LIBMALLOC_SO LIBMALLOC_A}
lib=${2:?}
cc=${CC:-cc}
for tool in nm "$cc"; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed" >&2; exit 1; }
done
libc_a=$("$cc" -print-file-name=libc.a)
libc_so=$("$cc" -print-file-name=libc.so.6)
[[ -f $libc_a && -f $libc_so ]] || { echo "FAIL: libc.a or libc.so.6 not found ($libc_a, $libc_so)" >&2; exit 1; }
work=$(mktemp -d /tmp/lm_static_exports.XXXXXX)
trap 'rm -rf "$work"' EXIT
# malloc.o's global functions, and libc.so.6's public exports (the
# GLIBC_PRIVATE ones are for glibc's own libraries).
nm "$libc_a" 2>/dev/null | sed -n '/^malloc\.o:$/,/^$/p' | awk '$2 ~ /^[TW]$/ {print $3}' | sort -u >"$work/malloc_o"
nm -D --defined-only "$libc_so" | awk '{print $3}' | grep -v '@GLIBC_PRIVATE' | sed 's/@.*//' | sort -u >"$work/exported"
comm -12 "$work/malloc_o" "$work/exported" >"$work/names"
n=$(wc -l <"$work/names")
grep -qx malloc "$work/names" && grep -qx mallopt "$work/names" && [[ $n -ge 15 ]] ||
  { echo "FAIL: could not read glibc's malloc.o exports (got $n names)" >&2; exit 1; }
nm -D --defined-only "$so" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$work/ours"
missing=$(comm -23 "$work/names" "$work/ours")
if [[ -n $missing ]]; then
  echo "FAIL: libmalloc.so does not define these functions of glibc's malloc.o:" >&2
  echo "$missing" >&2
  exit 1
fi
{
  echo '#include <stdio.h>'
  while read -r name; do echo "extern void $name(void);"; done <"$work/names"
  echo 'int main(void) {'
  echo '  void (*volatile all[])(void) = {'
  while read -r name; do echo "    $name,"; done <"$work/names"
  echo '  };'
  echo '  printf("%zu functions\n", sizeof all / sizeof all[0]);'
  echo '  return 0;'
  echo '}'
} >"$work/refs.c"
if ! "$cc" -static -fno-builtin -w "$work/refs.c" "$lib" -o "$work/refs" 2>"$work/cc.err"; then
  head -n 20 "$work/cc.err" >&2
  echo "FAIL: a -static program that uses all of them does not link with libmalloc.a alone" >&2
  exit 1
fi
"$work/refs"
echo "ok: libmalloc.so and libmalloc.a define all $n: $(tr '\n' ' ' <"$work/names")"
