// Test helpers that build small kernel images in memory: a 64-bit ELF with
// given PT_LOAD segments and a bzImage with a chosen setup header, so the
// boot tests can feed valid and malformed images to the loaders.
#pragma once

#include <asm/bootparam.h>
#include <elf.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace thaw::sandbox::testing {

struct TestSegment {
  uint64_t paddr;
  std::vector<uint8_t> bytes;
  uint64_t memsz;  // >= bytes.size()
  uint32_t flags = PF_R | PF_X;
};

// ELF64 x86-64 ET_EXEC; program headers right after the ELF header, then
// each segment's bytes in order.
inline std::vector<uint8_t> make_elf(uint64_t entry, const std::vector<TestSegment>& segments) {
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = entry;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<uint16_t>(segments.size());
  std::vector<uint8_t> out(sizeof(eh) + segments.size() * sizeof(Elf64_Phdr));
  std::memcpy(out.data(), &eh, sizeof(eh));
  for (size_t i = 0; i < segments.size(); ++i) {
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = segments[i].flags;
    ph.p_offset = out.size();
    ph.p_vaddr = ph.p_paddr = segments[i].paddr;
    ph.p_filesz = segments[i].bytes.size();
    ph.p_memsz = segments[i].memsz;
    ph.p_align = 0x1000;
    std::memcpy(out.data() + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
    out.insert(out.end(), segments[i].bytes.begin(), segments[i].bytes.end());
  }
  return out;
}

inline Elf64_Ehdr* elf_header(std::vector<uint8_t>& image) {
  return reinterpret_cast<Elf64_Ehdr*>(image.data());
}
inline Elf64_Phdr* elf_phdr(std::vector<uint8_t>& image, size_t i) {
  return reinterpret_cast<Elf64_Phdr*>(image.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

// A bzImage: `setup_sects` 512-byte setup sectors after the boot sector,
// then `kernel` as the protected-mode part; header fields a valid 2.15
// 64-bit kernel has.
inline std::vector<uint8_t> make_bzimage(const std::vector<uint8_t>& kernel,
                                         uint8_t setup_sects = 4) {
  std::vector<uint8_t> out((setup_sects + 1) * 512, 0);
  setup_header h{};
  h.setup_sects = setup_sects;
  h.boot_flag = 0xaa55;
  h.header = 0x53726448;
  h.version = 0x020f;
  h.loadflags = 0x01;
  h.code32_start = 0x100000;
  h.initrd_addr_max = 0x7fffffff;
  h.kernel_alignment = 0x200000;
  h.relocatable_kernel = 1;
  h.xloadflags = 0x01 | 0x02;
  h.cmdline_size = 2047;
  h.init_size = static_cast<uint32_t>(kernel.size() + 0x10000);
  std::memcpy(out.data() + 0x1f1, &h, sizeof(h));
  out.insert(out.end(), kernel.begin(), kernel.end());
  return out;
}

inline setup_header* bz_header(std::vector<uint8_t>& image) {
  return reinterpret_cast<setup_header*>(image.data() + 0x1f1);
}

}  // namespace thaw::sandbox::testing
