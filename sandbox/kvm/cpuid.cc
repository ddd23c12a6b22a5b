#include "sandbox/kvm/cpuid.h"

#include <algorithm>

#include "sandbox/kvm/kvm_system.h"

namespace thaw::sandbox {

namespace {

// Leaf numbers and bits: Intel SDM vol. 2A, CPUID; KVM leaves:
// Documentation/virt/kvm/x86/cpuid.rst.
constexpr uint32_t kLeafVendor = 0x0;
constexpr uint32_t kLeafFeatures = 0x1;
constexpr uint32_t kLeafCacheParams = 0x4;
constexpr uint32_t kLeafTopology = 0xB;
constexpr uint32_t kLeafTopologyV2 = 0x1F;
constexpr uint32_t kLeafKvmSignature = 0x4000'0000;
constexpr uint32_t kLeafKvmLast = 0x4000'00FF;
constexpr uint32_t kLeafExtMax = 0x8000'0000;
constexpr uint32_t kLeafExtFeatures = 0x8000'0001;
constexpr uint32_t kLeafBrand0 = 0x8000'0002;
constexpr uint32_t kLeafBrand2 = 0x8000'0004;
constexpr uint32_t kLeafAddressSizes = 0x8000'0008;

constexpr uint32_t kEcxHypervisor = 1u << 31;  // CPUID.1:ECX[31], "running under a hypervisor"
constexpr uint32_t kEdxHtt = 1u << 28;

// qemu64's feature set (QEMU target/i386/cpu.c, "qemu64"), which
// ENVIRONMENT.md found to boot Linux under PVM.
// CPUID.1:EDX: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov
// pat pse36 clflush mmx fxsr sse sse2.
constexpr uint32_t kPvmLeaf1Edx = (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) |
                                  (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8) | (1u << 9) |
                                  (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) |
                                  (1u << 15) | (1u << 16) | (1u << 17) | (1u << 19) |
                                  (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26);
// CPUID.1:ECX: sse3 (0), cx16 (13), x2apic (21, KVM emulates it and QEMU
// adds it under KVM). Dropped on purpose, each one something the PVM
// emulator cannot run at CPL0 or that Linux then uses there:
//   xsave/osxsave (26/27): XRSTOR is not emulated ("noxsave" otherwise);
//   popcnt (23): POPCNT is not emulated; ssse3/sse4.1/4.2 (9/19/20), movbe
//   (22), aes (25), avx (28), f16c (29), rdrand (30): instructions outside
//   qemu64 that the kernel may pick for CPL0 code paths (crc32c, memcpy
//   variants, RNG seeding) and the emulator lacks; tsc-deadline (24) and
//   pcid (17): not in qemu64, the kernel then uses the LAPIC one-shot timer
//   and plain CR3 writes, both emulated.
constexpr uint32_t kPvmLeaf1Ecx = (1u << 0) | (1u << 13) | (1u << 21);
// CPUID.80000001:EDX: syscall (11), nx (20), lm (29); ECX: lahf_lm (0).
// qemu64's svm/abm/sse4a are AMD-only and dropped with the Intel vendor.
constexpr uint32_t kPvmExt1Edx = (1u << 11) | (1u << 20) | (1u << 29);
constexpr uint32_t kPvmExt1Ecx = (1u << 0);
// "GenuineIntel": with an AMD vendor the kernel's FXSAVE-leak workaround
// runs FNCLEX/EMMS/FILD at CPL0, which the PVM emulator lacks.
constexpr uint32_t kIntelEbx = 0x756e'6547;  // "Genu"
constexpr uint32_t kIntelEdx = 0x4965'6e69;  // "ineI"
constexpr uint32_t kIntelEcx = 0x6c65'746e;  // "ntel"
// qemu64's family 15 model 107 stepping 1: a generic model no kernel
// errata path keys on.
constexpr uint32_t kPvmSignature = (0x6u << 16) | (0xFu << 8) | (0xBu << 4) | 0x1u;
// Highest basic leaf the PVM model keeps: 0 and 1 only. No leaf 7
// (smep/smap/fsgsbase/erms...: SMAP's CLAC/STAC are not emulated), no
// leaf 0xD (XSAVE), no topology leaves (one core per package is the
// topology Linux then assumes).
constexpr uint32_t kPvmMaxBasicLeaf = 0x1;
constexpr uint32_t kLeafKvmFeatures = 0x4000'0001;
// KVM paravirt features that work by VMCALL hypercalls
// (Documentation/virt/kvm/x86/cpuid.rst, hypercalls.rst): under PVM a
// guest-kernel VMCALL with these numbers never returns (found booting
// Linux with 2 vCPUs: the AP hung in KVM_HC_SEND_IPI; ENVIRONMENT.md saw the
// same with KVM_HC_CLOCK_PAIRING). Without them Linux uses plain APIC IPIs,
// HLT and PAUSE, which PVM handles.
constexpr uint32_t kKvmFeaturePvUnhalt = 1u << 7;      // KVM_HC_KICK_CPU
constexpr uint32_t kKvmFeaturePvSendIpi = 1u << 11;    // KVM_HC_SEND_IPI
constexpr uint32_t kKvmFeaturePvSchedYield = 1u << 13; // KVM_HC_SCHED_YIELD
constexpr uint32_t kPvmDroppedKvmFeatures =
    kKvmFeaturePvUnhalt | kKvmFeaturePvSendIpi | kKvmFeaturePvSchedYield;

void set_apic_id(kvm_cpuid_entry2& leaf1, uint32_t vcpu_id, uint32_t vcpu_count) {
  // CPUID.1:EBX[31:24] initial APIC ID, [23:16] logical processors per
  // package (meaningful only with HTT), [15:8] CLFLUSH line size in qwords.
  uint32_t clflush = leaf1.ebx & 0x0000'FF00u;
  leaf1.ebx = (vcpu_id << 24) | ((vcpu_count & 0xFF) << 16) | clflush;
  if (vcpu_count > 1) {
    leaf1.edx |= kEdxHtt;
  } else {
    leaf1.edx &= ~kEdxHtt;
  }
}

// Bits needed to number `count` items: the APIC-id shift of a topology level.
uint32_t id_bits(uint32_t count) {
  uint32_t bits = 0;
  while ((1u << bits) < count) ++bits;
  return bits;
}

// The guest's topology is one package of `vcpu_count` single-threaded cores
// whatever the host has, so the host's SMT/core counts in leaves 4 and 0xB
// (Intel SDM vol. 2A, CPUID leaf 04H and 0BH) are replaced, as Firecracker
// does; otherwise Linux derives packages and siblings from the host's
// numbers and mis-sizes its scheduler domains.
void set_topology(kvm_cpuid_entry2& e, uint32_t vcpu_id, uint32_t vcpu_count) {
  constexpr uint32_t kLevelSmt = 1, kLevelCore = 2;
  switch (e.index) {
    case 0:  // SMT level: one thread per core
      e.eax = 0;
      e.ebx = 1;
      e.ecx = (kLevelSmt << 8) | e.index;
      break;
    case 1:  // core level: every vCPU in one package
      e.eax = id_bits(vcpu_count);
      e.ebx = vcpu_count;
      e.ecx = (kLevelCore << 8) | e.index;
      break;
    default:  // no further levels
      e.eax = 0;
      e.ebx = 0;
      e.ecx = e.index;
      break;
  }
  e.edx = vcpu_id;  // the x2APIC id of the executing CPU, in every subleaf
}

void set_cache_sharing(kvm_cpuid_entry2& e, uint32_t vcpu_count) {
  // CPUID.4:EAX[31:26] = cores per package - 1; [25:14] = threads sharing
  // this cache - 1: private L1/L2, an L3 shared by the whole package.
  uint32_t level = (e.eax >> 5) & 0x7;
  uint32_t sharing = level >= 3 ? vcpu_count - 1 : 0;
  e.eax = (e.eax & 0x3fffu) | ((sharing & 0xfffu) << 14) | (((vcpu_count - 1) & 0x3fu) << 26);
}

std::vector<kvm_cpuid_entry2> standard_model(const std::vector<kvm_cpuid_entry2>& supported,
                                             uint32_t vcpu_id, uint32_t vcpu_count) {
  std::vector<kvm_cpuid_entry2> out = supported;
  for (auto& e : out) {
    switch (e.function) {
      case kLeafFeatures:
        set_apic_id(e, vcpu_id, vcpu_count);
        e.ecx |= kEcxHypervisor;
        break;
      case kLeafCacheParams:
        // Subleaves past the last cache have type 0 and stay all zero.
        if ((e.eax & 0x1f) != 0) set_cache_sharing(e, vcpu_count);
        break;
      case kLeafTopology:
      case kLeafTopologyV2:
        set_topology(e, vcpu_id, vcpu_count);
        break;
      case kLeafAddressSizes:
        // AMD: ECX[7:0] = logical processors in the package - 1; APIC id
        // size 0 means "derive it from that count" (AMD APM vol. 3, E.4.7).
        e.ecx = (e.ecx & ~0xf0ffu) | ((vcpu_count - 1) & 0xffu);
        break;
      default:
        break;
    }
  }
  return out;
}

std::vector<kvm_cpuid_entry2> pvm_model(const std::vector<kvm_cpuid_entry2>& supported,
                                        uint32_t vcpu_id, uint32_t vcpu_count) {
  std::vector<kvm_cpuid_entry2> out;
  uint32_t max_ext = kLeafExtFeatures;
  for (const auto& src : supported) {
    kvm_cpuid_entry2 e = src;
    uint32_t f = e.function;
    if (f == kLeafVendor) {
      e.eax = kPvmMaxBasicLeaf;
      e.ebx = kIntelEbx;
      e.edx = kIntelEdx;
      e.ecx = kIntelEcx;
    } else if (f == kLeafFeatures) {
      e.eax = kPvmSignature;
      e.edx &= kPvmLeaf1Edx;
      e.ecx = (e.ecx & kPvmLeaf1Ecx) | kEcxHypervisor;
      set_apic_id(e, vcpu_id, vcpu_count);
    } else if (f >= kLeafKvmSignature && f <= kLeafKvmLast) {
      // KVM paravirt leaves (signature, kvmclock and friends) as KVM
      // offers, minus the hypercall-based features.
      if (f == kLeafKvmFeatures) e.eax &= ~kPvmDroppedKvmFeatures;
    } else if (f == kLeafExtMax) {
      // Fixed up below once we know which extended leaves we keep.
    } else if (f == kLeafExtFeatures) {
      e.edx &= kPvmExt1Edx;
      e.ecx &= kPvmExt1Ecx;
    } else if ((f >= kLeafBrand0 && f <= kLeafBrand2) || f == kLeafAddressSizes) {
      max_ext = std::max(max_ext, f);
    } else {
      continue;  // every other leaf is absent in this model
    }
    out.push_back(e);
  }
  for (auto& e : out) {
    if (e.function == kLeafExtMax) e.eax = max_ext;
  }
  return out;
}

}  // namespace

CpuModel default_cpu_model() {
  return KvmSystem::is_pvm() ? CpuModel::kPvm : CpuModel::kStandard;
}

std::string_view cpu_model_name(CpuModel model) {
  return model == CpuModel::kPvm ? "pvm" : "standard";
}

std::optional<CpuModel> parse_cpu_model(std::string_view name) {
  if (name == "pvm") return CpuModel::kPvm;
  if (name == "standard") return CpuModel::kStandard;
  return std::nullopt;
}

const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& entries,
                                   uint32_t function, uint32_t index) {
  for (const auto& e : entries) {
    bool indexed = (e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) != 0;
    if (e.function == function && (!indexed || e.index == index)) return &e;
  }
  return nullptr;
}

Result<std::vector<kvm_cpuid_entry2>> apply_cpu_model(
    const std::vector<kvm_cpuid_entry2>& supported, CpuModel model, uint32_t vcpu_id,
    uint32_t vcpu_count) {
  if (vcpu_id >= vcpu_count || vcpu_count > 255) {
    return Error::format("vCPU id {} of {} vCPUs is outside the 1..255 xAPIC range", vcpu_id,
                         vcpu_count);
  }
  for (uint32_t leaf : {kLeafVendor, kLeafFeatures, kLeafExtMax, kLeafExtFeatures}) {
    if (find_cpuid(supported, leaf) == nullptr) {
      return Error::format(
          "KVM_GET_SUPPORTED_CPUID lacks leaf {:#x}, which the {} CPU model needs; this host's "
          "KVM cannot run thaw guests",
          leaf, cpu_model_name(model));
    }
  }
  if (model == CpuModel::kPvm) return pvm_model(supported, vcpu_id, vcpu_count);
  return standard_model(supported, vcpu_id, vcpu_count);
}

}  // namespace thaw::sandbox
