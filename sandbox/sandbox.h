// The one interface the agent uses to run a function's sandbox, whichever
// backend runs it: `process` (namespaces + seccomp + cgroup) or `microvm`
// (thaw-vmm on KVM). Frames are the runtime-api/ protocol.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "runtime-api/frame.h"
#include "runtime-api/messages.h"

namespace thaw {

struct SandboxStats {
  int pid = -1;                    // host pid of the sandbox's root process
  uint64_t memory_bytes = 0;       // current usage (cgroup)
  uint64_t peak_memory_bytes = 0;  // high-water mark (cgroup)
  uint64_t memory_limit_bytes = 0;
  uint64_t oom_kills = 0;          // > 0 means Runtime.OutOfMemory
};

class Sandbox {
 public:
  virtual ~Sandbox() = default;
  virtual std::string_view backend() const = 0;

  // Creates the sandbox and sends `config` as its first frame. The guest
  // answers with kReady (or kInitError) once the runtime reached /next.
  virtual Result<void> start(const InitConfig& config) = 0;
  // Brings a sandbox back from `snapshot_dir` and sends `notice` first.
  virtual Result<void> restore(const std::string& snapshot_dir, const RestoreNotice& notice) = 0;
  // Saves the sandbox (parked at a kReady snapshot point) to `snapshot_dir`.
  virtual Result<void> snapshot(const std::string& snapshot_dir) = 0;

  virtual Result<void> send(const Frame& frame) = 0;
  // The next frame from the guest, or nullopt after timeout_ms (-1: wait).
  // An error means the channel broke or the sandbox died; see exit_status().
  virtual Result<std::optional<Frame>> receive(int timeout_ms) = 0;
  // Readable when receive() has something: for the agent's io_uring loop.
  virtual int channel_fd() const = 0;

  virtual Result<SandboxStats> stats() = 0;
  // Ends the sandbox now (timeouts, OOM, drain). Idempotent.
  virtual Result<void> kill() = 0;
  // The sandbox process's wait status once it ended (non-blocking).
  virtual std::optional<int> exit_status() = 0;
};

}  // namespace thaw
