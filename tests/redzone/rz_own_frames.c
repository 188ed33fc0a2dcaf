// rz_own_frames.c: a one-byte heap overflow found by free(), in a program
// linked -static with libmalloc.a (run by own_frames.sh with redzone=1).
// libmalloc's code is then part of the program's, and a stale return
// address its start-up left on the stack showed in every report as a frame
// (lm::core::init_if_configured between __libc_start_call_main and
// __libc_start_main_impl).
#include <stdlib.h>

__attribute__((noinline)) void overflow(char* p, int i) { p[i] = 1; }

// The block is allocated by a function the program has in a namespace lm of
// its own (as KenLM's lm::ngram): it is the program's frame, and must show
// in the allocation stack.
__attribute__((noinline)) char* allocate(size_t n) __asm__("_ZN2lm5ngram8allocateEm");
__attribute__((noinline)) char* allocate(size_t n) {
  char* volatile p = malloc(n);
  return p;
}

int main(int argc, char** argv) {
  (void)argv;
  char* volatile p = allocate(16);
  overflow(p, 15 + argc);  // p[16]: the first byte of the right redzone
  free(p);
  return 0;
}
