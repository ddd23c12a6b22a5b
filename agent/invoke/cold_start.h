// A cold start: mount the function's images, create a sandbox, send its
// InitConfig and wait (blocking) until the runtime reaches its first /next,
// timing each phase. Runs on the pool's worker threads, never on the loop.
// Used by SandboxPool for on-demand and provisioned sandboxes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "agent/api/function_config.h"
#include "agent/api/lambda_error.h"
#include "agent/invoke/function_stats.h"
#include "agent/invoke/image_mounts.h"
#include "sandbox/sandbox.h"

namespace thaw::agent {

class FunctionRegistry;
class MicrovmBackend;  // agent/invoke/microvm_cold_start.h

struct PoolSettings {
  std::string init_path;            // thaw-init
  std::string seccomp_policy_path;  // empty: no filter
  // Runtime -> EROFS image (guest/runtimes/build-image.sh). A runtime with
  // no entry runs on the host root (right for `provided` on this host).
  std::map<std::string, std::string> runtime_images;
  std::string work_dir;   // code mounts and sandbox staging (<state>/run)
  std::string logs_dir;   // <state>/logs/<function>.log
  std::string state_dir;  // <state>: concurrency settings (empty: not persisted)
  bool use_cgroup = true;
  uint32_t max_sandboxes = 64;  // host-wide; more concurrent invokes get 429
  uint32_t init_timeout_ms = 10000;  // Lambda's Init phase limit
  uint32_t cold_start_threads = 4;   // workers for cold starts and kills
  // Also send each invocation's lines to the journal (one entry per
  // invocation, fields THAW_FUNCTION and THAW_REQUEST_ID).
  bool journal = false;
  // Set: the microvm backend (thawd --backend microvm) runs every cold
  // start, with SnapStart; null: the process backend.
  std::shared_ptr<MicrovmBackend> microvm;
};

struct ColdStart {
  std::unique_ptr<Sandbox> sandbox;  // null when the Init phase failed
  ColdStartPhases phases;
  double init_duration_ms = 0;  // REPORT's Init Duration: create + init
  double restore_ms = -1;       // >= 0: restored from a function snapshot (Restore Duration)
  std::string init_log;         // the Init phase's output (written before START)
  std::string init_error;       // the error body when the Init phase failed
};

// Blocking. A ServiceException when the host side failed (mounts, clone);
// a ColdStart without a sandbox when the function's Init failed.
ApiResult<ColdStart> cold_start(const PoolSettings& settings, FunctionRegistry& registry,
                                ImageMounts& mounts, const FunctionConfig& config);

}  // namespace thaw::agent
