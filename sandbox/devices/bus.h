// Address-range router for VM exits: one Bus for port I/O, one for MMIO.
// Ranges never overlap; lookup is a binary search over a sorted vector.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/result.h"
#include "sandbox/devices/device.h"

namespace thaw::sandbox {

class Bus {
 public:
  Result<void> insert(uint64_t base, uint64_t size, std::shared_ptr<Device> device);

  // Dispatch a guest access; false when no device claims the address (the
  // caller then treats reads as all-ones / writes as ignored and counts it).
  bool read(uint64_t addr, std::span<uint8_t> data) const;
  bool write(uint64_t addr, std::span<const uint8_t> data) const;

  struct Entry {
    uint64_t base;
    uint64_t size;
    std::shared_ptr<Device> device;
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  const Entry* find(uint64_t addr, uint64_t len) const;
  std::vector<Entry> entries_;  // sorted by base
};

}  // namespace thaw::sandbox
