// Host-side files a microVM host needs besides the kernel, made once and
// cached by content: the initramfs for a given thaw-init (stripped first,
// since the guest kernel unpacks every byte) and the minimal root image of
// the `provided` runtime (just the mount points; the static bootstrap comes
// from the code image). thawd calls these at start with --backend microvm;
// tests/microvm uses them too.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace thaw {

// Runs `argv` to completion; an error names the command, its exit and the
// end of its output.
Result<void> run_tool(const std::vector<std::string>& argv, const std::string& log_path);

// <dir>/initramfs-<sha16 of init>.cpio, written unless present.
Result<std::string> ensure_guest_initramfs(const std::string& init_path, const std::string& dir);

// <dir>/provided-root.erofs, written unless present (mkfs.erofs).
Result<std::string> ensure_provided_root_image(const std::string& dir);

}  // namespace thaw
