// CPU state for direct 64-bit entry (Linux boot protocol "64-bit boot
// protocol", as Firecracker does it): GDT, identity-mapped page tables,
// segment and control registers, general registers, FPU and LAPIC LINT
// pins. Pure functions over GuestMemory and the kvm_* structs, so the Vmm
// applies them and tests check them without /dev/kvm.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "common/result.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::sandbox::boot {

// x86 control-register and EFER bits (Intel SDM vol. 3A §2.5, §2.2.1).
inline constexpr uint64_t kCr0Pe = 1ull << 0;
inline constexpr uint64_t kCr0Pg = 1ull << 31;
inline constexpr uint64_t kCr4Pae = 1ull << 5;
inline constexpr uint64_t kEferLme = 1ull << 8;
inline constexpr uint64_t kEferLma = 1ull << 10;

// A GDT descriptor from flags (the access byte and the flags nibble packed
// as 0xF0AA, Firecracker's gdt_entry), base and limit.
uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
// The segment register cache KVM takes for a descriptor (KVM_SET_SREGS
// does not read the GDT, so both must agree).
kvm_segment segment_from_gdt(uint64_t entry, uint16_t selector);

// GDT at kGdtAddress: null, TSS (0x08), 64-bit code (0x10), data (0x18);
// an empty IDT at kIdtAddress.
Result<void> write_gdt_and_idt(const GuestMemory& mem);
// PML4 -> one PDPT -> four PDs of 2 MiB pages: identity map of [0, 4 GiB),
// which includes the virtio-mmio window below 4 GiB.
Result<void> write_identity_page_tables(const GuestMemory& mem);

// Starting from KVM's reset values in `sregs`, switches on protected mode,
// PAE paging on kPml4Address and long mode, with the GDT's segments loaded.
void setup_long_mode_sregs(kvm_sregs& sregs);
// General registers at entry: rip = entry, rsi = zero page, rsp = boot
// stack, rflags = reserved bit 1 only (interrupts off).
kvm_regs boot_regs(uint64_t entry);
// x87 control word and MXCSR at their power-on defaults (SDM vol. 1 §8.1.5,
// §10.2.3), as Linux expects on entry.
kvm_fpu boot_fpu();
// LAPIC LVT LINT0 = ExtINT (the PIC's output) and LINT1 = NMI, the wiring
// of a PC's BSP, which Linux assumes when it routes the legacy PIC.
void setup_lint_pins(kvm_lapic_state& lapic);

}  // namespace thaw::sandbox::boot
