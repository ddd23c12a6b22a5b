#include "snapshot/machine_state.h"

#include "sandbox/kvm/msrs.h"

namespace thaw::snapshot {

namespace {

// Each step names the piece of state it failed on, so a refused restore
// says exactly what KVM would not take.
template <typename T>
Result<void> take(Result<T> r, T& out, std::string_view what) {
  if (!r) return Error(r.error()).context(what);
  out = std::move(*r);
  return Ok();
}

Result<void> step(Result<void> r, std::string_view what) {
  if (!r) return Error(r.error()).context(what);
  return Ok();
}

}  // namespace

Result<VcpuState> capture_vcpu(const sandbox::KvmVcpu& vcpu, std::span<const uint32_t> msr_indices,
                               size_t xsave_size) {
  VcpuState s;
  s.index = vcpu.id();
  // MP_STATE first: reading it flushes pending INIT/SIPI into the state
  // that the other getters then see consistently.
  Result<void> r = take(vcpu.get_mp_state(), s.mp_state, "saving mp_state");
  if (r) r = take(vcpu.get_regs(), s.regs, "saving regs");
  if (r) r = take(vcpu.get_sregs(), s.sregs, "saving sregs");
  if (r) r = take(vcpu.get_xsave(xsave_size), s.xsave, "saving xsave");
  if (!r) return std::move(r).error();
  // XCRs exist only with XSAVE in the guest's CPUID (absent under `noxsave`
  // on PVM); a refusal here is a property of the host, not an error.
  if (auto xcrs = vcpu.get_xcrs()) {
    s.xcrs = *xcrs;
    s.has_xcrs = true;
  }
  r = take(vcpu.get_debugregs(), s.debugregs, "saving debugregs");
  if (r) r = take(vcpu.get_lapic(), s.lapic, "saving lapic");
  if (r) r = take(vcpu.get_msrs(msr_indices), s.msrs, "saving msrs");
  // VCPU_EVENTS last: pending exceptions/interrupts as of the final state.
  if (r) r = take(vcpu.get_vcpu_events(), s.events, "saving vcpu events");
  if (!r) return std::move(r).error();
  return s;
}

Result<void> restore_vcpu(sandbox::KvmVcpu& vcpu, const VcpuState& s,
                          std::span<const kvm_cpuid_entry2> cpuid) {
  std::vector<kvm_msr_entry> msrs = s.msrs;
  // TSC before TSC_DEADLINE: the deadline is interpreted against the TSC.
  std::vector<uint32_t> indices;
  for (const auto& m : msrs) indices.push_back(m.index);
  auto order = sandbox::order_for_restore(indices);
  std::vector<kvm_msr_entry> ordered;
  ordered.reserve(msrs.size());
  for (uint32_t index : order) {
    for (const auto& m : msrs) {
      if (m.index == index) {
        ordered.push_back(m);
        break;
      }
    }
  }

  Result<void> r = step(vcpu.set_cpuid(cpuid), "restoring cpuid");
  if (r) r = step(vcpu.set_mp_state(s.mp_state), "restoring mp_state");
  if (r) r = step(vcpu.set_regs(s.regs), "restoring regs");
  if (r) r = step(vcpu.set_sregs(s.sregs), "restoring sregs");
  if (r) r = step(vcpu.set_xsave(s.xsave), "restoring xsave");
  if (r && s.has_xcrs) r = step(vcpu.set_xcrs(s.xcrs), "restoring xcrs");
  if (r) r = step(vcpu.set_debugregs(s.debugregs), "restoring debugregs");
  if (r) r = step(vcpu.set_lapic(s.lapic), "restoring lapic");
  if (r) r = step(vcpu.set_msrs(ordered), "restoring msrs");
  if (r) r = step(vcpu.set_vcpu_events(s.events), "restoring vcpu events");
  return r;
}

Result<VmState> capture_vm(const sandbox::KvmVm& vm) {
  VmState s;
  Result<void> r = take(vm.get_pit(), s.pit, "saving pit");
  if (r) r = take(vm.get_clock(), s.clock, "saving kvm clock");
  if (r) r = take(vm.get_irqchip(KVM_IRQCHIP_PIC_MASTER), s.pic_master, "saving pic master");
  if (r) r = take(vm.get_irqchip(KVM_IRQCHIP_PIC_SLAVE), s.pic_slave, "saving pic slave");
  if (r) r = take(vm.get_irqchip(KVM_IRQCHIP_IOAPIC), s.ioapic, "saving ioapic");
  if (!r) return std::move(r).error();
  return s;
}

Result<void> restore_vm(sandbox::KvmVm& vm, const VmState& s) {
  kvm_clock_data clock = s.clock;
  // Only the clock value is restored: REALTIME/HOST_TSC would make KVM jump
  // the guest's monotonic clock by the time the snapshot sat on disk, and
  // TSC_STABLE is an output flag. Wall-clock time comes with the restore
  // notice instead.
  clock.flags = 0;
  clock.realtime = 0;
  clock.host_tsc = 0;
  Result<void> r = step(vm.set_pit(s.pit), "restoring pit");
  if (r) r = step(vm.set_clock(clock), "restoring kvm clock");
  if (r) r = step(vm.set_irqchip(s.pic_master), "restoring pic master");
  if (r) r = step(vm.set_irqchip(s.pic_slave), "restoring pic slave");
  if (r) r = step(vm.set_irqchip(s.ioapic), "restoring ioapic");
  return r;
}

Result<void> check_cpuid_compatible(std::span<const kvm_cpuid_entry2> saved,
                                    std::span<const kvm_cpuid_entry2> current) {
  for (const auto& want : saved) {
    const kvm_cpuid_entry2* have = nullptr;
    for (const auto& c : current) {
      if (c.function == want.function && c.index == want.index) {
        have = &c;
        break;
      }
    }
    if (have == nullptr) {
      return Error::format("snapshot was made for another CPU model: this host has no CPUID "
                           "leaf {:#x} index {}",
                           want.function, want.index);
    }
    // APIC ids (leaf 1 EBX[31:24], leaf 0xb/0x1f EDX) differ per vCPU, not per host.
    const char* names[] = {"eax", "ebx", "ecx", "edx"};
    uint32_t a[] = {want.eax, want.ebx, want.ecx, want.edx};
    uint32_t b[] = {have->eax, have->ebx, have->ecx, have->edx};
    if (want.function == 1) {
      a[1] &= 0x00ff'ffff;
      b[1] &= 0x00ff'ffff;
    }
    if (want.function == 0xb || want.function == 0x1f) a[3] = b[3];
    for (int i = 0; i < 4; ++i) {
      if (a[i] != b[i]) {
        return Error::format(
            "snapshot was made for another CPU model: CPUID leaf {:#x} index {} {} is {:#010x} "
            "in the snapshot, {:#010x} on this host; re-create the snapshot on this host",
            want.function, want.index, names[i], a[i], b[i]);
      }
    }
  }
  return Ok();
}

}  // namespace thaw::snapshot
