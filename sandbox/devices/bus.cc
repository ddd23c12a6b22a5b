#include "sandbox/devices/bus.h"

#include <algorithm>

namespace thaw::sandbox {

Result<void> Bus::insert(uint64_t base, uint64_t size, std::shared_ptr<Device> device) {
  if (size == 0 || base + size < base) {
    return Error::format("device {}: invalid window [{:#x}, +{:#x})", device->name(), base, size);
  }
  auto it = std::lower_bound(entries_.begin(), entries_.end(), base,
                             [](const Entry& e, uint64_t b) { return e.base < b; });
  if (it != entries_.end() && it->base < base + size) {
    return Error::format("device {} at [{:#x}, +{:#x}) overlaps {}", device->name(), base, size,
                         it->device->name());
  }
  if (it != entries_.begin()) {
    const Entry& prev = *(it - 1);
    if (prev.base + prev.size > base) {
      return Error::format("device {} at [{:#x}, +{:#x}) overlaps {}", device->name(), base,
                           size, prev.device->name());
    }
  }
  entries_.insert(it, Entry{base, size, std::move(device)});
  return Ok();
}

const Bus::Entry* Bus::find(uint64_t addr, uint64_t len) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), addr,
                             [](uint64_t a, const Entry& e) { return a < e.base; });
  if (it == entries_.begin()) return nullptr;
  const Entry& e = *(it - 1);
  uint64_t off = addr - e.base;
  if (off >= e.size || len > e.size - off) return nullptr;
  return &e;
}

bool Bus::read(uint64_t addr, std::span<uint8_t> data) const {
  const Entry* e = find(addr, data.size());
  if (e == nullptr) return false;
  e->device->read(addr - e->base, data);
  return true;
}

bool Bus::write(uint64_t addr, std::span<const uint8_t> data) const {
  const Entry* e = find(addr, data.size());
  if (e == nullptr) return false;
  e->device->write(addr - e->base, data);
  return true;
}

}  // namespace thaw::sandbox
