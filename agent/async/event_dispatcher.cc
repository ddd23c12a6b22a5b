#include "agent/async/event_dispatcher.h"

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "agent/api/function_config.h"
#include "agent/async/destination.h"

namespace thaw::agent {

namespace {

// One line per event transition on stderr (the journal under systemd).
void note(const QueuedEvent& e, std::string_view what) {
  std::string line = fmt::format("thawd: async {} {}:{}: {}\n", e.request_id, e.function,
                                 e.qualifier, what);
  std::fputs(line.c_str(), stderr);
}

}  // namespace

std::string event_function_arn(const QueuedEvent& e) {
  return function_arn(kRegion, e.function) + ":" + e.qualifier;
}

EventDispatcher::EventDispatcher(DispatcherOptions options, EventStore& store,
                                 EventConfigStore& configs, EventInvoker invoker)
    : options_(options), store_(store), configs_(configs), invoker_(std::move(invoker)) {}

EventDispatcher::~EventDispatcher() {
  stop();
  for (auto& t : threads_) t.join();
}

void EventDispatcher::start() {
  unsigned n = options_.threads == 0 ? 1 : options_.threads;
  for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { run(); });
}

void EventDispatcher::schedule(QueuedEvent e) {
  {
    std::lock_guard lock(mu_);
    uint64_t due = e.next_attempt_ms;
    due_.emplace(due, std::move(e));
  }
  cv_.notify_one();
}

void EventDispatcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

size_t EventDispatcher::pending() const {
  std::lock_guard lock(mu_);
  return due_.size() + in_flight_;
}

size_t EventDispatcher::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

bool EventDispatcher::join_or_detach() {
  bool idle = in_flight() == 0;
  for (auto& t : threads_) idle ? t.join() : t.detach();
  threads_.clear();
  return idle;
}

void EventDispatcher::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    uint64_t now = wall_clock_ms();
    if (due_.begin()->first > now) {
      cv_.wait_for(lock, std::chrono::milliseconds(due_.begin()->first - now));
      continue;
    }
    QueuedEvent e = std::move(due_.begin()->second);
    due_.erase(due_.begin());
    ++in_flight_;
    lock.unlock();
    process(std::move(e));
    lock.lock();
    --in_flight_;
  }
}

void EventDispatcher::process(QueuedEvent e) {
  if (e.state != EventState::kQueued) return complete(std::move(e));  // finished earlier
  EventInvokeConfig config = configs_.get(e.function, e.qualifier).value_or(EventInvokeConfig{});
  if (event_expired(e, config, wall_clock_ms())) {
    return finish(std::move(e), config, kConditionEventAgeExceeded, nullptr);
  }
  // The try is on disk before it runs: after a crash it still counts.
  ++e.attempts;
  e.next_attempt_ms = 0;
  AttemptOutcome outcome;
  if (auto w = store_.write(e); !w) {
    --e.attempts;
    outcome = {AttemptKind::kThrottled, 500, e.qualifier, {}, w.error().message};
    note(e, "could not record the attempt: " + w.error().message);
  } else {
    outcome = invoker_(e);
    if (outcome.kind == AttemptKind::kThrottled || outcome.kind == AttemptKind::kGone) {
      --e.attempts;  // the function did not run
    }
  }
  if (outcome.kind == AttemptKind::kThrottled) ++e.throttles;
  NextStep step = next_step(e, outcome.kind, config, options_.timing, wall_clock_ms());
  if (step.action == NextStep::Action::kFinish) {
    return finish(std::move(e), config, step.condition, &outcome);
  }
  e.next_attempt_ms = step.retry_at_ms;
  std::string what = outcome.kind == AttemptKind::kFunctionError
                         ? fmt::format("attempt {} failed ({})", e.attempts, outcome.function_error)
                         : fmt::format("throttled (status {}, {} so far)", outcome.status_code,
                                       e.throttles);
  uint64_t now = wall_clock_ms();
  note(e, fmt::format("{}; retry in {} ms", what,
                      step.retry_at_ms > now ? step.retry_at_ms - now : 0));
  // On a failed write the file keeps the attempt: a restart retries at once.
  if (auto w = store_.write(e); !w) note(e, "could not record the retry time: " + w.error().message);
  schedule(std::move(e));
}

void EventDispatcher::finish(QueuedEvent e, const EventInvokeConfig& config,
                             std::string_view condition, const AttemptOutcome* last) {
  bool success = condition == kConditionSuccess;
  e.state = success ? EventState::kSucceeded : EventState::kFailed;
  e.destination = success ? config.on_success : config.on_failure;
  e.record = destination_record(e, condition, last, event_function_arn(e), wall_clock_ms());
  // The outcome is durable before anything else: a restart delivers, never re-runs.
  if (auto w = store_.write(e); !w) note(e, "could not record the outcome: " + w.error().message);
  note(e, fmt::format("{} after {} attempt(s)", condition, e.attempts));
  complete(std::move(e));
}

void EventDispatcher::complete(QueuedEvent e) {
  bool to_failure_log = e.destination.empty() && e.state == EventState::kFailed;
  if (!e.destination.empty()) {
    auto d = parse_destination(e.destination);
    Result<void> sent = d ? deliver_record(*d, e.request_id, e.record)
                          : Result<void>(Error{d.error().message});
    if (!sent && d && e.refused_deliveries < options_.delivery_retries) {
      uint64_t delay = static_cast<uint64_t>(options_.timing.throttle_base.count())
                       << e.refused_deliveries++;
      note(e, fmt::format("destination {} refused the record ({}); again in {} ms",
                          e.destination, sent.error().message, delay));
      e.next_attempt_ms = wall_clock_ms() + delay;
      return schedule(std::move(e));  // the outcome is on disk: a restart delivers too
    }
    if (!sent) {
      note(e, fmt::format("destination {} refused the record ({}); it goes to {}", e.destination,
                          sent.error().message, store_.failed_dir()));
      to_failure_log = true;
    }
  }
  if (to_failure_log) {
    if (auto w = store_.write_failure_log(e.request_id, e.record); !w) {
      note(e, "could not write the failure log: " + w.error().message);
      return;  // the event file stays: the next start delivers again
    }
  }
  if (auto r = store_.remove(e.request_id); !r) note(e, "could not remove: " + r.error().message);
}

}  // namespace thaw::agent
