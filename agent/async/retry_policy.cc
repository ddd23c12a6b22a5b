#include "agent/async/retry_policy.h"

#include <algorithm>

namespace thaw::agent {

bool event_expired(const QueuedEvent& e, const EventInvokeConfig& c, uint64_t now_ms) {
  return now_ms > e.enqueued_ms + uint64_t{c.max_age_s()} * 1000;
}

NextStep next_step(const QueuedEvent& e, AttemptKind kind, const EventInvokeConfig& c,
                   const RetryTiming& t, uint64_t now_ms) {
  using Action = NextStep::Action;
  switch (kind) {
    case AttemptKind::kSuccess:
      return {Action::kFinish, kConditionSuccess, 0};
    case AttemptKind::kGone:
      return {Action::kFinish, kConditionRetriesExhausted, 0};
    case AttemptKind::kFunctionError: {
      if (e.attempts > c.retries()) return {Action::kFinish, kConditionRetriesExhausted, 0};
      uint64_t delay = static_cast<uint64_t>(t.function_error_base.count()) * e.attempts;
      uint64_t at = now_ms + delay;
      // A retry that would run past the maximum age never runs.
      if (at > e.enqueued_ms + uint64_t{c.max_age_s()} * 1000) {
        return {Action::kFinish, kConditionEventAgeExceeded, 0};
      }
      return {Action::kRetry, {}, at};
    }
    case AttemptKind::kThrottled: {
      uint32_t doublings = std::min<uint32_t>(e.throttles == 0 ? 0 : e.throttles - 1, 30);
      uint64_t delay = std::min<uint64_t>(
          static_cast<uint64_t>(t.throttle_base.count()) << doublings,
          static_cast<uint64_t>(t.throttle_cap.count()));
      uint64_t at = now_ms + delay;
      if (at > e.enqueued_ms + uint64_t{c.max_age_s()} * 1000) {
        return {Action::kFinish, kConditionEventAgeExceeded, 0};
      }
      return {Action::kRetry, {}, at};
    }
  }
  return {Action::kFinish, kConditionRetriesExhausted, 0};
}

}  // namespace thaw::agent
