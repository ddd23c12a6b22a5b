// Parser and loader for Linux x86 bzImage files (Documentation/arch/x86/
// boot.rst, "The Linux/x86 Boot Protocol"). The image is untrusted bytes: the
// parser is pure and rejects anything thaw cannot enter at the 64-bit entry.
#pragma once

#include <asm/bootparam.h>

#include <cstdint>
#include <span>

#include "common/result.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::sandbox::boot {

inline constexpr uint32_t kSetupHeaderMagic = 0x53726448;  // "HdrS"
inline constexpr uint16_t kMinBootProtocol = 0x0206;       // cmdline_size appears in 2.06
inline constexpr uint64_t kSetupHeaderOffset = 0x1f1;
inline constexpr uint8_t kLoadflagLoadedHigh = 0x01;  // LOADED_HIGH
inline constexpr uint16_t kXloadflagKernel64 = 0x01;  // XLF_KERNEL_64
inline constexpr uint64_t kEntry64Offset = 0x200;     // 64-bit entry past code32_start

struct BzImage {
  setup_header header{};        // copy of the image's setup header
  uint64_t kernel_offset = 0;   // file offset of the protected-mode kernel
  uint64_t kernel_size = 0;     // bytes of protected-mode kernel in the file
  uint64_t init_size = 0;       // memory the kernel needs from its load address
};

// Validates magic, boot protocol version, LOADED_HIGH and XLF_KERNEL_64 and
// that the protected-mode kernel lies within the file.
Result<BzImage> parse_bzimage(std::span<const uint8_t> image);
bool looks_like_bzimage(std::span<const uint8_t> image);

// Copies the protected-mode kernel to kHighMemoryStart (1 MiB) and checks
// that its init_size fits in guest RAM. Returns the 64-bit entry address.
Result<uint64_t> load_bzimage(const GuestMemory& mem, const BzImage& bz,
                              std::span<const uint8_t> image);

}  // namespace thaw::sandbox::boot
