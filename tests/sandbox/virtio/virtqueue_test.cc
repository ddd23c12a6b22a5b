// Split virtqueue parsing against rings laid out by the fake driver:
// chains, indirect tables, index wrap-around, EVENT_IDX, and every kind of
// malformed chain a hostile guest can build.
#include "sandbox/devices/virtio/virtqueue.h"

#include <gtest/gtest.h>

#include "sandbox/devices/virtio/virtio_spec.h"
#include "tests/sandbox/virtio/fake_driver.h"

namespace thaw::sandbox::virtio {
namespace {

using testing::Buf;
using testing::FakeQueue;
using testing::GuestAllocator;

class VirtqueueTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kMemSize = 1 << 20;
  void SetUp() override {
    auto m = GuestMemory::create_anonymous(kMemSize);
    ASSERT_TRUE(m.ok()) << m.error().message;
    mem_.emplace(std::move(*m));
  }
  void make(uint16_t size, bool event_idx = false, uint16_t max = 256) {
    fq_.emplace(*mem_, alloc_, size);
    vq_.emplace(max);
    auto r = vq_->configure(*mem_, fq_->layout(), event_idx);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  // Pops and expects a malformed-chain error containing `what`.
  void expect_broken(const char* what) {
    auto c = vq_->pop(*mem_);
    ASSERT_FALSE(c.ok()) << "malformed chain was accepted";
    EXPECT_NE(c.error().message.find(what), std::string::npos) << c.error().message;
  }

  std::optional<GuestMemory> mem_;
  GuestAllocator alloc_{0x1000};
  std::optional<FakeQueue> fq_;
  std::optional<Virtqueue> vq_;
};

TEST_F(VirtqueueTest, EmptyRingPopsNothing) {
  make(8);
  auto c = vq_->pop(*mem_);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
}

TEST_F(VirtqueueTest, SimpleChainReadableThenWritable) {
  make(8);
  uint16_t head = fq_->add_chain({{0x10000, 16, false}, {0x11000, 512, true}, {0x12000, 1, true}});
  fq_->publish(head);
  auto c = vq_->pop(*mem_);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE(c->has_value());
  const DescriptorChain& chain = **c;
  EXPECT_EQ(chain.head, head);
  ASSERT_EQ(chain.segments.size(), 3u);
  EXPECT_EQ(chain.segments[0].gpa, 0x10000u);
  EXPECT_FALSE(chain.segments[0].device_writable);
  EXPECT_TRUE(chain.segments[2].device_writable);
  EXPECT_EQ(chain.readable_bytes, 16u);
  EXPECT_EQ(chain.writable_bytes, 513u);

  ASSERT_TRUE(vq_->push_used(*mem_, chain.head, 513).ok());
  EXPECT_EQ(fq_->used_idx(), 1);
  auto used = fq_->next_used();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->id, head);
  EXPECT_EQ(used->len, 513u);
}

TEST_F(VirtqueueTest, IndirectChain) {
  make(8);
  uint64_t table = alloc_.alloc(16 * 3, 16);
  uint16_t head = fq_->add_indirect(
      {{0x10000, 16, false}, {0x11000, 4096, true}, {0x13000, 1, true}}, table);
  fq_->publish(head);
  auto c = vq_->pop(*mem_);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->segments.size(), 3u);
  EXPECT_EQ((*c)->readable_bytes, 16u);
  EXPECT_EQ((*c)->writable_bytes, 4097u);
}

TEST_F(VirtqueueTest, IndicesWrapPast65535) {
  make(4);
  // Start both sides just below the 16-bit wrap.
  VirtqueuePosition pos{65534, 65534, 0, false};
  ASSERT_TRUE(vq_->restore(*mem_, fq_->layout(), false, pos).ok());
  fq_->set_avail_idx(65534);
  for (int i = 0; i < 5; ++i) {
    uint16_t head = fq_->add_chain({{0x10000, 8, true}});
    fq_->publish(head);
    auto c = vq_->pop(*mem_);
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_TRUE(c->has_value()) << "iteration " << i;
    EXPECT_EQ((*c)->head, head);
    ASSERT_TRUE(vq_->push_used(*mem_, head, 8).ok());
  }
  EXPECT_EQ(fq_->avail_idx(), 3);  // 65534 + 5 wraps to 3
  EXPECT_EQ(fq_->used_idx(), 3);
  EXPECT_EQ(vq_->position().next_avail, 3);
}

TEST_F(VirtqueueTest, AvailIdxJumpBeyondQueueSizeIsRejected) {
  make(8);
  fq_->set_avail_idx(9);  // 9 new entries in an 8-entry ring
  expect_broken("more than the queue size");
}

TEST_F(VirtqueueTest, HeadIndexOutOfRange) {
  make(8);
  fq_->publish(8);
  expect_broken("head index 8");
}

TEST_F(VirtqueueTest, NextLoopIsDetected) {
  make(8);
  fq_->write_desc(0, 0x10000, 8, kDescFNext, 1);
  fq_->write_desc(1, 0x10000, 8, kDescFNext, 0);  // 0 -> 1 -> 0 ...
  fq_->publish(0);
  expect_broken("longer than the queue size");
}

TEST_F(VirtqueueTest, NextIndexOutOfRange) {
  make(8);
  fq_->write_desc(0, 0x10000, 8, kDescFNext, 200);
  fq_->publish(0);
  expect_broken("links to 200");
}

TEST_F(VirtqueueTest, BufferOutsideGuestMemory) {
  make(8);
  fq_->write_desc(0, kMemSize - 4, 8, 0, 0);  // straddles the end of RAM
  fq_->publish(0);
  expect_broken("outside guest RAM");
  // An address whose end overflows 64 bits.
  make(8);
  fq_->write_desc(0, ~0ull - 2, 16, 0, 0);
  fq_->publish(0);
  expect_broken("outside guest RAM");
}

TEST_F(VirtqueueTest, ReadableAfterWritableIsRejected) {
  make(8);
  fq_->publish(fq_->add_chain({{0x10000, 8, true}, {0x11000, 8, false}}));
  expect_broken("follows a device-writable");
}

TEST_F(VirtqueueTest, IndirectTableSizeChecks) {
  make(8);
  fq_->write_desc(0, alloc_.alloc(64), 24, kDescFIndirect, 0);  // not a multiple of 16
  fq_->publish(0);
  expect_broken("multiple of 16");

  make(8);
  fq_->write_desc(0, alloc_.alloc(16 * 257), 16 * 257, kDescFIndirect, 0);  // > QueueNumMax 256
  fq_->publish(0);
  expect_broken("more than QueueNumMax");

  make(8);
  fq_->write_desc(0, kMemSize - 16, 32, kDescFIndirect, 0);  // table past the end of RAM
  fq_->publish(0);
  expect_broken("outside guest RAM");

  make(8);
  fq_->write_desc(0, alloc_.alloc(32), 32, kDescFIndirect | kDescFNext, 1);
  fq_->publish(0);
  expect_broken("both INDIRECT and NEXT");
}

TEST_F(VirtqueueTest, IndirectTableMayExceedTheChosenQueueSize) {
  // Linux sizes indirect tables by seg_max + 2, not by QueueNum.
  make(8);
  std::vector<Buf> bufs;
  for (int i = 0; i < 20; ++i) bufs.push_back({0x10000u + 64u * i, 64, i > 0});
  fq_->publish(fq_->add_indirect(bufs, alloc_.alloc(16 * 20)));
  auto c = vq_->pop(*mem_);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->segments.size(), 20u);
}

TEST_F(VirtqueueTest, IndirectTableNeedsOnlyEightByteAlignment) {
  // The Linux guest's SLOB kmalloc hands out 8-byte aligned indirect tables.
  make(8);
  std::vector<Buf> bufs = {{0x10000, 16, false}, {0x10100, 512, true}, {0x10400, 1, true}};
  fq_->publish(fq_->add_indirect(bufs, alloc_.alloc(16 * 4, 16) + 8));
  auto c = vq_->pop(*mem_);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->segments.size(), 3u);
}

TEST_F(VirtqueueTest, NestedIndirectIsRejected) {
  make(8);
  uint64_t inner = alloc_.alloc(16, 16);
  uint64_t table = alloc_.alloc(16, 16);
  ASSERT_TRUE(mem_->write_obj(table, inner).ok());
  ASSERT_TRUE(mem_->write_obj<uint32_t>(table + 8, 16).ok());
  ASSERT_TRUE(mem_->write_obj<uint16_t>(table + 12, kDescFIndirect).ok());
  fq_->write_desc(0, table, 16, kDescFIndirect, 0);
  fq_->publish(0);
  expect_broken("nesting is forbidden");
}

TEST_F(VirtqueueTest, IndirectLoopIsDetected) {
  make(8);
  uint64_t table = alloc_.alloc(32, 16);
  for (uint16_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(mem_->write_obj<uint64_t>(table + 16 * i, 0x10000).ok());
    ASSERT_TRUE(mem_->write_obj<uint32_t>(table + 16 * i + 8, 8).ok());
    ASSERT_TRUE(mem_->write_obj<uint16_t>(table + 16 * i + 12, kDescFNext).ok());
    ASSERT_TRUE(mem_->write_obj<uint16_t>(table + 16 * i + 14, static_cast<uint16_t>(1 - i)).ok());
  }
  fq_->write_desc(0, table, 32, kDescFIndirect, 0);
  fq_->publish(0);
  expect_broken("longer than its table");
}

TEST_F(VirtqueueTest, IndirectOnlyAsHead) {
  make(8);
  uint64_t table = alloc_.alloc(16, 16);
  fq_->write_desc(0, 0x10000, 8, kDescFNext, 1);
  fq_->write_desc(1, table, 16, kDescFIndirect, 0);
  fq_->publish(0);
  expect_broken("not the head");
}

TEST_F(VirtqueueTest, ConfigureValidatesLayout) {
  Virtqueue vq(256);
  VirtqueueLayout good{8, 0x1000, 0x2000, 0x3000};
  EXPECT_TRUE(vq.configure(*mem_, good, false).ok());
  auto bad = good;
  bad.size = 6;  // not a power of two
  EXPECT_FALSE(vq.configure(*mem_, bad, false).ok());
  bad = good;
  bad.size = 512;  // above QueueNumMax
  EXPECT_FALSE(vq.configure(*mem_, bad, false).ok());
  bad = good;
  bad.desc_gpa = 0x1008;  // not 16-aligned
  auto r = vq.configure(*mem_, bad, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("aligned"), std::string::npos);
  bad = good;
  bad.used_gpa = kMemSize - 8;  // ring runs past RAM
  r = vq.configure(*mem_, bad, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("used ring"), std::string::npos);
}

TEST_F(VirtqueueTest, NoInterruptFlagSuppressesWithoutEventIdx) {
  make(8);
  fq_->publish(fq_->add_chain({{0x10000, 8, true}}));
  auto c = vq_->pop(*mem_);
  ASSERT_TRUE(c.ok() && c->has_value());
  ASSERT_TRUE(vq_->push_used(*mem_, (*c)->head, 0).ok());
  fq_->set_avail_flags(kAvailFNoInterrupt);
  EXPECT_FALSE(*vq_->should_interrupt(*mem_));
  fq_->set_avail_flags(0);
  EXPECT_TRUE(*vq_->should_interrupt(*mem_));
}

TEST_F(VirtqueueTest, EventIdxSuppressesUntilUsedEventPassed) {
  make(8, /*event_idx=*/true);
  // The driver wants an interrupt only once used idx passes 2 (3 entries).
  fq_->set_used_event(2);
  bool want[4] = {};
  for (int i = 0; i < 4; ++i) {
    fq_->publish(fq_->add_chain({{0x10000, 8, true}}));
    auto c = vq_->pop(*mem_);
    ASSERT_TRUE(c.ok() && c->has_value());
    ASSERT_TRUE(vq_->push_used(*mem_, (*c)->head, 0).ok());
    auto w = vq_->should_interrupt(*mem_);
    ASSERT_TRUE(w.ok());
    want[i] = *w;
  }
  // First interrupt is always sent (nothing signalled yet); then only when
  // used idx goes from 2 to 3 (crossing used_event = 2).
  EXPECT_TRUE(want[0]);
  EXPECT_FALSE(want[1]);
  EXPECT_TRUE(want[2]);
  EXPECT_FALSE(want[3]);
}

TEST_F(VirtqueueTest, ArmNotificationPublishesAvailEventAndSeesRaces) {
  make(8, /*event_idx=*/true);
  fq_->publish(fq_->add_chain({{0x10000, 8, true}}));
  auto c = vq_->pop(*mem_);
  ASSERT_TRUE(c.ok() && c->has_value());
  auto more = vq_->arm_notification(*mem_);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_EQ(fq_->avail_event(), 1);  // "notify me when you add entry 1"
  fq_->publish(fq_->add_chain({{0x10000, 8, true}}));
  more = vq_->arm_notification(*mem_);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(*more);  // a buffer arrived: the device must look again
}

TEST_F(VirtqueueTest, UndoPopReturnsTheSameChain) {
  make(8);
  uint16_t head = fq_->add_chain({{0x10000, 8, true}});
  fq_->publish(head);
  ASSERT_TRUE(vq_->pop(*mem_)->has_value());
  vq_->undo_pop();
  auto c = vq_->pop(*mem_);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->head, head);
}

}  // namespace
}  // namespace thaw::sandbox::virtio
