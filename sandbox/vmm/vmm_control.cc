#include "sandbox/vmm/vmm_control.h"

namespace thaw::sandbox {

void VmmControl::stop() { vmm_.request_stop(kExitClean, "stop requested on the control socket"); }

boost::json::object VmmControl::stats() {
  boost::json::object out;
  out["state"] = vmm_.stopping() ? "stopping" : (vmm_.paused() ? "paused" : "running");
  boost::json::object exits;
  for (const auto& [name, count] : vmm_.exit_stats().snapshot()) {
    exits[name] = count;
  }
  out["exits"] = std::move(exits);
  boost::json::object devices;
  for (const DeviceStats& d : vmm_.device_stats()) {
    boost::json::object counters;
    for (const auto& [name, value] : d.counters) counters[name] = value;
    devices[d.name] = std::move(counters);
  }
  out["devices"] = std::move(devices);
  return out;
}

}  // namespace thaw::sandbox
