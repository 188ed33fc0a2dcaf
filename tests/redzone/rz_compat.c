// rz_compat.c: a program bound to an older version of a checked function
// keeps that version in redzone mode (clean.sh compares its output with and
// without). posix_spawn@GLIBC_2.2.5, what programs built before glibc 2.15
// call, runs a script without "#!" through /bin/sh; the default version
// fails with ENOEXEC. The slot is lazy when libmalloc patches (the first
// call comes later), as in such old programs.
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

__asm__(".symver posix_spawn,posix_spawn@GLIBC_2.2.5");
extern char** environ;

int main(void) {
  const char* tmp = getenv("TMPDIR");
  char script[4096];
  snprintf(script, sizeof script, "%s/rz_compat.%d.sh", tmp ? tmp : "/tmp", (int)getpid());
  FILE* f = fopen(script, "w");
  if (!f) return 2;
  fputs("echo run by the shell\n", f);  // no "#!" line
  fclose(f);
  chmod(script, 0700);
  char* argv[] = {script, NULL};
  pid_t pid;
  int status = -1;
  fflush(stdout);
  int r = posix_spawn(&pid, script, NULL, NULL, argv, environ);
  if (r == 0) waitpid(pid, &status, 0);
  printf("posix_spawn@GLIBC_2.2.5: %d, exit %d\n", r, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  unlink(script);
  return r == 0 ? 0 : 1;
}
