// Helpers shared by the sandbox/boot tests: anonymous guest memory, byte
// vectors and message matching.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "sandbox/memory/guest_memory.h"
#include "tests/sandbox/image_builders.h"

namespace thaw::sandbox::boot {

inline constexpr uint64_t kMiB = 1 << 20;

inline GuestMemory memory(uint64_t size = 16 * kMiB) {
  auto m = GuestMemory::create_anonymous(size);
  EXPECT_TRUE(m) << m.error().message;
  return std::move(*m);
}

inline std::vector<uint8_t> code(std::initializer_list<uint8_t> b) {
  return std::vector<uint8_t>(b);
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace thaw::sandbox::boot
