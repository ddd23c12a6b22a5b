#include "agent/ops/periodic_timer.h"

namespace thaw::agent::ops {

void PeriodicTimer::start(IoLoop& loop, std::chrono::microseconds interval,
                          std::function<void()> tick) {
  loop_ = &loop;
  tick_ = std::move(tick);
  auto us = interval.count() < 1000 ? 1000 : interval.count();  // at least 1 ms
  every_.tv_sec = us / 1000000;
  every_.tv_nsec = (us % 1000000) * 1000;
  op_.done = [this](int, uint32_t) {
    if (!running_) return;  // stopped (or cancelled) meanwhile
    arm();                  // re-arm first: a tick may stop() us
    tick_();
  };
  bool was_armed = op_.in_flight;
  running_ = true;
  if (!was_armed) arm();  // an armed one re-arms itself with the new interval
}

void PeriodicTimer::stop() {
  if (!running_) return;
  running_ = false;
  if (op_.in_flight && loop_) loop_->cancel(op_);
}

void PeriodicTimer::arm() {
  io_uring_prep_timeout(loop_->prepare(op_), &every_, 0, 0);
}

}  // namespace thaw::agent::ops
