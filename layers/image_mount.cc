#include "layers/image_mount.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/file_util.h"

namespace thaw::layers {

namespace {

constexpr unsigned long kImageFlags = MS_RDONLY | MS_NODEV | MS_NOSUID;
constexpr int kLoopAttempts = 8;  // another process may grab the free device first

}  // namespace

Result<void> mount_erofs_loop(const std::string& image, const std::string& target) {
  auto ctl = open_file("/dev/loop-control", O_RDWR);
  if (!ctl) return std::move(ctl).error().context("no file-backed EROFS and no loop devices");
  auto backing = open_file(image, O_RDONLY);
  if (!backing) return std::move(backing).error();
  for (int attempt = 0; attempt < kLoopAttempts; ++attempt) {
    int n = ::ioctl(ctl->get(), LOOP_CTL_GET_FREE);
    if (n < 0) return Error::from_errno("LOOP_CTL_GET_FREE");
    std::string dev = "/dev/loop" + std::to_string(n);
    auto loop = open_file(dev, O_RDWR);
    if (!loop) return std::move(loop).error();
    loop_config cfg{};
    cfg.fd = static_cast<uint32_t>(backing->get());
    cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    if (::ioctl(loop->get(), LOOP_CONFIGURE, &cfg) != 0) {
      if (errno == EBUSY) continue;
      return Error::from_errno("LOOP_CONFIGURE {} with {}", dev, image);
    }
    // Our fd on the loop device is closed on return; AUTOCLEAR then detaches
    // it when the mount goes away, or right away if the mount fails.
    if (::mount(dev.c_str(), target.c_str(), "erofs", kImageFlags, nullptr) != 0) {
      return Error::from_errno("mount {} ({}) on {}", image, dev, target);
    }
    return Ok();
  }
  return Error::format("no free loop device for {} after {} attempts", image, kLoopAttempts);
}

Result<std::string> overlay_lowerdir(const std::vector<std::string>& dirs_in_order) {
  if (dirs_in_order.empty()) return Error::format("overlay needs at least one lower directory");
  std::string out;
  for (auto it = dirs_in_order.rbegin(); it != dirs_in_order.rend(); ++it) {
    if (it->empty() || it->find_first_of(":,\\") != std::string::npos) {
      return Error::format("overlay lower directory '{}' is empty or contains ':', ',' or '\\'",
                           *it);
    }
    if (!out.empty()) out += ':';
    out += *it;
  }
  return out;
}

Result<void> mount_erofs(const std::string& source, const std::string& target) {
  struct stat st {};
  if (::stat(source.c_str(), &st) != 0) return Error::from_errno("stat {}", source);
  if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
    return Error::format("{} is neither a block device nor an image file", source);
  }
  if (::mount(source.c_str(), target.c_str(), "erofs", kImageFlags, nullptr) == 0) return Ok();
  // ENOTBLK: this kernel mounts EROFS from block devices only.
  if (S_ISREG(st.st_mode) && errno == ENOTBLK) return mount_erofs_loop(source, target);
  return Error::from_errno("mount erofs {} on {}", source, target);
}

Result<void> mount_layers(const std::vector<std::string>& layer_dirs, const std::string& target) {
  if (layer_dirs.empty()) return Ok();
  if (layer_dirs.size() == 1) {
    if (::mount(layer_dirs[0].c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return Error::from_errno("bind {} on {}", layer_dirs[0], target);
    }
    // A bind mount takes MS_RDONLY only on a remount (mount(2), "MS_BIND").
    if (::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | kImageFlags,
                nullptr) != 0) {
      auto err = Error::from_errno("remount {} read-only", target);
      ::umount2(target.c_str(), MNT_DETACH);
      return err;
    }
    return Ok();
  }
  auto lower = overlay_lowerdir(layer_dirs);
  if (!lower) return std::move(lower).error();
  std::string options = "lowerdir=" + *lower;
  if (::mount("overlay", target.c_str(), "overlay", kImageFlags, options.c_str()) != 0) {
    return Error::from_errno("mount overlay of {} layers on {}", layer_dirs.size(), target);
  }
  return Ok();
}

}  // namespace thaw::layers
