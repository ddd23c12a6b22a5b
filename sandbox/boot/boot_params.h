// The Linux zero page (struct boot_params, Documentation/arch/x86/
// zero-page.rst), its e820 map, the command line and the initrd placement.
// Pure builders over GuestMemory; the Vmm calls prepare_boot() once.
#pragma once

#include <asm/bootparam.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::sandbox::boot {

inline constexpr uint32_t kE820Ram = 1;  // E820_TYPE_RAM
inline constexpr uint8_t kLoaderTypeUndefined = 0xff;

// CONTRACT.md e820: [0, EBDA) RAM, [1 MiB, low end) RAM, [4 GiB, ...) RAM.
std::vector<boot_e820_entry> e820_map(const GuestMemory& mem);

struct InitrdPlacement {
  uint64_t address = 0;
  uint64_t size = 0;
};
// The highest page-aligned address in low RAM (below the MMIO gap and
// `addr_max`, the kernel's initrd_addr_max) where `size` bytes fit above
// `kernel_end`.
Result<InitrdPlacement> place_initrd(const GuestMemory& mem, uint64_t size, uint64_t kernel_end,
                                     uint64_t addr_max);

// Writes the command line with its NUL at kCmdlineAddress. `limit` is the
// kernel's maximum (cmdline_size) excluding the NUL.
Result<void> write_cmdline(const GuestMemory& mem, std::string_view cmdline, uint64_t limit);

struct KernelBootInfo {
  // The image's setup header (bzImage) or none (ELF: thaw builds one).
  std::optional<setup_header> header;
};
// Fills the zero page at kZeroPageAddress.
Result<void> write_boot_params(const GuestMemory& mem, const KernelBootInfo& kernel,
                               uint64_t cmdline_size, std::optional<InitrdPlacement> initrd);

// Everything the boot builders produce, for the vCPU setup.
struct BootPlan {
  uint64_t entry = 0;
  bool bzimage = false;
  std::optional<InitrdPlacement> initrd;
};
// Loads `kernel` (bzImage or ELF, detected by magic), `initrd` (may be
// empty), the command line, zero page, MP table for `vcpus` CPUs, GDT and
// page tables into `mem`.
Result<BootPlan> prepare_boot(const GuestMemory& mem, std::span<const uint8_t> kernel,
                              std::span<const uint8_t> initrd, std::string_view cmdline,
                              uint32_t vcpus = 1);

}  // namespace thaw::sandbox::boot
