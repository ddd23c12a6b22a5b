// Runs invocations: a pool of warm sandboxes per function (one invocation
// per sandbox at a time), cold starts through the Sandbox interface, the
// function timeout (kill + Sandbox.Timedout), and Lambda's START/END/REPORT
// lines in a per-function log file. Backend today: ProcessSandbox.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/api/function_config.h"
#include "agent/api/lambda_error.h"
#include "sandbox/sandbox.h"

namespace thaw::agent {

class FunctionRegistry;

struct PoolSettings {
  std::string init_path;            // thaw-init
  std::string seccomp_policy_path;  // empty: no filter
  // Runtime -> EROFS image (guest/runtimes/build-image.sh). A runtime with
  // no entry runs on the host root (right for `provided` on this host).
  std::map<std::string, std::string> runtime_images;
  std::string work_dir;   // code mounts and sandbox staging (<state>/run)
  std::string logs_dir;   // <state>/logs/<function>.log
  bool use_cgroup = true;
  uint32_t max_sandboxes = 64;  // host-wide; more concurrent invokes get 429
  uint32_t init_timeout_ms = 10000;  // Lambda's Init phase limit
  // Also send each invocation's lines to the journal (one entry per
  // invocation, fields THAW_FUNCTION and THAW_REQUEST_ID).
  bool journal = false;
};

struct InvokeOutcome {
  std::string request_id;
  std::string body;            // the function's response or its error JSON
  bool function_error = false; // X-Amz-Function-Error: Unhandled
  std::string error_type;      // when function_error
  bool cold = false;
  double init_ms = 0;
  double duration_ms = 0;
  std::string log;  // this invocation's START..REPORT lines (X-Amz-Log-Type: Tail)
};

// "Duration: ... Billed Duration ..." line as Lambda writes it (tabs between
// fields, billed rounded up to 1 ms); init_ms < 0 leaves Init Duration out.
std::string report_line(const std::string& request_id, double duration_ms, uint32_t memory_mb,
                        uint64_t max_memory_mb, double init_ms);

class SandboxPool {
 public:
  SandboxPool(PoolSettings settings, FunctionRegistry& registry);
  ~SandboxPool();  // kills every sandbox and unmounts code images
  SandboxPool(const SandboxPool&) = delete;
  SandboxPool& operator=(const SandboxPool&) = delete;

  // Blocking: runs on a worker thread, never on the loop.
  ApiResult<InvokeOutcome> invoke(const FunctionConfig& config, std::vector<uint8_t> payload);
  // Kills the idle sandboxes of a deleted (or replaced) function.
  void drop_function(const std::string& name);
  // Kills sandboxes idle for longer than `keep_alive`; returns how many.
  size_t reap_idle(std::chrono::milliseconds keep_alive);
  size_t idle_sandboxes() const;
  size_t busy_sandboxes() const;

 private:
  struct Warm {
    std::unique_ptr<Sandbox> sandbox;
    std::string stamp;  // code digest + LastModified: a re-created function never reuses it
    std::chrono::steady_clock::time_point idle_since;
  };
  ApiResult<std::unique_ptr<Sandbox>> cold_start(const FunctionConfig& config, std::string& log,
                                                 double& init_ms, std::string& init_error);
  Result<std::string> code_mount(const FunctionConfig& config);
  void append_log(const std::string& function, const std::string& text,
                  const std::string& request_id);

  PoolSettings settings_;
  FunctionRegistry& registry_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Warm>> idle_;
  uint32_t busy_ = 0;
  std::set<std::string> mounted_;  // code mount points
};

}  // namespace thaw::agent
