// The `process` isolation backend: thaw-init as PID 1 of new PID, mount,
// net, IPC and UTS namespaces, under seccomp and a memory cgroup, with the
// sandbox's file layout built from host directories; frames over a Unix
// socketpair. For hosts without usable KVM, laptops and most tests.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "runtime-api/frame.h"
#include "runtime-api/sandbox_layout.h"
#include "sandbox/frame_socket.h"
#include "sandbox/process/cgroup.h"
#include "sandbox/sandbox.h"

namespace thaw {

// Lambda gives a function one vCPU's worth of CPU time per 1769 MB.
inline constexpr double kMemoryMbPerCpu = 1769.0;
inline double cpu_share(uint32_t memory_mb) { return memory_mb / kMemoryMbPerCpu; }

struct ProcessSandboxOptions {
  std::string init_path;            // the thaw-init binary
  std::string seccomp_policy_path;  // sandbox/process/seccomp-policy.txt; empty: no filter
  std::string root_dir = "/";       // runtime image root (read-only lower of "/")
  // An EROFS runtime image (guest/runtimes/build-image.sh) used instead of
  // root_dir; mounted straight from the file (kernel >= 6.12).
  std::string root_image;
  std::string code_dir;             // becomes /var/task (read-only)
  std::vector<std::string> layer_dirs;  // become /opt, in order: later layers win
  uint64_t tmp_size_mb = 512;       // /tmp tmpfs size (Lambda's default ephemeral storage)
  std::string work_dir = "/tmp";    // where the staging mount point is created
  bool use_cgroup = true;           // memory limit = InitConfig.memory_mb
  // With use_cgroup: CPU capped in proportion to memory like Lambda
  // (kMemoryMbPerCpu MB = one CPU: 128 MB gets 7% of a CPU). Init gets at
  // least one CPU, as Lambda's Init phase runs faster than a low-memory
  // function's steady share; the caller applies the share with
  // apply_cpu_share() once the runtime is ready.
  bool cpu_limit = true;
};

class ProcessSandbox : public Sandbox {
 public:
  explicit ProcessSandbox(ProcessSandboxOptions options);
  ~ProcessSandbox() override;

  std::string_view backend() const override { return "process"; }
  Result<void> start(const InitConfig& config) override;
  Result<void> restore(const std::string& snapshot_dir, const RestoreNotice& notice) override;
  Result<void> snapshot(const std::string& snapshot_dir) override;
  Result<void> send(const Frame& frame) override;
  Result<std::optional<Frame>> receive(int timeout_ms) override;
  int channel_fd() const override { return channel_.fd(); }
  Result<SandboxStats> stats() override;
  Result<void> kill() override;
  std::optional<int> exit_status() override;

  // Caps the sandbox at its steady CPU share (after Init; see cpu_limit).
  Result<void> apply_cpu_share();

  // The sandbox tree this backend builds from host directories/images.
  static SandboxLayout layout(const ProcessSandboxOptions& o, const std::string& stage);

 private:
  ProcessSandboxOptions options_;
  std::string stage_;  // empty host directory; the sandbox mounts over it privately
  std::optional<Cgroup> cgroup_;
  uint32_t memory_mb_ = 0;
  pid_t pid_ = -1;
  std::optional<int> status_;
  FrameSocket channel_;
};

}  // namespace thaw
