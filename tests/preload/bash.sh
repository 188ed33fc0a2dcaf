#!/usr/bin/env bash
# bash.sh: a bash script on libmalloc: loops, indexed and associative arrays,
# subshells, command substitution, pipes, string operations.
source "$(dirname "$0")/common.sh"

cat >"$WORK/work.sh" <<'SHEOF'
set -euo pipefail
declare -a arr=()
declare -A map=()
for ((i = 0; i < 20000; i++)); do
  arr+=("item$((i * 7 % 1000))")
  map["k$((i % 3001))"]+="${i: -1}"
done
echo "arr ${#arr[@]} map ${#map[@]} first ${arr[0]} last ${arr[-1]}"
echo "map k42 length ${#map[k42]}"
total=0
for ((i = 0; i < 100; i++)); do
  total=$((total + $(echo "$i" | tr -d '\n' | wc -c)))
done
echo "subst total $total"
sorted=$(printf '%s\n' "${arr[@]}" | sort | uniq -c | sort -rn | sed -n 1,3p | tr -s ' ')
echo "sorted:$sorted"
( for w in "${!map[@]}"; do echo "$w"; done ) | sort | tail -2
s=""
for ((i = 0; i < 5000; i++)); do s+="${i}."; done
echo "string ${#s} ${s:0:20} ${s//./}" | cut -c1-60
f() { local x=$1; [[ $x -le 1 ]] && { echo 1; return; }; echo $((x * $(f $((x - 1))) % 1000003)); }
echo "recursion $(f 60)"
readarray -t lines < <(seq 1 5000)
echo "readarray ${#lines[@]} ${lines[4999]}"
SHEOF

compare_runs bash bash "$WORK/work.sh"
