#include "layers/directory_sink.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include "common/file_util.h"
#include "layers/entry_path.h"

namespace thaw::layers {

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

std::string_view leaf_of(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

timespec times_for(int64_t mtime) { return timespec{static_cast<time_t>(mtime), 0}; }

}  // namespace

Result<DirectorySink> DirectorySink::create(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0) return Error::from_errno("mkdir {}", path);
  int fd = ::open(path.c_str(), kDirFlags);
  if (fd < 0) return Error::from_errno("open {}", path);
  return DirectorySink(path, UniqueFd(fd));
}

Result<int> DirectorySink::open_dir(std::string_view dir) {
  if (dir.empty()) return root_.get();
  if (cached_fd_ && dir == cached_dir_) return cached_fd_.get();
  UniqueFd at;
  int at_fd = root_.get();
  std::string walked;
  for (std::string_view part : split_path(dir)) {
    if (!walked.empty()) walked += '/';
    walked += part;
    std::string name(part);
    int fd = ::openat(at_fd, name.c_str(), kDirFlags);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(at_fd, name.c_str(), 0700) != 0 && errno != EEXIST) {
        return Error::from_errno("mkdir {}/{}", root_path_, walked);
      }
      dirs_.try_emplace(walked);
      fd = ::openat(at_fd, name.c_str(), kDirFlags);
    }
    // ELOOP/ENOTDIR here means something not a directory sits on the path;
    // the package tree refuses that first, so this is a second line of defence.
    if (fd < 0) return Error::from_errno("open directory {}/{}", root_path_, walked);
    at.reset(fd);
    at_fd = fd;
  }
  cached_dir_ = std::string(dir);
  cached_fd_ = std::move(at);
  return cached_fd_.get();
}

Result<void> DirectorySink::directory(const std::string& path, uint32_t mode, int64_t mtime) {
  auto fd = open_dir(path);
  if (!fd) return std::move(fd).error();
  DirState& state = dirs_[path];
  state.mode = mode;
  state.mtime = mtime;
  return Ok();
}

Result<void> DirectorySink::begin_file(const std::string& path, uint32_t mode, int64_t mtime) {
  auto dir = open_dir(parent_of(path));
  if (!dir) return std::move(dir).error();
  std::string leaf(leaf_of(path));
  int fd = ::openat(*dir, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600);
  if (fd < 0) return Error::from_errno("create {}/{}", root_path_, path);
  file_.reset(fd);
  file_path_ = path;
  file_mode_ = mode;
  file_mtime_ = mtime;
  return Ok();
}

Result<void> DirectorySink::file_data(std::span<const uint8_t> chunk) {
  return write_all(file_.get(), chunk, file_path_);
}

Result<void> DirectorySink::end_file() {
  if (::fchmod(file_.get(), file_mode_) != 0) {
    return Error::from_errno("chmod {}/{}", root_path_, file_path_);
  }
  timespec times[2] = {times_for(file_mtime_), times_for(file_mtime_)};
  if (::futimens(file_.get(), times) != 0) {
    return Error::from_errno("set times of {}/{}", root_path_, file_path_);
  }
  file_.reset();
  return Ok();
}

Result<void> DirectorySink::symlink(const std::string& path, const std::string& target,
                                    int64_t mtime) {
  auto dir = open_dir(parent_of(path));
  if (!dir) return std::move(dir).error();
  std::string leaf(leaf_of(path));
  if (::symlinkat(target.c_str(), *dir, leaf.c_str()) != 0) {
    return Error::from_errno("symlink {}/{}", root_path_, path);
  }
  timespec times[2] = {times_for(mtime), times_for(mtime)};
  if (::utimensat(*dir, leaf.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Error::from_errno("set times of {}/{}", root_path_, path);
  }
  return Ok();
}

Result<void> DirectorySink::finish() {
  cached_fd_.reset();
  cached_dir_.clear();
  std::vector<const std::pair<const std::string, DirState>*> order;
  order.reserve(dirs_.size());
  for (const auto& d : dirs_) order.push_back(&d);
  auto depth = [](const std::string& p) { return std::count(p.begin(), p.end(), '/'); };
  std::stable_sort(order.begin(), order.end(),
                   [&](auto* a, auto* b) { return depth(a->first) > depth(b->first); });
  for (const auto* d : order) {
    auto fd = open_dir(d->first);
    if (!fd) return std::move(fd).error();
    if (::fchmod(*fd, d->second.mode) != 0) {
      return Error::from_errno("chmod {}/{}", root_path_, d->first);
    }
    if (d->second.mtime >= 0) {
      timespec times[2] = {times_for(d->second.mtime), times_for(d->second.mtime)};
      if (::futimens(*fd, times) != 0) {
        return Error::from_errno("set times of {}/{}", root_path_, d->first);
      }
    }
  }
  cached_fd_.reset();
  cached_dir_.clear();
  return ::fchmod(root_.get(), 0755) == 0 ? Ok()
                                          : Error::from_errno("chmod {}", root_path_);
}

}  // namespace thaw::layers
