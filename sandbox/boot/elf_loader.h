// Loader for 64-bit x86 ELF executables entered in long mode: vmlinux and
// thaw's freestanding test guest. The file is untrusted bytes; every header
// field is bounds-checked before use (ELF-64 Object File Format 1.5).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::sandbox::boot {

struct ElfSegment {
  uint64_t file_offset = 0;
  uint64_t file_size = 0;
  uint64_t guest_address = 0;  // p_paddr: thaw enters with an identity map
  uint64_t memory_size = 0;
  bool executable = false;
};

struct ElfImage {
  uint64_t entry = 0;
  std::vector<ElfSegment> segments;  // the PT_LOAD ones, in file order
  uint64_t end = 0;                  // first guest byte past every segment
};

bool looks_like_elf(std::span<const uint8_t> image);
// Checks ident (ELF64, little-endian, version 1), type EXEC, machine
// x86-64, the program header table and every PT_LOAD against the file,
// that segments start at or above 1 MiB (below is boot structures), do not
// overlap, and that the entry lies in an executable segment.
Result<ElfImage> parse_elf(std::span<const uint8_t> image);
// Copies each PT_LOAD to its p_paddr and zeroes its tail (memsz > filesz);
// fails naming the segment that does not fit in guest RAM.
Result<void> load_elf(const GuestMemory& mem, const ElfImage& elf, std::span<const uint8_t> image);

}  // namespace thaw::sandbox::boot
