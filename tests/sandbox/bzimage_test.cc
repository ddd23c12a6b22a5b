// Tests of sandbox/boot/bzimage with valid and malformed setup headers.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "sandbox/boot/bzimage.h"
#include "tests/sandbox/boot_test_util.h"

namespace thaw::sandbox::boot {
namespace {

using testing::make_bzimage;
using testing::make_elf;
using testing::TestSegment;

// --- bzImage ----------------------------------------------------------------

TEST(BzImage, ParsesAndLoadsAt1MiBWithThe64BitEntry) {
  auto mem = memory();
  std::vector<uint8_t> kernel(0x3000, 0xcc);
  auto image = make_bzimage(kernel);
  auto bz = parse_bzimage(image);
  ASSERT_TRUE(bz) << bz.error().message;
  EXPECT_EQ(bz->kernel_offset, 5u * 512);
  EXPECT_EQ(bz->kernel_size, kernel.size());
  auto entry = load_bzimage(mem, *bz, image);
  ASSERT_TRUE(entry) << entry.error().message;
  EXPECT_EQ(*entry, 0x100200u);
  EXPECT_EQ(*mem.read_obj<uint8_t>(0x100000 + 0x2fff), 0xcc);
}

TEST(BzImage, SetupSectsZeroMeansFour) {
  auto image = make_bzimage(std::vector<uint8_t>(0x1000, 1), 4);
  testing::bz_header(image)->setup_sects = 0;
  auto bz = parse_bzimage(image);
  ASSERT_TRUE(bz) << bz.error().message;
  EXPECT_EQ(bz->kernel_offset, 5u * 512);
}

struct BzCase {
  const char* name;
  void (*mutate)(std::vector<uint8_t>&);
  const char* expected;
};

class BzMalformed : public ::testing::TestWithParam<BzCase> {};

TEST_P(BzMalformed, IsRejectedWithAPreciseError) {
  auto image = make_bzimage(std::vector<uint8_t>(0x1000, 0x90));
  GetParam().mutate(image);
  auto bz = parse_bzimage(image);
  ASSERT_FALSE(bz) << GetParam().name;
  EXPECT_TRUE(contains(bz.error().message, GetParam().expected))
      << GetParam().name << ": " << bz.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BzMalformed,
    ::testing::Values(
        BzCase{"short", [](auto& i) { i.resize(0x210); }, "too short"},
        BzCase{"magic", [](auto& i) { testing::bz_header(i)->header = 0x12345678; }, "HdrS"},
        BzCase{"old_protocol", [](auto& i) { testing::bz_header(i)->version = 0x0205; },
               "2.05 is older than 2.06"},
        BzCase{"zimage", [](auto& i) { testing::bz_header(i)->loadflags = 0; }, "LOADED_HIGH"},
        BzCase{"no_64bit_entry", [](auto& i) { testing::bz_header(i)->xloadflags = 0x2; },
               "XLF_KERNEL_64"},
        BzCase{"setup_past_end", [](auto& i) { testing::bz_header(i)->setup_sects = 200; },
               "past the end"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(BzImage, InitSizeLargerThanRamIsRejected) {
  auto mem = memory(4 * kMiB);
  auto image = make_bzimage(std::vector<uint8_t>(0x1000, 0x90));
  testing::bz_header(image)->init_size = 64 << 20;
  auto bz = parse_bzimage(image);
  ASSERT_TRUE(bz);
  auto r = load_bzimage(mem, *bz, image);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "raise --mem")) << r.error().message;
}

}  // namespace
}  // namespace thaw::sandbox::boot
