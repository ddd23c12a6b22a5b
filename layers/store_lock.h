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

  StoreLock() = default;
  StoreLock(StoreLock&&) noexcept = default;
  StoreLock& operator=(StoreLock&&) = delete;
  // Deletes the lock file while still holding it, so lock files never pile
  // up (a hostile client uploading many distinct ZIPs would otherwise fill
  // locks/); a waiter that opened the old file notices and retries.
  ~StoreLock();

  bool held() const { return fd_.valid(); }

 private:
  std::string path_;
  UniqueFd fd_;
};

}  // namespace thaw::layers
