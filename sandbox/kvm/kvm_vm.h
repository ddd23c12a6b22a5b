// One KVM virtual machine: its memory slots, in-kernel irqchip and PIT,
// clock, irqfds and ioeventfds, and the factory for its vCPUs. Owned by the
// Vmm; the snapshot code reads and writes the VM-wide state through it.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "common/result.h"
#include "common/unique_fd.h"
#include "sandbox/kvm/kvm_system.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::sandbox {

class KvmVcpu;

// Addresses KVM needs for its real-mode helpers on Intel; placed just below
// the MMIO gap end like Firecracker (arch/x86_64/layout.rs) so they never
// overlap RAM we hand to the guest's e820.
inline constexpr uint64_t kTssAddress = 0xFFFB'D000;
inline constexpr uint64_t kIdentityMapAddress = 0xFFFB'C000;

class KvmVm {
 public:
  static Result<KvmVm> create(const KvmSystem& kvm);

  int fd() const { return fd_.get(); }
  int vcpu_mmap_size() const { return vcpu_mmap_size_; }

  // One KVM memory slot per GuestMemory region (KVM_SET_USER_MEMORY_REGION).
  Result<void> set_memory(const GuestMemory& memory);
  // TSS + identity map addresses, IOAPIC/PIC/LAPIC in the kernel, and PIT2
  // with a speaker dummy (Firecracker's setup; api.rst §4.24, §4.61).
  Result<void> create_irqchip_and_pit();

  // Interrupt line `gsi` raised whenever `eventfd` is written (KVM_IRQFD).
  Result<void> add_irqfd(uint32_t gsi, int eventfd);
  // KVM signals `eventfd` instead of exiting on a guest write of `len` bytes
  // at MMIO `addr`, optionally only when the value equals `datamatch`.
  Result<void> add_ioeventfd(uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch,
                             int eventfd);
  Result<void> remove_ioeventfd(uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch,
                                int eventfd);

  Result<std::unique_ptr<KvmVcpu>> create_vcpu(uint32_t id);

  // VM-wide state for snapshots.
  Result<kvm_clock_data> get_clock() const;
  Result<void> set_clock(const kvm_clock_data& clock);
  Result<kvm_irqchip> get_irqchip(uint32_t chip_id) const;
  Result<void> set_irqchip(const kvm_irqchip& chip);
  Result<kvm_pit_state2> get_pit() const;
  Result<void> set_pit(const kvm_pit_state2& pit);

 private:
  UniqueFd fd_;
  int vcpu_mmap_size_ = 0;
};

}  // namespace thaw::sandbox
