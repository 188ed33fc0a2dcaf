// cancel.c MODE: thread cancellation around libmalloc's calls, run in a
// child process that is killed if it hangs. Prints "ok MODE" and exits 0
// when the child ended as it does with glibc's malloc.
//   exit:  a thread with a cancel request pending (deferred) calls
//          exit(7). libmalloc's exit-time destructor waited in
//          sigtimedwait(), a cancellation point: the thread was cancelled
//          inside exit(), the remaining exit handlers never ran and the
//          process hung for good (whatever the options). Expected: 7.
//   stats: a thread with a cancel request pending calls malloc_stats(),
//          which glibc's is not a cancellation point: the thread must
//          return from it (libmalloc's stdio write let it be cancelled).
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void request_own_cancel(void) {
  int old;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
  pthread_cancel(pthread_self());
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);  // deferred: acted on at the next cancellation point
}

static void* exit_with_cancel_pending(void* arg) {
  (void)arg;
  void* volatile p = malloc(100);
  free(p);
  request_own_cancel();
  exit(7);
}

static void* stats_with_cancel_pending(void* arg) {
  (void)arg;
  request_own_cancel();
  malloc_stats();
  return (void*)1;
}

static int child(const char* mode) {
  int null = open("/dev/null", O_WRONLY);
  if (null >= 0) dup2(null, 2);  // malloc_stats' lines
  pthread_t t;
  if (strcmp(mode, "exit") == 0) {
    if (pthread_create(&t, NULL, exit_with_cancel_pending, NULL) != 0) return 2;
    for (;;) pause();
  }
  if (pthread_create(&t, NULL, stats_with_cancel_pending, NULL) != 0) return 2;
  void* ret = NULL;
  pthread_join(t, &ret);
  return ret == (void*)1 ? 0 : 3;  // 3: cancelled inside malloc_stats()
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  int expected;
  if (strcmp(mode, "exit") == 0) expected = 7;
  else if (strcmp(mode, "stats") == 0) expected = 0;
  else {
    fprintf(stderr, "usage: %s exit|stats\n", argv[0]);
    return 2;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) _exit(child(mode));
  int status = 0;
  for (int waited_ms = 0;; waited_ms += 10) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) return 2;
    if (waited_ms >= 10000) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      printf("FAIL %s: the process hung (killed after 10 s)\n", mode);
      return 1;
    }
    struct timespec ms = {0, 10 * 1000 * 1000};
    nanosleep(&ms, NULL);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != expected) {
    printf("FAIL %s: the process ended with %s %d, expected exit status %d\n", mode,
           WIFEXITED(status) ? "exit status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
           expected);
    return 1;
  }
  printf("ok %s\n", mode);
  return 0;
}
