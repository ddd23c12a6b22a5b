// The agent-only API under /agent/v1/ (health, capacity, sandboxes,
// Prometheus metrics, drain, per-function logs) and the drain gate in front
// of the Lambda API: thawd's HTTP handler offers every request to
// AgentOps::handle first and passes the rest to the ApiRouter. What it shows
// comes from an AgentView (wired to the pool and registry by service.cc, to
// fakes by tests).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "agent/http/http_server.h"
#include "agent/ops/metrics.h"
#include "agent/ops/periodic_timer.h"
#include "common/io_loop.h"

namespace thaw::agent::ops {

// One live sandbox as GET /agent/v1/sandboxes lists it.
struct SandboxRow {
  std::string function;
  std::string version;
  std::string state;  // idle | busy | starting
  bool provisioned = false;
  int pid = -1;
  uint64_t memory_bytes = 0;  // current usage
  uint32_t memory_mb = 0;     // configured MemorySize
  double age_s = 0;
  uint64_t invocations = 0;
};

struct SandboxCounts {
  uint64_t idle = 0;         // idle, on demand (a drain ends these)
  uint64_t busy = 0;         // running an invocation or starting
  uint64_t provisioned = 0;  // idle, kept initialised by provisioned concurrency
};

// What the agent-only API reads and does; every callback runs on the loop.
struct AgentView {
  std::function<uint32_t()> max_sandboxes;
  std::function<SandboxCounts()> counts;
  std::function<std::vector<SandboxRow>()> sandboxes;
  std::function<size_t()> functions;                      // registered functions
  std::function<bool(const std::string&)> function_exists;
  std::function<void()> kill_idle;  // drain: end idle sandboxes (may hand off to a worker)
  // Asynchronous events not finished (waiting or being tried) and those being
  // tried now; unset where the agent has no async queue (the gauges read 0).
  std::function<size_t()> async_events_pending;
  std::function<size_t()> async_events_in_flight;
  std::string logs_dir;             // <state>/logs: <function>.log
};

enum class DrainState { kServing, kDraining, kDrained };
std::string_view drain_state_name(DrainState state);

// Limits of GET /agent/v1/functions/NAME/logs.
inline constexpr uint64_t kDefaultLogChunkBytes = 1u << 20;
inline constexpr uint64_t kMaxLogChunkBytes = 4u << 20;
inline constexpr uint32_t kMaxLogWaitSeconds = 60;

class AgentOps {
 public:
  AgentOps(IoLoop& loop, AgentView view, MetricsRegistry& metrics = agent_metrics());
  AgentOps(const AgentOps&) = delete;
  AgentOps& operator=(const AgentOps&) = delete;

  // Answers /agent/v1/* and, while draining, refuses Invoke with 503 (true:
  // answered). An Invoke it lets through gets `reply` wrapped so its wall
  // time (and a router-level refusal) reach the metrics; then it returns false.
  bool handle(HttpRequest& request, HttpReply& reply);

  // Stops new invokes, kills idle sandboxes, lets in-flight ones finish.
  // `source` is "api" or "signal"; a signal drain cannot be cancelled.
  void begin_drain(std::string source);
  // DELETE /agent/v1/drain: serve again (only after an API drain).
  bool cancel_drain();
  DrainState drain_state() const;
  uint64_t invocations_in_flight() const { return in_flight_; }
  boost::json::object drain_status() const;
  boost::json::object capacity() const;
  // Stops the tick timer; call before the loop stops for good.
  void stop();

 private:
  struct LogWaiter {
    std::string function;
    uint64_t offset;
    uint64_t limit;
    std::chrono::steady_clock::time_point deadline;
    HttpReply reply;
  };
  HttpResponse serve_logs(const std::string& function, std::string_view query, HttpReply& reply,
                          bool& parked);
  HttpResponse drain_route(const HttpRequest& request);
  void wrap_invoke(const std::string& function, HttpReply& reply);
  void tick();
  void update_timer();

  IoLoop& loop_;
  AgentView view_;
  MetricsRegistry& metrics_;
  PeriodicTimer timer_;
  uint64_t in_flight_ = 0;
  uint64_t refused_ = 0;
  std::string drain_source_;  // empty: serving
  std::chrono::system_clock::time_point drain_started_{};
  std::list<LogWaiter> waiters_;
};

// GET /agent/v1/functions/NAME/logs: the bytes of a log file from `offset`,
// at most `limit`. Pure file reading, unit-tested: an offset past the end is
// an error naming the size (the log was replaced; restart from 0).
struct LogSlice {
  std::string text;
  uint64_t next_offset = 0;
  uint64_t size = 0;
};
Result<std::optional<LogSlice>> read_log_slice(const std::string& path, uint64_t offset,
                                               uint64_t limit);

}  // namespace thaw::agent::ops
