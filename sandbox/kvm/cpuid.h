// The CPU models thaw-vmm presents to guests: KVM_GET_SUPPORTED_CPUID
// filtered to `standard` (hardware KVM) or `pvm` (conservative, for the PVM
// module's CPL0 emulator; ENVIRONMENT.md point 4). Pure functions over the
// entry list so they are unit-tested without /dev/kvm.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace thaw::sandbox {

enum class CpuModel { kStandard, kPvm };

// `pvm` where the kvm_pvm module is loaded, else `standard`.
CpuModel default_cpu_model();
std::string_view cpu_model_name(CpuModel model);
std::optional<CpuModel> parse_cpu_model(std::string_view name);

// The CPUID table for vCPU `vcpu_id` of `vcpu_count`, from the host's
// supported entries. Fails when the host lacks a leaf the model needs.
Result<std::vector<kvm_cpuid_entry2>> apply_cpu_model(
    const std::vector<kvm_cpuid_entry2>& supported, CpuModel model, uint32_t vcpu_id,
    uint32_t vcpu_count);

// Lookup helper (leaf, subleaf); null when absent.
const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& entries,
                                   uint32_t function, uint32_t index = 0);

}  // namespace thaw::sandbox
