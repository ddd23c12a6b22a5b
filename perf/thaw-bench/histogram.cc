// Log-linear latency buckets; see histogram.h.
#include "perf/thaw-bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace thaw::bench {
namespace {

constexpr unsigned kSubBits = 7;                    // 128 sub-buckets per octave
constexpr uint64_t kLinear = 2ull << kSubBits;      // values below 256 are exact
constexpr size_t kBuckets = kLinear + (64 - kSubBits - 1) * (1ull << kSubBits);

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

size_t LatencyHistogram::bucket_of(uint64_t ns) {
  if (ns < kLinear) return static_cast<size_t>(ns);
  unsigned top = 63 - static_cast<unsigned>(std::countl_zero(ns));  // >= kSubBits + 1
  unsigned shift = top - kSubBits;
  uint64_t mantissa = ns >> shift;  // in [128, 255]
  return static_cast<size_t>(kLinear + (shift - 1) * (1ull << kSubBits) +
                             (mantissa - (1ull << kSubBits)));
}

uint64_t LatencyHistogram::bucket_top(size_t index) {
  if (index < kLinear) return index;
  size_t rel = index - kLinear;
  unsigned shift = static_cast<unsigned>(rel >> kSubBits) + 1;
  uint64_t mantissa = (rel & ((1u << kSubBits) - 1)) + (1ull << kSubBits);
  uint64_t low = mantissa << shift;
  return low + ((1ull << shift) - 1);  // cannot overflow: mantissa < 2^8, shift <= 56
}

void LatencyHistogram::record(uint64_t ns) {
  ++buckets_[bucket_of(ns)];
  ++count_;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
  sum_ += ns;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

uint64_t LatencyHistogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 100.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(q / 100.0 * static_cast<double>(count_)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(bucket_top(i), max_);
  }
  return max_;
}

std::vector<std::pair<uint64_t, double>> LatencyHistogram::cdf() const {
  std::vector<std::pair<uint64_t, double>> out;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets && seen < count_; ++i) {
    if (buckets_[i] == 0) continue;
    seen += buckets_[i];
    out.emplace_back(std::min(bucket_top(i), max_),
                     static_cast<double>(seen) / static_cast<double>(count_));
  }
  return out;
}

}  // namespace thaw::bench
