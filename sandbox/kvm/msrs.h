// Model-specific registers: the values a vCPU boots with (Firecracker's boot
// MSRs) and the list of MSRs a snapshot saves and restores. One place for
// both so that save/restore covers at least every MSR boot sets.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"

namespace thaw::sandbox {

class KvmVcpu;

// Architectural MSR numbers (Intel SDM vol. 4, table 2-2).
namespace msr {
inline constexpr uint32_t kTsc = 0x10;
inline constexpr uint32_t kApicBase = 0x1b;
inline constexpr uint32_t kSysenterCs = 0x174;
inline constexpr uint32_t kSysenterEsp = 0x175;
inline constexpr uint32_t kSysenterEip = 0x176;
inline constexpr uint32_t kMiscEnable = 0x1a0;
inline constexpr uint32_t kMtrrDefType = 0x2ff;
inline constexpr uint32_t kTscDeadline = 0x6e0;
inline constexpr uint32_t kEfer = 0xc000'0080;
inline constexpr uint32_t kStar = 0xc000'0081;
inline constexpr uint32_t kLstar = 0xc000'0082;
inline constexpr uint32_t kCstar = 0xc000'0083;
inline constexpr uint32_t kSyscallMask = 0xc000'0084;
inline constexpr uint32_t kKernelGsBase = 0xc000'0102;

inline constexpr uint64_t kMiscEnableFastString = 1u << 0;
// IA32_MTRR_DEF_TYPE: E (bit 11) enables MTRRs; type 6 = write-back for
// every range no variable MTRR covers.
inline constexpr uint64_t kMtrrEnableWriteBack = (1u << 11) | 6;
}  // namespace msr

// The MSR values every vCPU gets before its first KVM_RUN.
std::vector<kvm_msr_entry> boot_msrs();

// Orders MSR indices for restore: KVM requires IA32_TSC before
// IA32_TSC_DEADLINE (the deadline is relative to the TSC), so TSC moves to
// the front and TSC_DEADLINE to the back; duplicates are dropped.
std::vector<uint32_t> order_for_restore(std::span<const uint32_t> indices);

// The MSRs a snapshot of `vcpu` must save: KVM's index list plus the boot
// MSRs and MTRRs (which that list omits), minus those this host refuses to
// read, probed one by one, in restore order. Fails if a boot MSR is
// unreadable, since restore could then not reproduce boot state.
Result<std::vector<uint32_t>> snapshot_msr_indices(std::span<const uint32_t> kvm_index_list,
                                                   const KvmVcpu& vcpu);

}  // namespace thaw::sandbox
