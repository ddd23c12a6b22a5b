// Tests of sandbox/devices/bus: routing by address, window edges, overlap
// rejection and hostile address/length combinations.
#include <gtest/gtest.h>

#include <memory>

#include "sandbox/devices/bus.h"

namespace thaw::sandbox {
namespace {

class Recorder : public Device {
 public:
  explicit Recorder(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  void read(uint64_t offset, std::span<uint8_t> data) override {
    last_offset = offset;
    for (auto& b : data) b = static_cast<uint8_t>(offset);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    last_offset = offset;
    last_size = data.size();
  }
  void reset() override {}
  Result<std::vector<uint8_t>> save_state() const override { return std::vector<uint8_t>{}; }
  Result<void> restore_state(std::span<const uint8_t>) override { return Ok(); }
  uint64_t last_offset = ~0ull;
  size_t last_size = 0;

 private:
  std::string name_;
};

TEST(Bus, RoutesToTheDeviceWithTheOffsetInItsWindow) {
  Bus bus;
  auto a = std::make_shared<Recorder>("a");
  auto b = std::make_shared<Recorder>("b");
  ASSERT_TRUE(bus.insert(0x3f8, 8, a));
  ASSERT_TRUE(bus.insert(0x60, 5, b));
  uint8_t v = 0;
  EXPECT_TRUE(bus.read(0x3fd, {&v, 1}));
  EXPECT_EQ(a->last_offset, 5u);
  EXPECT_EQ(v, 5);
  const uint8_t w = 1;
  EXPECT_TRUE(bus.write(0x64, {&w, 1}));
  EXPECT_EQ(b->last_offset, 4u);
}

TEST(Bus, AddressesOutsideEveryWindowAreUnclaimed) {
  Bus bus;
  ASSERT_TRUE(bus.insert(0x1000, 0x100, std::make_shared<Recorder>("a")));
  uint8_t v[4];
  EXPECT_FALSE(bus.read(0xfff, {v, 1}));
  EXPECT_FALSE(bus.read(0x1100, {v, 1}));
  EXPECT_TRUE(bus.read(0x10ff, {v, 1}));
  EXPECT_FALSE(bus.read(0x10fe, {v, 4})) << "an access straddling the window end is refused";
  EXPECT_FALSE(bus.read(~0ull, {v, 4}));
  EXPECT_FALSE(Bus().read(0, {v, 1}));
}

TEST(Bus, OverlappingWindowsAreRejectedNamingBothDevices) {
  Bus bus;
  ASSERT_TRUE(bus.insert(0x1000, 0x1000, std::make_shared<Recorder>("first")));
  auto r = bus.insert(0x1800, 0x1000, std::make_shared<Recorder>("second"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("second"), std::string::npos);
  EXPECT_NE(r.error().message.find("first"), std::string::npos);
  EXPECT_FALSE(bus.insert(0x800, 0x801, std::make_shared<Recorder>("below")));
  EXPECT_FALSE(bus.insert(0x1000, 1, std::make_shared<Recorder>("same")));
  EXPECT_TRUE(bus.insert(0x800, 0x800, std::make_shared<Recorder>("adjacent below")));
  EXPECT_TRUE(bus.insert(0x2000, 0x10, std::make_shared<Recorder>("adjacent above")));
  EXPECT_EQ(bus.entries().size(), 3u);
}

TEST(Bus, EmptyAndWrappingWindowsAreRejected) {
  Bus bus;
  EXPECT_FALSE(bus.insert(0x1000, 0, std::make_shared<Recorder>("empty")));
  EXPECT_FALSE(bus.insert(~0ull - 4, 16, std::make_shared<Recorder>("wraps")));
}

}  // namespace
}  // namespace thaw::sandbox
