#include "sandbox/boot/boot_params.h"

#include <algorithm>
#include <cstring>

#include "sandbox/boot/bzimage.h"
#include "sandbox/boot/elf_loader.h"
#include "sandbox/boot/layout.h"
#include "sandbox/boot/long_mode.h"
#include "sandbox/boot/mptable.h"

namespace thaw::sandbox::boot {

namespace {
constexpr uint64_t kPageSize = 4096;
constexpr uint16_t kBootFlag = 0xaa55;
// boot.rst: a kernel without initrd_addr_max (protocol < 2.03) takes an
// initrd only below this address.
constexpr uint64_t kDefaultInitrdAddrMax = 0x37ffffff;
// The alignment a relocatable kernel expects (boot.rst, kernel_alignment);
// Firecracker uses the same for ELF kernels.
constexpr uint32_t kKernelAlignment = 0x0100'0000;

uint64_t low_ram_end(const GuestMemory& mem) {
  for (const GuestRegion& r : mem.regions()) {
    if (r.guest_base == 0) return r.size;
  }
  return 0;
}
}  // namespace

std::vector<boot_e820_entry> e820_map(const GuestMemory& mem) {
  std::vector<boot_e820_entry> map;
  uint64_t low_end = low_ram_end(mem);
  map.push_back({0, std::min(low_end, kEbdaStart), kE820Ram});
  if (low_end > kHighMemoryStart) {
    map.push_back({kHighMemoryStart, low_end - kHighMemoryStart, kE820Ram});
  }
  for (const GuestRegion& r : mem.regions()) {
    if (r.guest_base >= kMmioGapEnd) map.push_back({r.guest_base, r.size, kE820Ram});
  }
  return map;
}

Result<InitrdPlacement> place_initrd(const GuestMemory& mem, uint64_t size, uint64_t kernel_end,
                                     uint64_t addr_max) {
  uint64_t low_end = low_ram_end(mem);
  // addr_max is the highest byte address the initrd may occupy.
  uint64_t ceiling = std::min(low_end, addr_max == UINT64_MAX ? addr_max : addr_max + 1);
  uint64_t floor = (kernel_end + kPageSize - 1) & ~(kPageSize - 1);
  if (size == 0 || size > ceiling || ceiling - size < floor) {
    return Error::format(
        "initrd of {} bytes does not fit between the kernel end {:#x} and {:#x} (low RAM end or "
        "the kernel's initrd_addr_max); raise --mem or shrink the initrd",
        size, floor, ceiling);
  }
  uint64_t address = (ceiling - size) & ~(kPageSize - 1);
  return InitrdPlacement{address, size};
}

Result<void> write_cmdline(const GuestMemory& mem, std::string_view cmdline, uint64_t limit) {
  uint64_t max_len = std::min(limit, kCmdlineMaxBytes - 1);
  if (cmdline.size() > max_len) {
    return Error::format(
        "kernel command line is {} bytes; the limit is {} (kernel cmdline_size and thaw's {}-byte "
        "buffer); shorten --cmdline",
        cmdline.size(), max_len, kCmdlineMaxBytes);
  }
  if (cmdline.find('\0') != std::string_view::npos) {
    return Error::format("kernel command line contains a NUL byte at offset {}",
                         cmdline.find('\0'));
  }
  std::vector<uint8_t> bytes(cmdline.begin(), cmdline.end());
  bytes.push_back(0);
  auto r = mem.write(kCmdlineAddress, bytes);
  if (!r) return std::move(r).error().context("writing the kernel command line");
  return Ok();
}

Result<void> write_boot_params(const GuestMemory& mem, const KernelBootInfo& kernel,
                               uint64_t cmdline_size, std::optional<InitrdPlacement> initrd) {
  boot_params params{};
  if (kernel.header) {
    params.hdr = *kernel.header;
  } else {
    // An ELF kernel has no setup header: fill in what Linux checks
    // (zero-page.rst; Firecracker's configure_system does the same).
    params.hdr.boot_flag = kBootFlag;
    params.hdr.header = kSetupHeaderMagic;
    params.hdr.version = kMinBootProtocol;
    params.hdr.kernel_alignment = kKernelAlignment;
  }
  params.hdr.type_of_loader = kLoaderTypeUndefined;
  params.hdr.cmd_line_ptr = static_cast<uint32_t>(kCmdlineAddress);
  // In a bzImage header cmdline_size is the kernel's limit, read-only for
  // the loader; only the header thaw makes for an ELF kernel carries ours.
  if (!kernel.header) params.hdr.cmdline_size = static_cast<uint32_t>(cmdline_size);
  if (initrd) {
    params.hdr.ramdisk_image = static_cast<uint32_t>(initrd->address);
    params.hdr.ramdisk_size = static_cast<uint32_t>(initrd->size);
  }
  auto map = e820_map(mem);
  if (map.size() > E820_MAX_ENTRIES_ZEROPAGE) {
    return Error::format("e820 map has {} entries; the zero page holds {}", map.size(),
                         E820_MAX_ENTRIES_ZEROPAGE);
  }
  std::copy(map.begin(), map.end(), params.e820_table);
  params.e820_entries = static_cast<uint8_t>(map.size());
  auto r = mem.write_obj(kZeroPageAddress, params);
  if (!r) return std::move(r).error().context("writing the zero page");
  return Ok();
}

Result<BootPlan> prepare_boot(const GuestMemory& mem, std::span<const uint8_t> kernel,
                              std::span<const uint8_t> initrd, std::string_view cmdline,
                              uint32_t vcpus) {
  if (mem.size() < kMinGuestMemory || !mem.contains(0, kMinGuestMemory)) {
    return Error::format("guest has {} bytes of RAM; booting needs at least {} MiB", mem.size(),
                         kMinGuestMemory >> 20);
  }
  BootPlan plan;
  KernelBootInfo info;
  uint64_t kernel_end = 0;
  uint64_t initrd_max = kMmioGapStart - 1;
  uint64_t cmdline_limit = kCmdlineMaxBytes - 1;
  if (looks_like_elf(kernel)) {
    auto elf = parse_elf(kernel);
    if (!elf) return std::move(elf).error().context("kernel ELF");
    auto r = load_elf(mem, *elf, kernel);
    if (!r) return std::move(r).error().context("kernel ELF");
    plan.entry = elf->entry;
    kernel_end = elf->end;
  } else if (looks_like_bzimage(kernel)) {
    auto bz = parse_bzimage(kernel);
    if (!bz) return std::move(bz).error();
    auto entry = load_bzimage(mem, *bz, kernel);
    if (!entry) return std::move(entry).error();
    plan.entry = *entry;
    plan.bzimage = true;
    info.header = bz->header;
    kernel_end = kHighMemoryStart + bz->init_size;
    initrd_max = bz->header.initrd_addr_max != 0 ? bz->header.initrd_addr_max
                                                 : kDefaultInitrdAddrMax;
    cmdline_limit = bz->header.cmdline_size;
  } else {
    return Error::format(
        "kernel image ({} bytes) is neither an ELF executable nor a bzImage (no \\x7fELF magic "
        "at 0, no \"HdrS\" at 0x202)",
        kernel.size());
  }
  if (!initrd.empty()) {
    auto place = place_initrd(mem, initrd.size(), kernel_end, initrd_max);
    if (!place) return std::move(place).error();
    auto r = mem.write(place->address, initrd);
    if (!r) return std::move(r).error().context("copying the initrd");
    plan.initrd = *place;
  }
  auto r = write_cmdline(mem, cmdline, cmdline_limit);
  if (!r) return std::move(r).error();
  r = write_boot_params(mem, info, cmdline.size() + 1, plan.initrd);
  if (!r) return std::move(r).error();
  r = write_mptable(mem, vcpus);
  if (!r) return std::move(r).error();
  r = write_gdt_and_idt(mem);
  if (!r) return std::move(r).error();
  r = write_identity_page_tables(mem);
  if (!r) return std::move(r).error();
  return plan;
}

}  // namespace thaw::sandbox::boot
