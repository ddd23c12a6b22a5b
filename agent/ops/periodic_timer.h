// A repeating io_uring timeout on an IoLoop: runs a callback every interval
// on the loop thread. thawd uses it for the systemd watchdog ping and the
// drain/log long-poll tick (agent/ops/).
#pragma once

#include <chrono>
#include <functional>

#include "common/io_loop.h"

namespace thaw::agent::ops {

class PeriodicTimer {
 public:
  PeriodicTimer() = default;
  // Cancels a running timer; destroy only while the loop is not running or
  // after stop() has completed (the in-flight timeout points at this object).
  ~PeriodicTimer() = default;
  PeriodicTimer(const PeriodicTimer&) = delete;
  PeriodicTimer& operator=(const PeriodicTimer&) = delete;

  // Starts (or restarts with a new interval); `tick` runs on the loop thread.
  void start(IoLoop& loop, std::chrono::microseconds interval, std::function<void()> tick);
  // No further ticks; an armed timeout is cancelled.
  void stop();
  bool running() const { return running_; }

 private:
  void arm();

  IoLoop* loop_ = nullptr;
  IoOp op_;
  __kernel_timespec every_{};
  std::function<void()> tick_;
  bool running_ = false;
};

}  // namespace thaw::agent::ops
