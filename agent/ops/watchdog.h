// systemd watchdog support for thawd (Type=notify, WatchdogSec= in
// packaging/thawd.service): pings WATCHDOG=1 from the agent's io_uring loop
// at half the interval systemd asks for, so a wedged loop gets restarted.
// Used by agent/service.cc.
#pragma once

#include <chrono>
#include <optional>

#include "agent/ops/periodic_timer.h"
#include "common/io_loop.h"

namespace thaw::agent::ops {

// Half of WATCHDOG_USEC when systemd enabled the watchdog for this process
// (sd_watchdog_enabled: WATCHDOG_USEC set, WATCHDOG_PID unset or ours).
std::optional<std::chrono::microseconds> watchdog_ping_interval();

class WatchdogPinger {
 public:
  // Starts pinging when the watchdog is enabled; returns the ping interval,
  // or nullopt when it is not (nothing is armed then).
  std::optional<std::chrono::microseconds> start(IoLoop& loop);
  void stop() { timer_.stop(); }
  uint64_t pings() const { return pings_; }

 private:
  PeriodicTimer timer_;
  uint64_t pings_ = 0;
};

}  // namespace thaw::agent::ops
