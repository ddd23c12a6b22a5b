// Tests of sandbox/devices/serial: the 16550A registers as Linux's 8250
// driver uses them, transmit to an fd, receive FIFO, interrupts and
// snapshot state.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "common/unique_fd.h"
#include "sandbox/devices/serial.h"
#include "tests/sandbox/fake_interrupt.h"

namespace thaw::sandbox {
namespace {

constexpr uint64_t kThr = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6,
                   kScr = 7;

struct SerialFixture : ::testing::Test {
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
    irq = std::make_shared<testing::CountingLine>();
    serial = std::make_unique<Serial>(write_end.get(), irq);
  }
  uint8_t in(uint64_t offset) {
    uint8_t v = 0xee;
    serial->read(offset, {&v, 1});
    return v;
  }
  void out(uint64_t offset, uint8_t value) { serial->write(offset, {&value, 1}); }
  std::string drain() {
    char buf[256];
    ssize_t n = ::read(read_end.get(), buf, sizeof(buf));
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

  UniqueFd read_end, write_end;
  std::shared_ptr<testing::CountingLine> irq;
  std::unique_ptr<Serial> serial;
};

TEST_F(SerialFixture, TransmitsBytesToTheFdAndCountsThem) {
  for (char c : std::string("hi\n")) out(kThr, static_cast<uint8_t>(c));
  EXPECT_EQ(drain(), "hi\n");
  EXPECT_EQ(serial->bytes_written(), 3u);
  EXPECT_EQ(serial->bytes_dropped(), 0u);
}

TEST_F(SerialFixture, LsrAlwaysReportsAnEmptyTransmitter) {
  EXPECT_EQ(in(kLsr) & 0x60, 0x60);
  EXPECT_EQ(in(kLsr) & 0x01, 0) << "no data ready before input";
}

TEST_F(SerialFixture, DivisorLatchSharesTheDataAndIerPorts) {
  out(kLcr, 0x80);  // DLAB
  EXPECT_EQ(in(kThr), 12) << "reset divisor is 12 (9600 baud)";
  out(kThr, 0x01);
  out(kIer, 0x00);
  EXPECT_EQ(in(kThr), 0x01);
  EXPECT_EQ(in(kIer), 0x00);
  out(kLcr, 0x03);  // 8N1, DLAB off
  EXPECT_EQ(in(kLcr), 0x03);
  out(kThr, 'x');
  EXPECT_EQ(drain(), "x") << "with DLAB off the data port transmits again";
}

TEST_F(SerialFixture, ScratchRegisterHoldsItsValue) {
  out(kScr, 0x5a);
  EXPECT_EQ(in(kScr), 0x5a);
}

TEST_F(SerialFixture, ThrEmptyInterruptIsRaisedAndClearedByReadingIir) {
  EXPECT_EQ(in(kIir) & 0x0f, 0x01) << "no interrupt pending at reset";
  out(kIer, 0x02);  // enable THR-empty: the 16550A raises it at once
  EXPECT_EQ(irq->count, 1);
  EXPECT_EQ(in(kIir) & 0x0f, 0x02);
  EXPECT_EQ(in(kIir) & 0x0f, 0x01) << "reading IIR acknowledged THR empty";
  out(kThr, 'a');
  EXPECT_EQ(irq->count, 2) << "each transmitted byte empties THR again";
  EXPECT_EQ(in(kIir) & 0x0f, 0x02);
}

TEST_F(SerialFixture, NoInterruptWhenDisabled) {
  out(kThr, 'a');
  out(kThr, 'b');
  EXPECT_EQ(irq->count, 0);
}

TEST_F(SerialFixture, ReceivedBytesAreReadInOrderWithDataReadyAndInterrupt) {
  out(kIer, 0x01);
  const uint8_t input[] = {'o', 'k'};
  EXPECT_EQ(serial->feed_input(input), 2u);
  EXPECT_EQ(irq->count, 1);
  EXPECT_EQ(in(kLsr) & 0x01, 0x01);
  EXPECT_EQ(in(kIir) & 0x0f, 0x04) << "received data available";
  EXPECT_EQ(in(kThr), 'o');
  EXPECT_EQ(in(kThr), 'k');
  EXPECT_EQ(in(kLsr) & 0x01, 0);
  EXPECT_EQ(in(kIir) & 0x0f, 0x01);
  EXPECT_EQ(serial->bytes_read(), 2u);
}

TEST_F(SerialFixture, ReceiveFifoIsBounded) {
  std::vector<uint8_t> lots(1000, 'z');
  EXPECT_EQ(serial->feed_input(lots), SerialState::kFifoSize);
  EXPECT_EQ(serial->feed_input(lots), 0u);
  in(kThr);
  EXPECT_EQ(serial->feed_input(lots), 1u);
}

TEST_F(SerialFixture, FcrClearsTheReceiveFifoAndIirShowsFifosEnabled) {
  const uint8_t input[] = {'a'};
  serial->feed_input(input);
  out(kIir, 0x07);  // FCR: enable, clear RX, clear TX
  EXPECT_EQ(in(kLsr) & 0x01, 0);
  EXPECT_EQ(in(kIir) & 0xc0, 0xc0);
}

TEST_F(SerialFixture, LoopbackModeEchoesAndWiresModemLines) {
  // Linux's autoconfig: MCR = LOOP | OUT2 | RTS must read MSR = DCD | CTS.
  out(kMcr, 0x10 | 0x08 | 0x02);
  EXPECT_EQ(in(kMsr) & 0xf0, 0x90);
  out(kThr, 'L');
  EXPECT_EQ(drain(), "") << "loopback must not reach the host";
  EXPECT_EQ(in(kThr), 'L');
  out(kMcr, 0x00);
  EXPECT_EQ(in(kMsr) & 0xb0, 0xb0) << "carrier, DSR, CTS when not looped";
}

TEST_F(SerialFixture, WiderAccessesUseTheLowByte) {
  uint8_t wide[4] = {0xff, 0xff, 0xff, 0xff};
  serial->read(kLsr, wide);
  EXPECT_EQ(wide[0] & 0x60, 0x60);
  EXPECT_EQ(wide[1], 0);
  EXPECT_EQ(wide[3], 0);
}

TEST_F(SerialFixture, OutputToAFullPipeIsDroppedNotBlocking) {
  std::vector<char> fill(4096, 'f');
  while (::write(write_end.get(), fill.data(), fill.size()) > 0) {
  }
  out(kThr, 'x');  // the pipe is full and non-blocking: EAGAIN
  EXPECT_EQ(serial->bytes_dropped(), 1u);
  EXPECT_EQ(serial->bytes_written(), 0u);
}

TEST(Serial, WithoutAnOutputFdBytesAreDropped) {
  Serial orphan(-1, nullptr);
  uint8_t c = 'x';
  orphan.write(kThr, {&c, 1});
  EXPECT_EQ(orphan.bytes_dropped(), 1u);
}

TEST_F(SerialFixture, StateRoundTripsThroughSaveAndRestore) {
  out(kLcr, 0x83);
  out(kThr, 0x01);  // DLL
  out(kLcr, 0x03);
  out(kIer, 0x01);
  out(kScr, 0x42);
  const uint8_t input[] = {'r', 's'};
  serial->feed_input(input);
  auto blob = serial->save_state();
  ASSERT_TRUE(blob);

  Serial restored(-1, nullptr);
  ASSERT_TRUE(restored.restore_state(*blob));
  uint8_t v = 0;
  restored.read(kScr, {&v, 1});
  EXPECT_EQ(v, 0x42);
  restored.read(kIer, {&v, 1});
  EXPECT_EQ(v, 0x01);
  restored.read(kThr, {&v, 1});
  EXPECT_EQ(v, 'r');
  restored.read(kThr, {&v, 1});
  EXPECT_EQ(v, 's');
}

TEST_F(SerialFixture, RestoreRejectsForeignBlobsAndKeepsState) {
  out(kScr, 0x11);
  auto blob = *serial->save_state();
  auto bad = blob;
  bad[0] = 99;  // version
  auto r = serial->restore_state(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("version 99"), std::string::npos) << r.error().message;
  EXPECT_FALSE(serial->restore_state(std::span<const uint8_t>(blob.data(), 3)));
  SerialState hostile;
  hostile.rx_count = 1000;
  r = serial->restore_state({reinterpret_cast<const uint8_t*>(&hostile), sizeof(hostile)});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("FIFO"), std::string::npos);
  EXPECT_EQ(in(kScr), 0x11) << "a rejected restore leaves the device unchanged";
}

}  // namespace
}  // namespace thaw::sandbox
