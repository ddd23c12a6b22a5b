// The host's /dev/kvm: API version check, capability queries and the lists
// (supported CPUID, MSR indices) a VM is configured from. Used by KvmVm, the
// CPU model code and `thaw doctor`.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw::sandbox {

class KvmSystem {
 public:
  // Opens /dev/kvm (or `path`) and checks KVM_GET_API_VERSION == 12, the only
  // stable API version (Documentation/virt/kvm/api.rst §4.1).
  static Result<KvmSystem> open(const char* path = "/dev/kvm");

  int fd() const { return fd_.get(); }
  // KVM_CHECK_EXTENSION; 0 when absent.
  int check_extension(long cap) const;
  Result<int> vcpu_mmap_size() const;
  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
  // KVM_GET_MSR_INDEX_LIST: every MSR KVM saves/restores for a vCPU.
  Result<std::vector<uint32_t>> msr_index_list() const;

  // True when the KVM module is the PVM one (no VMX/SVM; guest CPL0 is
  // emulated), detected by /sys/module/kvm_pvm as ENVIRONMENT.md describes.
  static bool is_pvm();

 private:
  UniqueFd fd_;
};

}  // namespace thaw::sandbox
