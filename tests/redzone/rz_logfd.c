// rz_logfd.c [own]: log_path across fork (logfd.sh). The parent reports a
// bug (its PATH.PID file opens), forks, and the child reports one too (its
// own file): the child must not keep the parent's file open. Prints, from
// the child, "parent's log open in child: N". With `own`, the parent first
// puts a file of its own on the log's descriptor number (dup2, as bash's
// `exec 3>file`), and the child writes to it: the child's fork handler must
// not close it (it did: "Bad file descriptor"). Prints "own file: ok".
// With `reused FILE`, the program closes the log's descriptor and puts FILE
// on its number, reports a second bug, writes "DATA" to FILE and exits
// (stats=1): the report and the statistics must go to the log, not FILE
// (the second report went into FILE, the statistics nowhere).
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void overflow(void) {
  char* volatile p = malloc(24);
  p[24] = 1;
  free(p);
}

// The descriptors open on log files (".../log.PID") of process `pid`: how
// many, and the last one in *fd (-1 if none).
static int log_fds(pid_t pid, int* fd) {
  char want[64];
  snprintf(want, sizeof want, "/log.%d", (int)pid);
  int count = 0;
  *fd = -1;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  for (struct dirent* e; (e = readdir(d)) != NULL;) {
    char link[300], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    size_t len = strlen(target), wl = strlen(want);
    if (len > wl && strcmp(target + len - wl, want) == 0) {
      ++count;
      *fd = atoi(e->d_name);
    }
  }
  closedir(d);
  return count;
}

static int own_file(void) {
  int fd;
  if (log_fds(getpid(), &fd) != 1) return 2;
  int mine = open("/dev/null", O_WRONLY);
  if (mine < 0 || dup2(mine, fd) != fd) return 2;
  close(mine);
  pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) _exit(write(fd, "x", 1) == 1 ? 0 : 1);
  int status = 0;
  waitpid(child, &status, 0);
  printf("own file: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "closed in the child");
  return 0;
}

static int reused(const char* path) {
  int fd;
  if (log_fds(getpid(), &fd) != 1) return 2;
  close(fd);
  int mine = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (mine < 0 || (mine != fd && dup2(mine, fd) != fd)) return 2;
  if (mine != fd) close(mine);
  overflow();
  if (write(fd, "DATA\n", 5) != 5) return 2;
  close(fd);
  return 0;
}

int main(int argc, char** argv) {
  // `reused0 FILE`: as reused, with the log opened on descriptor 0 (closed
  // first): a log on 0, 1 or 2 was never checked.
  if (argc > 1 && strcmp(argv[1], "reused0") == 0) close(0);
  overflow();
  if (argc > 1 && strcmp(argv[1], "own") == 0) return own_file();
  if (argc > 2 && (strcmp(argv[1], "reused") == 0 || strcmp(argv[1], "reused0") == 0)) return reused(argv[2]);
  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) {
    overflow();
    int unused;
    int open_in_child = log_fds(parent, &unused);
    if (open_in_child < 0) _exit(2);
    printf("parent's log open in child: %d\n", open_in_child);
    fflush(stdout);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}
