#include "agent/ops/watchdog.h"

#include <systemd/sd-daemon.h>

namespace thaw::agent::ops {

std::optional<std::chrono::microseconds> watchdog_ping_interval() {
  uint64_t usec = 0;
  // sd_watchdog_enabled(3): > 0 and usec set when we must ping.
  if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

std::optional<std::chrono::microseconds> WatchdogPinger::start(IoLoop& loop) {
  auto interval = watchdog_ping_interval();
  if (!interval) return std::nullopt;
  timer_.start(loop, *interval, [this] {
    ::sd_notify(0, "WATCHDOG=1");
    ++pings_;
  });
  return interval;
}

}  // namespace thaw::agent::ops
