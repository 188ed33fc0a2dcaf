// rz_libc_lib.c: loaded by rz_libc's `dlopen` mode after start-up; its
// memset overflows the block it is given (checked only if redzone mode
// patched this library when it was loaded).
#include <stddef.h>
#include <string.h>

void rz_libc_bug(char* p, size_t n) { memset(p, 7, n); }
