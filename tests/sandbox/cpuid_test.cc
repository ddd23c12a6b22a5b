// Tests of sandbox/kvm/cpuid: the standard and PVM CPU models applied to a
// synthetic KVM_GET_SUPPORTED_CPUID table (no /dev/kvm needed).
#include <gtest/gtest.h>

#include "sandbox/kvm/cpuid.h"

namespace thaw::sandbox {
namespace {

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx,
                      uint32_t index = 0, uint32_t flags = 0) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.flags = flags;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

// A host that claims everything: every feature bit set.
std::vector<kvm_cpuid_entry2> host() {
  return {
      leaf(0x0, 0xd, 0x68747541, 0x444d4163, 0x69746e65),  // "AuthenticAMD"
      leaf(0x1, 0x00a00f11, 0x00000800, 0xffffffff, 0xffffffff),
      leaf(0x7, 0, 0xffffffff, 0xffffffff, 0xffffffff, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
      // Host: L1d private to 2 threads, L3 shared by 32, 16 cores per package.
      leaf(0x4, (15u << 26) | (1u << 14) | (1 << 5) | 1, 0x1c0003f, 0x3f, 0, 0,
           KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
      leaf(0x4, (15u << 26) | (31u << 14) | (3 << 5) | 3, 0x3c0003f, 0x3fff, 4, 1,
           KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
      leaf(0x4, 0, 0, 0, 0, 2, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
      // Host: 2 threads per core, 32 logical processors per package.
      leaf(0xb, 1, 2, 0x100, 7, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
      leaf(0xb, 5, 32, 0x201, 7, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
      leaf(0xd, 0x7, 0x340, 0x340, 0, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
      leaf(0x40000000, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d),  // "KVMKVMKVM"
      leaf(0x40000001, 0x01007afb | (1u << 11) | (1u << 13), 0, 0, 0),
      leaf(0x80000000, 0x80000021, 0, 0, 0),
      leaf(0x80000001, 0, 0, 0xffffffff, 0xffffffff),
      leaf(0x80000002, 1, 2, 3, 4),
      leaf(0x80000008, 0x3030, 0, 0, 0),
      leaf(0x8000001f, 1, 1, 1, 1),
  };
}

TEST(CpuModel, NamesParseBothWays) {
  EXPECT_EQ(parse_cpu_model("pvm"), CpuModel::kPvm);
  EXPECT_EQ(parse_cpu_model("standard"), CpuModel::kStandard);
  EXPECT_FALSE(parse_cpu_model("host"));
  EXPECT_EQ(cpu_model_name(CpuModel::kPvm), "pvm");
}

TEST(CpuModel, StandardSetsApicIdsHypervisorBitAndTopologyIds) {
  auto out = apply_cpu_model(host(), CpuModel::kStandard, 2, 4);
  ASSERT_TRUE(out) << out.error().message;
  const auto* l1 = find_cpuid(*out, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ebx >> 24, 2u) << "initial APIC id";
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 4u);
  EXPECT_EQ(l1->ebx & 0xff00, 0x800u) << "CLFLUSH size kept";
  EXPECT_TRUE(l1->ecx & (1u << 31));
  const auto* smt = find_cpuid(*out, 0xb, 0);
  const auto* core = find_cpuid(*out, 0xb, 1);
  ASSERT_TRUE(smt && core);
  EXPECT_EQ(smt->edx, 2u);
  EXPECT_EQ(core->edx, 2u);
  EXPECT_EQ(smt->ebx, 1u) << "one thread per core, not the host's two";
  EXPECT_EQ(smt->eax, 0u);
  EXPECT_EQ(smt->ecx, 0x100u);
  EXPECT_EQ(core->ebx, 4u) << "four vCPUs in the package, not the host's 32";
  EXPECT_EQ(core->eax, 2u) << "APIC id shift for 4 cores";
  EXPECT_EQ(core->ecx, 0x201u);
  const auto* l1d = find_cpuid(*out, 0x4, 0);
  const auto* l3 = find_cpuid(*out, 0x4, 1);
  ASSERT_TRUE(l1d && l3);
  EXPECT_EQ(l1d->eax >> 26, 3u) << "cores per package - 1";
  EXPECT_EQ((l1d->eax >> 14) & 0xfff, 0u) << "L1 private";
  EXPECT_EQ((l3->eax >> 14) & 0xfff, 3u) << "L3 shared by the 4 vCPUs";
  EXPECT_EQ(l3->eax & 0x3fff, (3u << 5) | 3) << "cache level and type kept";
  EXPECT_EQ(find_cpuid(*out, 0x4, 2)->eax, 0u) << "the terminating subleaf stays empty";
  EXPECT_EQ(find_cpuid(*out, 0x80000008)->ecx & 0xff, 3u);
  EXPECT_NE(find_cpuid(*out, 7), nullptr) << "standard keeps host leaves";
  EXPECT_EQ(find_cpuid(*out, 0)->ebx, 0x68747541u) << "standard keeps the host vendor";
}

TEST(CpuModel, PvmIsConservativeIntelWithKvmLeaves) {
  auto out = apply_cpu_model(host(), CpuModel::kPvm, 0, 1);
  ASSERT_TRUE(out) << out.error().message;
  const auto* l0 = find_cpuid(*out, 0);
  ASSERT_NE(l0, nullptr);
  EXPECT_EQ(l0->eax, 1u) << "max basic leaf";
  EXPECT_EQ(l0->ebx, 0x756e6547u);  // "Genu"
  EXPECT_EQ(l0->edx, 0x49656e69u);  // "ineI"
  EXPECT_EQ(l0->ecx, 0x6c65746eu);  // "ntel"
  const auto* l1 = find_cpuid(*out, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_FALSE(l1->ecx & (1u << 26)) << "xsave";
  EXPECT_FALSE(l1->ecx & (1u << 27)) << "osxsave";
  EXPECT_FALSE(l1->ecx & (1u << 23)) << "popcnt";
  EXPECT_FALSE(l1->ecx & (1u << 30)) << "rdrand";
  EXPECT_FALSE(l1->ecx & (1u << 28)) << "avx";
  EXPECT_TRUE(l1->ecx & (1u << 0)) << "sse3";
  EXPECT_TRUE(l1->ecx & (1u << 31)) << "hypervisor";
  EXPECT_TRUE(l1->edx & (1u << 25)) << "sse";
  EXPECT_TRUE(l1->edx & (1u << 26)) << "sse2";
  EXPECT_FALSE(l1->edx & (1u << 28)) << "no HTT with one vCPU";
  EXPECT_EQ(find_cpuid(*out, 7), nullptr) << "no smep/smap/fsgsbase leaf";
  EXPECT_EQ(find_cpuid(*out, 0xd), nullptr) << "no XSAVE leaf";
  EXPECT_EQ(find_cpuid(*out, 0xb), nullptr);
  EXPECT_EQ(find_cpuid(*out, 0x8000001f), nullptr);
  ASSERT_NE(find_cpuid(*out, 0x40000001), nullptr) << "kvmclock leaf kept";
  uint32_t kvm_features = find_cpuid(*out, 0x40000001)->eax;
  EXPECT_TRUE(kvm_features & (1u << 0)) << "kvmclock";
  EXPECT_TRUE(kvm_features & (1u << 3)) << "kvmclock2";
  EXPECT_TRUE(kvm_features & (1u << 24)) << "stable clock bit";
  EXPECT_FALSE(kvm_features & (1u << 7)) << "PV unhalt hypercall";
  EXPECT_FALSE(kvm_features & (1u << 11)) << "PV send-IPI hypercall (hangs under PVM)";
  EXPECT_FALSE(kvm_features & (1u << 13)) << "PV sched-yield hypercall";
  EXPECT_EQ(find_cpuid(*out, 0x80000000)->eax, 0x80000008u);
  const auto* e1 = find_cpuid(*out, 0x80000001);
  EXPECT_EQ(e1->edx, (1u << 11) | (1u << 20) | (1u << 29)) << "syscall nx lm";
  EXPECT_EQ(e1->ecx, 1u) << "lahf_lm only";
}

TEST(CpuModel, MissingRequiredLeafIsRejected) {
  auto table = host();
  table.erase(table.begin() + 1);  // drop leaf 1
  auto out = apply_cpu_model(table, CpuModel::kStandard, 0, 1);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("0x1"), std::string::npos) << out.error().message;
}

TEST(CpuModel, VcpuIdOutsideTheCountIsRejected) {
  EXPECT_FALSE(apply_cpu_model(host(), CpuModel::kPvm, 4, 4));
  EXPECT_FALSE(apply_cpu_model(host(), CpuModel::kPvm, 0, 300));
}

}  // namespace
}  // namespace thaw::sandbox
