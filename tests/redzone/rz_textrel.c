// rz_textrel.c: runs comparisons through rz_textrel_lib's read-only table
// (clean.sh: the same output with and without redzone mode).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rz_textrel_compare(int i, const char* a, const char* b);

int main(void) {
  char* s = strdup("Text");
  printf("%d %d %d\n", rz_textrel_compare(0, s, "Text") == 0, rz_textrel_compare(1, s, "TEXT") == 0,
         rz_textrel_compare(0, s, "text") != 0);
  free(s);
  return 0;
}
