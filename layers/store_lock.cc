#include "layers/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

namespace thaw::layers {

Result<StoreLock> StoreLock::acquire(const std::string& path, Mode mode) {
  for (;;) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return Error::from_errno("open lock {}", path);
    UniqueFd owned(fd);
    int op = LOCK_EX | (mode == Mode::kTry ? LOCK_NB : 0);
    while (::flock(fd, op) != 0) {
      if (errno == EINTR) continue;
      if (errno == EWOULDBLOCK && mode == Mode::kTry) return StoreLock{};
      return Error::from_errno("lock {}", path);
    }
    // A holder may have removed the file between our open and our flock;
    // then we hold a lock nobody else can see. Retry on the current file.
    struct stat held {}, named {};
    if (::fstat(fd, &held) != 0) return Error::from_errno("stat lock {}", path);
    if (::stat(path.c_str(), &named) == 0 && named.st_ino == held.st_ino &&
        named.st_dev == held.st_dev) {
      StoreLock lock;
      lock.path_ = path;
      lock.fd_ = std::move(owned);
      return lock;
    }
  }
}

StoreLock::~StoreLock() {
  if (held()) ::unlink(path_.c_str());
}

}  // namespace thaw::layers
