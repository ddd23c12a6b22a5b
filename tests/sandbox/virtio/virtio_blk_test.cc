// virtio-blk (virtio 1.2 §5.2) through the mmio transport and a real
// io_uring loop on a temporary disk image: reads, writes, flush, GET_ID,
// bounds, read-only refusal, segment limits, framing, capacity changes.
#include "sandbox/devices/virtio/virtio_blk.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_mmio.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>

#include "sandbox/devices/virtio/mmio_transport.h"
#include "tests/sandbox/virtio/fake_driver.h"

namespace thaw::sandbox::virtio {
namespace {

using testing::Buf;
using testing::CountingInterrupt;
using testing::FakeQueue;
using testing::GuestAllocator;
using testing::MmioDriver;

constexpr uint64_t kSectors = 64;

class VirtioBlkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/thaw-blk-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    path_ = tmpl;
    file_.reset(fd);
    // Sector s is filled with the byte s.
    std::vector<uint8_t> img(kSectors * 512);
    for (uint64_t s = 0; s < kSectors; ++s) std::memset(img.data() + s * 512, int(s), 512);
    ASSERT_EQ(::pwrite(fd, img.data(), img.size(), 0), ssize_t(img.size()));
    auto loop = IoLoop::create();
    ASSERT_TRUE(loop.ok()) << loop.error().message;
    loop_ = std::move(*loop);
    auto m = GuestMemory::create_anonymous(4 << 20);
    ASSERT_TRUE(m.ok());
    mem_.emplace(std::move(*m));
  }
  void TearDown() override {
    t_.reset();
    ::unlink(path_.c_str());
  }

  void start(BlkConfig cfg = {}) {
    cfg.path = path_;
    auto blk = VirtioBlk::create(cfg, *loop_);
    ASSERT_TRUE(blk.ok()) << blk.error().message;
    blk_ = blk->get();
    t_ = std::make_unique<MmioTransport>(std::move(*blk), *mem_, irq_);
    drv_.emplace(*t_);
    q_.emplace(*mem_, alloc_, 64);
    ASSERT_TRUE(drv_->init(drv_->device_features(), {&*q_}));
    pump([&] { return t_->is_active(); });
    ASSERT_TRUE(t_->is_active());
  }

  // Runs the loop until done() or a 5 s deadline.
  void pump(const std::function<bool()>& done) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < end) {
      ASSERT_TRUE(loop_->run_once(10).ok());
    }
  }

  struct Req {
    uint64_t hdr, data, status;
  };
  // A request header (virtio 1.2 §5.2.6: type, reserved, sector) in guest
  // memory; returns its address.
  uint64_t write_header(uint32_t type, uint64_t sector) {
    uint64_t at = alloc_.alloc(16);
    uint32_t hdr[4] = {type, 0, uint32_t(sector), uint32_t(sector >> 32)};
    EXPECT_TRUE(mem_->write(at, {reinterpret_cast<uint8_t*>(hdr), 16}).ok());
    return at;
  }
  // Lays out header | data (len bytes, writable for IN) | status, submits
  // it, and waits for the used entry. Returns the used element.
  testing::UsedElem submit(uint32_t type, uint64_t sector, uint32_t len, Req* out = nullptr,
                           std::vector<Buf> data_bufs = {}) {
    Req r{write_header(type, sector), 0, 0};
    bool in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
    std::vector<Buf> bufs{{r.hdr, 16, false}};
    if (data_bufs.empty() && len > 0) {
      r.data = alloc_.alloc(len, 512);
      data_bufs.push_back({r.data, len, in});
    }
    bufs.insert(bufs.end(), data_bufs.begin(), data_bufs.end());
    r.status = alloc_.alloc(1, 1);
    EXPECT_TRUE(mem_->write_obj<uint8_t>(r.status, 0xee).ok());
    bufs.push_back({r.status, 1, true});
    q_->publish(q_->add_chain(bufs));
    drv_->write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    std::optional<testing::UsedElem> used;
    pump([&] { return (used = q_->next_used()).has_value() || t_->is_broken(); });
    if (out) *out = r;
    return used.value_or(testing::UsedElem{0xffff, 0});
  }
  uint8_t status_of(const Req& r) { return *mem_->read_obj<uint8_t>(r.status); }

  std::string path_;
  UniqueFd file_;
  std::unique_ptr<IoLoop> loop_;
  std::optional<GuestMemory> mem_;
  CountingInterrupt irq_;
  VirtioBlk* blk_ = nullptr;
  std::unique_ptr<MmioTransport> t_;
  std::optional<MmioDriver> drv_;
  GuestAllocator alloc_{0x1000};
  std::optional<FakeQueue> q_;
};

TEST_F(VirtioBlkTest, ConfigSpaceAndFeatures) {
  start();
  uint64_t cap = 0;
  t_->read(VIRTIO_MMIO_CONFIG, {reinterpret_cast<uint8_t*>(&cap), 8});
  EXPECT_EQ(cap, kSectors);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_CONFIG + 12), 126u);      // seg_max
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_CONFIG + 8), 1u << 20);   // size_max
  uint64_t f = drv_->device_features();
  EXPECT_TRUE(f & (1ull << VIRTIO_BLK_F_FLUSH));
  EXPECT_FALSE(f & (1ull << VIRTIO_BLK_F_RO));
}

TEST_F(VirtioBlkTest, ReadReturnsFileData) {
  start();
  Req r;
  auto used = submit(VIRTIO_BLK_T_IN, 3, 1024, &r);
  EXPECT_EQ(used.len, 1025u);
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_OK);
  std::vector<uint8_t> got(1024);
  ASSERT_TRUE(mem_->read(r.data, got).ok());
  EXPECT_EQ(got[0], 3);
  EXPECT_EQ(got[511], 3);
  EXPECT_EQ(got[512], 4);
  EXPECT_EQ(blk_->stats().bytes_read, 1024u);
  EXPECT_GE(irq_.count, 1);
}

TEST_F(VirtioBlkTest, WriteLandsInFileAndFlushSucceeds) {
  start();
  uint64_t data = alloc_.alloc(512, 512);
  std::vector<uint8_t> pattern(512, 0xab);
  ASSERT_TRUE(mem_->write(data, pattern).ok());
  Req r;
  auto used = submit(VIRTIO_BLK_T_OUT, 5, 512, &r, {{data, 512, false}});
  EXPECT_EQ(used.len, 1u);
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_OK);
  uint8_t back[512];
  ASSERT_EQ(::pread(file_.get(), back, 512, 5 * 512), 512);
  EXPECT_EQ(back[0], 0xab);
  EXPECT_EQ(back[511], 0xab);
  submit(VIRTIO_BLK_T_FLUSH, 0, 0, &r);
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_OK);
  auto st = blk_->stats();
  EXPECT_EQ(st.bytes_written, 512u);
  EXPECT_EQ(st.flushes, 1u);
}

TEST_F(VirtioBlkTest, ArbitraryFramingIsHandled) {
  start();
  // Header split 10 + 6 bytes; data and status share one buffer.
  uint64_t hdr = write_header(VIRTIO_BLK_T_IN, 7);
  uint64_t tail = alloc_.alloc(513, 512);
  q_->publish(q_->add_chain({{hdr, 10, false}, {hdr + 10, 6, false}, {tail, 513, true}}));
  drv_->write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  std::optional<testing::UsedElem> used;
  pump([&] { return (used = q_->next_used()).has_value(); });
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, 513u);
  EXPECT_EQ(*mem_->read_obj<uint8_t>(tail + 512), VIRTIO_BLK_S_OK);
  EXPECT_EQ(*mem_->read_obj<uint8_t>(tail), 7);
}

TEST_F(VirtioBlkTest, OutOfBoundsAndMisalignedRequestsFail) {
  start();
  Req r;
  submit(VIRTIO_BLK_T_IN, kSectors - 1, 1024, &r);  // runs one sector past the end
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_IOERR);
  submit(VIRTIO_BLK_T_IN, ~0ull - 1, 1024, &r);  // sector + count overflows
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_IOERR);
  submit(VIRTIO_BLK_T_IN, 0, 100, &r);  // not a whole sector
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_IOERR);
  submit(VIRTIO_BLK_T_IN, kSectors - 1, 512, &r);  // the last sector is fine
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_OK);
  EXPECT_EQ(blk_->stats().errors, 3u);
  EXPECT_FALSE(t_->is_broken());
}

TEST_F(VirtioBlkTest, ReadOnlyDiskRefusesWrites) {
  start({.read_only = true});
  EXPECT_TRUE(drv_->device_features() & (1ull << VIRTIO_BLK_F_RO));
  uint64_t data = alloc_.alloc(512, 512);
  std::vector<uint8_t> pattern(512, 0xcd);
  ASSERT_TRUE(mem_->write(data, pattern).ok());
  Req r;
  submit(VIRTIO_BLK_T_OUT, 1, 512, &r, {{data, 512, false}});
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_IOERR);
  uint8_t back = 0;
  ASSERT_EQ(::pread(file_.get(), &back, 1, 512), 1);
  EXPECT_EQ(back, 1);  // unchanged
  submit(VIRTIO_BLK_T_IN, 1, 512, &r);
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_OK);
}

TEST_F(VirtioBlkTest, GetIdAndUnsupported) {
  start({.serial = "disk-serial-1"});
  Req r;
  auto used = submit(VIRTIO_BLK_T_GET_ID, 0, 20, &r);
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_OK);
  EXPECT_EQ(used.len, 21u);
  char id[21] = {};
  ASSERT_TRUE(mem_->read(r.data, {reinterpret_cast<uint8_t*>(id), 20}).ok());
  EXPECT_STREQ(id, "disk-serial-1");
  submit(11 /* DISCARD, not offered */, 0, 0, &r);
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_UNSUPP);
}

TEST_F(VirtioBlkTest, SegmentLimitsAreEnforced) {
  start({.seg_max = 2, .size_max = 1024});
  Req r;
  std::vector<Buf> three;
  for (int i = 0; i < 3; ++i) three.push_back({alloc_.alloc(512, 512), 512, true});
  submit(VIRTIO_BLK_T_IN, 0, 0, &r, three);
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_IOERR);
  submit(VIRTIO_BLK_T_IN, 0, 2048, &r);  // one segment above size_max
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_IOERR);
  std::vector<Buf> two{{alloc_.alloc(1024, 512), 1024, true}, {alloc_.alloc(512, 512), 512, true}};
  submit(VIRTIO_BLK_T_IN, 0, 0, &r, two);
  EXPECT_EQ(status_of(r), VIRTIO_BLK_S_OK);
}

TEST_F(VirtioBlkTest, RequestWithoutStatusByteBreaksDevice) {
  start();
  uint64_t hdr = alloc_.alloc(16);
  q_->publish(q_->add_chain({{hdr, 16, false}}));
  drv_->write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  pump([&] { return t_->is_broken(); });
  EXPECT_TRUE(t_->is_broken());
  EXPECT_NE(t_->broken_reason().find("status byte"), std::string::npos);
}

TEST_F(VirtioBlkTest, ResetDropsInFlightCompletions) {
  start();
  uint64_t hdr = write_header(VIRTIO_BLK_T_IN, 0);
  uint64_t data = alloc_.alloc(513, 512);
  q_->publish(q_->add_chain({{hdr, 16, false}, {data, 513, true}}));
  t_->notify_queue(0);  // the ioeventfd path: request prepared, not completed
  EXPECT_EQ(blk_->in_flight(), 1u);
  EXPECT_EQ(t_->in_flight(), 1u);
  auto snap = t_->save_state();
  ASSERT_FALSE(snap.ok());
  EXPECT_NE(snap.error().message.find("in flight"), std::string::npos);
  drv_->write32(VIRTIO_MMIO_STATUS, 0);
  pump([&] { return blk_->in_flight() == 0; });
  EXPECT_EQ(blk_->in_flight(), 0u);
  EXPECT_EQ(q_->used_idx(), 0);  // the late completion never touched the ring
}

TEST_F(VirtioBlkTest, CapacityChangeRaisesConfigInterrupt) {
  start();
  uint32_t gen = drv_->read32(VIRTIO_MMIO_CONFIG_GENERATION);
  ASSERT_EQ(::ftruncate(file_.get(), (kSectors + 8) * 512), 0);
  ASSERT_TRUE(blk_->refresh_capacity().ok());
  EXPECT_EQ(blk_->capacity_sectors(), kSectors + 8);
  EXPECT_EQ(drv_->read32(VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
  EXPECT_TRUE(drv_->read32(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
}

TEST_F(VirtioBlkTest, SnapshotRoundTripContinuesOnANewDevice) {
  start();
  Req r;
  submit(VIRTIO_BLK_T_IN, 2, 512, &r);
  ASSERT_EQ(status_of(r), VIRTIO_BLK_S_OK);
  auto blob = t_->save_state();
  ASSERT_TRUE(blob.ok()) << blob.error().message;

  // A fresh transport + backend on the same image, as in a restored VMM.
  auto blk2 = VirtioBlk::create({.path = path_}, *loop_);
  ASSERT_TRUE(blk2.ok());
  CountingInterrupt irq2;
  MmioTransport t2(std::move(*blk2), *mem_, irq2);
  ASSERT_TRUE(t2.restore_state(*blob).ok());
  pump([&] { return t2.is_active(); });
  ASSERT_TRUE(t2.is_active());
  EXPECT_GE(irq2.count, 1);  // re-notified after restore

  uint64_t hdr = write_header(VIRTIO_BLK_T_IN, 9);
  uint64_t data = alloc_.alloc(512, 512), st = alloc_.alloc(1, 1);
  q_->publish(q_->add_chain({{hdr, 16, false}, {data, 512, true}, {st, 1, true}}));
  t2.notify_queue(0);
  std::optional<testing::UsedElem> used;
  pump([&] { return (used = q_->next_used()).has_value(); });
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(q_->used_idx(), 2);  // the ring carried on where it stopped
  EXPECT_EQ(*mem_->read_obj<uint8_t>(data), 9);

  // A read-write snapshot cannot be restored onto a read-only attachment.
  auto ro = VirtioBlk::create({.path = path_, .read_only = true}, *loop_);
  ASSERT_TRUE(ro.ok());
  MmioTransport t3(std::move(*ro), *mem_, irq2);
  auto bad = t3.restore_state(*blob);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("read-write"), std::string::npos) << bad.error().message;
}

TEST_F(VirtioBlkTest, MissingImageIsAPreciseError) {
  auto blk = VirtioBlk::create({.path = "/nonexistent/disk.img"}, *loop_);
  ASSERT_FALSE(blk.ok());
  EXPECT_NE(blk.error().message.find("/nonexistent/disk.img"), std::string::npos);
}

}  // namespace
}  // namespace thaw::sandbox::virtio
