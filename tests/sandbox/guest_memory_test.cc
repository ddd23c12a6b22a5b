// Tests of sandbox/memory/guest_memory: region layout around the MMIO gap
// and bounds checks that hostile guest addresses and lengths cannot escape.
#include <gtest/gtest.h>

#include <cstdint>

#include "sandbox/memory/guest_memory.h"

namespace thaw::sandbox {
namespace {

TEST(GuestMemory, LayoutSplitsAroundTheMmioGap) {
  auto small = GuestMemory::layout(256 << 20);
  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(small[0].size, 256u << 20);
  auto big = GuestMemory::layout(4ull << 30);
  ASSERT_EQ(big.size(), 2u);
  EXPECT_EQ(big[0].size, kMmioGapStart);
  EXPECT_EQ(big[1].guest_base, kMmioGapEnd);
  EXPECT_EQ(big[1].file_offset, kMmioGapStart);
}

TEST(GuestMemory, SizeMustBeAPositiveMultipleOfAPage) {
  EXPECT_FALSE(GuestMemory::create_anonymous(0));
  EXPECT_FALSE(GuestMemory::create_anonymous(4097));
  EXPECT_FALSE(GuestMemory::create_memfd(100));
}

TEST(GuestMemory, MemfdBackedMemoryReadsBackWhatWasWritten) {
  auto mem = GuestMemory::create_memfd(1 << 20);
  ASSERT_TRUE(mem) << mem.error().message;
  EXPECT_GE(mem->fd(), 0);
  ASSERT_TRUE(mem->write_obj<uint64_t>(0xff000, 0x1122334455667788));
  EXPECT_EQ(*mem->read_obj<uint64_t>(0xff000), 0x1122334455667788u);
}

TEST(GuestMemory, HostileRangesAreRefused) {
  auto mem = GuestMemory::create_anonymous(1 << 20);
  ASSERT_TRUE(mem);
  const uint64_t size = 1 << 20;
  EXPECT_TRUE(mem->contains(0, size));
  EXPECT_TRUE(mem->contains(size, 0)) << "an empty range at the end is inside";
  EXPECT_FALSE(mem->contains(0, size + 1));
  EXPECT_FALSE(mem->contains(size - 1, 2));
  EXPECT_FALSE(mem->contains(size + 1, 0));
  // Sums that overflow 64 bits must not wrap into range.
  EXPECT_FALSE(mem->contains(~0ull, 2));
  EXPECT_FALSE(mem->contains(2, ~0ull));
  EXPECT_FALSE(mem->contains(0x1000, ~0ull - 0xfff));
  auto s = mem->slice(~0ull - 7, 16);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("outside guest memory"), std::string::npos);
  uint8_t buf[8];
  EXPECT_FALSE(mem->read(size - 4, buf));
  EXPECT_FALSE(mem->write(size - 4, buf));
}

TEST(GuestMemory, RangesMayNotSpanTheMmioGap) {
  auto mem = GuestMemory::create_anonymous(4ull << 30);  // NORESERVE: nothing touched
  ASSERT_TRUE(mem) << mem.error().message;
  EXPECT_TRUE(mem->contains(kMmioGapStart - 8, 8));
  EXPECT_FALSE(mem->contains(kMmioGapStart - 8, 16));
  EXPECT_FALSE(mem->contains(kMmioGapStart, 1)) << "the gap is not RAM";
  EXPECT_TRUE(mem->contains(kMmioGapEnd, 8));
  EXPECT_FALSE(mem->contains(kMmioGapEnd + (4ull << 30) - kMmioGapStart, 1));
}

}  // namespace
}  // namespace thaw::sandbox
