// What the dispatcher does after one try of a queued event: Lambda's
// asynchronous retry rules as a pure function of the event, the outcome of
// the try, the function's event invoke config and the clock. Unit-tested on
// its own; used by event_dispatcher.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/async/event_invoke_config.h"
#include "agent/async/event_record.h"

namespace thaw::agent {

enum class AttemptKind {
  kSuccess,
  kFunctionError,  // the function ran and failed (error, timeout, crash): counts as a try
  kThrottled,      // 429 or a sandbox that could not start: not an invocation
  kGone,           // the function (or its qualifier) no longer exists
};

struct AttemptOutcome {
  AttemptKind kind = AttemptKind::kSuccess;
  unsigned status_code = 200;  // destination record's responseContext.statusCode
  std::string executed_version = "$LATEST";
  std::string function_error;  // "Unhandled" for a function error
  std::string body;            // the response, the error JSON or the API error
};

struct RetryTiming {
  // Function errors: retry after 1x then 2x this (Lambda: ~1 then ~2 min).
  std::chrono::milliseconds function_error_base{60000};
  // Throttles and sandbox failures: from this, doubling up to the cap
  // (Lambda: 1 s to 5 min), until the event is too old.
  std::chrono::milliseconds throttle_base{1000};
  std::chrono::milliseconds throttle_cap{300000};
};

inline constexpr std::string_view kConditionSuccess = "Success";
inline constexpr std::string_view kConditionRetriesExhausted = "RetriesExhausted";
inline constexpr std::string_view kConditionEventAgeExceeded = "EventAgeExceeded";

struct NextStep {
  enum class Action { kFinish, kRetry } action = Action::kFinish;
  std::string_view condition;  // kFinish: one of the conditions above
  uint64_t retry_at_ms = 0;    // kRetry: wall clock
};

// True when the event is past MaximumEventAgeInSeconds at `now_ms`.
bool event_expired(const QueuedEvent& event, const EventInvokeConfig& config, uint64_t now_ms);

// `event` already counts the try (attempts or throttles incremented).
NextStep next_step(const QueuedEvent& event, AttemptKind kind, const EventInvokeConfig& config,
                   const RetryTiming& timing, uint64_t now_ms);

}  // namespace thaw::agent
