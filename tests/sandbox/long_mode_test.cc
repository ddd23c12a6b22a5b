// Tests of sandbox/boot/long_mode: GDT encoding, identity page tables and
// the register state for direct 64-bit entry. Pure.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "sandbox/boot/layout.h"
#include "sandbox/boot/long_mode.h"
#include "tests/sandbox/boot_test_util.h"

namespace thaw::sandbox::boot {
namespace {

using testing::make_bzimage;
using testing::make_elf;
using testing::TestSegment;

// --- GDT, page tables, registers -------------------------------------------

TEST(LongMode, GdtEntriesDecodeToTheSegmentsKvmGets) {
  kvm_segment cs = segment_from_gdt(gdt_entry(0xa09b, 0, 0xfffff), kCodeSelector);
  EXPECT_EQ(cs.l, 1);
  EXPECT_EQ(cs.db, 0);
  EXPECT_EQ(cs.type, 0xb);
  EXPECT_EQ(cs.present, 1);
  EXPECT_EQ(cs.s, 1);
  EXPECT_EQ(cs.g, 1);
  EXPECT_EQ(cs.limit, 0xffffffffu);
  EXPECT_EQ(cs.selector, kCodeSelector);
  kvm_segment ds = segment_from_gdt(gdt_entry(0xc093, 0, 0xfffff), kDataSelector);
  EXPECT_EQ(ds.db, 1);
  EXPECT_EQ(ds.l, 0);
  EXPECT_EQ(ds.type, 0x3);
  kvm_segment odd = segment_from_gdt(gdt_entry(0x0093, 0x12345678, 0xabcde), 0);
  EXPECT_EQ(odd.base, 0x12345678u);
  EXPECT_EQ(odd.limit, 0xabcdeu);
  EXPECT_EQ(odd.unusable, 0);
}

TEST(LongMode, GdtInGuestMemoryMatchesTheSelectors) {
  auto mem = memory();
  ASSERT_TRUE(write_gdt_and_idt(mem));
  auto code_desc = mem.read_obj<uint64_t>(kGdtAddress + kCodeSelector);
  auto data_desc = mem.read_obj<uint64_t>(kGdtAddress + kDataSelector);
  ASSERT_TRUE(code_desc && data_desc);
  EXPECT_EQ(*code_desc, gdt_entry(0xa09b, 0, 0xfffff));
  EXPECT_EQ(*data_desc, gdt_entry(0xc093, 0, 0xfffff));
  EXPECT_EQ(*mem.read_obj<uint64_t>(kGdtAddress), 0u);
}

TEST(LongMode, PageTablesIdentityMapTheFirst4GiB) {
  auto mem = memory();
  ASSERT_TRUE(write_identity_page_tables(mem));
  EXPECT_EQ(*mem.read_obj<uint64_t>(kPml4Address), kPdptAddress | 0x3);
  EXPECT_EQ(*mem.read_obj<uint64_t>(kPml4Address + 8), 0u);
  for (uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(*mem.read_obj<uint64_t>(kPdptAddress + 8 * i), (kPdAddress + 0x1000 * i) | 0x3);
  }
  EXPECT_EQ(*mem.read_obj<uint64_t>(kPdptAddress + 32), 0u);
  // Walk three addresses: first page, 1 MiB + 3 MiB, the virtio window.
  for (uint64_t va : {0ull, 0x400000ull, 0xd0000000ull, 0xfffff000ull}) {
    uint64_t pdpte = *mem.read_obj<uint64_t>(kPdptAddress + 8 * (va >> 30));
    uint64_t pde = *mem.read_obj<uint64_t>((pdpte & ~0xfffull) + 8 * ((va >> 21) & 511));
    EXPECT_EQ(pde & 0x83, 0x83u) << std::hex << va;  // present, writable, 2 MiB
    EXPECT_EQ((pde & ~0x1fffffull) | (va & 0x1fffff), va) << std::hex << va;
  }
}

TEST(LongMode, SregsEnterLongModeFromKvmResetState) {
  kvm_sregs sregs{};
  sregs.cr0 = 0x60000010;  // KVM's reset CR0
  setup_long_mode_sregs(sregs);
  EXPECT_TRUE(sregs.cr0 & kCr0Pe);
  EXPECT_TRUE(sregs.cr0 & kCr0Pg);
  EXPECT_TRUE(sregs.cr4 & kCr4Pae);
  EXPECT_TRUE(sregs.efer & kEferLme);
  EXPECT_TRUE(sregs.efer & kEferLma);
  EXPECT_EQ(sregs.cr3, kPml4Address);
  EXPECT_EQ(sregs.cs.selector, kCodeSelector);
  EXPECT_EQ(sregs.ss.selector, kDataSelector);
  EXPECT_EQ(sregs.ds.selector, kDataSelector);
  EXPECT_EQ(sregs.gdt.base, kGdtAddress);
  EXPECT_EQ(sregs.gdt.limit, 31);
  EXPECT_EQ(sregs.idt.base, kIdtAddress);
  EXPECT_EQ(sregs.tr.type, 0xb);
}

TEST(LongMode, BootRegistersFollowTheContract) {
  kvm_regs regs = boot_regs(0x1000200);
  EXPECT_EQ(regs.rip, 0x1000200u);
  EXPECT_EQ(regs.rsi, 0x7000u);
  EXPECT_EQ(regs.rsp, 0x8ff0u);
  EXPECT_EQ(regs.rflags, 0x2u) << "interrupts must be off at entry";
}

TEST(LongMode, LintPinsAreExtIntAndNmi) {
  kvm_lapic_state lapic{};
  std::memset(lapic.regs, 0xff, sizeof(lapic.regs));
  setup_lint_pins(lapic);
  uint32_t lint0, lint1;
  std::memcpy(&lint0, lapic.regs + 0x350, 4);
  std::memcpy(&lint1, lapic.regs + 0x360, 4);
  EXPECT_EQ(lint0 & 0x700, 0x700u);
  EXPECT_EQ(lint1 & 0x700, 0x400u);
  EXPECT_EQ(lint0 & ~0x700u, 0xfffff8ffu) << "other LVT bits are kept";
}

}  // namespace
}  // namespace thaw::sandbox::boot
