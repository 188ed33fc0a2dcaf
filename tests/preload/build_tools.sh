#!/usr/bin/env bash
# build_tools.sh: the tools of a build on libmalloc, every process of each
# tree preloaded: make -j2 driving gcc over a generated C project (forks,
# execs, parallel jobs), then the program it built; tar with xz compressing
# on two threads and decompressing; sort on two threads over 200k lines.
source "$(dirname "$0")/common.sh"
need make gcc tar xz sort sha256sum

cat >"$WORK/work.sh" <<'SHEOF'
set -euo pipefail
dir=$(mktemp -d "$WORK_DIR/build.XXXXXX")
cd "$dir"
mkdir src
for i in $(seq 1 24); do
  {
    echo "#include <stdlib.h>"
    echo "#include <string.h>"
    echo "unsigned long part$i(unsigned long seed) {"
    echo "  char* b = malloc(64 * $i);"
    echo "  memset(b, (int)(seed + $i), 64 * $i);"
    echo "  unsigned long h = seed;"
    echo "  for (int k = 0; k < 64 * $i; ++k) h = h * 31 + (unsigned char)b[k];"
    echo "  free(b);"
    echo "  return h;"
    echo "}"
  } >"src/part$i.c"
done
{
  echo "#include <stdio.h>"
  for i in $(seq 1 24); do echo "unsigned long part$i(unsigned long);"; done
  echo "int main(void) { unsigned long h = 1;"
  for i in $(seq 1 24); do echo "  h = part$i(h);"; done
  echo "  printf(\"%lx\\n\", h); return 0; }"
} >src/main.c
cat >Makefile <<'MKEOF'
SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:src/%.c=obj/%.o)
prog: $(OBJS)
	@gcc -o $@ $(OBJS)
obj/%.o: src/%.c | obj
	@gcc -O2 -c -o $@ $<
obj:
	@mkdir -p obj
MKEOF
make -s -j2 prog
./prog
ls obj | wc -l

mkdir data
for i in $(seq 1 40); do seq $((i * 1000)) $((i * 1000 + 3000)) | sed "s/^/row $i /" >"data/f$i.txt"; done
tar -cf data.tar --sort=name --mtime=2024-01-01 --owner=0 --group=0 --numeric-owner data
xz -T2 -6 --block-size=128KiB -k data.tar
xz -T2 -dc data.tar.xz | sha256sum
sha256sum <data.tar
xz -l data.tar.xz | tail -1 | awk '{print $1, $2, $NF}'
rm -rf data && tar -xJf data.tar.xz && cat data/*.txt | sha256sum

awk 'BEGIN { for (i = 0; i < 200000; i++) printf "%d %s\n", (i * 7919) % 100003, "word" (i % 977) }' >big.txt
sort --parallel=2 -S 8M -k2,2 -k1,1n big.txt | sha256sum
sort --parallel=2 -u -n big.txt | wc -l
cd / && rm -rf "$dir"
SHEOF

compare_runs build_tools env WORK_DIR="$WORK" bash "$WORK/work.sh"
