#include "sandbox/boot/long_mode.h"

#include <array>
#include <cstring>

#include "sandbox/boot/layout.h"

namespace thaw::sandbox::boot {

namespace {
constexpr uint64_t kPagePresent = 1ull << 0;
constexpr uint64_t kPageWritable = 1ull << 1;
constexpr uint64_t kPageSize2M = 1ull << 7;
constexpr uint64_t kTwoMiB = 2ull << 20;
constexpr int kPageDirectories = 4;  // 4 x 1 GiB = the first 4 GiB
constexpr int kEntriesPerTable = 512;

// Access/flags words (Firecracker's values): 0xa09b = G, L, present, DPL0,
// code exec/read accessed; 0xc093 = G, D/B, present, data read/write
// accessed; 0x808b = G, present, 64-bit busy TSS.
constexpr uint16_t kCodeFlags = 0xa09b;
constexpr uint16_t kDataFlags = 0xc093;
constexpr uint16_t kTssFlags = 0x808b;

// LAPIC register offsets and the delivery-mode field (SDM vol. 3A §10.5.1).
constexpr size_t kApicLvtLint0 = 0x350;
constexpr size_t kApicLvtLint1 = 0x360;
constexpr uint32_t kDeliveryModeMask = 0x700;
constexpr uint32_t kDeliveryExtInt = 0x700;
constexpr uint32_t kDeliveryNmi = 0x400;

std::array<uint64_t, 4> gdt_table() {
  return {0, gdt_entry(kTssFlags, 0, 0xfffff), gdt_entry(kCodeFlags, 0, 0xfffff),
          gdt_entry(kDataFlags, 0, 0xfffff)};
}
}  // namespace

uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit) {
  return ((static_cast<uint64_t>(base) & 0xff000000ull) << (56 - 24)) |
         ((static_cast<uint64_t>(flags) & 0x0000f0ffull) << 40) |
         ((static_cast<uint64_t>(limit) & 0x000f0000ull) << (48 - 16)) |
         ((static_cast<uint64_t>(base) & 0x00ffffffull) << 16) |
         (static_cast<uint64_t>(limit) & 0x0000ffffull);
}

kvm_segment segment_from_gdt(uint64_t entry, uint16_t selector) {
  kvm_segment seg{};
  seg.base = ((entry >> 16) & 0xffffff) | (((entry >> 56) & 0xff) << 24);
  uint32_t limit = static_cast<uint32_t>((entry & 0xffff) | (((entry >> 48) & 0xf) << 16));
  seg.g = (entry >> 55) & 1;
  // With G set the limit counts 4 KiB pages: the cache holds the byte limit.
  seg.limit = seg.g ? (limit << 12) | 0xfff : limit;
  seg.selector = selector;
  seg.type = (entry >> 40) & 0xf;
  seg.present = (entry >> 47) & 1;
  seg.dpl = (entry >> 45) & 3;
  seg.db = (entry >> 54) & 1;
  seg.s = (entry >> 44) & 1;
  seg.l = (entry >> 53) & 1;
  seg.avl = (entry >> 52) & 1;
  seg.unusable = seg.present ? 0 : 1;
  return seg;
}

Result<void> write_gdt_and_idt(const GuestMemory& mem) {
  auto gdt = gdt_table();
  static_assert(kGdtAddress + sizeof(uint64_t) * 4 <= kIdtAddress, "GDT runs into the IDT");
  auto r = mem.write_obj(kGdtAddress, gdt);
  if (!r) return std::move(r).error().context("writing the boot GDT");
  r = mem.write_obj<uint64_t>(kIdtAddress, 0);
  if (!r) return std::move(r).error().context("writing the boot IDT");
  return Ok();
}

Result<void> write_identity_page_tables(const GuestMemory& mem) {
  std::array<uint64_t, kEntriesPerTable> table{};
  table[0] = kPdptAddress | kPagePresent | kPageWritable;
  auto r = mem.write_obj(kPml4Address, table);
  if (!r) return std::move(r).error().context("writing the boot PML4");

  table.fill(0);
  for (int i = 0; i < kPageDirectories; ++i) {
    table[i] = (kPdAddress + 0x1000ull * i) | kPagePresent | kPageWritable;
  }
  r = mem.write_obj(kPdptAddress, table);
  if (!r) return std::move(r).error().context("writing the boot PDPT");

  for (int pd = 0; pd < kPageDirectories; ++pd) {
    for (int i = 0; i < kEntriesPerTable; ++i) {
      uint64_t phys = (static_cast<uint64_t>(pd) * kEntriesPerTable + i) * kTwoMiB;
      table[i] = phys | kPagePresent | kPageWritable | kPageSize2M;
    }
    r = mem.write_obj(kPdAddress + 0x1000ull * pd, table);
    if (!r) return std::move(r).error().context("writing a boot page directory");
  }
  return Ok();
}

void setup_long_mode_sregs(kvm_sregs& sregs) {
  auto gdt = gdt_table();
  sregs.gdt.base = kGdtAddress;
  sregs.gdt.limit = static_cast<uint16_t>(sizeof(gdt) - 1);
  sregs.idt.base = kIdtAddress;
  sregs.idt.limit = static_cast<uint16_t>(sizeof(uint64_t) - 1);

  sregs.cs = segment_from_gdt(gdt[kCodeSelector >> 3], kCodeSelector);
  kvm_segment data = segment_from_gdt(gdt[kDataSelector >> 3], kDataSelector);
  sregs.ds = data;
  sregs.es = data;
  sregs.fs = data;
  sregs.gs = data;
  sregs.ss = data;
  sregs.tr = segment_from_gdt(gdt[kTssSelector >> 3], kTssSelector);

  sregs.cr3 = kPml4Address;
  sregs.cr4 |= kCr4Pae;
  sregs.cr0 |= kCr0Pe | kCr0Pg;
  sregs.efer |= kEferLme | kEferLma;
}

kvm_regs boot_regs(uint64_t entry) {
  kvm_regs regs{};
  regs.rflags = 0x2;  // bit 1 is reserved and always set
  regs.rip = entry;
  regs.rsp = kBootStackPointer;
  regs.rbp = kBootStackPointer;
  regs.rsi = kZeroPageAddress;
  return regs;
}

kvm_fpu boot_fpu() {
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  return fpu;
}

void setup_lint_pins(kvm_lapic_state& lapic) {
  auto set_mode = [&](size_t offset, uint32_t mode) {
    uint32_t value;
    std::memcpy(&value, lapic.regs + offset, sizeof(value));
    value = (value & ~kDeliveryModeMask) | mode;
    std::memcpy(lapic.regs + offset, &value, sizeof(value));
  };
  set_mode(kApicLvtLint0, kDeliveryExtInt);
  set_mode(kApicLvtLint1, kDeliveryNmi);
}

}  // namespace thaw::sandbox::boot
