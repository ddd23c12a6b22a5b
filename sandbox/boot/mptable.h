// Intel MultiProcessor Specification 1.4 tables: how a guest without ACPI
// (thaw's kernels have CONFIG_ACPI off) learns its CPUs, its IOAPIC and how
// ISA IRQs are wired. Without them Linux stays in virtual-wire mode on one
// CPU and never uses the IOAPIC (Firecracker writes the same: mptable.rs).
#pragma once

#include <cstdint>

#include "common/result.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::sandbox::boot {

// The tables live in the last KiB of conventional memory (the EBDA), one
// of the places Linux's smp_scan_config() searches; e820 leaves it out of RAM.
inline constexpr uint64_t kMpTableAddress = 0x9fc00;
inline constexpr uint64_t kMpTableMaxBytes = 0x400;
inline constexpr uint64_t kIoapicAddress = 0xfec0'0000;
inline constexpr uint64_t kLapicAddress = 0xfee0'0000;
inline constexpr uint32_t kIoapicPins = 24;  // the in-kernel IOAPIC's pins

// Bytes needed for `vcpus` processors; fails beyond kMpTableMaxBytes.
uint64_t mptable_size(uint32_t vcpus);
// Writes the floating pointer and configuration table for `vcpus` CPUs
// (APIC ids 0..vcpus-1, vCPU 0 the BSP), one ISA bus, the IOAPIC (id =
// vcpus) with ISA IRQ n on pin n for every pin, ExtINT on LINT0, NMI on LINT1.
Result<void> write_mptable(const GuestMemory& mem, uint32_t vcpus);

}  // namespace thaw::sandbox::boot
