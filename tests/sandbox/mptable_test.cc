// Tests of sandbox/boot/mptable: MP spec 1.4 structures, checksums and
// placement outside e820 RAM. Pure.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "sandbox/boot/boot_params.h"
#include "sandbox/boot/mptable.h"
#include "tests/sandbox/boot_test_util.h"

namespace thaw::sandbox::boot {
namespace {

using testing::make_bzimage;
using testing::make_elf;
using testing::TestSegment;

// --- MP table ------------------------------------------------------------------

uint8_t byte_sum(const GuestMemory& mem, uint64_t gpa, uint64_t len) {
  uint8_t sum = 0;
  auto s = mem.slice(gpa, len);
  EXPECT_TRUE(s);
  for (uint8_t b : *s) sum = static_cast<uint8_t>(sum + b);
  return sum;
}

TEST(MpTable, FloatingPointerAndTableAreValidForEveryCpuCount) {
  for (uint32_t vcpus : {1u, 2u, 32u}) {
    auto mem = memory();
    ASSERT_TRUE(write_mptable(mem, vcpus)) << vcpus;
    auto fp = mem.slice(kMpTableAddress, 16);
    ASSERT_TRUE(fp);
    EXPECT_EQ(std::memcmp(fp->data(), "_MP_", 4), 0);
    EXPECT_EQ(byte_sum(mem, kMpTableAddress, 16), 0) << "floating pointer checksum";
    uint32_t table = *mem.read_obj<uint32_t>(kMpTableAddress + 4);
    EXPECT_EQ(table, kMpTableAddress + 16);
    auto header = mem.slice(table, 44);
    ASSERT_TRUE(header);
    EXPECT_EQ(std::memcmp(header->data(), "PCMP", 4), 0);
    uint16_t length = *mem.read_obj<uint16_t>(table + 4);
    EXPECT_EQ(length + 16u, mptable_size(vcpus));
    EXPECT_EQ(byte_sum(mem, table, length), 0) << "configuration table checksum";
    uint16_t entries = *mem.read_obj<uint16_t>(table + 34);
    EXPECT_EQ(entries, vcpus + 2 + kIoapicPins + 2);
    EXPECT_EQ(*mem.read_obj<uint32_t>(table + 36), kLapicAddress);
    // Processor entries: APIC ids in order, only the first is the BSP.
    for (uint32_t i = 0; i < vcpus; ++i) {
      uint64_t e = table + 44 + 20 * i;
      EXPECT_EQ(*mem.read_obj<uint8_t>(e), 0);
      EXPECT_EQ(*mem.read_obj<uint8_t>(e + 1), i);
      EXPECT_EQ(*mem.read_obj<uint8_t>(e + 3), i == 0 ? 3 : 1);
    }
    uint64_t ioapic = table + 44 + 20 * vcpus + 8;
    EXPECT_EQ(*mem.read_obj<uint8_t>(ioapic), 2);
    EXPECT_EQ(*mem.read_obj<uint8_t>(ioapic + 1), vcpus) << "IOAPIC id after the CPUs";
    EXPECT_EQ(*mem.read_obj<uint32_t>(ioapic + 4), kIoapicAddress);
    uint64_t irq5 = ioapic + 8 + 8 * 5;
    EXPECT_EQ(*mem.read_obj<uint8_t>(irq5), 3);
    EXPECT_EQ(*mem.read_obj<uint8_t>(irq5 + 5), 5) << "ISA IRQ 5";
    EXPECT_EQ(*mem.read_obj<uint8_t>(irq5 + 7), 5) << "on IOAPIC pin 5";
  }
}

TEST(MpTable, TooManyCpusForTheEbdaSlotAreRejected) {
  auto mem = memory();
  auto r = write_mptable(mem, 40);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "EBDA")) << r.error().message;
  EXPECT_FALSE(write_mptable(mem, 0));
}

TEST(MpTable, LiesOutsideTheE820Ram) {
  auto mem = memory();
  auto map = e820_map(mem);
  for (auto& e : map) {
    EXPECT_FALSE(e.addr < kMpTableAddress + kMpTableMaxBytes && kMpTableAddress < e.addr + e.size)
        << "e820 RAM entry at " << e.addr << " covers the MP table";
  }
}

}  // namespace
}  // namespace thaw::sandbox::boot
