// exit_signal.c [threaded]: a SIGALRM handler calls exit() while the main
// thread loops on malloc and free, with perturb on (so that every call goes
// through libmalloc's locked slow paths). Run with stats=1: the exit report
// took the slab class lock the interrupted free or malloc held, and the
// process hung (once a second thread made the locks real). exit() from a
// signal handler is not async-signal-safe, but programs do it: the process
// must end. Repeats in N child processes (argv[2], default 20); prints
// "exited N" when each one exited with status 0 within 10 seconds.
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void on_alarm(int sig) {
  (void)sig;
  exit(0);
}

static void* idle(void* arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

static int child(int threaded) {
  if (threaded) {
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) != 0) return 2;
  }
  mallopt(M_PERTURB, 0x5a);
  signal(SIGALRM, on_alarm);
  struct itimerval it = {{0, 0}, {0, 2000 + (getpid() % 7) * 300}};
  setitimer(ITIMER_REAL, &it, NULL);
  void* keep[64] = {0};
  for (unsigned i = 0;; ++i) {
    unsigned k = i % 64;
    free(keep[k]);
    keep[k] = malloc(16 + (i * 40503u) % 3000);
  }
}

int main(int argc, char** argv) {
  int threaded = argc > 1 && strcmp(argv[1], "threaded") == 0;
  int runs = argc > 2 ? atoi(argv[2]) : 20, ok = 0;
  for (int r = 0; r < runs; ++r) {
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) _exit(child(threaded));
    int status = 0;
    for (int waited = 0; waited < 1000; ++waited) {  // 10 s
      if (waitpid(pid, &status, WNOHANG) == pid) break;
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
      if (waited == 999) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fprintf(stderr, "run %d hung\n", r);
        status = -1;
      }
    }
    if (status == 0) ++ok;
  }
  printf("exited %d\n", ok);
  return ok == runs ? 0 : 1;
}
