#include "sandbox/boot/bzimage.h"

#include <algorithm>
#include <cstring>

#include "sandbox/boot/layout.h"

namespace thaw::sandbox::boot {

namespace {
constexpr uint64_t kSectorSize = 512;
constexpr uint64_t kMagicOffset = 0x202;
// boot.rst: "setup_sects = 0 means 4" for compatibility with old images.
constexpr uint8_t kDefaultSetupSects = 4;
}  // namespace

bool looks_like_bzimage(std::span<const uint8_t> image) {
  uint32_t magic = 0;
  if (image.size() < kMagicOffset + sizeof(magic)) return false;
  std::memcpy(&magic, image.data() + kMagicOffset, sizeof(magic));
  return magic == kSetupHeaderMagic;
}

Result<BzImage> parse_bzimage(std::span<const uint8_t> image) {
  BzImage bz;
  if (image.size() < kSetupHeaderOffset + sizeof(setup_header)) {
    return Error::format(
        "bzImage is {} bytes, too short to hold the setup header at {:#x} ({} bytes); is it a "
        "kernel image?",
        image.size(), kSetupHeaderOffset, sizeof(setup_header));
  }
  std::memcpy(&bz.header, image.data() + kSetupHeaderOffset, sizeof(setup_header));
  const setup_header& h = bz.header;
  if (h.header != kSetupHeaderMagic) {
    return Error::format(
        "bzImage setup header magic at {:#x} is {:#010x}, not \"HdrS\" ({:#010x}); the file is "
        "not a Linux bzImage",
        kMagicOffset, h.header, kSetupHeaderMagic);
  }
  if (h.version < kMinBootProtocol) {
    return Error::format(
        "bzImage boot protocol {}.{:02} is older than {}.{:02}, the oldest thaw loads; build a "
        "newer kernel",
        h.version >> 8, h.version & 0xff, kMinBootProtocol >> 8, kMinBootProtocol & 0xff);
  }
  if ((h.loadflags & kLoadflagLoadedHigh) == 0) {
    return Error::format(
        "bzImage loadflags {:#04x} lack LOADED_HIGH: a zImage loads at 0x10000, thaw loads "
        "only bzImages at 1 MiB",
        h.loadflags);
  }
  if ((h.xloadflags & kXloadflagKernel64) == 0) {
    return Error::format(
        "bzImage xloadflags {:#06x} lack XLF_KERNEL_64: the kernel has no 64-bit entry point; "
        "build it with CONFIG_X86_64",
        h.xloadflags);
  }
  uint64_t setup_sects = h.setup_sects == 0 ? kDefaultSetupSects : h.setup_sects;
  bz.kernel_offset = (setup_sects + 1) * kSectorSize;
  if (bz.kernel_offset >= image.size()) {
    return Error::format(
        "bzImage setup_sects {} puts the protected-mode kernel at offset {:#x}, past the end of "
        "the {}-byte file",
        setup_sects, bz.kernel_offset, image.size());
  }
  bz.kernel_size = image.size() - bz.kernel_offset;
  bz.init_size = std::max<uint64_t>(h.init_size, bz.kernel_size);
  return bz;
}

Result<uint64_t> load_bzimage(const GuestMemory& mem, const BzImage& bz,
                              std::span<const uint8_t> image) {
  if (bz.kernel_offset + bz.kernel_size > image.size()) {
    return Error::format("bzImage kernel [{:#x}, +{:#x}) lies outside the {}-byte file",
                         bz.kernel_offset, bz.kernel_size, image.size());
  }
  // The kernel decompresses in place within init_size bytes from its load
  // address (boot.rst, init_size), so all of that must be RAM.
  if (!mem.contains(kHighMemoryStart, bz.init_size)) {
    return Error::format(
        "kernel needs {} MiB of RAM from 1 MiB (init_size {:#x}) but the guest has {} MiB; "
        "raise --mem",
        (kHighMemoryStart + bz.init_size + (1 << 20) - 1) >> 20, bz.init_size,
        mem.size() >> 20);
  }
  auto r = mem.write(kHighMemoryStart, image.subspan(bz.kernel_offset, bz.kernel_size));
  if (!r) return std::move(r).error().context("copying the bzImage kernel");
  return kHighMemoryStart + kEntry64Offset;
}

}  // namespace thaw::sandbox::boot
