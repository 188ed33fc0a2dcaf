// lock.cpp: the contended halves of Mutex, on the futex system call.
#include "base/lock.h"

#include <cerrno>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace lm {

namespace {
// Both keep errno: a malloc that succeeds must not change it.
void futex_wait(std::atomic<int>* word, int value) {
  int saved = errno;
  syscall(SYS_futex, reinterpret_cast<int*>(word), FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
  errno = saved;
}
void futex_wake_one(std::atomic<int>* word) {
  int saved = errno;
  syscall(SYS_futex, reinterpret_cast<int*>(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  errno = saved;
}
}  // namespace

constinit thread_local bool t_holds_fork_locks LM_TLS_IE = false;
constinit thread_local unsigned t_lock_depth LM_TLS_IE = 0;

void Mutex::lock_slow() {
  if (t_holds_fork_locks) return;  // held since fork_prepare (lock.h)
  // Spin briefly: critical sections here are short.
  for (int i = 0; i < 100; ++i) {
    int expected = 0;
    if (state_.load(std::memory_order_relaxed) == 0 &&
        state_.compare_exchange_weak(expected, 1, std::memory_order_acquire))
      return;
    __builtin_ia32_pause();
  }
  // Mark contended and sleep until released.
  while (state_.exchange(2, std::memory_order_acquire) != 0) futex_wait(&state_, 2);
}

void Mutex::unlock_slow() { futex_wake_one(&state_); }

}  // namespace lm
