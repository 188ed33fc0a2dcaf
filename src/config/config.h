// config.h: the option table expanded into a struct, its parsers, and the
// tunables that mallopt may change at run time. Owns option state only; the
// modules read it. Parsing runs once, during lazy initialisation, and never
// allocates (getenv is the only libc call).
#pragma once

#include <atomic>
#include <cstddef>

#include "base/base.h"
#include "config/constants.h"

namespace lm::config {

struct Options {
#define LM_OPTION_bool bool
#define LM_OPTION_size size_t
#define LM_OPTION_str char
#define LM_OPTION(type, name, def, help) LM_OPTION_FIELD_##type(name)
#define LM_OPTION_FIELD_bool(name) bool name;
#define LM_OPTION_FIELD_size(name) size_t name;
#define LM_OPTION_FIELD_str(name) char name[256];
#include "config/options.def"
#undef LM_OPTION
};

// Which tunables the user set explicitly (mallopt, environment): glibc turns
// the dynamic threshold off once either threshold is set, and libmalloc's
// trim hysteresis honours an explicit trim threshold exactly.
struct Tunables {
  std::atomic<size_t> mmap_threshold;
  std::atomic<size_t> trim_threshold;
  std::atomic<size_t> top_pad;
  std::atomic<size_t> mmap_max;
  std::atomic<int> perturb;
  std::atomic<bool> dynamic_threshold;
  std::atomic<bool> trim_threshold_set;
};

// The options in force. Valid after parse_environment().
const Options& options();
Tunables& tunables();

// Reads GLIBC_TUNABLES, the MALLOC_*_ variables and LIBMALLOC_OPTIONS (in
// that order: later ones win), reporting bad names and values on stderr once
// and keeping the defaults for them. Then prints help/verbose output.
void parse_environment();

// Parses one LIBMALLOC_OPTIONS-style string into `out` (exposed for tests).
// Returns the number of errors reported.
int parse_options_for_testing(const char* text, Options* out);
void set_defaults(Options* out);

// mallopt(): param numbers as in <malloc.h>. Returns 1 on success, 0 if the
// parameter or value is not accepted (glibc's convention).
int mallopt(int param, int value);

// The madvise advice the thp option asks for on new memory: MADV_HUGEPAGE
// (always), MADV_NOHUGEPAGE (never), or 0 (default: leave the kernel's).
int thp_advice();

// Text of option `name` into buf; 0, or -1 if there is no such option.
int get_option(const char* name, char* buf, size_t buflen);

// Prints the option table (help=1) or the values in force (verbose=1).
void print_help(int fd);
void print_options(int fd);

}  // namespace lm::config
