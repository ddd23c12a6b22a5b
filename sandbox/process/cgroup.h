// A memory-limited cgroup for one process sandbox, optionally with a CPU
// bandwidth cap. Works on cgroup v2 (/sys/fs/cgroup or the hybrid
// /sys/fs/cgroup/unified) when it has the memory controller, else on the v1
// memory hierarchy (and the v1 cpu hierarchy for the cap); detected at runtime.
#pragma once

#include <array>
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
  // Caps the group at `cpus` CPUs with CFS bandwidth control (quota = cpus x
  // the 100 ms period; Documentation/scheduler/sched-bwc.rst): cpu.max on
  // v2, cpu.cfs_quota_us in a sibling group of the v1 cpu hierarchy. Call
  // before the sandbox process starts.
  Result<void> limit_cpu(double cpus);
  // v1 only: the cpu group's cgroup.procs, which the child joins as well
  // (else -1).
  int cpu_procs_fd() const { return cpu_procs_fd_.get(); }
  // Removes the (empty) cgroup; called by the destructor too.
  void remove();

 private:
  std::string path_;
  std::string cpu_path_;  // v1: the sibling group in the cpu hierarchy
  Version version_ = Version::kV2;
  UniqueFd procs_fd_;
  UniqueFd cpu_procs_fd_;
  // memory current, peak, limit and events, opened on first usage() and
  // re-read with pread: usage() runs after every invocation.
  mutable std::array<UniqueFd, 4> stat_fds_;
};

}  // namespace thaw
