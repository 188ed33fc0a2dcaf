// Unit tests of base/: the pressure gate's rule and its hysteresis.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "base/pressure.h"

using lm::PressureGate;

namespace {
constexpr size_t kMiB = 1u << 20;
}

TEST_CASE("pressure: purge only past the floor and twice the bytes held") {
  PressureGate g;
  CHECK(g.threshold() == PressureGate::kFloor);
  CHECK_FALSE(g.should_purge(31 * kMiB, 0, 100000));         // below the floor
  CHECK_FALSE(g.should_purge(64 * kMiB, 40 * kMiB, 100000));  // less than twice held
  CHECK(g.should_purge(80 * kMiB, 40 * kMiB, 100000));
}

TEST_CASE("pressure: purges less than a second apart double the floor; ten quiet seconds reset it") {
  PressureGate g;
  CHECK(g.should_purge(40 * kMiB, 0, 100000));
  CHECK(g.threshold() == 32 * kMiB);
  // A program cycling through big allocations: the next purge within a
  // second raises the bar, so the cycle after it does not purge at all.
  CHECK(g.should_purge(40 * kMiB, 0, 100500));
  CHECK(g.threshold() == 64 * kMiB);
  CHECK_FALSE(g.should_purge(40 * kMiB, 0, 101000));
  CHECK(g.should_purge(70 * kMiB, 0, 101200));
  CHECK(g.threshold() == 128 * kMiB);
  // Between one and ten seconds: the bar stays where it is.
  CHECK(g.should_purge(130 * kMiB, 0, 104000));
  CHECK(g.threshold() == 128 * kMiB);
  // After ten quiet seconds it is back at the floor, and the pre-check
  // (which callers run without a lock) lets the caller through.
  CHECK_FALSE(g.may_purge(40 * kMiB, 110000));
  CHECK(g.may_purge(40 * kMiB, 120000));
  CHECK(g.should_purge(40 * kMiB, 0, 120000));
  CHECK(g.threshold() == PressureGate::kFloor);
  CHECK_FALSE(g.may_purge(31 * kMiB, 200000));
}

// With a trim threshold the user set, core passes a lower floor (the
// threshold, at least 1 MiB): a free of most of a 10 MB heap then purges.
TEST_CASE("pressure: a lower floor the caller passes") {
  PressureGate g;
  CHECK_FALSE(g.may_purge(9 * kMiB, 100000));
  CHECK(g.may_purge(9 * kMiB, 100000, kMiB));
  CHECK_FALSE(g.should_purge(9 * kMiB, 5 * kMiB, 100000, kMiB));  // less than twice held
  CHECK(g.should_purge(9 * kMiB, kMiB, 100000, kMiB));
  CHECK(g.threshold(kMiB) == kMiB);
  CHECK(g.should_purge(9 * kMiB, kMiB, 100200, kMiB));  // doubled within a second
  CHECK(g.threshold(kMiB) == 2 * kMiB);
  CHECK(g.threshold() == 64 * kMiB);  // (the same doubling, from the default floor)
}
