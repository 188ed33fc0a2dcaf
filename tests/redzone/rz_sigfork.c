// rz_sigfork.c: a single-threaded program whose SIGALRM handler forks while
// the program allocates and frees (run by clean.sh). The handler can
// interrupt libmalloc holding one of its locks (a redzone flush); fork's
// prepare handler then waited for that lock for good. glibc's fork takes
// its malloc locks only in a multi-threaded process, and so does libmalloc's.
// It stops after kForks forks or kSeconds (a loaded machine schedules the
// children slowly: 300 forks once took over a minute there, with glibc too);
// a hang never ends, and clean.sh's timeout fails it.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kForks = 300, kKeep = 256, kSeconds = 15, kAtLeast = 20 };
static volatile sig_atomic_t g_forks, g_done;
static double g_until;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void on_alarm(int sig) {
  (void)sig;
  int saved = errno;
  pid_t p = fork();
  if (p == 0) _exit(0);
  if (p > 0) {
    while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {
    }
    ++g_forks;
  }
  if (g_forks >= kForks || now() >= g_until) {  // (the handlers alone can fill the time)
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    g_done = 1;
  }
  errno = saved;
}

int main(void) {
  g_until = now() + kSeconds;
  signal(SIGALRM, on_alarm);
  struct itimerval every = {{0, 2000}, {0, 2000}};
  setitimer(ITIMER_REAL, &every, NULL);
  void* keep[kKeep] = {0};
  for (unsigned i = 0; !g_done; ++i) {
    unsigned k = i % kKeep;
    free(keep[k]);
    size_t n = 1 + (i * 2654435761u) % 256;  // small: a flush unlinks 128 blocks under a lock
    keep[k] = malloc(n);
    memset(keep[k], (int)(i & 0xff), n < 64 ? n : 64);
  }
  for (unsigned k = 0; k < kKeep; ++k) free(keep[k]);
  if (g_forks < kAtLeast) printf("only %d forks from a signal handler\n", (int)g_forks);
  else printf("at least %d forks from a signal handler\n", kAtLeast);
  return 0;
}
