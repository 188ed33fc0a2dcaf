// api_support.cpp: the helpers of api_support.h and the test binary's main,
// which either runs doctest or, given `--child NAME ...`, one child mode.
#define DOCTEST_CONFIG_IMPLEMENT
#include "api_support.h"

#include <doctest/doctest.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "libmalloc.h"

extern char** environ;

namespace apitest {

bool testing_glibc() {
  const char* v = getenv("LM_TEST_ALLOCATOR");
  return v != nullptr && strcmp(v, "glibc") == 0;
}

// The static-link build calls libmalloc directly (an executable does not
// export its symbols to dlsym); other builds look the preloaded ones up.
#ifdef LM_TEST_LINKED
#define LM_LOOKUP(name) (&name)
#else
#define LM_LOOKUP(name) reinterpret_cast<decltype(&name)>(dlsym(RTLD_DEFAULT, #name))
#endif

const char* lm_version() {
  auto fn = LM_LOOKUP(libmalloc_version);
  return fn ? fn() : nullptr;
}

bool lm_get_stats(libmalloc_stats* out) {
  auto fn = LM_LOOKUP(libmalloc_get_stats);
  return fn && fn(out) == 0;
}

bool lm_print_stats(int fd) {
  auto fn = LM_LOOKUP(libmalloc_print_stats);
  if (fn) fn(fd);
  return fn != nullptr;
}

int lm_heap_check() {
  auto fn = LM_LOOKUP(libmalloc_heap_check);
  return fn ? fn() : -2;
}

int lm_get_option(const char* name, char* buf, size_t buflen) {
  auto fn = LM_LOOKUP(libmalloc_get_option);
  return fn ? fn(name, buf, buflen) : -2;
}

bool in_brk_heap(const void* p) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    if (line.find("[heap]") == std::string::npos) continue;
    uintptr_t lo = 0, hi = 0;
    if (sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 && addr >= lo && addr < hi)
      return true;
  }
  return false;
}

uintptr_t brk_heap_end() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (line.find("[heap]") != std::string::npos &&
        sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2)
      return hi;
  }
  return 0;
}

namespace {
// A "Name: N kB" line of /proc/self/status, in bytes (0 if absent).
size_t status_bytes(const char* format) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    size_t kb = 0;
    if (sscanf(line.c_str(), format, &kb) == 1) return kb * 1024;
  }
  return 0;
}
}  // namespace

size_t peak_rss_bytes() { return status_bytes("VmHWM: %zu kB"); }
size_t vm_size_bytes() { return status_bytes("VmSize: %zu kB"); }

size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t total = 0, resident = 0;
  statm >> total >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

static unsigned char pattern_byte(size_t i, uint32_t seed) {
  return static_cast<unsigned char>((i * 131u + seed * 7u + (i >> 8)) ^ (seed >> 3));
}

void fill(void* p, size_t n, uint32_t seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) b[i] = pattern_byte(i, seed);
}

bool check(const void* p, size_t n, uint32_t seed) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != pattern_byte(i, seed)) return false;
  return true;
}

bool all_bytes(const void* p, size_t n, unsigned char value) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != value) return false;
  return true;
}

bool is_aligned(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

static std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh empty file under /tmp; the caller unlinks it.
static std::string temp_path() {
  char path[] = "/tmp/lm_api_XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) close(fd);
  return path;
}

std::string capture_stderr(void (*fn)()) {
  std::string path = temp_path();
  fflush(stderr);
  int saved = dup(2);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fd, 2);
  close(fd);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::string text = read_file(path.c_str());
  unlink(path.c_str());
  return text;
}

bool ChildResult::exited_ok() const {
  return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool ChildResult::aborted() const {
  return !timed_out && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

ChildResult run_self(const std::vector<std::string>& args, const std::vector<std::string>& env,
                     int timeout_s) {
  ChildResult r;
  std::string out_path = temp_path(), err_path = temp_path();

  std::vector<std::string> argv_s = {"/proc/self/exe", "--child"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (auto& x : env) replaced |= x.substr(0, x.find('=')) == name;
    if (!replaced) env_s.push_back(entry);
  }
  env_s.insert(env_s.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    r.err = std::string("posix_spawn failed: ") + strerror(rc);
    return r;
  }
  r.pid = pid;
  // Poll so that a hung child fails the test instead of hanging CI.
  for (long waited_ms = 0;; waited_ms += 10) {
    pid_t w = waitpid(pid, &r.status, WNOHANG);
    if (w == pid) break;
    if (waited_ms >= timeout_s * 1000L) {
      kill(pid, SIGKILL);
      waitpid(pid, &r.status, 0);
      r.timed_out = true;
      break;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  r.out = read_file(out_path.c_str());
  r.err = read_file(err_path.c_str());
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return r;
}

static std::map<std::string, ChildMain>& child_modes() {
  static std::map<std::string, ChildMain> modes;
  return modes;
}

ChildModeRegistrar::ChildModeRegistrar(const char* name, ChildMain fn) {
  child_modes()[name] = fn;
}

int run_child_mode(int argc, char** argv) {
  if (argc < 3) return 2;
  auto it = child_modes().find(argv[2]);
  if (it == child_modes().end()) {
    fprintf(stderr, "unknown child mode %s\n", argv[2]);
    return 2;
  }
  std::vector<std::string> args(argv + 3, argv + argc);
  return it->second(args);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

std::string hex_pointer(const void* p) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%" PRIxPTR, reinterpret_cast<uintptr_t>(p));
  return buf;
}

}  // namespace apitest

// The trivial child mode: prints "ok" and exits 0.
CHILD_MODE("noop") {
  void* p = malloc(100);
  free(p);
  printf("ok\n");
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "--child") == 0) {
    int rc = apitest::run_child_mode(argc, argv);
    fflush(stdout);
    return rc;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
