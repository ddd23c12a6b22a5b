#include "sandbox/microvm/guest_initramfs.h"

#include <elf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <cstring>

#include "common/file_util.h"

namespace thaw {
namespace {

constexpr size_t kMaxInitBytes = 64u << 20;  // thaw-init is ~3 MB static

void pad4(std::string& out) {
  while (out.size() % 4) out.push_back('\0');
}

void put_entry(std::string& out, uint32_t ino, const CpioEntry& e) {
  char header[111];
  // newc: magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
  // devminor, rdevmajor, rdevminor, namesize (incl. NUL), check.
  std::snprintf(header, sizeof header, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
                ino, e.mode, 0u, 0u, S_ISDIR(e.mode) ? 2u : 1u, 0u,
                static_cast<unsigned>(e.data.size()), 0u, 0u, e.rdev_major, e.rdev_minor,
                static_cast<unsigned>(e.name.size() + 1), 0u);
  out.append(header, 110);
  out += e.name;
  out.push_back('\0');
  pad4(out);
  out += e.data;
  pad4(out);
}

}  // namespace

std::string newc_archive(const std::vector<CpioEntry>& entries) {
  std::string out;
  uint32_t ino = 1;
  for (const auto& e : entries) put_entry(out, ino++, e);
  put_entry(out, 0, CpioEntry{"TRAILER!!!", 0, 0, 0, ""});
  return out;
}

Result<void> check_static_elf(std::span<const uint8_t> image, const std::string& path) {
  if (image.size() < sizeof(Elf64_Ehdr) || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0) {
    return Error::format("{} is not an ELF file; pass the thaw-init built by meson "
                         "(build/runtime-api/thaw-init)", path);
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof eh);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) {
    return Error::format("{} is not an x86-64 ELF64 executable; the microVM guest is x86-64", path);
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > image.size() ||
      uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > image.size() - eh.e_phoff) {
    return Error::format("{}: ELF program headers lie outside the file ({} bytes)", path,
                         image.size());
  }
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_INTERP) {
      return Error::format("{} is dynamically linked (it names an ELF interpreter), but the "
                           "microVM guest has no libc or loader; build thaw-init static "
                           "(a build without -Db_sanitize)", path);
    }
  }
  return Ok();
}

Result<std::string> thaw_init_initramfs(const std::string& init_path) {
  auto image = read_file(init_path, kMaxInitBytes);
  if (!image) return std::move(image).error().context("reading thaw-init for the initramfs");
  if (auto ok = check_static_elf(*image, init_path); !ok) return std::move(ok).error();
  std::vector<CpioEntry> entries = {
      {"dev", S_IFDIR | 0755},
      // The kernel opens /dev/console for PID 1's stdin/stdout/stderr
      // before /init runs: without it thaw-init's messages go nowhere.
      {"dev/console", S_IFCHR | 0600, 5, 1},
      {"proc", S_IFDIR | 0555},
      {"sys", S_IFDIR | 0555},
      {"tmp", S_IFDIR | 01777},
      {"init", S_IFREG | 0755, 0, 0, std::string(image->begin(), image->end())},
  };
  return newc_archive(entries);
}

Result<void> write_thaw_init_initramfs(const std::string& init_path, const std::string& out_path) {
  auto archive = thaw_init_initramfs(init_path);
  if (!archive) return std::move(archive).error();
  return write_file_atomic(
      out_path, {reinterpret_cast<const uint8_t*>(archive->data()), archive->size()}, 0644);
}

}  // namespace thaw
