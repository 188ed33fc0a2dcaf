// Unit tests of the option table and its parsers.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <malloc.h>

#include <cstring>
#include <string>

#include "config/config.h"

using namespace lm;

TEST_CASE("config: defaults match the table") {
  config::Options o;
  config::set_defaults(&o);
  CHECK(o.redzone == false);
  CHECK(o.halt_on_error == true);
  CHECK(o.mmap_threshold == 128 * 1024);
  CHECK(o.redzone_size == 16);
  CHECK(o.quarantine_mb == 256);
  CHECK(std::string(o.log_path).empty());
}

TEST_CASE("config: LIBMALLOC_OPTIONS sets every type and accepts suffixes") {
  config::Options o;
  config::set_defaults(&o);
  CHECK(config::parse_options_for_testing("redzone=1:stats=true:mmap_threshold=4M:top_pad=0x1000:log_path=/tmp/x", &o) == 0);
  CHECK(o.redzone);
  CHECK(o.stats);
  CHECK(o.mmap_threshold == 4u << 20);
  CHECK(o.top_pad == 0x1000);
  CHECK(std::string(o.log_path) == "/tmp/x");
  CHECK(config::parse_options_for_testing("quarantine_mb=2k,verbose=no", &o) == 0);
  CHECK(o.quarantine_mb == 2048);
  CHECK(!o.verbose);
}

TEST_CASE("config: bad names and values are reported and leave the defaults") {
  config::Options o;
  config::set_defaults(&o);
  CHECK(config::parse_options_for_testing("nosuch=1", &o) == 1);
  CHECK(config::parse_options_for_testing("stats=maybe", &o) == 1);
  CHECK(!o.stats);
  CHECK(config::parse_options_for_testing("mmap_threshold=12Q", &o) == 1);
  CHECK(config::parse_options_for_testing("mmap_threshold=99999999999999999999999", &o) == 1);
  CHECK(config::parse_options_for_testing("redzone", &o) == 1);
  CHECK(o.mmap_threshold == 128 * 1024);
  CHECK(config::parse_options_for_testing("::stats=1::", &o) == 0);
  CHECK(o.stats);
}

TEST_CASE("config: mallopt follows glibc's return values") {
  config::Tunables& t = config::tunables();
  CHECK(config::mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
  CHECK(t.mmap_threshold.load() == 1u << 20);
  CHECK(config::mallopt(M_MMAP_THRESHOLD, 64 << 20) == 1);  // any value, as glibc 2.36
  CHECK(t.mmap_threshold.load() == 64u << 20);
  CHECK(config::mallopt(M_MMAP_THRESHOLD, -1) == 1);
  CHECK(t.mmap_threshold.load() == SIZE_MAX);
  CHECK(config::mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
  CHECK(config::mallopt(M_TRIM_THRESHOLD, 4096) == 1);
  CHECK(t.trim_threshold_set.load());
  CHECK(config::mallopt(M_MXFAST, 1000) == 0);
  CHECK(config::mallopt(M_MXFAST, 64) == 1);
  CHECK(config::mallopt(M_PERTURB, 0x1a5) == 1);
  CHECK(t.perturb.load() == 0xa5);
  CHECK(config::mallopt(M_ARENA_MAX, 1) == 1);
  CHECK(config::mallopt(12345, 1) == 1);  // glibc ignores unknown parameters
}

TEST_CASE("config: get_option reports values by name") {
  char buf[64];
  CHECK(config::get_option("redzone_size", buf, sizeof buf) == 0);
  CHECK(config::get_option("no_such_option", buf, sizeof buf) == -1);
}
