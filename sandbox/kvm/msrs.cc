#include "sandbox/kvm/msrs.h"

#include <algorithm>

#include "sandbox/kvm/kvm_vcpu.h"

namespace thaw::sandbox {

std::vector<kvm_msr_entry> boot_msrs() {
  auto entry = [](uint32_t index, uint64_t data) {
    kvm_msr_entry e{};
    e.index = index;
    e.data = data;
    return e;
  };
  // Same set and values as Firecracker (arch/x86_64/msr.rs,
  // create_boot_msr_entries): fast-syscall MSRs cleared so the kernel sets
  // them itself, TSC from zero, fast strings on, MTRRs on with WB default.
  return {
      entry(msr::kSysenterCs, 0),
      entry(msr::kSysenterEsp, 0),
      entry(msr::kSysenterEip, 0),
      entry(msr::kStar, 0),
      entry(msr::kCstar, 0),
      entry(msr::kKernelGsBase, 0),
      entry(msr::kSyscallMask, 0),
      entry(msr::kLstar, 0),
      entry(msr::kTsc, 0),
      entry(msr::kMiscEnable, msr::kMiscEnableFastString),
      entry(msr::kMtrrDefType, msr::kMtrrEnableWriteBack),
  };
}

std::vector<uint32_t> order_for_restore(std::span<const uint32_t> indices) {
  std::vector<uint32_t> out;
  bool has_tsc = false;
  bool has_deadline = false;
  for (uint32_t i : indices) {
    if (i == msr::kTsc) {
      has_tsc = true;
    } else if (i == msr::kTscDeadline) {
      has_deadline = true;
    } else if (std::find(out.begin(), out.end(), i) == out.end()) {
      out.push_back(i);
    }
  }
  if (has_tsc) out.insert(out.begin(), msr::kTsc);
  if (has_deadline) out.push_back(msr::kTscDeadline);
  return out;
}

Result<std::vector<uint32_t>> snapshot_msr_indices(std::span<const uint32_t> kvm_index_list,
                                                   const KvmVcpu& vcpu) {
  // KVM's list leaves out MSRs it emulates without "saving" them, notably
  // the MTRRs (QEMU saves those explicitly too): add every boot MSR and the
  // MTRR set (SDM vol. 3A §11.11.1: 0x200-0x20f variable pairs for 8
  // ranges, 0x250/0x258/0x259/0x268-0x26f fixed ranges, 0x2ff default).
  std::vector<uint32_t> candidates(kvm_index_list.begin(), kvm_index_list.end());
  for (const kvm_msr_entry& boot : boot_msrs()) candidates.push_back(boot.index);
  for (uint32_t i = 0x200; i <= 0x20f; ++i) candidates.push_back(i);
  for (uint32_t i : {0x250u, 0x258u, 0x259u}) candidates.push_back(i);
  for (uint32_t i = 0x268; i <= 0x26f; ++i) candidates.push_back(i);
  std::vector<uint32_t> readable;
  readable.reserve(candidates.size());
  for (uint32_t index : candidates) {
    if (std::find(readable.begin(), readable.end(), index) != readable.end()) continue;
    // KVM lists MSRs the host CPU model may not back (e.g. PMU counters on a
    // host without them); reading one alone tells us whether it exists.
    if (vcpu.get_msrs(std::span<const uint32_t>(&index, 1))) readable.push_back(index);
  }
  for (const kvm_msr_entry& boot : boot_msrs()) {
    if (std::find(readable.begin(), readable.end(), boot.index) == readable.end()) {
      return Error::format(
          "vCPU {}: boot MSR {:#x} is not readable through KVM_GET_MSRS, so a snapshot could not "
          "restore it",
          vcpu.id(), boot.index);
    }
  }
  return order_for_restore(readable);
}

}  // namespace thaw::sandbox
