// An InterruptLine that counts triggers, for device tests.
#pragma once

#include <atomic>

#include "sandbox/devices/device.h"

namespace thaw::sandbox::testing {

class CountingLine : public InterruptLine {
 public:
  void trigger() override { ++count; }
  std::atomic<int> count{0};
};

}  // namespace thaw::sandbox::testing
