#include "tests/sandbox/virtio/fake_driver.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <stdexcept>

#include "sandbox/devices/virtio/virtio_spec.h"

namespace thaw::sandbox::virtio::testing {

namespace {
template <typename T>
void must(const Result<T>& r) {
  if (!r) throw std::runtime_error("fake driver: " + r.error().message);
}
}  // namespace

FakeQueue::FakeQueue(const GuestMemory& mem, GuestAllocator& alloc, uint16_t size) : mem_(mem) {
  layout_.size = size;
  layout_.desc_gpa = alloc.alloc(16ull * size, 16);
  layout_.avail_gpa = alloc.alloc(6 + 2ull * size, 2);
  layout_.used_gpa = alloc.alloc(6 + 8ull * size, 4);
  std::vector<uint8_t> zero(16ull * size + 8ull * size + 64, 0);
  must(mem.write(layout_.desc_gpa, {zero.data(), 16ull * size}));
  must(mem.write(layout_.avail_gpa, {zero.data(), 6 + 2ull * size}));
  must(mem.write(layout_.used_gpa, {zero.data(), 6 + 8ull * size}));
}

void FakeQueue::write_desc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags,
                           uint16_t next) {
  uint64_t at = layout_.desc_gpa + 16ull * index;
  must(mem_.write_obj(at, addr));
  must(mem_.write_obj(at + 8, len));
  must(mem_.write_obj(at + 12, flags));
  must(mem_.write_obj(at + 14, next));
}

uint16_t FakeQueue::add_chain(const std::vector<Buf>& bufs) {
  uint16_t head = next_free_;
  for (size_t i = 0; i < bufs.size(); ++i) {
    uint16_t idx = next_free_;
    next_free_ = static_cast<uint16_t>((next_free_ + 1) % layout_.size);
    bool last = i + 1 == bufs.size();
    uint16_t flags = (bufs[i].writable ? kDescFWrite : 0) | (last ? 0 : kDescFNext);
    write_desc(idx, bufs[i].gpa, bufs[i].len, flags, last ? 0 : next_free_);
  }
  return head;
}

uint16_t FakeQueue::add_indirect(const std::vector<Buf>& bufs, uint64_t table_gpa) {
  for (size_t i = 0; i < bufs.size(); ++i) {
    bool last = i + 1 == bufs.size();
    uint64_t at = table_gpa + 16 * i;
    uint16_t flags = (bufs[i].writable ? kDescFWrite : 0) | (last ? 0 : kDescFNext);
    must(mem_.write_obj(at, bufs[i].gpa));
    must(mem_.write_obj(at + 8, bufs[i].len));
    must(mem_.write_obj(at + 12, flags));
    must(mem_.write_obj<uint16_t>(at + 14, last ? 0 : static_cast<uint16_t>(i + 1)));
  }
  uint16_t head = next_free_;
  next_free_ = static_cast<uint16_t>((next_free_ + 1) % layout_.size);
  write_desc(head, table_gpa, static_cast<uint32_t>(16 * bufs.size()), kDescFIndirect, 0);
  return head;
}

void FakeQueue::publish(uint16_t head) {
  uint16_t idx = avail_idx();
  must(mem_.write_obj(layout_.avail_gpa + 4 + 2ull * (idx % layout_.size), head));
  set_avail_idx(static_cast<uint16_t>(idx + 1));
}

void FakeQueue::set_avail_idx(uint16_t idx) { must(mem_.write_obj(layout_.avail_gpa + 2, idx)); }

uint16_t FakeQueue::avail_idx() const {
  auto r = mem_.read_obj<uint16_t>(layout_.avail_gpa + 2);
  must(r);
  return *r;
}

void FakeQueue::set_avail_flags(uint16_t flags) { must(mem_.write_obj(layout_.avail_gpa, flags)); }

void FakeQueue::set_used_event(uint16_t v) {
  must(mem_.write_obj(layout_.avail_gpa + 4 + 2ull * layout_.size, v));
}

uint16_t FakeQueue::avail_event() const {
  auto r = mem_.read_obj<uint16_t>(layout_.used_gpa + 4 + 8ull * layout_.size);
  must(r);
  return *r;
}

uint16_t FakeQueue::used_idx() const {
  auto r = mem_.read_obj<uint16_t>(layout_.used_gpa + 2);
  must(r);
  return *r;
}

std::optional<UsedElem> FakeQueue::next_used() {
  if (used_idx() == last_used_) return std::nullopt;
  auto r = mem_.read_obj<UsedElem>(layout_.used_gpa + 4 + 8ull * (last_used_ % layout_.size));
  must(r);
  ++last_used_;
  return *r;
}

uint32_t MmioDriver::read32(uint64_t offset) {
  uint32_t v = 0;
  t_.read(offset, {reinterpret_cast<uint8_t*>(&v), 4});
  return v;
}

void MmioDriver::write32(uint64_t offset, uint32_t value) {
  t_.write(offset, {reinterpret_cast<const uint8_t*>(&value), 4});
}

uint64_t MmioDriver::device_features() {
  write32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
  uint64_t lo = read32(VIRTIO_MMIO_DEVICE_FEATURES);
  write32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
  uint64_t hi = read32(VIRTIO_MMIO_DEVICE_FEATURES);
  return lo | hi << 32;
}

bool MmioDriver::negotiate(uint64_t features) {
  write32(VIRTIO_MMIO_STATUS, 0);
  write32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
  write32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
  write32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
  write32(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(features));
  write32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
  write32(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(features >> 32));
  write32(VIRTIO_MMIO_STATUS,
          VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
  return read32(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK;
}

void MmioDriver::setup_queue(uint32_t index, const VirtqueueLayout& l) {
  write32(VIRTIO_MMIO_QUEUE_SEL, index);
  write32(VIRTIO_MMIO_QUEUE_NUM, l.size);
  write32(VIRTIO_MMIO_QUEUE_DESC_LOW, static_cast<uint32_t>(l.desc_gpa));
  write32(VIRTIO_MMIO_QUEUE_DESC_HIGH, static_cast<uint32_t>(l.desc_gpa >> 32));
  write32(VIRTIO_MMIO_QUEUE_AVAIL_LOW, static_cast<uint32_t>(l.avail_gpa));
  write32(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, static_cast<uint32_t>(l.avail_gpa >> 32));
  write32(VIRTIO_MMIO_QUEUE_USED_LOW, static_cast<uint32_t>(l.used_gpa));
  write32(VIRTIO_MMIO_QUEUE_USED_HIGH, static_cast<uint32_t>(l.used_gpa >> 32));
  write32(VIRTIO_MMIO_QUEUE_READY, 1);
}

void MmioDriver::driver_ok() {
  write32(VIRTIO_MMIO_STATUS, read32(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
}

bool MmioDriver::init(uint64_t features, const std::vector<const FakeQueue*>& queues) {
  if (!negotiate(features & device_features())) return false;
  for (size_t i = 0; i < queues.size(); ++i) {
    setup_queue(static_cast<uint32_t>(i), queues[i]->layout());
  }
  driver_ok();
  return true;
}

}  // namespace thaw::sandbox::virtio::testing
