// Adapts a Vmm to the control protocol: pause/resume/stop map to the Vmm,
// stats report the run state, exits by reason and device counters.
#pragma once

#include "sandbox/vmm/control_protocol.h"
#include "sandbox/vmm/vmm.h"

namespace thaw::sandbox {

class VmmControl : public ControlTarget {
 public:
  explicit VmmControl(Vmm& vmm) : vmm_(vmm) {}
  Result<void> pause() override { return vmm_.pause(); }
  Result<void> resume() override { return vmm_.resume(); }
  void stop() override;
  boost::json::object stats() override;

 private:
  Vmm& vmm_;
};

}  // namespace thaw::sandbox
