// KVM_PRE_FAULT_MEMORY (Linux 6.10+, KVM_CAP_PRE_FAULT_MEMORY): maps guest
// ranges into KVM's stage-2 page tables (EPT/NPT) before any vCPU runs, so
// a restored guest's first touches of its working set take no EPT
// violation exits. The restore (vm_restore.cc) uses it for the recorded
// working set after MADV_POPULATE_* has filled the host page tables; hosts
// without it (older kernels, shadow-paging KVM such as PVM) are detected
// and skipped with the reason.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "sandbox/memory/guest_memory.h"
#include "snapshot/working_set.h"

namespace thaw::snapshot {

// Not in Debian 12's <linux/kvm.h> (6.1): the 6.10 UAPI values.
inline constexpr long kCapPreFaultMemory = 236;  // KVM_CAP_PRE_FAULT_MEMORY

struct PreFaultSupport {
  bool available = false;
  std::string reason;  // why not, when !available
};

// KVM_CHECK_EXTENSION on the VM fd: the answer depends on the VM's type
// and MMU (TDP only), so it is asked per VM, not of /dev/kvm.
PreFaultSupport pre_fault_support(int vm_fd);

struct GuestRange {
  uint64_t gpa = 0;
  uint64_t size = 0;
  bool operator==(const GuestRange&) const = default;
};

// The guest-physical ranges of the set's runs (file offsets) under
// `regions`' layout; a run that crosses a region boundary (the MMIO gap)
// is split. Pure; refuses a run outside every region.
Result<std::vector<GuestRange>> working_set_guest_ranges(const std::vector<sandbox::GuestRegion>& regions,
                                                         const WorkingSet& set);

struct PreFaultStats {
  uint64_t pages = 0;
  uint64_t ioctls = 0;
};

// Pre-faults every range through vCPU `vcpu_fd` (its current address
// space; before the first KVM_RUN that is the guest's physical one),
// resuming a range KVM interrupted (EINTR/EAGAIN).
Result<PreFaultStats> pre_fault_ranges(int vcpu_fd, const std::vector<GuestRange>& ranges);

}  // namespace thaw::snapshot
