// An InterruptLine backed by a KVM irqfd: trigger() writes the eventfd and
// KVM injects the GSI through the in-kernel IOAPIC/PIC without a VM exit.
// Devices get these from Vmm::interrupt_line().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "common/result.h"
#include "common/unique_fd.h"
#include "sandbox/devices/device.h"
#include "sandbox/kvm/kvm_vm.h"

namespace thaw::sandbox {

class IrqfdLine : public InterruptLine {
 public:
  static Result<std::shared_ptr<IrqfdLine>> create(KvmVm& vm, uint32_t gsi);

  void trigger() override;
  uint32_t gsi() const { return gsi_; }
  uint64_t triggers() const { return triggers_.load(std::memory_order_relaxed); }

 private:
  IrqfdLine(UniqueFd fd, uint32_t gsi) : fd_(std::move(fd)), gsi_(gsi) {}
  UniqueFd fd_;
  uint32_t gsi_;
  std::atomic<uint64_t> triggers_{0};
};

}  // namespace thaw::sandbox
