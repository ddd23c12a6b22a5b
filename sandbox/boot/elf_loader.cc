#include "sandbox/boot/elf_loader.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include "sandbox/boot/layout.h"

namespace thaw::sandbox::boot {

namespace {
// More program headers than any kernel or test guest has; bounds the work a
// hostile file can cause.
constexpr uint16_t kMaxProgramHeaders = 64;
}  // namespace

bool looks_like_elf(std::span<const uint8_t> image) {
  return image.size() >= SELFMAG && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
}

Result<ElfImage> parse_elf(std::span<const uint8_t> image) {
  Elf64_Ehdr eh;
  if (image.size() < sizeof(eh)) {
    return Error::format("ELF file is {} bytes, shorter than an ELF64 header ({})", image.size(),
                         sizeof(eh));
  }
  std::memcpy(&eh, image.data(), sizeof(eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    return Error::format("file does not start with the ELF magic \\x7fELF");
  }
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
    return Error::format("ELF class {} is not ELFCLASS64; thaw boots only 64-bit images",
                         eh.e_ident[EI_CLASS]);
  }
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return Error::format("ELF data encoding {} is not little-endian (ELFDATA2LSB)",
                         eh.e_ident[EI_DATA]);
  }
  if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT) {
    return Error::format("ELF version {} is not EV_CURRENT (1)", eh.e_version);
  }
  if (eh.e_type != ET_EXEC) {
    return Error::format("ELF type {} is not ET_EXEC (2); link the guest as a static executable",
                         eh.e_type);
  }
  if (eh.e_machine != EM_X86_64) {
    return Error::format("ELF machine {} is not EM_X86_64 (62)", eh.e_machine);
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return Error::format("ELF e_phentsize {} is not sizeof(Elf64_Phdr) = {}", eh.e_phentsize,
                         sizeof(Elf64_Phdr));
  }
  if (eh.e_phnum == 0 || eh.e_phnum > kMaxProgramHeaders) {
    return Error::format("ELF has {} program headers; thaw accepts 1 to {}", eh.e_phnum,
                         kMaxProgramHeaders);
  }
  uint64_t table_size = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  if (eh.e_phoff > image.size() || table_size > image.size() - eh.e_phoff) {
    return Error::format(
        "ELF program header table [{:#x}, +{:#x}) lies outside the {}-byte file", eh.e_phoff,
        table_size, image.size());
  }

  ElfImage elf;
  elf.entry = eh.e_entry;
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + i * sizeof(Elf64_Phdr), sizeof(ph));
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_offset > image.size() || ph.p_filesz > image.size() - ph.p_offset) {
      return Error::format("ELF segment {} file range [{:#x}, +{:#x}) lies outside the {}-byte file",
                           i, ph.p_offset, ph.p_filesz, image.size());
    }
    if (ph.p_filesz > ph.p_memsz) {
      return Error::format("ELF segment {} has p_filesz {:#x} larger than p_memsz {:#x}", i,
                           ph.p_filesz, ph.p_memsz);
    }
    if (ph.p_paddr + ph.p_memsz < ph.p_paddr) {
      return Error::format("ELF segment {} [{:#x}, +{:#x}) wraps around the address space", i,
                           ph.p_paddr, ph.p_memsz);
    }
    if (ph.p_paddr < kHighMemoryStart) {
      return Error::format(
          "ELF segment {} loads at {:#x}, below 1 MiB where thaw keeps the boot structures; "
          "link it at or above {:#x}",
          i, ph.p_paddr, kHighMemoryStart);
    }
    for (const ElfSegment& other : elf.segments) {
      if (ph.p_paddr < other.guest_address + other.memory_size &&
          other.guest_address < ph.p_paddr + ph.p_memsz) {
        return Error::format("ELF segment {} [{:#x}, +{:#x}) overlaps an earlier PT_LOAD at {:#x}",
                             i, ph.p_paddr, ph.p_memsz, other.guest_address);
      }
    }
    elf.segments.push_back(ElfSegment{ph.p_offset, ph.p_filesz, ph.p_paddr, ph.p_memsz,
                                      (ph.p_flags & PF_X) != 0});
    elf.end = std::max(elf.end, ph.p_paddr + ph.p_memsz);
  }
  if (elf.segments.empty()) return Error::format("ELF has no non-empty PT_LOAD segment to load");
  bool entry_ok = std::any_of(elf.segments.begin(), elf.segments.end(), [&](const ElfSegment& s) {
    return s.executable && elf.entry >= s.guest_address &&
           elf.entry - s.guest_address < s.memory_size;
  });
  if (!entry_ok) {
    return Error::format("ELF entry point {:#x} is not inside an executable PT_LOAD segment",
                         elf.entry);
  }
  return elf;
}

Result<void> load_elf(const GuestMemory& mem, const ElfImage& elf,
                      std::span<const uint8_t> image) {
  for (const ElfSegment& s : elf.segments) {
    auto dest = mem.slice(s.guest_address, s.memory_size);
    if (!dest) {
      return Error::format(
          "ELF segment at {:#x} (+{:#x} bytes) does not fit in the guest's {} MiB of RAM; raise "
          "--mem or link the image lower",
          s.guest_address, s.memory_size, mem.size() >> 20);
    }
    if (s.file_offset + s.file_size > image.size()) {
      return Error::format("ELF segment file range [{:#x}, +{:#x}) lies outside the file",
                           s.file_offset, s.file_size);
    }
    std::memcpy(dest->data(), image.data() + s.file_offset, s.file_size);
    std::memset(dest->data() + s.file_size, 0, s.memory_size - s.file_size);
  }
  return Ok();
}

}  // namespace thaw::sandbox::boot
