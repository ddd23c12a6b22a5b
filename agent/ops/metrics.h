// thawd's metrics registry: lock-free counters and fixed-bucket histograms
// for invocations (by function and outcome), durations, cold/warm starts and
// cold-start phases, rendered as Prometheus text exposition 0.0.4 by
// GET /agent/v1/metrics. The invoke path (agent/ops/agent_ops.cc, the
// router, the pool) records into the process-wide agent_metrics().
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace thaw::agent::ops {

// Upper bounds (seconds) of the latency buckets: 0.5 ms .. Lambda's 900 s.
inline constexpr std::array<double, 20> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1,      2.5,   5,      10,    30,   60,    120,  300, 600,  900};
// Distinct function label values kept; invocations of further names are
// counted under function="_other" so a caller cannot grow the series forever.
inline constexpr size_t kMaxFunctionSeries = 1024;
inline constexpr std::string_view kOtherFunction = "_other";

enum class Outcome : uint8_t {
  kSuccess,        // the handler answered
  kFunctionError,  // handler error, timeout, crash (X-Amz-Function-Error)
  kThrottled,      // 429: no sandbox slot or reserved concurrency used up
  kClientError,    // refused by the router: missing function, bad payload, ...
  kServiceError,   // agent failure, or refused while draining (503)
};
inline constexpr size_t kOutcomeCount = 5;
std::string_view outcome_label(Outcome outcome);

// A histogram with fixed upper bounds; observe() is wait-free.
class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds = kLatencyBuckets);
  void observe(double seconds);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;
  // Cumulative counts per bound, then +Inf last (Prometheus' _bucket series).
  std::vector<uint64_t> cumulative() const;
  std::span<const double> bounds() const { return bounds_; }
  // Appends the _bucket/_sum/_count lines; `labels` is `k="v",...` or empty.
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<uint64_t> sum_ns_{0};
  std::atomic<uint64_t> count_{0};
};

// Gauges read at render time from the pool and the drain state.
struct SandboxGauges {
  uint64_t idle = 0;
  uint64_t busy = 0;
  uint64_t provisioned = 0;
  uint64_t in_flight = 0;  // Invoke requests being answered
  bool draining = false;
  uint64_t async_events_pending = 0;    // queued on disk, waiting or being tried
  uint64_t async_events_in_flight = 0;  // being tried now
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // One invocation's outcome. The pool's observer records what reached a
  // sandbox (or was throttled); the HTTP layer what never got that far.
  void record_invocation(std::string_view function, Outcome outcome);
  // A synchronous Invoke's wall time as its caller saw it (HTTP layer).
  void observe_invoke_latency(std::string_view function, double seconds);
  // The handler's own duration (REPORT Duration), sync and async alike.
  void observe_function_duration(std::string_view function, double seconds);
  // How the sandbox that ran an invocation was obtained.
  void record_start(std::string_view function, bool cold);
  // One phase of a cold start ("mounts", "create", "init", "first_invoke").
  void record_cold_start_phase(std::string_view phase, double seconds);

  uint64_t invocations(std::string_view function, Outcome outcome) const;
  uint64_t starts(std::string_view function, bool cold) const;
  uint64_t latency_count(std::string_view function) const;

  // The whole exposition (text/plain; version=0.0.4).
  std::string render_prometheus(const SandboxGauges& gauges) const;

 private:
  struct PerFunction {
    std::array<std::atomic<uint64_t>, kOutcomeCount> outcomes{};
    std::atomic<uint64_t> cold{0};
    std::atomic<uint64_t> warm{0};
    Histogram latency;   // thaw_invoke_duration_seconds
    Histogram duration;  // thaw_function_duration_seconds
  };
  PerFunction& series(std::string_view function);
  const PerFunction* find(std::string_view function) const;

  mutable std::shared_mutex mu_;  // guards the maps' shape, not the counters
  std::map<std::string, std::unique_ptr<PerFunction>, std::less<>> functions_;
  std::map<std::string, std::unique_ptr<Histogram>, std::less<>> phases_;
};

// The registry thawd's request path records into.
MetricsRegistry& agent_metrics();

// Prometheus label value escaping (\\, \", \n), exposition format 0.0.4.
std::string escape_label_value(std::string_view value);

}  // namespace thaw::agent::ops
