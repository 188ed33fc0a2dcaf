#!/usr/bin/env bash
# static_nm.sh BINARY: the -static binary is statically linked and contains
# libmalloc's allocator but none of glibc's malloc.o (whose internal
# static functions would show up next to libmalloc's; libmalloc defines
# the public __libc_* names itself, so those prove nothing).
set -euo pipefail
bin=${1:?usage: $0 BINARY}
command -v nm >/dev/null || { echo "FAIL: nm is not installed (binutils)" >&2; exit 1; }
command -v file >/dev/null || { echo "FAIL: file is not installed" >&2; exit 1; }
file -L "$bin" | grep -q 'statically linked' || { file -L "$bin" >&2; echo "FAIL: $bin is not statically linked" >&2; exit 1; }
symbols=$(nm "$bin")
bad=$(grep -E ' [TtWw] (_int_malloc|_int_free|_int_realloc|_int_memalign|malloc_consolidate|sysmalloc|tcache_init|ptmalloc_init|arena_get2)$' <<<"$symbols" || true)
if [[ -n $bad ]]; then
  echo "FAIL: glibc's malloc.o was linked into $bin:" >&2
  echo "$bad" >&2
  exit 1
fi
for own in libmalloc_version libmalloc_get_stats malloc free calloc realloc posix_memalign; do
  grep -qE " [TtWw] $own\$" <<<"$symbols" || { echo "FAIL: $own is not defined in $bin" >&2; exit 1; }
done
echo "ok: no glibc malloc internals in $(basename "$bin")"
