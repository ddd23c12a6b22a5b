// virtio-mmio version 2 transport (virtio 1.2 §4.2.2): the register window
// thaw-vmm maps at 0xD000_0000 + i*0x1000 for each virtio device. It owns the
// queues, feature negotiation, status and interrupts, and runs the backend
// (VirtioDevice) on the backend's IoLoop thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "sandbox/devices/device.h"
#include "sandbox/devices/virtio/log_budget.h"
#include "sandbox/devices/virtio/virtio_device.h"
#include "sandbox/devices/virtio/virtqueue.h"

namespace thaw::sandbox::virtio {

inline constexpr uint32_t kMmioWindowSize = 0x1000;
inline constexpr uint32_t kMmioNotifyOffset = 0x50;  // ioeventfd address = base + this
inline constexpr uint32_t kVendorId = 0x57414854;    // "THAW"
inline constexpr size_t kMaxQueues = 8;

// Per-queue register values plus ring position (snapshot state).
struct QueueState {
  uint16_t num = 0;
  uint8_t ready = 0;
  uint8_t pad = 0;
  uint64_t desc = 0;
  uint64_t driver = 0;
  uint64_t device = 0;
  VirtqueuePosition position;
};

// Transport snapshot state: plain data, version first.
struct MmioTransportState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint32_t device_id = 0;
  uint32_t status = 0;
  uint32_t interrupt_status = 0;
  uint32_t device_features_sel = 0;
  uint32_t driver_features_sel = 0;
  uint32_t queue_sel = 0;
  uint32_t config_generation = 0;
  uint64_t driver_features = 0;
  uint32_t queue_count = 0;
  uint32_t broken = 0;
  std::array<QueueState, kMaxQueues> queues{};
};

class MmioTransport : public Device, private VirtioHost {
 public:
  // `memory` and `irq` must outlive the transport. The transport must be
  // destroyed on the backend's loop thread or after that loop stopped,
  // because it posts work there that refers to it.
  MmioTransport(std::unique_ptr<VirtioDevice> device, const GuestMemory& memory,
                InterruptLine& irq);
  ~MmioTransport() override;

  // Device interface (vCPU threads).
  std::string_view name() const override { return device_->name(); }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;
  Result<std::vector<uint8_t>> save_state() const override;
  Result<void> restore_state(std::span<const uint8_t> state) override;

  // The ioeventfd path: thaw-vmm calls this on the backend's IoLoop thread
  // when the guest wrote `index` to QueueNotify.
  void notify_queue(uint32_t index);
  size_t queue_count() const { return device_->queue_count(); }

  VirtioDevice& device() { return *device_; }
  // Requests the backend still has in the kernel; wait for 0 (with the
  // vCPUs paused and the loop running) before save_state().
  size_t in_flight() const;
  uint32_t status() const;
  uint32_t interrupt_status() const;
  bool is_broken() const;
  // The backend runs: DRIVER_OK was set, activate() ran on the loop, not broken.
  bool is_active() const;
  // Why the device was marked broken (empty when it is not).
  std::string broken_reason() const;

 private:
  // VirtioHost, for the backend (lock held by the caller).
  std::mutex& mutex() override { return mu_; }
  const GuestMemory& memory() const override { return memory_; }
  Virtqueue& queue(size_t index) override { return *queues_[index]; }
  uint64_t driver_features() const override { return driver_features_; }
  void signal_used(size_t index) override;
  void signal_config_change() override;
  void mark_broken(const Error& why) override;
  bool broken() const override { return broken_; }
  bool active() const override;

  uint64_t offered_features() const;
  uint32_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint32_t value);
  void write_status(uint32_t value);
  void set_queue_ready(uint32_t value);
  void reset_locked();
  void raise(uint32_t bits);
  // Runs fn on the backend loop (inline when it has none).
  void on_loop(std::function<void()> fn);
  void activate_on_loop(uint64_t epoch);

  std::unique_ptr<VirtioDevice> device_;
  const GuestMemory& memory_;
  InterruptLine& irq_;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Virtqueue>> queues_;
  std::vector<QueueState> queue_regs_;  // QueueNum/Desc/Driver/Device as written
  uint32_t status_ = 0;
  uint32_t interrupt_status_ = 0;
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint32_t queue_sel_ = 0;
  uint32_t config_generation_ = 0;
  uint64_t driver_features_ = 0;
  bool broken_ = false;
  bool activated_ = false;  // backend activate() ran for this epoch
  uint64_t epoch_ = 0;      // bumped on reset; stale posted work is dropped
  std::string broken_reason_;
  LogBudget log_budget_;  // guest-triggered log lines
};

}  // namespace thaw::sandbox::virtio
