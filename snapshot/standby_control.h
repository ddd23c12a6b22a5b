// The control target of a standby thaw-vmm (--standby, DESIGN.md
// "Lessons": cold start pays no fork/exec/jail and no VM/vCPU/ring
// creation): the snapshot control plus the "restore" op, which restores a
// snapshot into the waiting VM with the host bindings named in the request
// and starts it. After that the process is an ordinary restored thaw-vmm.
#pragma once

#include <string>

#include <boost/json.hpp>

#include "common/result.h"
#include "sandbox/vmm/vmm.h"
#include "snapshot/snapshot_control.h"
#include "snapshot/vm_snapshot.h"

namespace thaw::snapshot {

struct StandbyRestoreRequest {
  std::string dir;
  // Only disks, vsock_uds, vsock_cid and serial_path are used; they start
  // as the standby's own (its command line) and the request overrides them.
  sandbox::VmmConfig bindings;
  RestoreOptions options;
};

// Pure, over the untrusted request object:
//   {"op":"restore","dir":DIR,
//    "disks":[{"path":P,"read_only":false},...],  (optional: none)
//    "vsock_uds":S, "vsock_cid":N, "serial":PATH,  (optional: the standby's)
//    "prefetch":true, "pre_fault":true}           (optional)
// Unknown fields and wrong types are refused by name.
Result<StandbyRestoreRequest> parse_restore_request(const boost::json::object& request,
                                                    const sandbox::VmmConfig& standby);

class StandbyControl : public SnapshotControl {
 public:
  explicit StandbyControl(sandbox::Vmm& vmm) : SnapshotControl(vmm), vmm_(vmm) {}
  // Runs on the IO loop thread. The reply carries the phase times (µs) and
  // the prefetch/pre-fault outcome. A refused snapshot leaves the standby
  // waiting; a failure after its memory was installed stops the process
  // (exit 1) since the VM is half-restored.
  Result<boost::json::object> restore(const boost::json::object& request) override;

 private:
  sandbox::Vmm& vmm_;
};

}  // namespace thaw::snapshot
