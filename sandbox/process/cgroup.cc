#include "sandbox/process/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <thread>

#include <fmt/format.h>

#include "common/file_util.h"

namespace thaw {
namespace {

bool has_memory_controller(const std::string& v2_root) {
  auto text = read_pseudo_file(v2_root + "/cgroup.controllers");
  if (!text) return false;
  std::string s = *text;
  return (" " + s + " ").find(" memory") != std::string::npos;
}

// A sandbox's cgroup directory. One left by an agent that died (same pid,
// same counter after a restart) is removed first: rmdir only succeeds on a
// cgroup with no processes, so a live sandbox's group is never taken over.
Result<void> make_sandbox_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return Ok();
  if (errno == EEXIST && ::rmdir(path.c_str()) == 0 && ::mkdir(path.c_str(), 0755) == 0) {
    return Ok();
  }
  return Error::from_errno("mkdir {} (a stale sandbox cgroup that still holds processes?)", path);
}

Result<void> write_text(const std::string& path, std::string_view value) {
  auto fd = open_file(path, O_WRONLY | O_CLOEXEC);
  if (!fd) return std::move(fd).error();
  if (::write(fd->get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    return Error::from_errno("write '{}' to {}", value, path);
  }
  return Ok();
}

// The whole (small) content of a cgroup file through a descriptor kept open:
// one pread per call on the invoke path instead of open/read/read/close.
Result<std::string> read_cached(UniqueFd& fd, const std::string& path) {
  if (!fd) {
    auto opened = open_file(path, O_RDONLY | O_CLOEXEC);
    if (!opened) return std::move(opened).error();
    fd = std::move(*opened);
  }
  char buf[1024];
  ssize_t n = ::pread(fd.get(), buf, sizeof buf, 0);
  if (n < 0) return Error::from_errno("read {}", path);
  return std::string(buf, static_cast<size_t>(n));
}

Result<uint64_t> read_number(UniqueFd& fd, const std::string& path) {
  auto text = read_cached(fd, path);
  if (!text) return std::move(text).error();
  const std::string& s = *text;
  if (s.starts_with("max")) return UINT64_MAX;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc()) return Error::format("{} does not hold a number", path);
  return v;
}

// "oom_kill N" out of memory.events (v2) or memory.oom_control (v1).
uint64_t read_oom_kills(UniqueFd& fd, const std::string& path) {
  auto text = read_cached(fd, path);
  if (!text) return 0;
  const std::string& s = *text;
  size_t pos = s.find("oom_kill ");
  if (pos == std::string::npos) return 0;
  uint64_t v = 0;
  std::from_chars(s.data() + pos + 9, s.data() + s.size(), v);
  return v;
}

}  // namespace

Result<Cgroup> Cgroup::create(const std::string& name, uint64_t limit_bytes) {
  Cgroup cg;
  std::string base;
  if (has_memory_controller("/sys/fs/cgroup")) {
    base = "/sys/fs/cgroup";
  } else if (has_memory_controller("/sys/fs/cgroup/unified")) {
    base = "/sys/fs/cgroup/unified";
  }
  if (!base.empty()) {
    cg.version_ = Version::kV2;
    // Children of thaw/ get the memory controller only if every ancestor
    // delegates it (cgroup-v2.rst, "Top-down Constraint").
    ::mkdir((base + "/thaw").c_str(), 0755);
    (void)write_text(base + "/cgroup.subtree_control", "+memory");
    if (auto ok = write_text(base + "/thaw/cgroup.subtree_control", "+memory"); !ok) {
      return ok.error().context("enabling the memory controller for thaw sandboxes");
    }
  } else if (::access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) == 0) {
    cg.version_ = Version::kV1;
    base = "/sys/fs/cgroup/memory";
    ::mkdir((base + "/thaw").c_str(), 0755);
  } else {
    return Error::format("no cgroup memory controller found (looked at /sys/fs/cgroup, "
                         "/sys/fs/cgroup/unified, /sys/fs/cgroup/memory); mount cgroup2 or the "
                         "v1 memory hierarchy");
  }
  cg.path_ = base + "/thaw/" + name;
  if (auto made = make_sandbox_dir(cg.path_); !made) return std::move(made).error();
  std::string limit = std::to_string(limit_bytes);
  auto ok = cg.version_ == Version::kV2 ? write_text(cg.path_ + "/memory.max", limit)
                                        : write_text(cg.path_ + "/memory.limit_in_bytes", limit);
  if (!ok) return std::move(ok).error().context("setting the sandbox memory limit");
  if (cg.version_ == Version::kV2) {
    (void)write_text(cg.path_ + "/memory.swap.max", "0");  // the limit is the limit
  }
  auto fd = open_file(cg.path_ + "/cgroup.procs", O_WRONLY | O_CLOEXEC);
  if (!fd) return std::move(fd).error();
  cg.procs_fd_ = std::move(*fd);
  return cg;
}

Cgroup::Cgroup(Cgroup&& o) noexcept
    : path_(std::move(o.path_)),
      cpu_path_(std::move(o.cpu_path_)),
      version_(o.version_),
      procs_fd_(std::move(o.procs_fd_)),
      cpu_procs_fd_(std::move(o.cpu_procs_fd_)),
      stat_fds_(std::move(o.stat_fds_)) {
  o.path_.clear();
  o.cpu_path_.clear();
}

Cgroup& Cgroup::operator=(Cgroup&& o) noexcept {
  if (this != &o) {
    remove();
    path_ = std::move(o.path_);
    o.path_.clear();
    cpu_path_ = std::move(o.cpu_path_);
    o.cpu_path_.clear();
    version_ = o.version_;
    procs_fd_ = std::move(o.procs_fd_);
    cpu_procs_fd_ = std::move(o.cpu_procs_fd_);
    stat_fds_ = std::move(o.stat_fds_);
  }
  return *this;
}

Cgroup::~Cgroup() { remove(); }

Result<CgroupUsage> Cgroup::usage() const {
  CgroupUsage u;
  bool v2 = version_ == Version::kV2;
  auto cur = read_number(stat_fds_[0], path_ + (v2 ? "/memory.current" : "/memory.usage_in_bytes"));
  if (!cur) return std::move(cur).error();
  u.current_bytes = *cur;
  auto peak = read_number(stat_fds_[1], path_ + (v2 ? "/memory.peak" : "/memory.max_usage_in_bytes"));
  u.peak_bytes = peak ? *peak : u.current_bytes;
  auto limit = read_number(stat_fds_[2], path_ + (v2 ? "/memory.max" : "/memory.limit_in_bytes"));
  u.limit_bytes = limit ? *limit : 0;
  u.oom_kills =
      read_oom_kills(stat_fds_[3], path_ + (v2 ? "/memory.events" : "/memory.oom_control"));
  return u;
}

Result<void> Cgroup::limit_cpu(double cpus) {
  if (path_.empty()) return Error::format("limit_cpu on a cgroup that was not created");
  constexpr uint64_t kPeriodUs = 100000;
  constexpr uint64_t kMinQuotaUs = 1000;  // the kernel's floor for cfs quota
  auto quota = static_cast<uint64_t>(cpus * static_cast<double>(kPeriodUs));
  if (quota < kMinQuotaUs) quota = kMinQuotaUs;
  if (version_ == Version::kV2) {
    std::string base = path_.substr(0, path_.rfind("/thaw/"));
    (void)write_text(base + "/cgroup.subtree_control", "+cpu");
    if (auto ok = write_text(base + "/thaw/cgroup.subtree_control", "+cpu"); !ok) {
      return ok.error().context("enabling the cpu controller for thaw sandboxes (cgroup v2)");
    }
    return write_text(path_ + "/cpu.max", fmt::format("{} {}", quota, kPeriodUs));
  }
  if (!cpu_path_.empty()) {  // a new share for a group already made (after Init)
    return write_text(cpu_path_ + "/cpu.cfs_quota_us", std::to_string(quota));
  }
  const std::string v1 = "/sys/fs/cgroup/cpu";
  if (::access((v1 + "/cgroup.procs").c_str(), F_OK) != 0) {
    return Error::format("no cgroup cpu controller (looked for {}); mount the v1 cpu hierarchy or "
                         "use cgroup v2 with the cpu controller",
                         v1);
  }
  ::mkdir((v1 + "/thaw").c_str(), 0755);
  std::string dir = v1 + "/thaw/" + path_.substr(path_.rfind('/') + 1);
  if (auto made = make_sandbox_dir(dir); !made) return std::move(made).error();
  cpu_path_ = dir;
  if (auto ok = write_text(dir + "/cpu.cfs_period_us", std::to_string(kPeriodUs)); !ok) return ok;
  if (auto ok = write_text(dir + "/cpu.cfs_quota_us", std::to_string(quota)); !ok) return ok;
  auto fd = open_file(dir + "/cgroup.procs", O_WRONLY | O_CLOEXEC);
  if (!fd) return std::move(fd).error();
  cpu_procs_fd_ = std::move(*fd);
  return Ok();
}

void Cgroup::remove() {
  procs_fd_.reset();
  cpu_procs_fd_.reset();
  for (auto& fd : stat_fds_) fd.reset();
  // The last process may still be leaving: retry briefly, then give up.
  for (std::string* p : {&path_, &cpu_path_}) {
    if (p->empty()) continue;
    for (int i = 0; i < 50 && ::rmdir(p->c_str()) < 0 && errno == EBUSY; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    p->clear();
  }
}

}  // namespace thaw
