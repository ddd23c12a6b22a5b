// Tests of sandbox/boot/boot_params: e820, zero page, command line, initrd
// placement and prepare_boot() over whole ELF and bzImage kernels. Pure.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "sandbox/boot/boot_params.h"
#include "sandbox/boot/layout.h"
#include "sandbox/boot/bzimage.h"
#include "tests/sandbox/boot_test_util.h"

namespace thaw::sandbox::boot {
namespace {

using testing::make_bzimage;
using testing::make_elf;
using testing::TestSegment;

// --- e820 and zero page -------------------------------------------------

TEST(BootParams, E820CoversLowRamAroundTheEbdaHole) {
  auto mem = memory(64 * kMiB);
  auto map = e820_map(mem);
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[0].addr, 0u);
  EXPECT_EQ(map[0].size, kEbdaStart);
  EXPECT_EQ(map[1].addr, kHighMemoryStart);
  EXPECT_EQ(map[1].size, 64 * kMiB - kHighMemoryStart);
  for (auto& e : map) EXPECT_EQ(e.type, kE820Ram);
}

TEST(BootParams, E820AddsTheRegionAbove4GiB) {
  // 4 GiB of guest RAM: 3.25 GiB below the MMIO gap, 0.75 GiB above 4 GiB.
  // NORESERVE anonymous memory, nothing is touched.
  auto mem = memory(4ull << 30);
  auto map = e820_map(mem);
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(map[1].addr + map[1].size, kMmioGapStart);
  EXPECT_EQ(map[2].addr, kMmioGapEnd);
  EXPECT_EQ(map[2].size, (4ull << 30) - kMmioGapStart);
}

TEST(BootParams, ZeroPageForElfHasLoaderFieldsCmdlineAndInitrd) {
  auto mem = memory();
  ASSERT_TRUE(write_boot_params(mem, KernelBootInfo{}, 12, InitrdPlacement{0x800000, 0x1234}));
  auto params = mem.read_obj<boot_params>(kZeroPageAddress);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->hdr.boot_flag, 0xaa55);
  EXPECT_EQ(params->hdr.header, kSetupHeaderMagic);
  EXPECT_EQ(params->hdr.type_of_loader, kLoaderTypeUndefined);
  EXPECT_EQ(params->hdr.cmd_line_ptr, kCmdlineAddress);
  EXPECT_EQ(params->hdr.cmdline_size, 12u);
  EXPECT_EQ(params->hdr.ramdisk_image, 0x800000u);
  EXPECT_EQ(params->hdr.ramdisk_size, 0x1234u);
  EXPECT_EQ(params->e820_entries, 2);
  EXPECT_EQ(params->e820_table[1].addr, kHighMemoryStart);
}

TEST(BootParams, ZeroPageForBzImageKeepsTheImageHeader) {
  auto mem = memory();
  setup_header h{};
  h.header = kSetupHeaderMagic;
  h.version = 0x020f;
  h.cmdline_size = 255;
  h.xloadflags = 0x3;
  ASSERT_TRUE(write_boot_params(mem, KernelBootInfo{h}, 10, std::nullopt));
  auto params = mem.read_obj<boot_params>(kZeroPageAddress);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->hdr.version, 0x020f);
  EXPECT_EQ(params->hdr.xloadflags, 0x3);
  EXPECT_EQ(params->hdr.cmdline_size, 255u) << "the kernel's limit must not be overwritten";
  EXPECT_EQ(params->hdr.type_of_loader, kLoaderTypeUndefined);
  EXPECT_EQ(params->hdr.ramdisk_image, 0u);
}

TEST(BootParams, CmdlineIsWrittenWithItsNul) {
  auto mem = memory();
  ASSERT_TRUE(write_cmdline(mem, "console=ttyS0", 2047));
  std::array<char, 14> buf{};
  ASSERT_TRUE(mem.read(kCmdlineAddress, {reinterpret_cast<uint8_t*>(buf.data()), buf.size()}));
  EXPECT_STREQ(buf.data(), "console=ttyS0");
}

TEST(BootParams, CmdlineOverTheLimitIsRejectedNamingTheLimit) {
  auto mem = memory();
  auto r = write_cmdline(mem, std::string(kCmdlineMaxBytes, 'x'), 100000);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "2047")) << r.error().message;
  r = write_cmdline(mem, std::string(300, 'x'), 255);  // the kernel's own cmdline_size
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "255")) << r.error().message;
  EXPECT_TRUE(write_cmdline(mem, std::string(255, 'x'), 255));
}

TEST(BootParams, CmdlineWithEmbeddedNulIsRejected) {
  auto mem = memory();
  auto r = write_cmdline(mem, std::string_view("a\0b", 3), 2047);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "NUL")) << r.error().message;
}

TEST(BootParams, InitrdGoesToTheTopOfLowRamPageAligned) {
  auto mem = memory(64 * kMiB);
  auto p = place_initrd(mem, 0x1801, 0x200000, kMmioGapStart - 1);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->address % 4096, 0u);
  EXPECT_LE(p->address + p->size, 64 * kMiB);
  EXPECT_GT(p->address + 4096 + p->size, 64 * kMiB);
}

TEST(BootParams, InitrdRespectsTheKernelsAddrMax) {
  auto mem = memory(64 * kMiB);
  auto p = place_initrd(mem, 0x1000, 0x200000, 0x00ffffff);  // below 16 MiB
  ASSERT_TRUE(p);
  EXPECT_LE(p->address + p->size, 0x1000000u);
}

TEST(BootParams, InitrdThatDoesNotFitAboveTheKernelIsRejected) {
  auto mem = memory(16 * kMiB);
  auto r = place_initrd(mem, 15 * kMiB, 2 * kMiB, kMmioGapStart - 1);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "--mem")) << r.error().message;
  EXPECT_FALSE(place_initrd(mem, UINT64_MAX, 2 * kMiB, UINT64_MAX));  // no overflow
  EXPECT_FALSE(place_initrd(mem, 0, 2 * kMiB, kMmioGapStart - 1));
}

// --- the whole plan -----------------------------------------------------------

TEST(PrepareBoot, ElfKernelWithInitrdAndCmdline) {
  auto mem = memory(32 * kMiB);
  auto kernel = make_elf(0x100000, {{0x100000, code({0xf4}), 0x1000}});
  std::vector<uint8_t> initrd(5000, 0xab);
  auto plan = prepare_boot(mem, kernel, initrd, "console=ttyS0 thaw.test=hello");
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->entry, 0x100000u);
  EXPECT_FALSE(plan->bzimage);
  ASSERT_TRUE(plan->initrd);
  EXPECT_EQ(*mem.read_obj<uint8_t>(plan->initrd->address + 4999), 0xab);
  auto params = mem.read_obj<boot_params>(kZeroPageAddress);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->hdr.ramdisk_image, plan->initrd->address);
  EXPECT_EQ(params->hdr.ramdisk_size, 5000u);
  EXPECT_EQ(params->hdr.cmdline_size, 30u);  // 29 characters and the NUL
  EXPECT_EQ(*mem.read_obj<uint64_t>(kPml4Address), kPdptAddress | 0x3);
}

TEST(PrepareBoot, BzImageUsesTheHeadersLimits) {
  auto mem = memory(32 * kMiB);
  auto kernel = make_bzimage(std::vector<uint8_t>(0x2000, 0x90));
  testing::bz_header(kernel)->cmdline_size = 10;
  auto plan = prepare_boot(mem, kernel, {}, "this is longer than ten");
  ASSERT_FALSE(plan);
  EXPECT_TRUE(contains(plan.error().message, "limit is 10")) << plan.error().message;
  testing::bz_header(kernel)->cmdline_size = 2047;
  plan = prepare_boot(mem, kernel, {}, "console=ttyS0");
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_TRUE(plan->bzimage);
  EXPECT_EQ(plan->entry, 0x100200u);
}

TEST(PrepareBoot, UnknownImageFormatIsRejected) {
  auto mem = memory();
  std::vector<uint8_t> junk(4096, 0x42);
  auto plan = prepare_boot(mem, junk, {}, "");
  ASSERT_FALSE(plan);
  EXPECT_TRUE(contains(plan.error().message, "neither an ELF executable nor a bzImage"))
      << plan.error().message;
}

TEST(PrepareBoot, TooLittleMemoryIsRejected) {
  auto mem = memory(1 * kMiB);
  auto kernel = make_elf(0x100000, {{0x100000, code({0xf4}), 1}});
  auto plan = prepare_boot(mem, kernel, {}, "");
  ASSERT_FALSE(plan);
  EXPECT_TRUE(contains(plan.error().message, "at least 2 MiB")) << plan.error().message;
}

}  // namespace
}  // namespace thaw::sandbox::boot
