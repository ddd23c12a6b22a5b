// A test-side virtio driver: lays out split rings and descriptor chains in
// anonymous GuestMemory the way a guest would, and drives the MMIO register
// protocol, so device code is tested against real memory layouts.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "sandbox/devices/device.h"
#include "sandbox/devices/virtio/mmio_transport.h"
#include "sandbox/devices/virtio/virtqueue.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::sandbox::virtio::testing {

// Bump allocator over guest RAM for rings and buffers.
class GuestAllocator {
 public:
  explicit GuestAllocator(uint64_t start) : next_(start) {}
  uint64_t alloc(uint64_t size, uint64_t align = 16) {
    next_ = (next_ + align - 1) & ~(align - 1);
    uint64_t at = next_;
    next_ += size;
    return at;
  }

 private:
  uint64_t next_;
};

struct Buf {
  uint64_t gpa;
  uint32_t len;
  bool writable;
};

struct UsedElem {
  uint32_t id;
  uint32_t len;
};

class FakeQueue {
 public:
  FakeQueue(const GuestMemory& mem, GuestAllocator& alloc, uint16_t size);

  VirtqueueLayout layout() const { return layout_; }
  uint16_t size() const { return layout_.size; }

  // Writes descriptor `index` as given (for malformed-chain tests).
  void write_desc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
  // Builds a chain from free descriptors (direct) and returns its head.
  uint16_t add_chain(const std::vector<Buf>& bufs);
  // Builds the buffers as an indirect table at `table_gpa` behind one
  // descriptor and returns its head.
  uint16_t add_indirect(const std::vector<Buf>& bufs, uint64_t table_gpa);
  // Puts head in the avail ring and bumps avail idx (§2.7.13).
  void publish(uint16_t head);
  void set_avail_idx(uint16_t idx);
  uint16_t avail_idx() const;
  void set_avail_flags(uint16_t flags);
  void set_used_event(uint16_t v);
  uint16_t avail_event() const;

  uint16_t used_idx() const;
  // The next used element the driver has not consumed yet.
  std::optional<UsedElem> next_used();

 private:
  const GuestMemory& mem_;
  VirtqueueLayout layout_;
  uint16_t next_free_ = 0;  // descriptors are handed out round-robin
  uint16_t last_used_ = 0;
};

// Counts interrupts.
class CountingInterrupt : public InterruptLine {
 public:
  void trigger() override { ++count; }
  std::atomic<int> count{0};
};

// The MMIO side: register access and the §3.1.1 initialization sequence.
class MmioDriver {
 public:
  explicit MmioDriver(MmioTransport& t) : t_(t) {}
  uint32_t read32(uint64_t offset);
  void write32(uint64_t offset, uint32_t value);
  uint64_t device_features();
  // ACKNOWLEDGE, DRIVER, features (& offered), FEATURES_OK; false if refused.
  bool negotiate(uint64_t features);
  void setup_queue(uint32_t index, const VirtqueueLayout& layout);
  void driver_ok();
  // negotiate + every queue + DRIVER_OK.
  bool init(uint64_t features, const std::vector<const FakeQueue*>& queues);

 private:
  MmioTransport& t_;
};

}  // namespace thaw::sandbox::virtio::testing
