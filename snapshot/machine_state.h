// Capture and restore of KVM vCPU and VM state, in the order KVM needs
// (Firecracker's, learned the hard way; DESIGN.md): save MP_STATE first and
// VCPU_EVENTS last; restore CPUID -> MP_STATE -> REGS -> SREGS -> XSAVE ->
// XCRS -> DEBUGREGS -> LAPIC -> MSRs (TSC before TSC_DEADLINE) ->
// VCPU_EVENTS, and on the VM PIT2 -> CLOCK -> irqchips. The caller holds
// every vCPU paused (out of KVM_RUN) for the whole capture.
#pragma once

#include <linux/kvm.h>

#include <span>

#include "common/result.h"
#include "sandbox/kvm/kvm_vcpu.h"
#include "sandbox/kvm/kvm_vm.h"
#include "snapshot/snapshot_state.h"

namespace thaw::snapshot {

// `msr_indices` from sandbox::snapshot_msr_indices(); `xsave_size` is
// KVM_CAP_XSAVE2's value or 0 for the legacy 4 KiB area.
Result<VcpuState> capture_vcpu(const sandbox::KvmVcpu& vcpu, std::span<const uint32_t> msr_indices,
                               size_t xsave_size);
Result<void> restore_vcpu(sandbox::KvmVcpu& vcpu, const VcpuState& state,
                          std::span<const kvm_cpuid_entry2> cpuid);

Result<VmState> capture_vm(const sandbox::KvmVm& vm);
Result<void> restore_vm(sandbox::KvmVm& vm, const VmState& state);

// A snapshot may only resume on a host that presents the guest the same
// CPU: every leaf the guest saw must match what this host would give it.
// The error names the first leaf/register that differs.
Result<void> check_cpuid_compatible(std::span<const kvm_cpuid_entry2> saved,
                                    std::span<const kvm_cpuid_entry2> current);

}  // namespace thaw::snapshot
