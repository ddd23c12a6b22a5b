// One KVM vCPU: its fd, the shared kvm_run page, and typed get/set wrappers
// for every piece of architectural state. The vCPU thread runs it; the
// snapshot code saves and restores it while the Vmm holds the vCPU paused.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/mapping.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw::sandbox {

class KvmVcpu {
 public:
  static Result<std::unique_ptr<KvmVcpu>> adopt(UniqueFd fd, uint32_t id, size_t mmap_size);

  uint32_t id() const { return id_; }
  int fd() const { return fd_.get(); }
  kvm_run* run_state() const { return reinterpret_cast<kvm_run*>(run_.data()); }

  enum class RunResult { kExited, kInterrupted };
  // KVM_RUN once. kInterrupted means a signal (or immediate_exit) got the
  // vCPU out before or during guest execution; kvm_run->exit_reason is stale.
  Result<RunResult> run();

  Result<kvm_regs> get_regs() const;
  Result<void> set_regs(const kvm_regs& regs);
  Result<kvm_sregs> get_sregs() const;
  Result<void> set_sregs(const kvm_sregs& sregs);
  Result<kvm_fpu> get_fpu() const;
  Result<void> set_fpu(const kvm_fpu& fpu);
  Result<void> set_cpuid(std::span<const kvm_cpuid_entry2> entries);
  Result<std::vector<kvm_cpuid_entry2>> get_cpuid() const;
  // Reads the MSRs named by `indices`; fails naming the first one KVM refused.
  Result<std::vector<kvm_msr_entry>> get_msrs(std::span<const uint32_t> indices) const;
  Result<void> set_msrs(std::span<const kvm_msr_entry> msrs);
  Result<kvm_lapic_state> get_lapic() const;
  Result<void> set_lapic(const kvm_lapic_state& lapic);
  Result<kvm_mp_state> get_mp_state() const;
  Result<void> set_mp_state(const kvm_mp_state& state);
  Result<kvm_vcpu_events> get_vcpu_events() const;
  Result<void> set_vcpu_events(const kvm_vcpu_events& events);
  // The XSAVE area as bytes (struct kvm_xsave ends in a flexible array).
  // `size` is KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) when the host has it
  // (KVM_GET_XSAVE2 then returns AMX state too), else 0 for the 4 KiB
  // KVM_GET_XSAVE layout.
  Result<std::vector<uint8_t>> get_xsave(size_t size) const;
  Result<void> set_xsave(std::span<const uint8_t> xsave);
  Result<kvm_xcrs> get_xcrs() const;
  Result<void> set_xcrs(const kvm_xcrs& xcrs);
  Result<kvm_debugregs> get_debugregs() const;
  Result<void> set_debugregs(const kvm_debugregs& regs);
  // Tells KVM the guest was paused by the host so its watchdogs do not fire
  // on resume (api.rst KVM_KVMCLOCK_CTRL). Fails with EINVAL when the guest
  // has no kvmclock yet; callers may ignore that case.
  Result<void> kvmclock_ctrl();

 private:
  KvmVcpu() = default;
  template <typename T>
  Result<T> get(unsigned long request, const char* what) const;
  template <typename T>
  Result<void> set(unsigned long request, const T& value, const char* what);

  UniqueFd fd_;
  uint32_t id_ = 0;
  Mapping run_;
};

}  // namespace thaw::sandbox
