// config.cpp: option defaults, the three environment parsers and mallopt.
// Never allocates; messages go to stderr through os::Writer.
#include "config/config.h"

#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#include "os/os.h"

namespace lm::config {

namespace {

constinit Options g_options{};
constinit Tunables g_tunables{};

enum class Type { kBool, kSize, kStr };

struct OptionInfo {
  const char* name;
  Type type;
  const char* def_text;
  const char* help;
  size_t offset;
};

#define LM_OPTION_TYPE_bool Type::kBool
#define LM_OPTION_TYPE_size Type::kSize
#define LM_OPTION_TYPE_str Type::kStr
constexpr OptionInfo kTable[] = {
#define LM_OPTION(type, name, def, help) {#name, LM_OPTION_TYPE_##type, #def, help, offsetof(Options, name)},
#include "config/options.def"
#undef LM_OPTION
};

const OptionInfo* find(const char* name, size_t len) {
  for (const OptionInfo& o : kTable)
    if (std::strlen(o.name) == len && std::memcmp(o.name, name, len) == 0) return &o;
  return nullptr;
}

bool parse_size(const char* s, size_t len, size_t* out) {
  if (len == 0) return false;
  size_t v = 0;
  size_t i = 0;
  unsigned base = 10;
  if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    i = 2;
  }
  bool any = false;
  for (; i < len; ++i) {
    char c = s[i];
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
    else break;
    if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) return false;
    any = true;
  }
  if (!any) return false;
  if (i < len) {
    if (i + 1 != len || base == 16) return false;
    unsigned shift;
    switch (s[i]) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      default: return false;
    }
    if (v > (~size_t{0} >> shift)) return false;
    v <<= shift;
  }
  *out = v;
  return true;
}

bool parse_bool(const char* s, size_t len, bool* out) {
  auto is = [&](const char* w) { return std::strlen(w) == len && std::memcmp(s, w, len) == 0; };
  if (is("1") || is("true") || is("yes")) return *out = true, true;
  if (is("0") || is("false") || is("no")) return *out = false, true;
  return false;
}

// Set by any explicit setting of these tunables, from any source: glibc
// turns its dynamic threshold off once one is set, and libmalloc's trim
// hysteresis honours an explicit trim threshold exactly.
bool g_trim_threshold_set = false;
bool g_tuning_set = false;

void note_explicit(const char* name) {
  if (std::strcmp(name, "trim_threshold") == 0) g_trim_threshold_set = true;
  if (std::strcmp(name, "mmap_threshold") == 0 || std::strcmp(name, "trim_threshold") == 0 ||
      std::strcmp(name, "top_pad") == 0 || std::strcmp(name, "mmap_max") == 0)
    g_tuning_set = true;
}

void complain(const char* source, const char* what, const char* text, size_t len, const char* name) {
  os::Writer w(2);
  char piece[96];
  size_t n = len < sizeof(piece) - 1 ? len : sizeof(piece) - 1;
  std::memcpy(piece, text, n);
  piece[n] = '\0';
  if (name)
    w.printf("libmalloc: %s: bad value '%s' for option '%s' (ignored)\n", source, piece, name);
  else
    w.printf("libmalloc: %s: %s '%s' (ignored)\n", source, what, piece);
}

// Sets one option from text; false if the value does not parse.
bool set_value(Options* out, const OptionInfo& o, const char* v, size_t vlen) {
  char* field = reinterpret_cast<char*>(out) + o.offset;
  switch (o.type) {
    case Type::kBool: {
      bool b;
      if (!parse_bool(v, vlen, &b)) return false;
      std::memcpy(field, &b, sizeof b);
      return true;
    }
    case Type::kSize: {
      size_t s;
      if (!parse_size(v, vlen, &s)) return false;
      std::memcpy(field, &s, sizeof s);
      return true;
    }
    case Type::kStr: {
      if (vlen > 255) return false;
      std::memcpy(field, v, vlen);
      field[vlen] = '\0';
      return true;
    }
  }
  return false;
}

// String options that take one of a few words.
struct Choice {
  const char* option;
  const char* words[4];
};
constexpr Choice kChoices[] = {
    {"purge", {"dontneed", "free", nullptr, nullptr}},
    {"thp", {"default", "always", "never", nullptr}},
};

bool valid_choice(const OptionInfo& o, const char* v, size_t vlen) {
  for (const Choice& c : kChoices) {
    if (std::strcmp(c.option, o.name) != 0) continue;
    for (const char* w : c.words)
      if (w && std::strlen(w) == vlen && std::memcmp(w, v, vlen) == 0) return true;
    return false;
  }
  return true;
}

// Walks "a=1:b=2" (',' also separates, as ASan accepts).
int parse_list(const char* text, Options* out, const char* source) {
  int errors = 0;
  const char* p = text;
  while (*p) {
    const char* item = p;
    while (*p && *p != ':' && *p != ',') ++p;
    size_t ilen = static_cast<size_t>(p - item);
    if (*p) ++p;
    if (ilen == 0) continue;
    const char* eq = static_cast<const char*>(std::memchr(item, '=', ilen));
    if (!eq) {
      complain(source, "missing '=' in", item, ilen, nullptr);
      ++errors;
      continue;
    }
    const OptionInfo* o = find(item, static_cast<size_t>(eq - item));
    if (!o) {
      complain(source, "unknown option", item, static_cast<size_t>(eq - item), nullptr);
      ++errors;
      continue;
    }
    const char* v = eq + 1;
    size_t vlen = ilen - static_cast<size_t>(v - item);
    if (!valid_choice(*o, v, vlen) || !set_value(out, *o, v, vlen)) {
      complain(source, nullptr, v, vlen, o->name);
      ++errors;
    } else {
      note_explicit(o->name);
    }
  }
  return errors;
}

void format_value(const Options& opts, const OptionInfo& o, char* buf, size_t buflen) {
  const char* field = reinterpret_cast<const char*>(&opts) + o.offset;
  switch (o.type) {
    case Type::kBool: {
      bool b;
      std::memcpy(&b, field, sizeof b);
      os::format(buf, buflen, "%d", b ? 1 : 0);
      break;
    }
    case Type::kSize: {
      size_t s;
      std::memcpy(&s, field, sizeof s);
      os::format(buf, buflen, "%zu", s);
      break;
    }
    case Type::kStr:
      os::format(buf, buflen, "%s", field);
      break;
  }
}

// The glibc names (GLIBC_TUNABLES glibc.malloc.NAME and MALLOC_NAME_) that
// map onto our options. Other glibc.malloc tunables (tcache_*, mxfast,
// hugetlb...) have no meaning here and are ignored silently, as glibc
// ignores names it does not know.
struct GlibcName {
  const char* tunable;
  const char* env;
  const char* option;
};
constexpr GlibcName kGlibcNames[] = {
    {"mmap_threshold", "MALLOC_MMAP_THRESHOLD_", "mmap_threshold"},
    {"trim_threshold", "MALLOC_TRIM_THRESHOLD_", "trim_threshold"},
    {"top_pad", "MALLOC_TOP_PAD_", "top_pad"},
    {"mmap_max", "MALLOC_MMAP_MAX_", "mmap_max"},
    {"perturb", "MALLOC_PERTURB_", "perturb"},
    {"arena_max", "MALLOC_ARENA_MAX", "arena_max"},
};

// A number as glibc reads these variables (its loader's strtoul): blanks,
// an optional sign, then base 0 (a leading 0 is octal: 0400000 is 131072;
// 0x hexadecimal). A minus sign wraps the value around as glibc's does:
// MALLOC_TRIM_THRESHOLD_=-1 is SIZE_MAX, "never trim" (it was reported as
// a bad value, and the heap was trimmed). As ours, a decimal number may end
// in k, m or g; anything else left over is an error (glibc would read the
// digits before it).
bool parse_glibc_number(const char* v, size_t vlen, size_t* out) {
  while (vlen > 0 && (*v == ' ' || *v == '\t')) ++v, --vlen;
  bool negative = vlen > 0 && *v == '-';
  if (vlen > 0 && (*v == '-' || *v == '+')) ++v, --vlen;
  size_t n = 0;
  if (vlen < 2 || v[0] != '0' || v[1] < '0' || v[1] > '9') {
    if (!parse_size(v, vlen, &n)) return false;
  } else {
    for (size_t i = 1; i < vlen; ++i) {
      if (v[i] < '0' || v[i] > '7' || __builtin_mul_overflow(n, 8, &n)) return false;
      n += static_cast<size_t>(v[i] - '0');
    }
  }
  *out = negative ? 0 - n : n;
  return true;
}

void set_glibc(Options* out, const char* option, const char* v, size_t vlen, const char* source) {
  const OptionInfo* o = find(option, std::strlen(option));
  size_t n = 0;
  // glibc's perturb tunable takes 0..255 (the low byte of a larger value
  // was used here), its mmap_max 0 and up: other values (a negative one
  // wrapped around) are ignored.
  bool ok = o->type == Type::kSize ? parse_glibc_number(v, vlen, &n) &&
                                         (std::strcmp(option, "perturb") != 0 || n <= 255) &&
                                         (std::strcmp(option, "mmap_max") != 0 || static_cast<ptrdiff_t>(n) >= 0)
                                   : set_value(out, *o, v, vlen);
  if (!ok) {
    complain(source, nullptr, v, vlen, o->name);
    return;
  }
  if (o->type == Type::kSize) std::memcpy(reinterpret_cast<char*>(out) + o->offset, &n, sizeof n);
  note_explicit(option);
}

void parse_glibc_tunables(Options* out) {
  const char* t = std::getenv("GLIBC_TUNABLES");
  if (!t) return;
  constexpr char kPrefix[] = "glibc.malloc.";
  const char* p = t;
  while (*p) {
    const char* item = p;
    while (*p && *p != ':') ++p;
    size_t ilen = static_cast<size_t>(p - item);
    if (*p) ++p;
    if (ilen <= sizeof(kPrefix) - 1 || std::memcmp(item, kPrefix, sizeof(kPrefix) - 1) != 0) continue;
    const char* name = item + sizeof(kPrefix) - 1;
    const char* eq = static_cast<const char*>(std::memchr(name, '=', ilen - (sizeof(kPrefix) - 1)));
    if (!eq) continue;
    size_t nlen = static_cast<size_t>(eq - name);
    for (const GlibcName& g : kGlibcNames) {
      if (std::strlen(g.tunable) == nlen && std::memcmp(g.tunable, name, nlen) == 0)
        set_glibc(out, g.option, eq + 1, ilen - static_cast<size_t>(eq + 1 - item), "GLIBC_TUNABLES");
    }
  }
}

void parse_glibc_env(Options* out) {
  for (const GlibcName& g : kGlibcNames) {
    const char* v = std::getenv(g.env);
    if (v && *v) set_glibc(out, g.option, v, std::strlen(v), g.env);
  }
}

// A set-user-ID or set-group-ID program, or one with file capabilities: the
// kernel sets AT_SECURE, and the environment comes from a less privileged
// user. None of it is read then, as glibc drops its MALLOC_ variables and
// malloc tunables in such programs: log_path=PATH alone let any user make a
// set-user-ID root program linked with libmalloc.a create or append to
// PATH.PID anywhere. (The dynamic loader already ignores an LD_PRELOAD
// with a slash there.) Silently: the program's stderr belongs to that user.
bool secure_execution() { return getauxval(AT_SECURE) != 0; }

void publish_tunables(const Options& o) {
  g_tunables.mmap_threshold.store(o.mmap_threshold, std::memory_order_relaxed);
  g_tunables.trim_threshold.store(o.trim_threshold, std::memory_order_relaxed);
  g_tunables.top_pad.store(o.top_pad, std::memory_order_relaxed);
  g_tunables.mmap_max.store(o.mmap_max, std::memory_order_relaxed);
  g_tunables.perturb.store(static_cast<int>(o.perturb & 0xff), std::memory_order_relaxed);
  g_tunables.dynamic_threshold.store(o.dynamic_threshold && !g_tuning_set, std::memory_order_relaxed);
  g_tunables.trim_threshold_set.store(g_trim_threshold_set, std::memory_order_relaxed);
}

}  // namespace

const Options& options() { return g_options; }
Tunables& tunables() { return g_tunables; }

void set_defaults(Options* out) {
#define LM_OPTION(type, name, def, help) LM_OPTION_DEFAULT_##type(name, def)
#define LM_OPTION_DEFAULT_bool(name, def) out->name = def;
#define LM_OPTION_DEFAULT_size(name, def) out->name = def;
#define LM_OPTION_DEFAULT_str(name, def) os::format(out->name, sizeof(out->name), "%s", def);
#include "config/options.def"
#undef LM_OPTION
}

int parse_options_for_testing(const char* text, Options* out) { return parse_list(text, out, "LIBMALLOC_OPTIONS"); }

void parse_environment() {
  set_defaults(&g_options);
  if (secure_execution()) {
    publish_tunables(g_options);
    return;
  }
  // glibc 2.36 lets GLIBC_TUNABLES win over the MALLOC_*_ aliases, whatever
  // their order in the environment.
  parse_glibc_env(&g_options);
  parse_glibc_tunables(&g_options);
  if (const char* lo = std::getenv("LIBMALLOC_OPTIONS")) parse_list(lo, &g_options, "LIBMALLOC_OPTIONS");
  publish_tunables(g_options);
  if (g_options.help) print_help(2);
  if (g_options.verbose) print_options(2);
}

int mallopt(int param, int value) {
  Tunables& t = g_tunables;
  switch (param) {
    case M_TRIM_THRESHOLD:
      t.trim_threshold.store(static_cast<size_t>(static_cast<long>(value)), std::memory_order_relaxed);
      t.trim_threshold_set.store(true, std::memory_order_relaxed);
      t.dynamic_threshold.store(false, std::memory_order_relaxed);
      return 1;
    case M_TOP_PAD:
      t.top_pad.store(static_cast<size_t>(static_cast<long>(value)), std::memory_order_relaxed);
      t.dynamic_threshold.store(false, std::memory_order_relaxed);
      return 1;
    case M_MMAP_THRESHOLD: {
      // Any value, as glibc 2.36 takes it (a negative one is huge: nothing
      // is mapped). Programs rely on the 1 (OpenVINO checks it) and set
      // thresholds above 32 MiB to keep big buffers in the heap.
      t.mmap_threshold.store(static_cast<size_t>(static_cast<long>(value)), std::memory_order_relaxed);
      t.dynamic_threshold.store(false, std::memory_order_relaxed);
      return 1;
    }
    case M_MMAP_MAX:
      t.mmap_max.store(value < 0 ? 0 : static_cast<size_t>(value), std::memory_order_relaxed);
      t.dynamic_threshold.store(false, std::memory_order_relaxed);
      return 1;
    case M_PERTURB:
      t.perturb.store(value & 0xff, std::memory_order_relaxed);
      return 1;
    case M_MXFAST:
      // glibc accepts 0..80*sizeof(size_t)/4; libmalloc has no fastbins.
      return value >= 0 && static_cast<size_t>(value) <= 80 * sizeof(size_t) / 4 ? 1 : 0;
    default:
      // M_ARENA_MAX, M_ARENA_TEST, M_CHECK_ACTION and unknown parameters:
      // glibc returns 1 for all of them, and so do we.
      return 1;
  }
}

int thp_advice() {
  switch (g_options.thp[0]) {
    case 'a': return MADV_HUGEPAGE;
    case 'n': return MADV_NOHUGEPAGE;
    default: return 0;
  }
}

int get_option(const char* name, char* buf, size_t buflen) {
  if (!name) return -1;
  const OptionInfo* o = find(name, std::strlen(name));
  if (!o) return -1;
  Options current = g_options;
  current.mmap_threshold = g_tunables.mmap_threshold.load(std::memory_order_relaxed);
  current.trim_threshold = g_tunables.trim_threshold.load(std::memory_order_relaxed);
  current.top_pad = g_tunables.top_pad.load(std::memory_order_relaxed);
  current.mmap_max = g_tunables.mmap_max.load(std::memory_order_relaxed);
  current.perturb = static_cast<size_t>(g_tunables.perturb.load(std::memory_order_relaxed));
  current.dynamic_threshold = g_tunables.dynamic_threshold.load(std::memory_order_relaxed);
  if (buf && buflen) format_value(current, *o, buf, buflen);
  return 0;
}

void print_help(int fd) {
  os::Writer w(fd);
  w.printf("libmalloc options (LIBMALLOC_OPTIONS=name=value:name=value):\n");
  w.printf("  %-22s %-5s %-9s %s\n", "name", "type", "default", "meaning");
  for (const OptionInfo& o : kTable) {
    const char* type = o.type == Type::kBool ? "bool" : o.type == Type::kSize ? "size" : "str";
    w.printf("  %-22s %-5s %-9s %s\n", o.name, type, o.def_text, o.help);
  }
}

void print_options(int fd) {
  os::Writer w(fd);
  w.printf("libmalloc: options in force:\n");
  for (const OptionInfo& o : kTable) {
    char value[256];
    get_option(o.name, value, sizeof value);
    w.printf("  %s=%s\n", o.name, value);
  }
}

}  // namespace lm::config
