#include "sandbox/devices/virtio/mmio_transport.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "sandbox/devices/virtio/virtio_spec.h"

namespace thaw::sandbox::virtio {

namespace {

constexpr uint32_t kMagic = 0x74726976;  // "virt", §4.2.2
constexpr uint64_t kVersion1 = 1ull << VIRTIO_F_VERSION_1;

uint32_t load_le32(std::span<const uint8_t> b) {
  uint32_t v = 0;
  std::memcpy(&v, b.data(), 4);
  return v;
}

}  // namespace

MmioTransport::MmioTransport(std::unique_ptr<VirtioDevice> device, const GuestMemory& memory,
                             InterruptLine& irq)
    : device_(std::move(device)), memory_(memory), irq_(irq) {
  size_t n = device_->queue_count();
  if (n > kMaxQueues) {
    // A programming error in a backend, not guest input.
    throw std::invalid_argument(fmt::format("virtio device {} has {} queues; the transport "
                                            "supports {}", device_->name(), n, kMaxQueues));
  }
  for (size_t i = 0; i < n; ++i) {
    queues_.push_back(std::make_unique<Virtqueue>(device_->queue_max_size(i)));
  }
  queue_regs_.resize(n);
  device_->attach(*this);
}

MmioTransport::~MmioTransport() = default;

uint64_t MmioTransport::offered_features() const { return device_->device_features() | kVersion1; }

uint32_t MmioTransport::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

uint32_t MmioTransport::interrupt_status() const {
  std::lock_guard lock(mu_);
  return interrupt_status_;
}

bool MmioTransport::is_broken() const {
  std::lock_guard lock(mu_);
  return broken_;
}

size_t MmioTransport::in_flight() const {
  std::lock_guard lock(mu_);
  return device_->in_flight();
}

bool MmioTransport::is_active() const {
  std::lock_guard lock(mu_);
  return active();
}

std::string MmioTransport::broken_reason() const {
  std::lock_guard lock(mu_);
  return broken_reason_;
}

bool MmioTransport::active() const { return activated_ && !broken_; }

void MmioTransport::raise(uint32_t bits) {
  interrupt_status_ |= bits;
  irq_.trigger();
}

void MmioTransport::signal_used(size_t index) {
  auto want = queues_[index]->should_interrupt(memory_);
  if (!want) {
    mark_broken(want.error());
    return;
  }
  if (*want) raise(VIRTIO_MMIO_INT_VRING);
}

void MmioTransport::signal_config_change() {
  ++config_generation_;
  // Before FEATURES_OK the driver reads config anyway; no interrupt then.
  if (status_ & VIRTIO_CONFIG_S_DRIVER_OK) raise(VIRTIO_MMIO_INT_CONFIG);
}

void MmioTransport::mark_broken(const Error& why) {
  if (broken_) return;
  broken_ = true;
  broken_reason_ = why.message;
  if (log_budget_.take()) {
    spdlog::error("{}: guest broke the virtio contract, device needs reset: {}{}",
                  device_->name(), why.message,
                  log_budget_.exhausted() ? " (further guest-caused messages muted)" : "");
  }
  // §2.1.2: DEVICE_NEEDS_RESET plus a configuration change notification.
  status_ |= VIRTIO_CONFIG_S_NEEDS_RESET;
  raise(VIRTIO_MMIO_INT_CONFIG);
}

void MmioTransport::on_loop(std::function<void()> fn) {
  if (IoLoop* loop = device_->loop()) {
    loop->post(std::move(fn));
  } else {
    fn();
  }
}

void MmioTransport::activate_on_loop(uint64_t epoch) {
  std::lock_guard lock(mu_);
  if (epoch != epoch_ || broken_ || activated_ || !(status_ & VIRTIO_CONFIG_S_DRIVER_OK)) return;
  activated_ = true;
  auto r = device_->activate();
  if (!r) mark_broken(r.error());
}

void MmioTransport::notify_queue(uint32_t index) {
  std::lock_guard lock(mu_);
  if (!active() || index >= queues_.size()) return;
  device_->process_queue(index);
}

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) {
  std::memset(data.data(), 0, data.size());
  std::lock_guard lock(mu_);
  if (offset >= VIRTIO_MMIO_CONFIG) {
    device_->read_config(offset - VIRTIO_MMIO_CONFIG, data);
    return;
  }
  // §4.2.2.2: registers are 32 bits wide, accessed with 32-bit aligned
  // accesses; anything else reads 0.
  if (data.size() != 4 || offset % 4 != 0) return;
  uint32_t v = read_register(offset);
  std::memcpy(data.data(), &v, 4);
}

uint32_t MmioTransport::read_register(uint64_t offset) {
  const QueueState* q = queue_sel_ < queue_regs_.size() ? &queue_regs_[queue_sel_] : nullptr;
  uint64_t features = offered_features();
  switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE: return kMagic;
    case VIRTIO_MMIO_VERSION: return 2;
    case VIRTIO_MMIO_DEVICE_ID: return device_->device_id();
    case VIRTIO_MMIO_VENDOR_ID: return kVendorId;
    case VIRTIO_MMIO_DEVICE_FEATURES:
      if (device_features_sel_ > 1) return 0;
      return static_cast<uint32_t>(features >> (32 * device_features_sel_));
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
      return q ? queues_[queue_sel_]->max_size() : 0;  // 0: queue not available
    case VIRTIO_MMIO_QUEUE_READY: return q ? q->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS: return interrupt_status_;
    case VIRTIO_MMIO_STATUS: return status_;
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
      return 0xffffffff;  // §4.2.2.1: no shared memory region with this id
    case VIRTIO_MMIO_CONFIG_GENERATION: return config_generation_;
    default: return 0;  // write-only or reserved
  }
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= VIRTIO_MMIO_CONFIG) {
    std::lock_guard lock(mu_);
    device_->write_config(offset - VIRTIO_MMIO_CONFIG, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) return;
  uint32_t value = load_le32(data);
  if (offset == VIRTIO_MMIO_QUEUE_NOTIFY) {
    // The MMIO path (no ioeventfd registered): hand it to the loop like one.
    on_loop([this, value] { notify_queue(value); });
    return;
  }
  uint64_t reset_epoch = 0, activate_epoch = 0;
  bool do_reset = false, do_activate = false;
  {
    std::lock_guard lock(mu_);
    uint32_t before = status_;
    uint64_t epoch_before = epoch_;
    write_register(offset, value);
    do_reset = epoch_ != epoch_before;
    reset_epoch = epoch_;
    do_activate = !(before & VIRTIO_CONFIG_S_DRIVER_OK) && (status_ & VIRTIO_CONFIG_S_DRIVER_OK);
    activate_epoch = epoch_;
  }
  if (do_reset) {
    on_loop([this, reset_epoch] {
      std::lock_guard lock(mu_);
      if (reset_epoch == epoch_) device_->reset();
    });
  }
  if (do_activate) on_loop([this, activate_epoch] { activate_on_loop(activate_epoch); });
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
  QueueState* q = queue_sel_ < queue_regs_.size() ? &queue_regs_[queue_sel_] : nullptr;
  // §4.2.2.3: queue registers are written while the queue is not ready.
  bool queue_writable = q != nullptr && !q->ready;
  switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL: device_features_sel_ = value; return;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL: driver_features_sel_ = value; return;
    case VIRTIO_MMIO_DRIVER_FEATURES:
      // Features are fixed once FEATURES_OK is set (§3.1.1).
      if ((status_ & VIRTIO_CONFIG_S_FEATURES_OK) || driver_features_sel_ > 1) return;
      driver_features_ &= ~(0xffffffffull << (32 * driver_features_sel_));
      driver_features_ |= static_cast<uint64_t>(value) << (32 * driver_features_sel_);
      return;
    case VIRTIO_MMIO_QUEUE_SEL: queue_sel_ = value; return;
    case VIRTIO_MMIO_QUEUE_NUM:
      if (queue_writable) q->num = static_cast<uint16_t>(value > 0xffff ? 0 : value);
      return;
    case VIRTIO_MMIO_QUEUE_READY: set_queue_ready(value); return;
    case VIRTIO_MMIO_INTERRUPT_ACK: interrupt_status_ &= ~value; return;
    case VIRTIO_MMIO_STATUS: write_status(value); return;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
    case VIRTIO_MMIO_QUEUE_USED_LOW:
    case VIRTIO_MMIO_QUEUE_USED_HIGH: {
      if (!queue_writable) return;
      uint64_t* reg = offset < VIRTIO_MMIO_QUEUE_AVAIL_LOW ? &q->desc
                      : offset < VIRTIO_MMIO_QUEUE_USED_LOW ? &q->driver
                                                             : &q->device;
      bool high = offset % 8 == 4;
      *reg = high ? (*reg & 0xffffffffull) | (static_cast<uint64_t>(value) << 32)
                  : (*reg & ~0xffffffffull) | value;
      return;
    }
    default: return;  // read-only, legacy (GuestPageSize, QueuePFN) or reserved
  }
}

void MmioTransport::set_queue_ready(uint32_t value) {
  if (queue_sel_ >= queue_regs_.size()) return;
  QueueState& q = queue_regs_[queue_sel_];
  Virtqueue& vq = *queues_[queue_sel_];
  if (value == 0) {
    q.ready = 0;
    vq.reset();
    return;
  }
  if (q.ready || broken_) return;
  bool event_idx = driver_features_ & (1ull << kFeatureEventIdx);
  auto r = vq.configure(memory_, {q.num, q.desc, q.driver, q.device}, event_idx);
  if (!r) {
    mark_broken(r.error().context(fmt::format("QueueReady for queue {}", queue_sel_)));
    return;
  }
  q.ready = 1;
}

void MmioTransport::write_status(uint32_t value) {
  if (value == 0) {
    reset_locked();
    return;
  }
  // §2.1.1: the driver never clears a status bit except by writing 0.
  if ((status_ & ~VIRTIO_CONFIG_S_NEEDS_RESET & ~value) != 0) {
    if (log_budget_.take()) {
      spdlog::warn("{}: ignoring status write {:#x} that clears bits of {:#x}",
                   device_->name(), value, status_);
    }
    return;
  }
  uint32_t added = value & ~status_;
  uint32_t next = value | (status_ & VIRTIO_CONFIG_S_NEEDS_RESET);
  if (added & VIRTIO_CONFIG_S_FEATURES_OK) {
    uint64_t unknown = driver_features_ & ~offered_features();
    if (unknown != 0 || !(driver_features_ & kVersion1)) {
      // §3.1.1 step 5-6: leaving FEATURES_OK clear tells the driver no.
      if (log_budget_.take()) {
        spdlog::warn("{}: refusing driver features {:#x} (offered {:#x}; VERSION_1 is required)",
                     device_->name(), driver_features_, offered_features());
      }
      next &= ~VIRTIO_CONFIG_S_FEATURES_OK;
    }
  }
  if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !(next & VIRTIO_CONFIG_S_FEATURES_OK)) {
    status_ = next & ~VIRTIO_CONFIG_S_DRIVER_OK;
    mark_broken(Error::format("driver set DRIVER_OK without a successful FEATURES_OK"));
    return;
  }
  if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && broken_) next &= ~VIRTIO_CONFIG_S_DRIVER_OK;
  status_ = next;
}

void MmioTransport::reset_locked() {
  for (auto& q : queues_) q->reset();
  for (auto& r : queue_regs_) r = QueueState{};
  status_ = 0;
  interrupt_status_ = 0;
  device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
  driver_features_ = 0;
  broken_ = false;
  broken_reason_.clear();
  activated_ = false;
  ++epoch_;
}

void MmioTransport::reset() {
  uint64_t epoch;
  {
    std::lock_guard lock(mu_);
    reset_locked();
    epoch = epoch_;
  }
  on_loop([this, epoch] {
    std::lock_guard lock(mu_);
    if (epoch == epoch_) device_->reset();
  });
}

}  // namespace thaw::sandbox::virtio
