// child.h: runs a piece of a unit test in a forked child, for the cases that
// must abort (double free, damaged headers). Test-only.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lmtest {

// Runs f in a child with stderr silenced; returns the signal that ended it,
// or 0 if it exited.
template <class F>
int signal_of_child(F f) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    f();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

}  // namespace lmtest
