// The one device interface (kvmtool/Firecracker style): a device answers
// guest accesses to its register window and saves/restores its state as
// plain versioned bytes. Port-I/O and MMIO devices both implement it; the
// Bus routes exits to them. Used by thaw-vmm and the snapshot code.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace thaw::sandbox {

class Device {
 public:
  virtual ~Device() = default;
  virtual std::string_view name() const = 0;

  // Guest access at `offset` inside the device's window. data.size() is the
  // access width (1, 2, 4 or 8). Reads fill `data`; unknown registers read 0.
  // Called on vCPU threads; implementations lock what they share.
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;

  // Back to power-on state (guest reset or device reset).
  virtual void reset() = 0;

  // Snapshot support: a self-describing blob (own version field inside), and
  // its inverse. restore_state rejects a blob it cannot take with a precise
  // error and leaves the device unchanged.
  virtual Result<std::vector<uint8_t>> save_state() const = 0;
  virtual Result<void> restore_state(std::span<const uint8_t> state) = 0;
};

// An interrupt the device can raise: an irqfd in thaw-vmm, a counter in tests.
class InterruptLine {
 public:
  virtual ~InterruptLine() = default;
  virtual void trigger() = 0;
};

}  // namespace thaw::sandbox
