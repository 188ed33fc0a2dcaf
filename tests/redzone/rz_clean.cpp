// rz_clean.cpp: a correct program exercising the whole API (C and C++,
// aligned, realloc growth and shrink, calloc, threads, fork). Under redzone
// mode it must print exactly what it prints without it, and no report.
#include <malloc.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace {

unsigned long checksum(const void* p, size_t n) {
  unsigned long h = 1469598103934665603ul;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const unsigned char*>(p)[i]) * 1099511628211ul;
  return h;
}

void* worker(void* arg) {
  long k = reinterpret_cast<long>(arg);
  std::map<int, std::string> m;
  for (int i = 0; i < 5000; ++i) m[(i * 7919) % 4001] = std::to_string(i * k);
  unsigned long h = 0;
  for (auto& [key, v] : m) h += checksum(v.data(), v.size()) ^ static_cast<unsigned long>(key);
  return reinterpret_cast<void*>(h & 0xffff);
}

// Holds a block only in its own stack frame, tells main, and waits for
// ever: still running at exit, so its stack is a leak-scan root (the block
// was reported as a leak).
int g_ready[2];
void* holder(void*) {
  char* volatile held = static_cast<char*>(malloc(333));
  memset(held, 7, 333);
  char c = 1;
  if (write(g_ready[1], &c, 1) != 1) return nullptr;
  for (;;) pause();
  return held;
}

}  // namespace

int main() {
  // C API, every size up to a few pages plus heap-sized and mapped blocks.
  unsigned long h = 0;
  for (size_t n = 0; n < 5000; n += 7) {
    auto* p = static_cast<unsigned char*>(malloc(n));
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(i * 31 + n);
    if (malloc_usable_size(p) < n) return 1;
    h += checksum(p, n);
    free(p);
  }
  for (size_t n : {size_t{64} << 10, size_t{1} << 20, size_t{3} << 20}) {
    auto* p = static_cast<char*>(calloc(n, 1));
    for (size_t i = 0; i < n; i += 4096)
      if (p[i]) return 2;
    memset(p, 'x', n);
    h += checksum(p, n);
    free(p);
  }
  // realloc growth and shrink keep the contents.
  char* s = nullptr;
  size_t len = 0;
  for (int i = 0; i < 3000; ++i) {
    char buf[16];
    int k = snprintf(buf, sizeof buf, "%d,", i);
    s = static_cast<char*>(realloc(s, len + k + 1));
    memcpy(s + len, buf, k + 1);
    len += k;
  }
  s = static_cast<char*>(realloc(s, 100));
  s[99] = 0;
  printf("realloc %zu %s\n", len, s + 90);
  free(s);
  // Alignment.
  for (size_t a = 16; a <= 65536; a *= 4) {
    void* p = nullptr;
    if (posix_memalign(&p, a, 100) != 0 || reinterpret_cast<uintptr_t>(p) % a) return 3;
    void* q = aligned_alloc(a, a * 2);
    if (reinterpret_cast<uintptr_t>(q) % a) return 4;
    free(p);
    free(q);
  }
  void* v = valloc(10);
  free(v);
  // C++.
  std::vector<std::unique_ptr<std::string>> strs;
  for (int i = 0; i < 10000; ++i) strs.push_back(std::make_unique<std::string>(std::to_string(i) + "-item"));
  auto* arr = new int[1000]();
  struct alignas(64) Wide {
    char x[100];
  };
  auto* w = new Wide[3];
  delete[] w;
  delete[] arr;
  std::map<std::string, int> counts;
  for (auto& p : strs) counts[p->substr(0, 2)]++;
  printf("c++ %zu %d %d\n", counts.size(), counts["12"], counts["99"]);
  // Threads.
  pthread_t t[4];
  for (long k = 0; k < 4; ++k) pthread_create(&t[k], nullptr, worker, reinterpret_cast<void*>(k + 1));
  unsigned long th = 0;
  for (auto& x : t) {
    void* r;
    pthread_join(x, &r);
    th += reinterpret_cast<unsigned long>(r);
  }
  printf("threads %lu\n", th);
  // fork: the child allocates and frees.
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<std::string> v2(1000, "child");
    _exit(v2.size() == 1000 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  printf("fork %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  printf("checksum %lx\n", h);
  // More short-lived threads than the leak scan's table of stacks holds
  // (4096): glibc reuses their stacks, and so must the table, or the
  // holder's stack is not a root.
  for (int i = 0; i < 5000; ++i) {
    pthread_t c;
    pthread_create(&c, nullptr, [](void*) -> void* {
      void* volatile q = malloc(16);
      free(q);
      return nullptr;
    }, nullptr);
    pthread_join(c, nullptr);
  }
  if (pipe(g_ready) == 0) {
    pthread_t ht;
    pthread_create(&ht, nullptr, holder, nullptr);
    pthread_detach(ht);
    char c = 0;
    if (read(g_ready[0], &c, 1) != 1) return 1;
  }
  return 0;
}
