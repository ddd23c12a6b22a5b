// Guest physical addresses of the boot structures (CONTRACT.md "Guest
// physical layout", Firecracker's arch/x86_64/layout.rs). Shared by the boot
// builders, the vCPU register setup and their tests.
#pragma once

#include <cstdint>

namespace thaw::sandbox::boot {

inline constexpr uint64_t kGdtAddress = 0x500;
inline constexpr uint64_t kIdtAddress = 0x520;
inline constexpr uint64_t kZeroPageAddress = 0x7000;
inline constexpr uint64_t kBootStackPointer = 0x8ff0;
inline constexpr uint64_t kPml4Address = 0x9000;
inline constexpr uint64_t kPdptAddress = 0xA000;
inline constexpr uint64_t kPdAddress = 0xB000;  // four PDs, 0xB000..0xEFFF
inline constexpr uint64_t kCmdlineAddress = 0x20000;
inline constexpr uint64_t kCmdlineMaxBytes = 2048;  // including the NUL
// End of conventional memory below the EBDA, and the start of "high"
// memory where kernels load (Linux boot protocol, "memory layout").
inline constexpr uint64_t kEbdaStart = 0x9fc00;
inline constexpr uint64_t kHighMemoryStart = 0x100000;
// The smallest guest thaw boots: boot structures, a kernel and a stack.
inline constexpr uint64_t kMinGuestMemory = 2 * 1024 * 1024;

// GDT selectors the Linux 64-bit boot protocol expects (__BOOT_CS/__BOOT_DS).
inline constexpr uint16_t kTssSelector = 0x08;
inline constexpr uint16_t kCodeSelector = 0x10;
inline constexpr uint16_t kDataSelector = 0x18;

}  // namespace thaw::sandbox::boot
