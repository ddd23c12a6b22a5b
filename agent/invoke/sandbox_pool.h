// Runs invocations on the agent's io_uring loop. Sandboxes are pooled per
// function version (name + version + code digest + LastModified + layers),
// one invocation per sandbox at a time. A warm invoke sends the invoke frame
// and completes from the loop when the sandbox's channel answers: no thread
// hand-off. Cold starts (mounts, clone, Init) run on the pool's own worker
// threads. Also: the function timeout as a loop timer (kill + replace,
// Sandbox.Timedout), reserved concurrency (429), provisioned sandboxes kept
// initialised, idle reaping, START/END/REPORT logs and per-function stats.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/api/function_config.h"
#include "agent/api/lambda_error.h"
#include "agent/invoke/cold_start.h"
#include "agent/invoke/concurrency_settings.h"
#include "agent/invoke/function_stats.h"
#include "agent/invoke/image_mounts.h"
#include "agent/invoke/invoke_log.h"
#include "agent/worker_pool.h"
#include "common/io_loop.h"
#include "sandbox/sandbox.h"

namespace thaw::agent {

class FunctionRegistry;

struct InvokeOutcome {
  std::string request_id;
  std::string executed_version;  // X-Amz-Executed-Version
  std::string body;              // the function's response or its error JSON
  bool function_error = false;   // X-Amz-Function-Error: Unhandled
  std::string error_type;        // when function_error
  bool cold = false;
  bool provisioned = false;      // served by a provisioned-concurrency sandbox
  double init_ms = 0;            // REPORT's Init Duration (cold starts)
  double restore_ms = -1;        // >= 0: restored from a snapshot (REPORT's Restore Duration)
  double duration_ms = 0;
  ColdStartPhases phases;        // cold starts only
  std::string log;  // this invocation's START..REPORT lines (X-Amz-Log-Type: Tail)
};

using InvokeDone = std::function<void(ApiResult<InvokeOutcome>)>;

struct SandboxInfo {
  std::string function;
  std::string version;
  std::string state;  // "idle" or "busy"
  bool provisioned = false;
  int pid = -1;
  uint64_t memory_bytes = 0;
  double age_s = 0;
  uint64_t invocations = 0;
};

struct ProvisionedStatus {
  uint32_t requested = 0;
  uint32_t allocated = 0;  // initialised sandboxes (idle or busy)
  uint32_t available = 0;  // of those, idle
  std::string status;      // IN_PROGRESS, READY, FAILED
  std::string status_reason;
  std::string last_modified;
};

class SandboxPool {
 public:
  // Construct on the thread that runs `loop`: the pool's state belongs to it.
  SandboxPool(PoolSettings settings, FunctionRegistry& registry, IoLoop& loop);
  ~SandboxPool();  // kills every sandbox and unmounts images
  SandboxPool(const SandboxPool&) = delete;
  SandboxPool& operator=(const SandboxPool&) = delete;

  // Loop thread. `done` runs later on the loop thread (or at once for a
  // throttle). `config.version` names the version that runs.
  // An empty `request_id` gets a fresh one.
  void invoke(FunctionConfig config, std::vector<uint8_t> payload, InvokeDone done,
              std::string request_id = {});
  // Any thread but the loop's (the async dispatcher): runs invoke() on the
  // loop and waits for its outcome.
  ApiResult<InvokeOutcome> invoke(const FunctionConfig& config, std::vector<uint8_t> payload,
                                  std::string request_id = {});

  // Any thread: kills the idle sandboxes of a deleted (or replaced)
  // function; its busy ones are killed when they finish. A `version` ("N",
  // DeleteFunction?Qualifier=N) limits this to that version's sandboxes.
  void drop_function(const std::string& name, const std::string& version = {});
  // Loop thread: kills sandboxes idle longer than `keep_alive` (never
  // provisioned ones); returns how many.
  size_t reap_idle(std::chrono::milliseconds keep_alive);

  // Loop thread: what /agent/v1 reports.
  size_t idle_sandboxes() const;
  size_t busy_sandboxes() const;
  uint32_t max_sandboxes() const { return settings_.max_sandboxes; }
  std::vector<SandboxInfo> sandboxes() const;
  std::vector<FunctionStats> function_stats() const;
  void set_invoke_observer(std::function<void(const InvokeRecord&)> observer) {
    observer_ = std::move(observer);
  }
  const std::vector<std::string>& load_warnings() const { return warnings_; }

  // Loop thread: reserved and provisioned concurrency (validated, persisted).
  const ConcurrencySettings& concurrency() const { return store_.settings(); }
  std::optional<ApiError> put_reserved(const std::string& function, uint32_t reserved);
  std::optional<ApiError> delete_reserved(const std::string& function);
  std::optional<ApiError> put_provisioned(const std::string& function, const std::string& qualifier,
                                          uint32_t requested);
  std::optional<ApiError> delete_provisioned(const std::string& function,
                                             const std::string& qualifier);
  // DeleteFunction: a deleted function loses its reservation and provisioned
  // configs (Lambda); with a qualifier, only that version's provisioned config.
  void forget_concurrency(const std::string& function, const std::string& qualifier);
  // TooManyRequestsException's Reason for a throttled invoke of `function`.
  std::string_view throttle_reason(const std::string& function) const;
  std::optional<ProvisionedStatus> provisioned_status(const std::string& function,
                                                      const std::string& qualifier) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Call;
  struct Slot;
  struct ColdJob;
  struct Provisioning {
    uint32_t starting = 0;
    std::string failure;  // the last provisioned cold start's error
    Clock::time_point retry_after{};
  };

  bool on_loop_thread() const { return std::this_thread::get_id() == loop_thread_; }
  std::string pool_key(const FunctionConfig& config) const;
  FunctionStats& stats_for(const std::string& function, const std::string& version);
  void notify(const InvokeRecord& record);
  std::optional<ApiError> admit(const FunctionConfig& config, bool& counted_unreserved);
  void release(const std::string& function, bool counted_unreserved);
  bool make_room();
  Slot* take_idle(const std::string& key);
  void start_cold(std::unique_ptr<ColdJob> job);
  void on_cold_started(ColdJob& job, ApiResult<ColdStart> started);
  Slot& adopt(std::unique_ptr<Sandbox> sandbox, const FunctionConfig& config, uint64_t generation);
  void begin_call(Slot& slot, std::unique_ptr<Call> call, std::vector<uint8_t> payload);
  void on_readable(Slot& slot);
  void on_frame(Slot& slot, Frame& frame);
  void finish_call(Slot& slot);
  void sandbox_ended(Slot& slot, const std::string& why);
  void retire(Slot& slot);
  void free_retired(Slot* slot);
  void set_deadline(Slot& slot, Clock::time_point deadline);
  void arm_timer(Clock::time_point when);
  void on_timer();
  void on_tick();
  void maintain_provisioned();
  std::optional<FunctionConfig> provisioned_target(const std::string& function,
                                                   const std::string& qualifier) const;
  // The function's drop count plus its version's: a sandbox whose number
  // changed while it ran is not kept warm.
  uint64_t generation_of(const std::string& function, const std::string& version) const;

  PoolSettings settings_;
  FunctionRegistry& registry_;
  IoLoop& loop_;
  std::thread::id loop_thread_;
  std::vector<std::string> warnings_;
  ImageMounts mounts_;
  InvokeLog log_;
  ConcurrencyStore store_;
  std::function<void(const InvokeRecord&)> observer_;

  std::vector<std::unique_ptr<Slot>> slots_;    // live sandboxes
  std::vector<std::unique_ptr<Slot>> retired_;  // dead, until their poll op ends
  std::unordered_map<std::string, std::vector<Slot*>> idle_;  // pool key -> idle (LIFO)
  uint32_t starting_ = 0;                      // cold starts in flight
  std::map<std::string, uint32_t, std::less<>> in_flight_;  // function -> running invocations
  uint32_t unreserved_in_flight_ = 0;
  // Bumped by drop_function: keyed by function, or "function\nversion".
  std::map<std::string, uint64_t, std::less<>> generation_;
  std::map<std::pair<std::string, std::string>, FunctionStats> stats_;
  std::map<std::pair<std::string, std::string>, Provisioning> provisioning_;

  IoOp timer_op_;  // the earliest busy sandbox's deadline
  __kernel_timespec timer_ts_{};
  Clock::time_point armed_ = Clock::time_point::max();
  IoOp tick_op_;  // once a second: provisioned sandboxes
  __kernel_timespec tick_ts_{1, 0};
  bool stopping_ = false;

  WorkerPool workers_;  // last: joined first, before the state its jobs use
};

}  // namespace thaw::agent
