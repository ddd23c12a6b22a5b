#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace thaw {

Result<UniqueFd> open_file(const std::string& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return Error::from_errno("open {}", path);
  return UniqueFd(fd);
}

Result<std::vector<uint8_t>> read_file(const std::string& path, size_t max_bytes) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd) return std::move(fd).error();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return Error::from_errno("stat {}", path);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Error::format("{} is {} bytes, over the limit of {} bytes", path, st.st_size,
                         max_bytes);
  }
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  auto r = read_exact(fd->get(), data, path);
  if (!r) return std::move(r).error();
  return data;
}

Result<std::string> read_pseudo_file(const std::string& path, size_t max_bytes) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd) return std::move(fd).error();
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("read {}", path);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return Error::format("{} is over the {}-byte limit for a pseudo file", path, max_bytes);
    }
  }
}

Result<void> write_all(int fd, std::span<const uint8_t> data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("write {}", what);
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return Ok();
}

Result<void> read_exact(int fd, std::span<uint8_t> data, std::string_view what) {
  size_t total = data.size();
  while (!data.empty()) {
    ssize_t n = ::read(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read {}", what);
    }
    if (n == 0) {
      return Error::format("read {}: unexpected end of file after {} of {} bytes", what,
                           total - data.size(), total);
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return Ok();
}

Result<void> write_file_atomic(const std::string& path, std::span<const uint8_t> data,
                               int mode) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    auto fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (!fd) return std::move(fd).error();
    auto w = write_all(fd->get(), data, tmp);
    if (w && ::fsync(fd->get()) != 0) w = Error::from_errno("fsync {}", tmp);
    if (!w) {
      ::unlink(tmp.c_str());
      return w;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = Error::from_errno("rename {} to {}", tmp, path);
    ::unlink(tmp.c_str());
    return err;
  }
  // The rename is durable only once the directory entry is.
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  auto dfd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!dfd) return std::move(dfd).error();
  if (::fsync(dfd->get()) != 0) return Error::from_errno("fsync directory {}", dir);
  return Ok();
}

void remove_tree(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
  }
  fs::remove_all(path, ec);
}

}  // namespace thaw
