// The file tree every sandbox gets, whichever backend runs it (DESIGN.md,
// "Functions, code and layers"): "/" = the runtime image under a tmpfs
// upper, /var/task = code (read-only), /opt = the layers overlaid in order
// (later wins), /tmp = a tmpfs of the configured size, /proc, a minimal
// /dev. A backend names its sources; this builds thaw-init's mount list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime-api/messages.h"

namespace thaw {

// Where one read-only tree comes from: "erofs" (a block device such as
// /dev/vdb in a microVM, or an image file on kernels >= 6.12) or "bind"
// (a host directory, process backend).
struct ImageSource {
  std::string source;
  std::string fstype = "erofs";
};

enum class DevNodes {
  kBindHost,  // process backend: bind /dev/null, zero, full, random, urandom
  kDevtmpfs,  // microVM: the guest kernel's own devtmpfs
};

struct SandboxLayout {
  std::string stage;  // an empty directory thaw-init mounts over
  ImageSource root;
  ImageSource code;  // empty source: /var/task stays the image's (empty) directory
  std::vector<ImageSource> layers;  // in Lambda order: later layers win
  uint64_t tmp_size_mb = 512;
  uint64_t root_upper_mb = 64;  // writes to "/" outside /tmp land here
  DevNodes dev = DevNodes::kBindHost;
};

// The mounts, in order; thaw-init then enters layout_root().
std::vector<MountSpec> layout_mounts(const SandboxLayout& layout);
std::string layout_root(const SandboxLayout& layout);

}  // namespace thaw
