// A per-device cap on log lines the guest can trigger, so a hostile guest
// cannot flood the host's journal by repeating a bad request. Used by the
// transport and the backends around guest-caused warnings.
#pragma once

#include <cstdint>

namespace thaw::sandbox::virtio {

class LogBudget {
 public:
  explicit LogBudget(uint32_t lines = 32) : left_(lines) {}
  // True while lines remain; the last one says that further lines are muted.
  bool take() {
    if (left_ == 0) return false;
    --left_;
    return true;
  }
  bool exhausted() const { return left_ == 0; }

 private:
  uint32_t left_;
};

}  // namespace thaw::sandbox::virtio
