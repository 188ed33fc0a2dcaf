// bench/rusage.cpp: lm_bench_rusage, the runner's measuring wrapper. Runs a command,
// waits for it and writes one line of JSON with wall time, user and system CPU time, peak
// RSS (ru_maxrss of the child) and how it ended. Linked statically and without the C++
// library, so its own footprint does not count in the child's peak RSS (a fork from a
// large process such as python would) and it runs on any Linux userland.
//
//   lm_bench_rusage [-t SECONDS] -o OUT.json -- PROGRAM ARGS...
//
// -t kills the child's process group with SIGKILL after SECONDS (a hung run, never a
// slow one: the runner sets it far above any expected time).
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_timed_out = 0;
static pid_t g_child = 0;

static void on_alarm(int) {
  g_timed_out = 1;
  if (g_child > 0) kill(-g_child, SIGKILL);
}

static void on_term(int sig) {
  if (g_child > 0) kill(-g_child, sig);
}

static double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

int main(int argc, char** argv) {
  const char* out = nullptr;
  unsigned timeout = 0;
  int i = 1;
  for (; i < argc; ++i) {
    if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) out = argv[++i];
    else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) timeout = unsigned(atoi(argv[++i]));
    else if (strcmp(argv[i], "--") == 0) { ++i; break; }
    else break;
  }
  if (!out || i >= argc) {
    fprintf(stderr, "usage: %s [-t SECONDS] -o OUT.json -- PROGRAM ARGS...\n", argv[0]);
    return 2;
  }
  double t0 = now();
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return 2; }
  if (pid == 0) {
    setpgid(0, 0);
    execvp(argv[i], argv + i);
    fprintf(stderr, "lm_bench_rusage: cannot execute %s\n", argv[i]);
    _exit(127);
  }
  g_child = pid;
  setpgid(pid, pid);
  if (timeout) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, nullptr);
    alarm(timeout);
  }
  // Forward termination requests to the child so a killed runner leaves nothing behind.
  struct sigaction st;
  memset(&st, 0, sizeof st);
  st.sa_handler = on_term;
  sigaction(SIGTERM, &st, nullptr);
  sigaction(SIGINT, &st, nullptr);
  int status = 0;
  rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(pid, &status, 0, &ru) < 0) {
  }
  double wall = now() - t0;
  alarm(0);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  FILE* f = fopen(out, "w");
  if (!f) { perror(out); return 2; }
  fprintf(f,
          "{\"wall_s\": %.6f, \"user_s\": %.6f, \"sys_s\": %.6f, \"maxrss_kb\": %ld, "
          "\"exit\": %d, \"signal\": %d, \"timed_out\": %s, \"minflt\": %ld, \"majflt\": %ld}\n",
          wall, double(ru.ru_utime.tv_sec) + double(ru.ru_utime.tv_usec) * 1e-6,
          double(ru.ru_stime.tv_sec) + double(ru.ru_stime.tv_usec) * 1e-6, ru.ru_maxrss, code, sig,
          g_timed_out ? "true" : "false", ru.ru_minflt, ru.ru_majflt);
  fclose(f);
  return sig ? 128 + sig : code;
}
