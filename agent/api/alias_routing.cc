#include "agent/api/alias_routing.h"

#include <sys/random.h>

#include <chrono>

namespace thaw::agent {

double routing_draw(uint64_t seed, uint64_t index) {
  // SplitMix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number
  // generators", OOPSLA 2014): a bijective mix of a Weyl sequence.
  uint64_t z = seed + (index + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

const std::string& AliasRouter::pick(const std::string& primary, const std::string& additional,
                                     double weight) {
  uint64_t index = next_.fetch_add(1, std::memory_order_relaxed);
  return routing_draw(seed_, index) < weight ? additional : primary;
}

uint64_t random_routing_seed() {
  uint64_t seed = 0;
  if (::getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) {
    // No entropy pool (very early boot): the clock still varies per start.
    seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return seed;
}

}  // namespace thaw::agent
