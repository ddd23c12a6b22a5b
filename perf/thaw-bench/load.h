// thaw-bench's load generators. Closed loop: N connections, each with one
// request outstanding (latency = response time). Open loop: requests at a
// given rate (constant or Poisson arrivals) over a pool of connections,
// latency measured from each request's INTENDED send time, so a stalled
// agent is charged for the requests it delayed (coordinated-omission
// correction, as wrk2 does); the uncorrected service time is kept beside it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"
#include "perf/thaw-bench/histogram.h"
#include "perf/thaw-bench/target.h"

namespace thaw::bench {

struct LoadResult {
  LatencyHistogram latency;  // open loop: from the intended send time
  LatencyHistogram service;  // from the actual send time
  uint64_t ok = 0;
  uint64_t errors = 0;       // transport errors, non-200, X-Amz-Function-Error
  std::string first_error;
  double seconds = 0;        // wall time of the measured window
  double cpu_seconds = 0;    // agent + descendants' CPU over the window
  double invocations_per_s() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
  double cpu_us_per_invocation() const {
    return ok ? cpu_seconds * 1e6 / static_cast<double>(ok) : 0;
  }
  void merge(const LoadResult& other);
};

struct ClosedLoopOptions {
  uint32_t concurrency = 1;
  double seconds = 5;
};

struct OpenLoopOptions {
  double rate = 100;          // requests per second
  double seconds = 5;
  uint32_t connections = 16;  // requests outstanding at most
  bool poisson = true;        // exponential inter-arrival times; false: constant
  uint64_t seed = 1;
};

// Invokes `function` with `payload` on target's socket.
Result<LoadResult> run_closed_loop(const Target& target, const std::string& function,
                                   const std::string& payload, const ClosedLoopOptions& options);
Result<LoadResult> run_open_loop(const Target& target, const std::string& function,
                                 const std::string& payload, const OpenLoopOptions& options);

// Why an Invoke response is not a success (a status other than 200, or
// X-Amz-Function-Error), naming the status and the start of the body.
std::optional<std::string> invoke_failure(const HttpResult& response, const std::string& function);
// One invoke on `client`: the response when invoke_failure() finds nothing.
Result<HttpResult> invoke_once(UdsHttpClient& client, const std::string& function,
                               const std::string& payload, bool tail_log = false);

}  // namespace thaw::bench
