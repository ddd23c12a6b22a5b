// A per-digest lock file (flock) under the image store's locks/ directory.
// Serialises conversion, clean-up and collection of one image across threads
// and processes; the kernel drops it if the holder dies, so a crash never
// leaves a stale lock. Used by the image store only.
#pragma once

#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw::layers {

class StoreLock {
 public:
  enum class Mode { kWait, kTry };
  // kWait blocks until held; kTry returns an unheld lock (held() false) when
  // another holder has it.
  static Result<StoreLock> acquire(const std::string& path, Mode mode);

  bool held() const { return fd_.valid(); }
  // Deletes the lock file while still holding it (after the image is gone),
  // so lock files do not pile up; waiters notice the unlinked inode and retry.
  void remove_file();

 private:
  std::string path_;
  UniqueFd fd_;
};

}  // namespace thaw::layers
