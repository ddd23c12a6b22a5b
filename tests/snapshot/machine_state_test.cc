// Capture and restore of vCPU and VM state on this machine's real KVM: a
// state captured from one VM must land bit-exact in a fresh VM.
#include "snapshot/machine_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "sandbox/kvm/cpuid.h"
#include "sandbox/kvm/kvm_system.h"
#include "sandbox/kvm/msrs.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::snapshot {
namespace {

using sandbox::GuestMemory;
using sandbox::KvmSystem;
using sandbox::KvmVcpu;
using sandbox::KvmVm;

struct TestVm {
  KvmVm vm;
  GuestMemory memory;
  std::unique_ptr<KvmVcpu> vcpu;
  std::vector<kvm_cpuid_entry2> cpuid;
};

Result<TestVm> make_vm(const KvmSystem& kvm) {
  auto vm = KvmVm::create(kvm);
  if (!vm) return std::move(vm).error();
  auto mem = GuestMemory::create_memfd(16 << 20);
  if (!mem) return std::move(mem).error();
  if (auto r = vm->set_memory(*mem); !r) return std::move(r).error();
  if (auto r = vm->create_irqchip_and_pit(); !r) return std::move(r).error();
  auto vcpu = vm->create_vcpu(0);
  if (!vcpu) return std::move(vcpu).error();
  auto supported = kvm.supported_cpuid();
  if (!supported) return std::move(supported).error();
  auto cpuid = sandbox::apply_cpu_model(*supported, sandbox::default_cpu_model(), 0, 1);
  if (!cpuid) return std::move(cpuid).error();
  if (auto r = (*vcpu)->set_cpuid(*cpuid); !r) return std::move(r).error();
  return TestVm{std::move(*vm), std::move(*mem), std::move(*vcpu), std::move(*cpuid)};
}

class MachineState : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/kvm is not accessible";
    auto kvm = KvmSystem::open();
    ASSERT_TRUE(kvm.ok()) << kvm.error().message;
    kvm_.emplace(std::move(*kvm));
  }
  std::optional<KvmSystem> kvm_;
};

TEST_F(MachineState, VcpuAndVmStateRoundTripIntoAFreshVm) {
  auto a = make_vm(*kvm_);
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto regs = a->vcpu->get_regs();
  ASSERT_TRUE(regs.ok());
  regs->rax = 0x1122334455667788;
  regs->r15 = 0xfeedface;
  regs->rip = 0x4242;
  ASSERT_TRUE(a->vcpu->set_regs(*regs).ok());
  ASSERT_TRUE(a->vcpu->set_msrs(sandbox::boot_msrs()).ok());

  auto index_list = kvm_->msr_index_list();
  ASSERT_TRUE(index_list.ok()) << index_list.error().message;
  auto msr_indices = sandbox::snapshot_msr_indices(*index_list, *a->vcpu);
  ASSERT_TRUE(msr_indices.ok()) << msr_indices.error().message;
  EXPECT_GT(msr_indices->size(), 10u);
  auto saved = capture_vcpu(*a->vcpu, *msr_indices, 0);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  auto saved_vm = capture_vm(a->vm);
  ASSERT_TRUE(saved_vm.ok()) << saved_vm.error().message;

  auto b = make_vm(*kvm_);
  ASSERT_TRUE(b.ok()) << b.error().message;
  ASSERT_TRUE(check_cpuid_compatible(a->cpuid, b->cpuid).ok());
  auto restored_vm = restore_vm(b->vm, *saved_vm);
  ASSERT_TRUE(restored_vm.ok()) << restored_vm.error().message;
  auto restored = restore_vcpu(*b->vcpu, *saved, b->cpuid);
  ASSERT_TRUE(restored.ok()) << restored.error().message;

  auto again = capture_vcpu(*b->vcpu, *msr_indices, 0);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->regs.rax, 0x1122334455667788u);
  EXPECT_EQ(again->regs.r15, 0xfeedfaceu);
  EXPECT_EQ(again->regs.rip, 0x4242u);
  EXPECT_EQ(again->sregs.cr0, saved->sregs.cr0);
  EXPECT_EQ(0, std::memcmp(&again->lapic, &saved->lapic, sizeof saved->lapic));
  ASSERT_EQ(again->msrs.size(), saved->msrs.size());
  for (size_t i = 0; i < saved->msrs.size(); ++i) {
    // The TSC keeps counting between the two captures.
    if (saved->msrs[i].index == sandbox::msr::kTsc) continue;
    EXPECT_EQ(again->msrs[i].data, saved->msrs[i].data) << "MSR " << std::hex << saved->msrs[i].index;
  }
}

TEST(CpuidCompatibility, NamesTheLeafThatDiffers) {
  kvm_cpuid_entry2 leaf{};
  leaf.function = 7;
  leaf.ebx = 0x1;
  std::vector<kvm_cpuid_entry2> saved{leaf};
  auto current = saved;
  EXPECT_TRUE(check_cpuid_compatible(saved, current).ok());
  current[0].ebx = 0x3;
  auto r = check_cpuid_compatible(saved, current);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("leaf 0x7 index 0 ebx is 0x00000001 in the snapshot, "
                                   "0x00000003 on this host"),
            std::string::npos)
      << r.error().message;
  current.clear();
  r = check_cpuid_compatible(saved, current);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no CPUID leaf 0x7"), std::string::npos);
}

TEST(CpuidCompatibility, IgnoresPerVcpuApicIds) {
  kvm_cpuid_entry2 leaf{};
  leaf.function = 1;
  leaf.ebx = 0x00010800;
  std::vector<kvm_cpuid_entry2> saved{leaf};
  auto current = saved;
  current[0].ebx |= 0x03000000;  // APIC id 3
  EXPECT_TRUE(check_cpuid_compatible(saved, current).ok());
}

}  // namespace
}  // namespace thaw::snapshot
