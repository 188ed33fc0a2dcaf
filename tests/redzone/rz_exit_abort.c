// rz_exit_abort.c: a program with its own SIGABRT handler (a crash
// reporter) and a bug libmalloc reports (run by exit_abort.sh):
//   leak:     a leaked block, reported at exit (detect_leaks=1);
//   exit:     an overflow of a live block, found at exit;
//   running:  an overflow found by free() while the program runs.
// A report at exit ends the process with SIGABRT's default action: the
// handler once ran there, when the program's state is gone (gcc's printed
// an internal compiler error over a leak report). A report while the program
// runs calls abort() as glibc's malloc_printerr does: the handler runs.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_abort(int sig) {
  (void)sig;
  static const char msg[] = "the program's SIGABRT handler ran\n";
  ssize_t r = write(2, msg, sizeof msg - 1);
  (void)r;
  _exit(99);
}

void* volatile g_keep;

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  signal(SIGABRT, on_abort);
  if (strcmp(argv[1], "leak") == 0) {
    g_keep = malloc(24);
    g_keep = NULL;
  } else if (strcmp(argv[1], "exit") == 0) {
    g_keep = malloc(24);
    ((volatile char*)g_keep)[24] = 1;
  } else if (strcmp(argv[1], "running") == 0) {
    char* p = malloc(24);
    ((volatile char*)p)[24] = 1;
    free(p);
  } else {
    return 2;
  }
  puts("main returns");
  return 0;
}
