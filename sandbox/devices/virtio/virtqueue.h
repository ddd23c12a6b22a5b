// The device side of a split virtqueue (virtio 1.2 §2.7): reads descriptor
// chains the guest made available and returns them through the used ring.
// Every guest value is untrusted; all access goes through GuestMemory.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::sandbox::virtio {

// One buffer of a chain, already range-checked against guest memory.
struct ChainSegment {
  uint64_t gpa = 0;
  uint32_t len = 0;
  bool device_writable = false;
};

// A chain popped from the available ring. `segments` points into the
// queue's reusable buffer and is valid until the next pop().
struct DescriptorChain {
  uint16_t head = 0;
  std::span<const ChainSegment> segments;
  uint64_t readable_bytes = 0;  // sum of driver->device buffers (come first)
  uint64_t writable_bytes = 0;  // sum of device->driver buffers (come last)
};

// What the transport programs through QueueNum/QueueDesc/Driver/Device.
struct VirtqueueLayout {
  uint16_t size = 0;
  uint64_t desc_gpa = 0;
  uint64_t avail_gpa = 0;  // "driver area"
  uint64_t used_gpa = 0;   // "device area"
};

// Ring position, saved in snapshots (plain data).
struct VirtqueuePosition {
  uint16_t next_avail = 0;     // next avail ring slot the device consumes
  uint16_t next_used = 0;      // next used ring slot the device fills
  uint16_t signalled_used = 0; // used idx at the last interrupt (EVENT_IDX)
  bool signalled_valid = false;
};

class Virtqueue {
 public:
  explicit Virtqueue(uint16_t max_size);

  uint16_t max_size() const { return max_size_; }
  const VirtqueueLayout& layout() const { return layout_; }
  const VirtqueuePosition& position() const { return pos_; }

  // Checks size (power of two, <= max) and ring placement/alignment
  // (§2.7 table "Virtqueue Part Alignment") against guest memory, then
  // starts from ring index 0. The error names the bad field.
  Result<void> configure(const GuestMemory& mem, const VirtqueueLayout& layout,
                         bool event_idx);
  // Same checks, but resumes at a saved ring position (snapshot restore).
  Result<void> restore(const GuestMemory& mem, const VirtqueueLayout& layout,
                       bool event_idx, const VirtqueuePosition& pos);
  void reset();
  bool ready() const { return ready_; }

  // The next available chain, std::nullopt when the ring is empty, or an
  // error when the guest broke the ring contract (the caller marks the
  // device broken). Allocation-free: segments reuse an internal buffer.
  Result<std::optional<DescriptorChain>> pop(const GuestMemory& mem);
  // Puts `chain` back so the next pop() returns it again (device ran out of
  // a resource it needs to handle the chain).
  void undo_pop();
  // Returns a chain: used elem {head, written}, then the used idx (§2.7.8).
  Result<void> push_used(const GuestMemory& mem, uint16_t head, uint32_t written);

  // Whether the driver wants an interrupt for what was pushed since the last
  // one: VIRTQ_AVAIL_F_NO_INTERRUPT or used_event (§2.7.7, §2.7.10).
  // Call after push_used; true means "signal it now" and records that.
  Result<bool> should_interrupt(const GuestMemory& mem);
  // With EVENT_IDX, publishes avail_event so the driver notifies on its next
  // buffer, then re-checks the avail idx to close the race (§2.7.10).
  // Returns true when buffers arrived meanwhile and the caller must pop again.
  Result<bool> arm_notification(const GuestMemory& mem);

  // Avail entries not yet popped (used to see if work is pending).
  Result<uint16_t> pending(const GuestMemory& mem) const;

 private:
  Result<void> check_layout(const GuestMemory& mem, const VirtqueueLayout& layout) const;
  Result<uint16_t> read_avail_idx(const GuestMemory& mem) const;
  Result<void> walk_chain(const GuestMemory& mem, uint16_t head, DescriptorChain& out);
  Result<void> add_segment(const GuestMemory& mem, uint64_t addr, uint32_t len, bool writable,
                           DescriptorChain& out);

  uint16_t max_size_;
  VirtqueueLayout layout_;
  VirtqueuePosition pos_;
  bool event_idx_ = false;
  bool ready_ = false;
  std::vector<ChainSegment> chain_buf_;  // capacity max_size_, reused per pop
};

}  // namespace thaw::sandbox::virtio
