// Real-KVM tests of sandbox/kvm/: a VM built with thaw's boot builders runs
// a few hand-assembled instructions in long mode and exits where expected.
// Skipped (with the reason) on machines without a usable /dev/kvm.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>

#include "sandbox/boot/boot_params.h"
#include "sandbox/boot/layout.h"
#include "sandbox/boot/long_mode.h"
#include "sandbox/kvm/cpuid.h"
#include "sandbox/kvm/kvm_system.h"
#include "sandbox/kvm/kvm_vcpu.h"
#include "sandbox/kvm/kvm_vm.h"
#include "sandbox/kvm/msrs.h"

namespace thaw::sandbox {
namespace {

constexpr uint64_t kCodeAddress = 0x100000;
constexpr uint64_t kMemSize = 4 << 20;

// Skips the test when /dev/kvm is missing or unusable.
#define REQUIRE_KVM(sys)                                                        \
  auto sys##_r = KvmSystem::open();                                            \
  if (!sys##_r) GTEST_SKIP() << "no usable KVM: " << sys##_r.error().message;  \
  KvmSystem& sys = *sys##_r

struct TestVm {
  GuestMemory mem;
  KvmVm vm;
  std::unique_ptr<KvmVcpu> vcpu;
};

// A VM whose vCPU 0 enters long mode at kCodeAddress, where `code` is.
Result<TestVm> make_vm(const KvmSystem& sys, std::span<const uint8_t> code, bool irqchip) {
  auto mem = GuestMemory::create_memfd(kMemSize);
  if (!mem) return std::move(mem).error();
  auto vm = KvmVm::create(sys);
  if (!vm) return std::move(vm).error();
  if (auto r = vm->set_memory(*mem); !r) return std::move(r).error();
  if (irqchip) {
    if (auto r = vm->create_irqchip_and_pit(); !r) return std::move(r).error();
  }
  if (auto r = boot::write_gdt_and_idt(*mem); !r) return std::move(r).error();
  if (auto r = boot::write_identity_page_tables(*mem); !r) return std::move(r).error();
  if (auto r = mem->write(kCodeAddress, code); !r) return std::move(r).error();
  auto vcpu = vm->create_vcpu(0);
  if (!vcpu) return std::move(vcpu).error();
  auto supported = sys.supported_cpuid();
  if (!supported) return std::move(supported).error();
  auto cpuid = apply_cpu_model(*supported, default_cpu_model(), 0, 1);
  if (!cpuid) return std::move(cpuid).error();
  if (auto r = (*vcpu)->set_cpuid(*cpuid); !r) return std::move(r).error();
  if (auto r = (*vcpu)->set_msrs(boot_msrs()); !r) return std::move(r).error();
  auto sregs = (*vcpu)->get_sregs();
  if (!sregs) return std::move(sregs).error();
  boot::setup_long_mode_sregs(*sregs);
  if (auto r = (*vcpu)->set_sregs(*sregs); !r) return std::move(r).error();
  if (auto r = (*vcpu)->set_regs(boot::boot_regs(kCodeAddress)); !r) return std::move(r).error();
  if (auto r = (*vcpu)->set_fpu(boot::boot_fpu()); !r) return std::move(r).error();
  return TestVm{std::move(*mem), std::move(*vm), std::move(*vcpu)};
}

TEST(KvmTest, LongModeEntryRunsOutThenHlt) {
  REQUIRE_KVM(sys);
  // mov al, 0x42 ; out 0x80, al ; hlt
  const std::array<uint8_t, 5> code{0xb0, 0x42, 0xe6, 0x80, 0xf4};
  auto vm = make_vm(sys, code, /*irqchip=*/false);
  ASSERT_TRUE(vm) << vm.error().message;
  KvmVcpu& vcpu = *vm->vcpu;

  auto run = vcpu.run();
  ASSERT_TRUE(run) << run.error().message;
  kvm_run* state = vcpu.run_state();
  ASSERT_EQ(state->exit_reason, KVM_EXIT_IO) << "exit reason " << state->exit_reason;
  EXPECT_EQ(state->io.direction, KVM_EXIT_IO_OUT);
  EXPECT_EQ(state->io.port, 0x80);
  EXPECT_EQ(state->io.size, 1);
  const uint8_t* data = reinterpret_cast<const uint8_t*>(state) + state->io.data_offset;
  EXPECT_EQ(data[0], 0x42);

  run = vcpu.run();
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(state->exit_reason, KVM_EXIT_HLT);
  auto regs = vcpu.get_regs();
  ASSERT_TRUE(regs);
  EXPECT_EQ(regs->rip, kCodeAddress + code.size());
  EXPECT_EQ(regs->rsi, boot::kZeroPageAddress);
  auto sregs = vcpu.get_sregs();
  ASSERT_TRUE(sregs);
  EXPECT_TRUE(sregs->efer & boot::kEferLma) << "guest is not in long mode";
  EXPECT_EQ(sregs->cs.selector, boot::kCodeSelector);
}

TEST(KvmTest, ReadsAndWritesMemoryThroughTheIdentityMap) {
  REQUIRE_KVM(sys);
  // mov rax, [0x200000] ; add rax, 1 ; mov [0x200008], rax ; out 0x81, al
  const std::array<uint8_t, 22> code{
      0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00,  // mov rax, [0x200000]
      0x48, 0x83, 0xc0, 0x01,                          // add rax, 1
      0x48, 0x89, 0x04, 0x25, 0x08, 0x00, 0x20, 0x00,  // mov [0x200008], rax
      0xe6, 0x81};                                     // out 0x81, al
  auto vm = make_vm(sys, code, /*irqchip=*/true);
  ASSERT_TRUE(vm) << vm.error().message;
  ASSERT_TRUE(vm->mem.write_obj<uint64_t>(0x200000, 41));
  auto run = vm->vcpu->run();
  ASSERT_TRUE(run) << run.error().message;
  ASSERT_EQ(vm->vcpu->run_state()->exit_reason, KVM_EXIT_IO);
  EXPECT_EQ(vm->vcpu->run_state()->io.port, 0x81);
  auto value = vm->mem.read_obj<uint64_t>(0x200008);
  ASSERT_TRUE(value);
  EXPECT_EQ(*value, 42u);
}

TEST(KvmTest, MmioAccessBeyondRamExitsToUserSpace) {
  REQUIRE_KVM(sys);
  // mov eax, 0xd0000000 (zero-extended into rax) ; mov eax, [rax]: a load
  // from the first virtio-mmio window, inside the identity map, not RAM.
  const std::array<uint8_t, 7> code{0xb8, 0x00, 0x00, 0x00, 0xd0, 0x8b, 0x00};
  auto vm = make_vm(sys, code, /*irqchip=*/true);
  ASSERT_TRUE(vm) << vm.error().message;
  auto run = vm->vcpu->run();
  ASSERT_TRUE(run) << run.error().message;
  kvm_run* state = vm->vcpu->run_state();
  ASSERT_EQ(state->exit_reason, KVM_EXIT_MMIO);
  EXPECT_EQ(state->mmio.phys_addr, 0xd0000000u);
  EXPECT_EQ(state->mmio.len, 4u);
  EXPECT_FALSE(state->mmio.is_write);
}

TEST(KvmTest, SnapshotMsrListCoversBootMsrsInRestoreOrder) {
  REQUIRE_KVM(sys);
  const std::array<uint8_t, 1> code{0xf4};
  auto vm = make_vm(sys, code, /*irqchip=*/true);
  ASSERT_TRUE(vm) << vm.error().message;
  auto list = sys.msr_index_list();
  ASSERT_TRUE(list) << list.error().message;
  auto indices = snapshot_msr_indices(*list, *vm->vcpu);
  ASSERT_TRUE(indices) << indices.error().message;
  ASSERT_FALSE(indices->empty());
  EXPECT_EQ(indices->front(), msr::kTsc);
  auto values = vm->vcpu->get_msrs(*indices);
  ASSERT_TRUE(values) << values.error().message;
  EXPECT_EQ(values->size(), indices->size());
}

TEST(KvmTest, VmStateRoundTripsThroughGetAndSet) {
  REQUIRE_KVM(sys);
  const std::array<uint8_t, 1> code{0xf4};
  auto vm = make_vm(sys, code, /*irqchip=*/true);
  ASSERT_TRUE(vm) << vm.error().message;
  auto pit = vm->vm.get_pit();
  ASSERT_TRUE(pit) << pit.error().message;
  EXPECT_TRUE(vm->vm.set_pit(*pit));
  auto chip = vm->vm.get_irqchip(KVM_IRQCHIP_IOAPIC);
  ASSERT_TRUE(chip) << chip.error().message;
  EXPECT_TRUE(vm->vm.set_irqchip(*chip));
  auto lapic = vm->vcpu->get_lapic();
  ASSERT_TRUE(lapic) << lapic.error().message;
  boot::setup_lint_pins(*lapic);
  EXPECT_TRUE(vm->vcpu->set_lapic(*lapic));
}

}  // namespace
}  // namespace thaw::sandbox
