// thaw-bench's latency histogram (perf/thaw-bench/histogram.h): bucket
// bounds, percentiles against sorted samples, merge and the CDF.
#include "perf/thaw-bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace thaw::bench {
namespace {

TEST(LatencyHistogram, SmallValuesAreExact) {
  for (uint64_t v = 0; v < 256; ++v) {
    EXPECT_EQ(LatencyHistogram::bucket_of(v), v);
    EXPECT_EQ(LatencyHistogram::bucket_top(v), v);
  }
}

TEST(LatencyHistogram, EveryValueLiesInItsBucketWithinOnePercent) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = rng() >> (rng() % 64);
    size_t b = LatencyHistogram::bucket_of(v);
    uint64_t top = LatencyHistogram::bucket_top(b);
    ASSERT_GE(top, v) << v;
    ASSERT_LE(static_cast<double>(top - v), static_cast<double>(v) / 128.0 + 1) << v;
    if (b > 0) {
      ASSERT_LT(LatencyHistogram::bucket_top(b - 1), v) << v;
    }
  }
  EXPECT_GE(LatencyHistogram::bucket_top(LatencyHistogram::bucket_of(UINT64_MAX)), UINT64_MAX - 1);
}

TEST(LatencyHistogram, PercentilesMatchSortedSamples) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> dist(12.0, 1.5);  // ~160 µs median, long tail
  std::vector<uint64_t> samples;
  LatencyHistogram h;
  for (int i = 0; i < 50000; ++i) {
    auto v = static_cast<uint64_t>(dist(rng));
    samples.push_back(v);
    h.record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double q : {50.0, 90.0, 99.0, 99.9, 100.0}) {
    size_t rank = static_cast<size_t>(std::ceil(q / 100.0 * samples.size()));
    uint64_t exact = samples[std::max<size_t>(rank, 1) - 1];
    uint64_t got = h.percentile(q);
    EXPECT_GE(got, exact) << q;
    EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * (1 + 1.0 / 128) + 1) << q;
  }
  EXPECT_EQ(h.percentile(100), samples.back());
  EXPECT_EQ(h.max_ns(), samples.back());
  EXPECT_EQ(h.min_ns(), samples.front());
  EXPECT_EQ(h.count(), samples.size());
}

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.min_ns(), 0u);
  EXPECT_EQ(h.mean_ns(), 0.0);
  EXPECT_TRUE(h.cdf().empty());
}

TEST(LatencyHistogram, MergeEqualsRecordingEverything) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 1; v < 20000; v += 7) {
    (v % 2 ? a : b).record(v * 1000);
    all.record(v * 1000);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min_ns(), all.min_ns());
  EXPECT_EQ(a.max_ns(), all.max_ns());
  EXPECT_DOUBLE_EQ(a.mean_ns(), all.mean_ns());
  for (double q : {1.0, 50.0, 99.0, 99.9}) EXPECT_EQ(a.percentile(q), all.percentile(q));
}

TEST(LatencyHistogram, CdfIsAscendingAndEndsAtOne) {
  LatencyHistogram h;
  for (uint64_t v : {5000u, 5000u, 7000u, 1000000u}) h.record(v);
  auto cdf = h.cdf();
  ASSERT_EQ(cdf.size(), 3u);
  EXPECT_DOUBLE_EQ(cdf[0].second, 0.5);
  EXPECT_DOUBLE_EQ(cdf.back().second, 1.0);
  EXPECT_EQ(cdf.back().first, 1000000u);
  for (size_t i = 1; i < cdf.size(); ++i) EXPECT_GT(cdf[i].first, cdf[i - 1].first);
}

}  // namespace
}  // namespace thaw::bench
