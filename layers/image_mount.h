// Mounting images read-only the way a sandbox sees them: an EROFS image from
// a block device (the guest's /dev/vdX) or from a plain file (the process
// backend, no VM), and the layers merged at /opt with overlayfs, later layers
// on top. For thaw-init and the process backend; depends only on common/.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace thaw::layers {

// overlayfs lowerdir= value for layer directories given in publish order:
// overlayfs stacks its lowerdirs with the FIRST one on top
// (Documentation/filesystems/overlayfs.rst, "Multiple lower layers"), so the
// list is reversed. Refuses directories containing ':', ',' or '\\', which
// the option parser would split on.
Result<std::string> overlay_lowerdir(const std::vector<std::string>& dirs_in_order);

// Mounts `source` (block device or image file) read-only, nodev, nosuid at
// `target`. A file is mounted directly where the kernel supports file-backed
// EROFS (Linux 6.12+), else through a loop device that detaches itself at
// unmount (LO_FLAGS_AUTOCLEAR).
Result<void> mount_erofs(const std::string& source, const std::string& target);

// The loop-device path mount_erofs() takes on kernels without file-backed
// EROFS; public so it is tested (and usable) on kernels that have both.
Result<void> mount_erofs_loop(const std::string& image, const std::string& target);

// Makes the layer directories (each a mounted image, in publish order)
// visible at `target`, read-only. Two or more: overlayfs with the last layer
// on top (Documentation/filesystems/overlayfs.rst, "Multiple lower layers";
// without an upper dir overlayfs needs at least two). One: a read-only bind
// mount. None: nothing is mounted.
Result<void> mount_layers(const std::vector<std::string>& layer_dirs, const std::string& target);

}  // namespace thaw::layers
