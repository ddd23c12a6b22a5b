// Per-function invocation statistics the SandboxPool keeps on the loop
// thread: counts, handler durations and the cold-start phase breakdown. Read
// by the metrics endpoint (agent/ops) through SandboxPool::function_stats()
// and the per-invocation observer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace thaw::agent {

// Running totals of one measured quantity (ms).
struct PhaseStat {
  uint64_t count = 0;
  double sum_ms = 0;
  double max_ms = 0;
  double last_ms = 0;
  void add(double ms) {
    ++count;
    sum_ms += ms;
    max_ms = std::max(max_ms, ms);
    last_ms = ms;
  }
};

// Where one cold start spent its time (ms).
struct ColdStartPhases {
  double mounts_ms = 0;        // code and layer images mounted on the host
  double create_ms = 0;        // cgroup, clone3 into new namespaces, exec of thaw-init
  double init_ms = 0;          // InitConfig sent -> runtime at its first /next (kReady)
  double first_invoke_ms = 0;  // invoke frame sent -> response frame received
};

struct FunctionStats {
  std::string function;
  std::string version;
  uint64_t invocations = 0;  // every invocation that reached a sandbox (not throttles)
  uint64_t function_errors = 0;
  uint64_t timeouts = 0;
  uint64_t throttles = 0;
  uint64_t cold_starts = 0;
  uint64_t warm_starts = 0;
  uint64_t provisioned_starts = 0;  // served by a provisioned-concurrency sandbox
  uint64_t init_failures = 0;
  PhaseStat duration;  // REPORT Duration
  PhaseStat mounts, create, init, first_invoke;
};

// One finished (or throttled) invocation, for histogram observers.
struct InvokeRecord {
  enum class Outcome { kSuccess, kFunctionError, kTimeout, kThrottled, kServiceError };
  std::string_view function;
  std::string_view version;
  Outcome outcome = Outcome::kSuccess;
  bool cold = false;
  bool provisioned = false;
  double duration_ms = 0;
  const ColdStartPhases* phases = nullptr;  // cold starts only
};

}  // namespace thaw::agent
