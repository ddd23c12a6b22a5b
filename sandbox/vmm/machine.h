// Builds the thaw-vmm machine of CONTRACT.md from a VmmConfig: the Vmm plus
// COM1, the i8042, one virtio-mmio transport per --disk and the vsock device
// (windows at 0xD000_0000 + i*0x1000, GSI 5 + i, ioeventfd per queue), then
// loads the guest. thaw-vmm's main and the integration tests use it.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "sandbox/vmm/vmm.h"

namespace thaw::sandbox {

// The kernel parameters that announce the virtio-mmio devices to Linux
// (drivers/virtio/virtio_mmio.c, "virtio_mmio.device=<size>@<base>:<irq>").
std::string virtio_mmio_cmdline(size_t device_count);

// Plugs thaw-vmm's devices into `vmm` (COM1, i8042, a virtio-mmio window
// per disk, then vsock) without loading a kernel: build_machine's wiring,
// shared with the snapshot restore, which sets saved state instead of
// booting. Returns the number of virtio devices.
Result<size_t> attach_machine_devices(Vmm& vmm, const VmmConfig& config);

// A booted-but-not-started VM: call start() then wait(). On failure
// `failure_code` says whose fault it was: kExitUsage for a bad option or
// input file (kernel, initrd, disk, socket path), kExitHostError for KVM
// and other host failures.
Result<std::unique_ptr<Vmm>> build_machine(const VmmConfig& config, int& failure_code);

}  // namespace thaw::sandbox
