// What a sandbox mounts, as plain data for thaw-init's init config: the
// runtime image at /, the code image at /var/task, and the layer images
// merged at /opt with overlayfs in publish order (a later layer wins, as in
// Lambda). Built by the agent when it starts a sandbox; read by runtime-api,
// which mounts it with layers/image_mount.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "layers/image_store.h"
#include "layers/zip_policy.h"

namespace thaw::layers {

inline constexpr const char* kRootTarget = "/";
inline constexpr const char* kCodeTarget = "/var/task";
inline constexpr const char* kLayersTarget = "/opt";

struct ImageMount {
  std::string digest;      // empty for the runtime image (not from a ZIP)
  std::string image_path;  // EROFS image on the host
  std::string target;      // where the guest sees it
};

struct MountPlan {
  ImageMount root;                  // "/": runtime image, under a tmpfs upper
  ImageMount code;                  // "/var/task", read-only
  std::vector<ImageMount> layers;   // "/opt": layers[0] lowest, the last one wins
  uint64_t unpacked_bytes = 0;      // code + layers, checked against the policy

  // Read-only disks in the order thaw-vmm attaches them (--disk path,ro):
  // root, code, then the layers in order; the guest sees vda, vdb, vdc...
  std::vector<ImageMount> disks() const;
};

// Looks every digest up in the store and checks the function-level limits:
// at most policy.max_layers layers, no layer twice, and code plus layers
// unpacked within policy.max_unpacked_bytes.
Result<MountPlan> build_mount_plan(const ImageStore& store, const std::string& runtime_image,
                                   const std::string& code_digest,
                                   const std::vector<std::string>& layer_digests,
                                   const ZipPolicy& policy);

}  // namespace thaw::layers
