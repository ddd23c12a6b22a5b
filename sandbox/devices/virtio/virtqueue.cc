#include "sandbox/devices/virtio/virtqueue.h"

#include <atomic>

#include "sandbox/devices/virtio/virtio_spec.h"

namespace thaw::sandbox::virtio {

namespace {

// Split ring layout, virtio 1.2 §2.7.5, §2.7.6, §2.7.8. Little-endian x86.
constexpr uint64_t kDescSize = 16;
constexpr uint64_t kAvailHeader = 4;  // flags, idx
constexpr uint64_t kUsedHeader = 4;
constexpr uint64_t kUsedElemSize = 8;

struct RawDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(RawDesc) == kDescSize);

uint64_t avail_bytes(uint16_t n) { return kAvailHeader + 2ull * n + 2; }  // + used_event
uint64_t used_bytes(uint16_t n) { return kUsedHeader + kUsedElemSize * n + 2; }  // + avail_event

}  // namespace

Virtqueue::Virtqueue(uint16_t max_size) : max_size_(max_size) { chain_buf_.reserve(max_size); }

Result<void> Virtqueue::check_layout(const GuestMemory& mem, const VirtqueueLayout& l) const {
  if (l.size == 0 || l.size > max_size_ || (l.size & (l.size - 1)) != 0) {
    return Error::format(
        "virtqueue size {} is invalid: must be a power of two between 1 and QueueNumMax {}", l.size,
        max_size_);
  }
  // Alignment from §2.7 "Virtqueue Part Alignment".
  struct Part { const char* name; uint64_t gpa, len, align; };
  const Part parts[] = {{"descriptor table (QueueDesc)", l.desc_gpa, kDescSize * l.size, 16},
                        {"available ring (QueueDriver)", l.avail_gpa, avail_bytes(l.size), 2},
                        {"used ring (QueueDevice)", l.used_gpa, used_bytes(l.size), 4}};
  for (const Part& p : parts) {
    if (p.gpa % p.align != 0) {
      return Error::format("virtqueue {} at {:#x} is not {}-byte aligned (virtio 1.2 §2.7)",
                           p.name, p.gpa, p.align);
    }
    if (!mem.contains(p.gpa, p.len)) {
      return Error::format("virtqueue {} [{:#x}, +{:#x}) is outside guest RAM", p.name, p.gpa,
                           p.len);
    }
  }
  return Ok();
}

Result<void> Virtqueue::configure(const GuestMemory& mem, const VirtqueueLayout& layout,
                                  bool event_idx) {
  return restore(mem, layout, event_idx, VirtqueuePosition{});
}

Result<void> Virtqueue::restore(const GuestMemory& mem, const VirtqueueLayout& layout,
                                bool event_idx, const VirtqueuePosition& pos) {
  auto r = check_layout(mem, layout);
  if (!r) return r;
  layout_ = layout;
  pos_ = pos;
  event_idx_ = event_idx;
  ready_ = true;
  return Ok();
}

void Virtqueue::reset() {
  layout_ = {};
  pos_ = {};
  event_idx_ = false;
  ready_ = false;
}

Result<uint16_t> Virtqueue::read_avail_idx(const GuestMemory& mem) const {
  auto idx = mem.read_obj<uint16_t>(layout_.avail_gpa + 2);
  if (!idx) return std::move(idx).error();
  // Ring entries written before idx must be seen after it (§2.7.13.3 mirror).
  std::atomic_thread_fence(std::memory_order_acquire);
  return *idx;
}

Result<uint16_t> Virtqueue::pending(const GuestMemory& mem) const {
  if (!ready_) return uint16_t{0};
  auto idx = read_avail_idx(mem);
  if (!idx) return std::move(idx).error();
  return static_cast<uint16_t>(*idx - pos_.next_avail);
}

Result<std::optional<DescriptorChain>> Virtqueue::pop(const GuestMemory& mem) {
  if (!ready_) return std::optional<DescriptorChain>{};
  auto avail_idx = read_avail_idx(mem);
  if (!avail_idx) return std::move(avail_idx).error();
  // 16-bit indices wrap freely; the distance is what matters (§2.7.6).
  uint16_t waiting = static_cast<uint16_t>(*avail_idx - pos_.next_avail);
  if (waiting == 0) return std::optional<DescriptorChain>{};
  if (waiting > layout_.size) {
    return Error::format(
        "available ring idx {} is {} entries ahead of the device (at {}), more than the queue "
        "size {}",
        *avail_idx, waiting, pos_.next_avail, layout_.size);
  }
  uint64_t slot = layout_.avail_gpa + kAvailHeader + 2ull * (pos_.next_avail % layout_.size);
  auto head = mem.read_obj<uint16_t>(slot);
  if (!head) return std::move(head).error();
  DescriptorChain chain;
  auto r = walk_chain(mem, *head, chain);
  if (!r) return std::move(r).error().context(fmt::format("descriptor chain at head {}", *head));
  ++pos_.next_avail;
  return std::optional<DescriptorChain>(chain);
}

void Virtqueue::undo_pop() { --pos_.next_avail; }

Result<void> Virtqueue::add_segment(const GuestMemory& mem, uint64_t addr, uint32_t len,
                                    bool writable, DescriptorChain& out) {
  if (!mem.contains(addr, len)) {
    return Error::format("buffer [{:#x}, +{:#x}) is outside guest RAM", addr, len);
  }
  // §2.7.4.2: device-writable buffers follow all device-readable ones.
  if (!writable && out.writable_bytes > 0) {
    return Error::format("device-readable buffer at {:#x} follows a device-writable one", addr);
  }
  if (chain_buf_.size() >= max_size_) {
    return Error::format("chain has more than {} buffers (QueueNumMax)", max_size_);
  }
  chain_buf_.push_back({addr, len, writable});
  (writable ? out.writable_bytes : out.readable_bytes) += len;
  return Ok();
}

Result<void> Virtqueue::walk_chain(const GuestMemory& mem, uint16_t head, DescriptorChain& out) {
  chain_buf_.clear();
  out.head = head;
  if (head >= layout_.size) {
    return Error::format("head index {} is not below the queue size {}", head, layout_.size);
  }
  uint16_t index = head;
  // §2.7.5.3.1: a chain is never longer than the queue size; counting
  // visited descriptors against it also catches NEXT loops.
  for (uint32_t seen = 0;; ++seen) {
    if (seen >= layout_.size) {
      return Error::format("chain is longer than the queue size {} (a NEXT loop?)", layout_.size);
    }
    auto d = mem.read_obj<RawDesc>(layout_.desc_gpa + kDescSize * index);
    if (!d) return std::move(d).error();
    if (d->flags & kDescFIndirect) {
      // §2.7.5.3.1: INDIRECT never with NEXT; we take it only as the head
      // (what Linux and every known driver do).
      if (d->flags & kDescFNext) {
        return Error::format("descriptor {} has both INDIRECT and NEXT", index);
      }
      if (seen != 0) {
        return Error::format("indirect descriptor {} is not the head of its chain", index);
      }
      if (d->len == 0 || d->len % kDescSize != 0) {
        return Error::format("indirect table length {} is not a non-zero multiple of 16",
                             d->len);
      }
      // Bounded by QueueNumMax, not the (possibly smaller) QueueNum the
      // driver chose: Linux sizes indirect tables by seg_max + 2 whatever
      // the ring size, as QEMU and Firecracker accept.
      uint64_t count = d->len / kDescSize;
      if (count > max_size_) {
        return Error::format("indirect table has {} descriptors, more than QueueNumMax {}",
                             count, max_size_);
      }
      // No alignment rule for indirect tables (virtio 1.2 §2.7.5.3): Linux
      // kmallocs them, 8-byte aligned under SLOB (the guest's tinyconfig).
      // Entries are copied out through GuestMemory, so any address works.
      if (!mem.contains(d->addr, d->len)) {
        return Error::format("indirect table [{:#x}, +{:#x}) is outside guest RAM", d->addr,
                             d->len);
      }
      uint64_t table = d->addr;
      uint16_t i = 0;
      for (uint64_t n = 0;; ++n) {
        if (n >= count) {
          return Error::format("indirect chain is longer than its table of {} (a NEXT loop?)",
                               count);
        }
        auto e = mem.read_obj<RawDesc>(table + kDescSize * i);
        if (!e) return std::move(e).error();
        if (e->flags & kDescFIndirect) {
          return Error::format("indirect table entry {} is itself indirect (nesting is "
                               "forbidden, virtio 1.2 §2.7.5.3.1)", i);
        }
        auto r = add_segment(mem, e->addr, e->len, e->flags & kDescFWrite, out);
        if (!r) return std::move(r).error().context(fmt::format("indirect entry {}", i));
        if (!(e->flags & kDescFNext)) break;
        if (e->next >= count) {
          return Error::format("indirect entry {} links to {}, outside the table of {}", i,
                               e->next, count);
        }
        i = e->next;
      }
      break;
    }
    auto r = add_segment(mem, d->addr, d->len, d->flags & kDescFWrite, out);
    if (!r) return std::move(r).error().context(fmt::format("descriptor {}", index));
    if (!(d->flags & kDescFNext)) break;
    if (d->next >= layout_.size) {
      return Error::format("descriptor {} links to {}, not below the queue size {}", index,
                           d->next, layout_.size);
    }
    index = d->next;
  }
  out.segments = std::span<const ChainSegment>(chain_buf_.data(), chain_buf_.size());
  return Ok();
}

Result<void> Virtqueue::push_used(const GuestMemory& mem, uint16_t head, uint32_t written) {
  if (!ready_) return Error::format("push to a virtqueue that is not ready");
  struct { uint32_t id, len; } elem{head, written};
  uint64_t slot = layout_.used_gpa + kUsedHeader + kUsedElemSize * (pos_.next_used % layout_.size);
  auto r = mem.write_obj(slot, elem);
  if (!r) return r;
  ++pos_.next_used;
  // The element must be visible before the index that publishes it (§2.7.8).
  std::atomic_thread_fence(std::memory_order_release);
  return mem.write_obj<uint16_t>(layout_.used_gpa + 2, pos_.next_used);
}

Result<bool> Virtqueue::should_interrupt(const GuestMemory& mem) {
  // Order the used idx store before reading the driver's suppression hints.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!event_idx_) {
    auto flags = mem.read_obj<uint16_t>(layout_.avail_gpa);
    if (!flags) return std::move(flags).error();
    return !(*flags & kAvailFNoInterrupt);
  }
  auto used_event = mem.read_obj<uint16_t>(layout_.avail_gpa + kAvailHeader + 2ull * layout_.size);
  if (!used_event) return std::move(used_event).error();
  uint16_t old = pos_.signalled_used;
  bool valid = pos_.signalled_valid;
  pos_.signalled_used = pos_.next_used;
  pos_.signalled_valid = true;
  // §2.7.10: interrupt when used idx moved past used_event since the last one.
  return !valid || need_event(*used_event, pos_.next_used, old);
}

Result<bool> Virtqueue::arm_notification(const GuestMemory& mem) {
  if (!ready_) return false;
  if (event_idx_) {
    auto r = mem.write_obj<uint16_t>(layout_.used_gpa + kUsedHeader + kUsedElemSize * layout_.size,
                                     pos_.next_avail);
    if (!r) return std::move(r).error();
  }
  // Publish avail_event before re-reading avail idx, or a buffer added in
  // between would get neither a notification nor a look.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  auto n = pending(mem);
  if (!n) return std::move(n).error();
  return *n != 0;
}

}  // namespace thaw::sandbox::virtio
