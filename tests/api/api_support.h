// api_support.h: helpers shared by the api tests: which allocator is under
// test, /proc/self readers, byte patterns, and child processes (the test
// binary re-executed in a "child mode" with its own environment).
// Not here: the test cases themselves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct libmalloc_stats;

namespace apitest {

// LM_TEST_ALLOCATOR, set by each meson registration: "libmalloc" (linked in
// or preloaded) or "glibc" (the tests checking themselves against glibc).
bool testing_glibc();

// libmalloc's extensions when libmalloc is the allocator in this process,
// else null: linked in directly, or found with dlsym when preloaded.
const char* lm_version();
bool lm_get_stats(libmalloc_stats* out);
bool lm_print_stats(int fd);
int lm_heap_check();
int lm_get_option(const char* name, char* buf, size_t buflen);

// Hides a value from the optimiser, so that impossible sizes and deliberate
// misuse are not folded or warned about at compile time.
template <class T>
T opaque(T value) {
  asm volatile("" : "+r"(value));
  return value;
}

// True when [p, p+1) lies inside the [heap] line of /proc/self/maps.
bool in_brk_heap(const void* p);
// The end of the [heap] line (the program break), 0 when there is none.
uintptr_t brk_heap_end();
// Resident set size of this process, from /proc/self/statm.
size_t rss_bytes();
// Its high-water mark (VmHWM in /proc/self/status).
size_t peak_rss_bytes();
// Its address space (VmSize in /proc/self/status).
size_t vm_size_bytes();

// Writes and checks a pattern that depends on seed and offset.
void fill(void* p, size_t n, uint32_t seed);
bool check(const void* p, size_t n, uint32_t seed);
bool all_bytes(const void* p, size_t n, unsigned char value);

bool is_aligned(const void* p, size_t alignment);

// Captures what fd 2 receives while `fn` runs, into a string.
std::string capture_stderr(void (*fn)());

struct ChildResult {
  int pid = -1;
  int status = -1;  // as waitpid reports it
  bool timed_out = false;
  std::string out, err;
  bool exited_ok() const;
  bool aborted() const;  // killed by SIGABRT
};

// Runs this test binary again as `self --child <args...>` with the current
// environment plus `env` ("NAME=value", replacing any NAME already set),
// killing it after timeout_s seconds.
ChildResult run_self(const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {}, int timeout_s = 60);

// Child modes: `--child NAME args...` runs the function registered under
// NAME and exits with its return value.
using ChildMain = int (*)(const std::vector<std::string>& args);
struct ChildModeRegistrar {
  ChildModeRegistrar(const char* name, ChildMain fn);
};
int run_child_mode(int argc, char** argv);

bool contains(const std::string& haystack, const std::string& needle);
std::vector<std::string> lines(const std::string& text);
std::string hex_pointer(const void* p);  // "0x7f..." lowercase

}  // namespace apitest

#define LM_CONCAT2(a, b) a##b
#define LM_CONCAT(a, b) LM_CONCAT2(a, b)
// CHILD_MODE("name") { ...; return exit_code; }  (args: the words after name)
#define CHILD_MODE(name)                                                           \
  static int LM_CONCAT(child_mode_, __LINE__)(const std::vector<std::string>& args); \
  static apitest::ChildModeRegistrar LM_CONCAT(child_reg_, __LINE__)(              \
      name, LM_CONCAT(child_mode_, __LINE__));                                     \
  static int LM_CONCAT(child_mode_, __LINE__)([[maybe_unused]] const std::vector<std::string>& args)

// Marks a test case that checks libmalloc's own behaviour, skipped when the
// tests run against glibc.
#define LIBMALLOC_ONLY doctest::skip(apitest::testing_glibc())
