// lock.h: a futex mutex (Drepper's three-state lock) that never allocates and
// can be reset in a forked child. Not recursive. Used by every module that
// needs mutual exclusion; the fork protocol lives in core/.
#pragma once

#include <sys/single_threaded.h>

#include <atomic>

#include "base/base.h"

namespace lm {

// Set on the thread that forks, from core's fork_prepare (which has taken
// every Mutex) until fork_parent or fork_child gives them back. The program's
// own pthread_atfork handlers run inside that window when they were
// registered before libmalloc's (its prepare handlers after ours, its parent
// and child handlers before ours), and may allocate, as glibc allows: that
// thread holds every lock, so on it lock, try_lock and unlock do nothing.
extern constinit thread_local bool t_holds_fork_locks LM_TLS_IE;

// How many of libmalloc's locks the calling thread holds. Not 0 at exit()
// means a signal handler interrupted this thread inside libmalloc and
// called exit: exit-time reports, which take these locks, are skipped then
// (stats=1 hung there, on the lock the interrupted code held). Reset in a
// forked child. Locks a single-threaded process skips are not counted: a
// program that siglongjmps out of a handler that interrupted the allocator
// then lost every exit report for good.
extern constinit thread_local unsigned t_lock_depth LM_TLS_IE;

class Mutex {
 public:
  constexpr Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // The depth counts a lock from before it is taken until after it is
  // released (the signal fences keep the compiler from moving the count
  // across the atomic operation): a handler that interrupts the thread
  // between the two must see it inside. (Counted down before the release, a
  // SIGALRM handler calling exit() there found the depth 0 with the lock
  // still held, and the stats=1 report waited on it for good: 1 child in ~3300
  // of api_exit_signal_threaded under load.)
  LM_FAST_PATH void lock() {
    ++t_lock_depth;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    int expected = 0;
    if (LM_LIKELY(state_.compare_exchange_strong(expected, 1, std::memory_order_acquire))) return;
    lock_slow();
  }
  LM_FAST_PATH bool try_lock() {
    ++t_lock_depth;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    int expected = 0;
    bool got = state_.compare_exchange_strong(expected, 1, std::memory_order_acquire) || t_holds_fork_locks;
    if (!got) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
      --t_lock_depth;
    }
    return got;
  }
  LM_FAST_PATH void unlock() {
    if (LM_UNLIKELY(t_holds_fork_locks)) {
      --t_lock_depth;
      return;
    }
    int was = state_.exchange(0, std::memory_order_release);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    --t_lock_depth;
    if (LM_UNLIKELY(was == 2)) unlock_slow();
  }
  // Only in a forked child, where the thread that held it no longer exists.
  void reset_after_fork() { state_.store(0, std::memory_order_relaxed); }

 private:
  LM_SLOW_PATH void lock_slow();
  LM_SLOW_PATH void unlock_slow();
  // 0 free, 1 held, 2 held with waiters.
  std::atomic<int> state_{0};
};

// Scoped lock. While the process has a single thread (glibc's
// __libc_single_threaded, cleared for good by the first pthread_create) it
// skips the atomic operations, as glibc's malloc does: they are most of the
// cost of an uncontended lock. The choice is made once per guard, so a lock
// and its unlock always match.
class LockGuard {
 public:
  explicit LockGuard(Mutex& m) : m_(m), held_(!__libc_single_threaded) {
    if (held_) m_.lock();
  }
  ~LockGuard() {
    if (held_) m_.unlock();
  }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Mutex& m_;
  bool held_;
};

}  // namespace lm
