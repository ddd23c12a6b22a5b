// The device wiring of thaw-vmm's machine (CONTRACT.md: COM1, i8042, a
// virtio-mmio window per disk then vsock) over an existing Vmm, without
// loading a kernel: what a restore rebuilds before setting saved state.
// Mirrors sandbox/vmm/machine.cc, which does the same and then boots.
#pragma once

#include <cstddef>

#include "common/result.h"
#include "sandbox/vmm/vmm.h"

namespace thaw::snapshot {

// Returns the number of virtio devices attached.
Result<size_t> attach_machine_devices(sandbox::Vmm& vmm, const sandbox::VmmConfig& config);

}  // namespace thaw::snapshot
