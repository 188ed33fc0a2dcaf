#!/usr/bin/env bash
# gcc.sh: the compiler on libmalloc: g++ (cc1plus, as, collect2, ld, all
# preloaded) compiles a template-heavy C++ file and gcc a C file; the
# programs they build run and print.
source "$(dirname "$0")/common.sh"
need g++ gcc

cat >"$WORK/prog.cpp" <<'CPPEOF'
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <regex>
#include <string>
#include <unordered_map>
#include <vector>

template <int N> struct Fib { static constexpr long value = Fib<N - 1>::value + Fib<N - 2>::value; };
template <> struct Fib<1> { static constexpr long value = 1; };
template <> struct Fib<0> { static constexpr long value = 0; };

int main() {
  std::map<std::string, std::vector<int>> m;
  for (int i = 0; i < 50000; ++i) m["k" + std::to_string(i % 977)].push_back(i);
  std::unordered_map<int, std::unique_ptr<std::string>> u;
  for (int i = 0; i < 20000; ++i) u[i] = std::make_unique<std::string>(static_cast<size_t>(i % 50), 'x');
  size_t total = 0;
  for (auto& [k, v] : u) total += v->size();
  std::vector<long> v(100000);
  std::iota(v.begin(), v.end(), 0);
  std::sort(v.begin(), v.end(), [](long a, long b) { return (a * 7919) % 100003 < (b * 7919) % 100003; });
  std::regex re("k(\\d+)7");
  int matches = 0;
  for (auto& [k, vec] : m) matches += std::regex_match(k, re);
  std::printf("%zu %zu %zu %ld %ld %d\n", m.size(), m["k5"].size(), total, v[0], Fib<60>::value, matches);
}
CPPEOF
cat >"$WORK/prog.c" <<'CEOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  char* s = strdup("hello");
  for (int i = 0; i < 1000; ++i) { s = realloc(s, strlen(s) + 3); strcat(s, "ab"); }
  printf("%zu %.12s\n", strlen(s), s);
  free(s);
  return 0;
}
CEOF

cat >"$WORK/build.sh" <<'SHEOF'
set -euo pipefail
out=$(mktemp -d "$WORK_DIR/out.XXXXXX")
g++ -std=c++17 -O2 -Wall -o "$out/prog" "$WORK_DIR/prog.cpp"
gcc -O1 -Wall -o "$out/progc" "$WORK_DIR/prog.c"
"$out/prog"
"$out/progc"
rm -rf "$out"
SHEOF

compare_runs gcc env WORK_DIR="$WORK" bash "$WORK/build.sh"
