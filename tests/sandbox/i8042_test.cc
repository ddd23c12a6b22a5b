// Tests of sandbox/devices/i8042: the probe sequence Linux's i8042 driver
// runs, and the reset command that ends the VM.
#include <gtest/gtest.h>

#include "sandbox/devices/i8042.h"

namespace thaw::sandbox {
namespace {

constexpr uint64_t kData = 0;
constexpr uint64_t kCommand = 4;

struct I8042Fixture : ::testing::Test {
  uint8_t in(uint64_t offset) {
    uint8_t v = 0xee;
    dev.read(offset, {&v, 1});
    return v;
  }
  void out(uint64_t offset, uint8_t value) { dev.write(offset, {&value, 1}); }
  int resets = 0;
  I8042 dev{[this] { ++resets; }};
};

TEST_F(I8042Fixture, CommandFeIsAResetRequest) {
  out(kCommand, 0xfe);
  EXPECT_EQ(resets, 1);
  EXPECT_EQ(dev.reset_requests(), 1u);
}

TEST_F(I8042Fixture, WritingTheOutputPortWithResetLowIsAResetRequest) {
  out(kCommand, 0xd1);
  out(kData, 0x02);  // bit 0 low: CPU reset asserted
  EXPECT_EQ(resets, 1);
  out(kCommand, 0xd1);
  out(kData, 0x03);
  EXPECT_EQ(resets, 1);
}

TEST_F(I8042Fixture, SelfTestAnswers55AndSetsOutputFull) {
  EXPECT_EQ(in(kCommand) & 0x01, 0);
  out(kCommand, 0xaa);
  EXPECT_EQ(in(kCommand) & 0x01, 0x01);
  EXPECT_EQ(in(kData), 0x55);
  EXPECT_EQ(in(kCommand) & 0x01, 0);
  EXPECT_EQ(resets, 0);
}

TEST_F(I8042Fixture, ControlByteReadsBackWhatWasWritten) {
  out(kCommand, 0x60);
  out(kData, 0x47);
  out(kCommand, 0x20);
  EXPECT_EQ(in(kData), 0x47);
}

TEST_F(I8042Fixture, InterfaceTestsPassAndAuxLoopEchoes) {
  out(kCommand, 0xab);
  EXPECT_EQ(in(kData), 0x00);
  out(kCommand, 0xd3);
  out(kData, 0x5a);
  EXPECT_EQ(in(kCommand) & 0x21, 0x21) << "output full, from the AUX port";
  EXPECT_EQ(in(kData), 0x5a);
}

TEST_F(I8042Fixture, KeyboardBytesGetNoReplyWithoutAKeyboard) {
  out(kData, 0xf2);  // "identify keyboard"
  EXPECT_EQ(in(kCommand) & 0x01, 0);
}

TEST_F(I8042Fixture, OutputBufferIsBounded) {
  for (int i = 0; i < 100; ++i) out(kCommand, 0xaa);
  int n = 0;
  while (in(kCommand) & 0x01) {
    in(kData);
    ++n;
  }
  EXPECT_EQ(n, static_cast<int>(I8042State::kBufferSize));
}

TEST_F(I8042Fixture, StateRoundTripsAndForeignStateIsRejected) {
  out(kCommand, 0x60);
  out(kData, 0x33);
  out(kCommand, 0xaa);
  auto blob = dev.save_state();
  ASSERT_TRUE(blob);
  I8042 other(nullptr);
  ASSERT_TRUE(other.restore_state(*blob));
  uint8_t v;
  other.read(kData, {&v, 1});
  EXPECT_EQ(v, 0x55);
  other.write(kCommand, std::array<uint8_t, 1>{0x20});
  other.read(kData, {&v, 1});
  EXPECT_EQ(v, 0x33);

  I8042State hostile;
  hostile.out_count = 200;
  auto r = other.restore_state({reinterpret_cast<const uint8_t*>(&hostile), sizeof(hostile)});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("200"), std::string::npos) << r.error().message;
  EXPECT_FALSE(other.restore_state(std::span<const uint8_t>(blob->data(), 2)));
}

}  // namespace
}  // namespace thaw::sandbox
