// The virtio-mmio v2 register protocol (virtio 1.2 §4.2.2) against a fake
// backend: identification, feature negotiation, queue set-up and its
// validation, notify -> backend, interrupts, reset, broken devices,
// config space and snapshot round trips.
#include "sandbox/devices/virtio/mmio_transport.h"

#include <gtest/gtest.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <cstring>

#include "sandbox/devices/virtio/virtio_spec.h"
#include "tests/sandbox/virtio/fake_driver.h"

namespace thaw::sandbox::virtio {
namespace {

using testing::CountingInterrupt;
using testing::FakeQueue;
using testing::GuestAllocator;
using testing::MmioDriver;

// Echo backend: completes every chain on queue 0 with written = 7.
class FakeDevice : public VirtioDevice {
 public:
  std::string_view name() const override { return "fake"; }
  uint32_t device_id() const override { return 42; }
  uint64_t device_features() const override { return (1ull << 3) | (1ull << kFeatureEventIdx); }
  size_t queue_count() const override { return 2; }
  uint16_t queue_max_size(size_t) const override { return 16; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override {
    for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < 8 ? config[offset + i] : 0;
  }
  void write_config(uint64_t offset, std::span<const uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) if (offset + i < 8) config[offset + i] = data[i];
  }
  IoLoop* loop() override { return nullptr; }
  void attach(VirtioHost& h) override { host = &h; }
  Result<void> activate() override {
    ++activations;
    if (!host->queue(0).ready()) return Error::format("queue 0 not ready");
    return Ok();
  }
  void process_queue(size_t index) override {
    ++notifies;
    Virtqueue& q = host->queue(index);
    for (;;) {
      auto c = q.pop(host->memory());
      if (!c) return host->mark_broken(c.error());
      if (!*c) break;
      (void)q.push_used(host->memory(), (*c)->head, 7);
      host->signal_used(index);
    }
  }
  void reset() override { ++resets; }
  size_t in_flight() const override { return 0; }
  Result<std::vector<uint8_t>> save_state() const override { return std::vector<uint8_t>{1, 2, 3}; }
  Result<void> restore_state(std::span<const uint8_t> s) override {
    if (s.size() != 3 || s[0] != 1) return Error::format("bad fake state");
    return Ok();
  }

  VirtioHost* host = nullptr;
  uint8_t config[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  int activations = 0, notifies = 0, resets = 0;
};

class MmioTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = GuestMemory::create_anonymous(1 << 20);
    ASSERT_TRUE(m.ok());
    mem_.emplace(std::move(*m));
    auto dev = std::make_unique<FakeDevice>();
    dev_ = dev.get();
    t_ = std::make_unique<MmioTransport>(std::move(dev), *mem_, irq_);
    drv_.emplace(*t_);
    q0_.emplace(*mem_, alloc_, 16);
    q1_.emplace(*mem_, alloc_, 16);
  }
  uint64_t all_features() { return drv_->device_features(); }

  std::optional<GuestMemory> mem_;
  CountingInterrupt irq_;
  FakeDevice* dev_ = nullptr;
  std::unique_ptr<MmioTransport> t_;
  std::optional<MmioDriver> drv_;
  GuestAllocator alloc_{0x1000};
  std::optional<FakeQueue> q0_, q1_;
};

TEST_F(MmioTransportTest, Identification) {
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976u);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_VERSION), 2u);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_DEVICE_ID), 42u);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_VENDOR_ID), kVendorId);
  uint64_t f = all_features();
  EXPECT_TRUE(f & (1ull << kFeatureVersion1));
  EXPECT_TRUE(f & (1ull << 3));
  drv_->write32(VIRTIO_MMIO_QUEUE_SEL, 1);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_QUEUE_NUM_MAX), 16u);
  drv_->write32(VIRTIO_MMIO_QUEUE_SEL, 5);  // no such queue
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_QUEUE_NUM_MAX), 0u);
  // Misaligned or narrow register accesses read 0.
  uint8_t b[2] = {0xff, 0xff};
  t_->read(VIRTIO_MMIO_MAGIC_VALUE, {b, 2});
  EXPECT_EQ(b[0], 0);
}

TEST_F(MmioTransportTest, FeaturesWithoutVersion1AreRefused) {
  EXPECT_FALSE(drv_->negotiate(1ull << 3));
  EXPECT_FALSE(drv_->read32(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
}

TEST_F(MmioTransportTest, UnofferedFeaturesAreRefused) {
  EXPECT_FALSE(drv_->negotiate((1ull << kFeatureVersion1) | (1ull << 7)));
  EXPECT_TRUE(drv_->negotiate((1ull << kFeatureVersion1) | (1ull << 3)));
}

TEST_F(MmioTransportTest, DriverOkWithoutFeaturesOkBreaksDevice) {
  drv_->write32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
  drv_->write32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                        VIRTIO_CONFIG_S_DRIVER_OK);
  EXPECT_TRUE(t_->is_broken());
  EXPECT_TRUE(drv_->read32(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
  EXPECT_EQ(dev_->activations, 0);
}

TEST_F(MmioTransportTest, FullInitNotifyAndInterrupt) {
  ASSERT_TRUE(drv_->init(all_features(), {&*q0_, &*q1_}));
  EXPECT_EQ(dev_->activations, 1);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_STATUS) & 0xf, 0xfu);
  drv_->write32(VIRTIO_MMIO_QUEUE_SEL, 0);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_QUEUE_READY), 1u);

  q0_->publish(q0_->add_chain({{0x20000, 64, true}}));
  drv_->write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  EXPECT_EQ(dev_->notifies, 1);
  auto used = q0_->next_used();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, 7u);
  EXPECT_EQ(irq_.count, 1);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_INTERRUPT_STATUS), uint32_t{VIRTIO_MMIO_INT_VRING});
  drv_->write32(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_INTERRUPT_STATUS), 0u);

  // The ioeventfd path reaches the backend the same way; bogus indices don't.
  t_->notify_queue(1);
  t_->notify_queue(99);
  EXPECT_EQ(dev_->notifies, 2);
}

TEST_F(MmioTransportTest, QueueReadyRejectsBadRings) {
  ASSERT_TRUE(drv_->negotiate(all_features()));
  auto l = q0_->layout();
  l.desc_gpa = 0x7fff'0000'0000;  // outside guest RAM
  drv_->setup_queue(0, l);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_QUEUE_READY), 0u);
  EXPECT_TRUE(t_->is_broken());
  EXPECT_NE(t_->broken_reason().find("descriptor table"), std::string::npos) << t_->broken_reason();
  EXPECT_TRUE(drv_->read32(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
}

TEST_F(MmioTransportTest, QueueNumNotPowerOfTwoIsRejected) {
  ASSERT_TRUE(drv_->negotiate(all_features()));
  auto l = q0_->layout();
  l.size = 12;
  drv_->setup_queue(0, l);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_QUEUE_READY), 0u);
  EXPECT_TRUE(t_->is_broken());
}

TEST_F(MmioTransportTest, MalformedChainBreaksDeviceAndStopsProcessing) {
  ASSERT_TRUE(drv_->init(all_features(), {&*q0_, &*q1_}));
  q0_->write_desc(0, 0x20000, 8, kDescFNext, 0);  // self loop
  q0_->publish(0);
  drv_->write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  EXPECT_TRUE(t_->is_broken());
  EXPECT_TRUE(drv_->read32(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
  EXPECT_TRUE(drv_->read32(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
  int before = dev_->notifies;
  drv_->write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  EXPECT_EQ(dev_->notifies, before);  // no more processing until reset

  // Reset clears everything and the device works again.
  int resets = dev_->resets;
  drv_->write32(VIRTIO_MMIO_STATUS, 0);
  EXPECT_FALSE(t_->is_broken());
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_STATUS), 0u);
  EXPECT_EQ(dev_->resets, resets + 1);
  FakeQueue fresh0(*mem_, alloc_, 16), fresh1(*mem_, alloc_, 16);
  ASSERT_TRUE(drv_->init(all_features(), {&fresh0, &fresh1}));
  fresh0.publish(fresh0.add_chain({{0x20000, 8, true}}));
  drv_->write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  EXPECT_TRUE(fresh0.next_used().has_value());
}

TEST_F(MmioTransportTest, StatusCannotClearBits) {
  ASSERT_TRUE(drv_->negotiate(all_features()));
  drv_->write32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
  EXPECT_TRUE(drv_->read32(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
}

TEST_F(MmioTransportTest, QueueRegistersFrozenWhileReady) {
  ASSERT_TRUE(drv_->init(all_features(), {&*q0_, &*q1_}));
  drv_->write32(VIRTIO_MMIO_QUEUE_SEL, 0);
  drv_->write32(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x123000);
  auto saved = t_->save_state();
  ASSERT_TRUE(saved.ok());
  MmioTransportState s;
  std::memcpy(static_cast<void*>(&s), saved->data() + 8, sizeof s);
  EXPECT_EQ(s.queues[0].desc, q0_->layout().desc_gpa);
}

TEST_F(MmioTransportTest, ConfigSpaceAndGeneration) {
  uint8_t buf[4];
  t_->read(VIRTIO_MMIO_CONFIG + 2, {buf, 4});
  EXPECT_EQ(buf[0], 3);
  EXPECT_EQ(buf[3], 6);
  uint8_t one = 0x77;
  t_->write(VIRTIO_MMIO_CONFIG + 1, {&one, 1});
  EXPECT_EQ(dev_->config[1], 0x77);
  ASSERT_TRUE(drv_->init(all_features(), {&*q0_, &*q1_}));
  uint32_t gen = drv_->read32(VIRTIO_MMIO_CONFIG_GENERATION);
  {
    std::lock_guard lock(dev_->host->mutex());
    dev_->host->signal_config_change();
  }
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
  EXPECT_TRUE(drv_->read32(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
}

TEST_F(MmioTransportTest, SnapshotRoundTripResumesRings) {
  ASSERT_TRUE(drv_->init(all_features(), {&*q0_, &*q1_}));
  q0_->publish(q0_->add_chain({{0x20000, 8, true}}));
  drv_->write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  auto blob = t_->save_state();
  ASSERT_TRUE(blob.ok()) << blob.error().message;

  auto dev2 = std::make_unique<FakeDevice>();
  FakeDevice* d2 = dev2.get();
  CountingInterrupt irq2;
  MmioTransport t2(std::move(dev2), *mem_, irq2);
  auto r = t2.restore_state(*blob);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(d2->activations, 1);  // DRIVER_OK was set: backend re-activated
  EXPECT_EQ(irq2.count, 1);        // and the guest is re-notified once
  MmioDriver drv2(t2);
  EXPECT_EQ(drv2.read32(VIRTIO_MMIO_STATUS) & 0xf, 0xfu);
  // The ring continues where it was: the next chain lands in used slot 1.
  q0_->publish(q0_->add_chain({{0x20000, 8, true}}));
  t2.notify_queue(0);
  EXPECT_EQ(q0_->used_idx(), 2);
}

TEST_F(MmioTransportTest, RestoreRejectsCorruptState) {
  ASSERT_TRUE(drv_->init(all_features(), {&*q0_, &*q1_}));
  auto blob = t_->save_state();
  ASSERT_TRUE(blob.ok());
  std::vector<uint8_t> bad = *blob;
  bad[0] ^= 0xff;  // magic
  EXPECT_FALSE(t_->restore_state(bad).ok());
  bad = *blob;
  bad.resize(bad.size() - 1);  // truncated backend blob
  EXPECT_FALSE(t_->restore_state(bad).ok());
  // A queue pointing outside guest memory.
  bad = *blob;
  MmioTransportState s;
  std::memcpy(static_cast<void*>(&s), bad.data() + 8, sizeof s);
  s.queues[0].desc = 1ull << 40;
  std::memcpy(bad.data() + 8, &s, sizeof s);
  auto r = t_->restore_state(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("queue 0"), std::string::npos) << r.error().message;
  // Version from the future.
  bad = *blob;
  s.version = 99;
  std::memcpy(bad.data() + 8, &s, sizeof s);
  EXPECT_FALSE(t_->restore_state(bad).ok());
  // The live device is untouched by the failed restores.
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_STATUS) & 0xf, 0xfu);
}

}  // namespace
}  // namespace thaw::sandbox::virtio
