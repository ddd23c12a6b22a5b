// The initramfs of a thaw microVM: /init is the static thaw-init, plus the
// few nodes PID 1 needs before it mounts anything (/dev/console, /proc,
// /sys, /dev). Written as a newc cpio archive (the kernel's initramfs
// format, Documentation/driver-api/early-userspace/buffer-format.rst).
// Used by MicrovmSandbox users (thawd, tests) and the thaw-initramfs tool
// that meson runs to build it next to thaw-init.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace thaw {

struct CpioEntry {
  std::string name;  // without a leading '/'
  uint32_t mode = 0;  // file type bits included (S_IFREG | 0755, ...)
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
  std::string data;  // regular files and symlink targets
};

// The archive of `entries` plus the TRAILER!!! record.
std::string newc_archive(const std::vector<CpioEntry>& entries);

// Refuses anything but a statically linked x86-64 ELF executable (the guest
// has no libc and no dynamic loader): the message names the file and the fix.
Result<void> check_static_elf(std::span<const uint8_t> image, const std::string& path);

// The initramfs bytes for `init_path` (a static thaw-init).
Result<std::string> thaw_init_initramfs(const std::string& init_path);

// Writes thaw_init_initramfs(init_path) to `out_path` atomically.
Result<void> write_thaw_init_initramfs(const std::string& init_path, const std::string& out_path);

}  // namespace thaw
