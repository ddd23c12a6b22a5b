// A latency histogram with log-linear buckets (HdrHistogram's layout: 128
// linear sub-buckets per power of two, so any reported value is within
// 0.8% of a recorded one) over nanoseconds. Fixed size, no allocation per
// sample, mergeable across load threads. Used by thaw-bench's load modes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace thaw::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  void record(uint64_t ns);
  void merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min_ns() const { return count_ ? min_ : 0; }
  uint64_t max_ns() const { return max_; }
  double mean_ns() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0; }
  // The value at percentile q (0..100): the highest value of the bucket that
  // holds the ceil(q% * count)-th sample, never above max_ns(). 0 if empty.
  uint64_t percentile(double q) const;
  // (value_ns, cumulative fraction) at the top of every non-empty bucket,
  // ascending: the latency CDF.
  std::vector<std::pair<uint64_t, double>> cdf() const;

  // Bucket arithmetic, exposed for the tests.
  static size_t bucket_of(uint64_t ns);
  static uint64_t bucket_top(size_t index);

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  unsigned __int128 sum_ = 0;
};

}  // namespace thaw::bench
