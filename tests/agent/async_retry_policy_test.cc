// Unit tests of agent/async/retry_policy: Lambda's async retry rules —
// function errors retried MaximumRetryAttempts times after 1x then 2x the
// base delay, throttles with doubling backoff, both bounded by the event age.
#include "agent/async/retry_policy.h"

#include <gtest/gtest.h>

namespace thaw::agent {
namespace {

using Action = NextStep::Action;
using std::chrono::milliseconds;

constexpr uint64_t kT0 = 1'700'000'000'000;

RetryTiming timing() { return {milliseconds(60000), milliseconds(1000), milliseconds(300000)}; }

QueuedEvent event_with(uint32_t attempts, uint32_t throttles = 0) {
  QueuedEvent e;
  e.enqueued_ms = kT0;
  e.attempts = attempts;
  e.throttles = throttles;
  return e;
}

TEST(AsyncRetryPolicy, FunctionErrorsRetryTwiceAfterOneThenTwoMinutes) {
  EventInvokeConfig c;  // defaults: 2 retries, 6 h
  NextStep s = next_step(event_with(1), AttemptKind::kFunctionError, c, timing(), kT0 + 10);
  ASSERT_EQ(s.action, Action::kRetry);
  EXPECT_EQ(s.retry_at_ms, kT0 + 10 + 60000);
  s = next_step(event_with(2), AttemptKind::kFunctionError, c, timing(), kT0 + 70000);
  ASSERT_EQ(s.action, Action::kRetry);
  EXPECT_EQ(s.retry_at_ms, kT0 + 70000 + 120000);
  s = next_step(event_with(3), AttemptKind::kFunctionError, c, timing(), kT0 + 200000);
  EXPECT_EQ(s.action, Action::kFinish);
  EXPECT_EQ(s.condition, kConditionRetriesExhausted);
}

TEST(AsyncRetryPolicy, ZeroRetriesFinishesAfterTheFirstFailure) {
  EventInvokeConfig c;
  c.max_retry_attempts = 0;
  NextStep s = next_step(event_with(1), AttemptKind::kFunctionError, c, timing(), kT0);
  EXPECT_EQ(s.action, Action::kFinish);
  EXPECT_EQ(s.condition, kConditionRetriesExhausted);
  s = next_step(event_with(1), AttemptKind::kSuccess, c, timing(), kT0);
  EXPECT_EQ(s.condition, kConditionSuccess);
  s = next_step(event_with(0), AttemptKind::kGone, c, timing(), kT0);
  EXPECT_EQ(s.condition, kConditionRetriesExhausted);
}

TEST(AsyncRetryPolicy, ThrottlesBackOffDoublingToTheCapAndDoNotCountAsTries) {
  EventInvokeConfig c;
  uint64_t expected[] = {1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000,
                         300000};
  for (uint32_t n = 1; n <= 11; ++n) {
    NextStep s = next_step(event_with(0, n), AttemptKind::kThrottled, c, timing(), kT0);
    ASSERT_EQ(s.action, Action::kRetry) << n;
    EXPECT_EQ(s.retry_at_ms - kT0, expected[n - 1]) << "throttle " << n;
  }
  // Many throttles with retries already spent still retry (they are not tries).
  NextStep s = next_step(event_with(3, 1), AttemptKind::kThrottled, c, timing(), kT0);
  EXPECT_EQ(s.action, Action::kRetry);
}

TEST(AsyncRetryPolicy, RetriesThatWouldOutliveTheEventAgeFinishAsEventAgeExceeded) {
  EventInvokeConfig c;
  c.max_event_age_s = 60;
  NextStep s = next_step(event_with(1), AttemptKind::kFunctionError, c, timing(), kT0 + 1);
  EXPECT_EQ(s.action, Action::kFinish) << "the 60 s retry lands past the 60 s age";
  EXPECT_EQ(s.condition, kConditionEventAgeExceeded);
  s = next_step(event_with(0, 1), AttemptKind::kThrottled, c, timing(), kT0 + 59500);
  EXPECT_EQ(s.condition, kConditionEventAgeExceeded);
  s = next_step(event_with(0, 1), AttemptKind::kThrottled, c, timing(), kT0 + 1000);
  EXPECT_EQ(s.action, Action::kRetry);

  EXPECT_FALSE(event_expired(event_with(0), c, kT0 + 60000));
  EXPECT_TRUE(event_expired(event_with(0), c, kT0 + 60001));
  EventInvokeConfig defaults;
  EXPECT_FALSE(event_expired(event_with(0), defaults, kT0 + 21600000));
  EXPECT_TRUE(event_expired(event_with(0), defaults, kT0 + 21600001));
}

}  // namespace
}  // namespace thaw::agent
