/* static_secure.c: linked with libmalloc.a, run by static_secure.sh as a
 * set-user-ID root program started by another user. Prints whether the
 * kernel marked it secure (AT_SECURE) and whether a new block carries
 * MALLOC_PERTURB_=171's fill (0x54, its complement): in a secure program
 * the environment must not reach libmalloc, as glibc ignores it there. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

int main(void) {
  printf("secure=%lu\n", getauxval(AT_SECURE));
  unsigned char* p = malloc(100000);
  if (!p) return 2;
  int perturbed = 1;
  for (size_t i = 0; i < 100000; ++i)
    if (p[i] != 0x54) perturbed = 0;
  printf("%s\n", perturbed ? "perturbed" : "plain");
  free(p);
  return 0;
}
