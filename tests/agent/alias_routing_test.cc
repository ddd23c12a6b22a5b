// Tests of agent/api/alias_routing: the weighted split of an alias's
// invocations is deterministic for a seed and lands near the weight.
#include "agent/api/alias_routing.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace thaw::agent {
namespace {

const std::string kPrimary = "1";
const std::string kAdditional = "2";

std::vector<std::string> draws(uint64_t seed, double weight, int n) {
  AliasRouter router(seed);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(router.pick(kPrimary, kAdditional, weight));
  return out;
}

TEST(AliasRouting, SplitLandsWithinATightBandOfTheWeight) {
  // 10000 draws at 0.25: mean 2500, standard deviation 43.3; +-5 sigma.
  for (uint64_t seed : {0ull, 1ull, 42ull, 0xdeadbeefull, ~0ull}) {
    auto picks = draws(seed, 0.25, 10000);
    long extra = std::count(picks.begin(), picks.end(), kAdditional);
    EXPECT_GE(extra, 2283) << "seed " << seed;
    EXPECT_LE(extra, 2717) << "seed " << seed;
  }
  auto picks = draws(7, 0.9, 10000);  // sd 30
  long extra = std::count(picks.begin(), picks.end(), kAdditional);
  EXPECT_GE(extra, 8850);
  EXPECT_LE(extra, 9150);
}

TEST(AliasRouting, SameSeedSameSequenceOtherSeedOtherSequence) {
  EXPECT_EQ(draws(1234, 0.5, 1000), draws(1234, 0.5, 1000));
  EXPECT_NE(draws(1234, 0.5, 1000), draws(1235, 0.5, 1000));
  AliasRouter router(99);
  EXPECT_EQ(router.seed(), 99u);
}

TEST(AliasRouting, WeightZeroNeverAndOneAlwaysPicksTheAdditionalVersion) {
  auto none = draws(5, 0.0, 5000);
  EXPECT_EQ(std::count(none.begin(), none.end(), kAdditional), 0);
  auto all = draws(5, 1.0, 5000);
  EXPECT_EQ(std::count(all.begin(), all.end(), kAdditional), 5000);
}

TEST(AliasRouting, DrawsAreUniformInTheUnitInterval) {
  double lo = 1, hi = 0, sum = 0;
  int buckets[10] = {};
  for (uint64_t i = 0; i < 100000; ++i) {
    double d = routing_draw(3, i);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    sum += d;
    ++buckets[static_cast<int>(d * 10)];
  }
  EXPECT_LT(lo, 0.001);
  EXPECT_GT(hi, 0.999);
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
  for (int b : buckets) EXPECT_NEAR(b, 10000, 500);  // sd 95
  EXPECT_NE(random_routing_seed(), random_routing_seed());
}

}  // namespace
}  // namespace thaw::agent
