#include "agent/invoke/image_mounts.h"

#include <sys/mount.h>

#include <filesystem>

#include "layers/image_mount.h"

namespace thaw::agent {

ImageMounts::~ImageMounts() {
  for (const auto& m : mounted_) ::umount2(m.c_str(), MNT_DETACH);
}

Result<std::string> ImageMounts::mount(const std::string& kind, const std::string& digest,
                                       const std::string& image) {
  if (digest.empty() || digest.find('/') != std::string::npos || digest.starts_with(".")) {
    return Error::format("image digest '{}' is not a plain content digest", digest);
  }
  std::string target = work_dir_ + "/" + kind + "/" + digest;
  std::lock_guard lock(mu_);
  if (mounted_.contains(target)) return target;
  std::error_code ec;
  std::filesystem::create_directories(target, ec);
  if (ec) return Error::format("creating the mount point {}: {}", target, ec.message());
  ::umount2(target.c_str(), MNT_DETACH);  // a leftover from a crashed agent
  if (auto m = layers::mount_erofs(image, target); !m) return std::move(m).error();
  mounted_.insert(target);
  return target;
}

}  // namespace thaw::agent
