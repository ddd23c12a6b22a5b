// A memory-limited cgroup for one process sandbox. Works on cgroup v2
// (/sys/fs/cgroup or the hybrid /sys/fs/cgroup/unified) when it has the
// memory controller, else on the v1 memory hierarchy; detected at runtime.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw {

struct CgroupUsage {
  uint64_t current_bytes = 0;
  uint64_t peak_bytes = 0;
  uint64_t limit_bytes = 0;
  uint64_t oom_kills = 0;
};

class Cgroup {
 public:
  enum class Version { kV1, kV2 };

  // Creates <hierarchy>/thaw/<name> with memory limit `limit_bytes`.
  static Result<Cgroup> create(const std::string& name, uint64_t limit_bytes);
  Cgroup() = default;
  Cgroup(Cgroup&&) noexcept;
  Cgroup& operator=(Cgroup&&) noexcept;
  ~Cgroup();

  const std::string& path() const { return path_; }
  Version version() const { return version_; }
  // Open for writing "0" (self) from a freshly forked child: joining before
  // exec means the limit covers the sandbox from its first instruction.
  int procs_fd() const { return procs_fd_.get(); }
  Result<CgroupUsage> usage() const;
  // Removes the (empty) cgroup; called by the destructor too.
  void remove();

 private:
  std::string path_;
  Version version_ = Version::kV2;
  UniqueFd procs_fd_;
};

}  // namespace thaw
