// bench/redzone_probe.cpp: lm_bench_redzone_probe, run by bench/run.py before it measures
// libmalloc's redzone mode. Writes one byte past a 24-byte block and frees it: with
// LIBMALLOC_OPTIONS=redzone=1:halt_on_error=0 a working redzone mode reports a
// heap-buffer-overflow on stderr; a libmalloc without the mode says nothing. The runner
// only reads stderr; the exit status does not matter. Links against the C library only.
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main() {
  char* p = static_cast<char*>(std::malloc(24));
  if (!p) return 2;
  std::memset(p, 1, 24);
  p[24] = 7;
  // The stores are dead to the compiler (free follows): the barrier makes it emit them.
  asm volatile("" : : "r"(p) : "memory");
  std::free(p);
  std::printf("probe done\n");
  return 0;
}
