// Runs queued asynchronous invocations: its own threads (async is off the
// hot path, so the blocking SandboxPool::invoke is fine here) take events in
// due-time order, record each attempt durably before running it, apply the
// retry policy, and finish an event by recording the outcome durably, then
// delivering its destination record, then removing its file. A crash at any
// point re-runs an event only while its success is not yet recorded.
// Used by AsyncInvocations (agent/async/async_invocations.h).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/async/event_config_store.h"
#include "agent/async/event_store.h"
#include "agent/async/retry_policy.h"

namespace thaw::agent {

// One try of an event's function; blocking.
using EventInvoker = std::function<AttemptOutcome(const QueuedEvent& event)>;

struct DispatcherOptions {
  unsigned threads = 4;
  RetryTiming timing;
  // A destination that refuses a record (the scheduler's callback is down)
  // gets it again after throttle_base, doubling, this many times; then the
  // record goes to the failure log.
  uint32_t delivery_retries = 3;
};

class EventDispatcher {
 public:
  EventDispatcher(DispatcherOptions options, EventStore& store, EventConfigStore& configs,
                  EventInvoker invoker);
  ~EventDispatcher();  // stop(), then waits for the tries in flight
  EventDispatcher(const EventDispatcher&) = delete;
  EventDispatcher& operator=(const EventDispatcher&) = delete;

  void start();
  // Hands over an event already durable in the store (queued: run at its
  // next_attempt_ms; finished: deliver its record and remove it).
  void schedule(QueuedEvent event);
  // No new tries start; tries in flight finish; queued events stay on disk.
  void stop();
  size_t pending() const;  // scheduled + in flight
  size_t in_flight() const;
  // After stop(): joins the threads when no try is running and returns
  // true; otherwise detaches them and returns false, and the caller must
  // never destroy this dispatcher (the process is exiting; the running
  // tries' events stay on disk and run again at the next start).
  bool join_or_detach();

 private:
  void run();
  void process(QueuedEvent event);
  void finish(QueuedEvent event, const EventInvokeConfig& config, std::string_view condition,
              const AttemptOutcome* last);
  void complete(QueuedEvent event);

  DispatcherOptions options_;
  EventStore& store_;
  EventConfigStore& configs_;
  EventInvoker invoker_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<uint64_t, QueuedEvent> due_;  // wall-clock ms -> event
  size_t in_flight_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// The qualified ARN a destination record names.
std::string event_function_arn(const QueuedEvent& event);

}  // namespace thaw::agent
