// Snapshot state of the virtio-mmio transport: MmioTransportState (the
// registers and ring positions) plus the backend's blob, validated in full
// before any live state changes. Split from mmio_transport.cc.
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <cstring>

#include "sandbox/devices/virtio/mmio_transport.h"
#include "sandbox/devices/virtio/virtio_spec.h"

namespace thaw::sandbox::virtio {

namespace {

constexpr uint32_t kStateMagic = 0x494d4d56;  // "VMMI"

uint32_t load_le32(std::span<const uint8_t> b) {
  uint32_t v = 0;
  std::memcpy(&v, b.data(), 4);
  return v;
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + 4);
}

}  // namespace

Result<std::vector<uint8_t>> MmioTransport::save_state() const {
  std::lock_guard lock(mu_);
  MmioTransportState s;
  std::memset(static_cast<void*>(&s), 0, sizeof s);  // padding too: snapshot files get checksummed
  s.version = MmioTransportState::kVersion;
  s.device_id = device_->device_id();
  s.status = status_;
  s.interrupt_status = interrupt_status_;
  s.device_features_sel = device_features_sel_;
  s.driver_features_sel = driver_features_sel_;
  s.queue_sel = queue_sel_;
  s.config_generation = config_generation_;
  s.driver_features = driver_features_;
  s.queue_count = static_cast<uint32_t>(queues_.size());
  s.broken = broken_;
  for (size_t i = 0; i < queues_.size(); ++i) {
    s.queues[i] = queue_regs_[i];
    s.queues[i].position = queues_[i]->position();
  }
  auto backend = device_->save_state();
  if (!backend) return std::move(backend).error().context(device_->name());
  std::vector<uint8_t> out;
  put32(out, kStateMagic);
  put32(out, sizeof s);
  auto* p = reinterpret_cast<const uint8_t*>(&s);
  out.insert(out.end(), p, p + sizeof s);
  put32(out, static_cast<uint32_t>(backend->size()));
  out.insert(out.end(), backend->begin(), backend->end());
  return out;
}

Result<void> MmioTransport::restore_state(std::span<const uint8_t> blob) {
  auto bad = [&](std::string_view why) {
    return Error::format("{} snapshot state rejected: {}", device_->name(), why);
  };
  MmioTransportState s;
  if (blob.size() < 8 + sizeof s + 4 || load_le32(blob) != kStateMagic) {
    return bad("not a virtio-mmio state blob (magic or size wrong)");
  }
  if (load_le32(blob.subspan(4)) != sizeof s) return bad("state struct size differs");
  std::memcpy(static_cast<void*>(&s), blob.data() + 8, sizeof s);
  if (s.version != MmioTransportState::kVersion) {
    return bad(fmt::format("version {} (this build reads {})", s.version,
                           MmioTransportState::kVersion));
  }
  if (s.device_id != device_->device_id() || s.queue_count != queues_.size()) {
    return bad(fmt::format("saved from device id {} with {} queues, this is id {} with {}",
                           s.device_id, s.queue_count, device_->device_id(), queues_.size()));
  }
  auto rest = blob.subspan(8 + sizeof s);
  uint32_t backend_len = load_le32(rest);
  if (rest.size() - 4 != backend_len) return bad("backend state length mismatch");

  // Validate every queue on scratch objects before touching live state.
  bool event_idx = s.driver_features & (1ull << kFeatureEventIdx);
  std::vector<std::unique_ptr<Virtqueue>> fresh;
  for (size_t i = 0; i < queues_.size(); ++i) {
    auto q = std::make_unique<Virtqueue>(queues_[i]->max_size());
    const QueueState& qs = s.queues[i];
    if (qs.ready) {
      auto r = q->restore(memory_, {qs.num, qs.desc, qs.driver, qs.device}, event_idx,
                          qs.position);
      if (!r) return bad(fmt::format("queue {}: {}", i, r.error().message));
    }
    fresh.push_back(std::move(q));
  }
  auto r = device_->restore_state(rest.subspan(4));
  if (!r) return r;

  uint64_t epoch;
  bool running;
  {
    std::lock_guard lock(mu_);
    queues_ = std::move(fresh);
    for (size_t i = 0; i < queues_.size(); ++i) queue_regs_[i] = s.queues[i];
    status_ = s.status;
    interrupt_status_ = s.interrupt_status;
    device_features_sel_ = s.device_features_sel;
    driver_features_sel_ = s.driver_features_sel;
    queue_sel_ = s.queue_sel;
    config_generation_ = s.config_generation;
    driver_features_ = s.driver_features;
    broken_ = s.broken != 0;
    broken_reason_ = broken_ ? "restored in broken state" : "";
    activated_ = false;
    epoch = ++epoch_;
    running = (status_ & VIRTIO_CONFIG_S_DRIVER_OK) && !broken_;
  }
  on_loop([this, epoch, running] {
    {
      std::lock_guard lock(mu_);
      if (epoch != epoch_) return;
      device_->reset();
    }
    if (!running) return;
    activate_on_loop(epoch);
    // An interrupt raised just before the snapshot may never have reached
    // the guest; a spurious one costs a ring check, a lost one hangs a
    // queue (Firecracker notifies after restore for the same reason).
    std::lock_guard lock(mu_);
    if (epoch == epoch_ && active()) raise(VIRTIO_MMIO_INT_VRING);
  });
  return Ok();
}

}  // namespace thaw::sandbox::virtio
