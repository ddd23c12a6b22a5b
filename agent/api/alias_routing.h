// Weighted alias routing: which version an invocation through an alias with
// RoutingConfig runs. Pure and deterministic given the seed (thawd
// --routing-seed), so tests can check the split; lock-free, so concurrent
// invokes on worker threads never wait on each other. Used by FunctionRegistry.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace thaw::agent {

// Draw `index` of the sequence for `seed`: uniform in [0, 1), 53-bit
// resolution (SplitMix64 of seed + index, so draws are independent of
// the order threads take them in).
double routing_draw(uint64_t seed, uint64_t index);

class AliasRouter {
 public:
  explicit AliasRouter(uint64_t seed) : seed_(seed) {}

  // `additional` with probability `weight` (0..1), else `primary`. Each call
  // consumes the next draw of the sequence.
  const std::string& pick(const std::string& primary, const std::string& additional,
                          double weight);
  uint64_t seed() const { return seed_; }

 private:
  const uint64_t seed_;
  std::atomic<uint64_t> next_{0};
};

// A seed from the kernel's entropy pool (thawd's default --routing-seed).
uint64_t random_routing_seed();

}  // namespace thaw::agent
