// The vsock connection state machine without sockets: handshakes from
// both sides, data accounting, credit flow control in both directions,
// shutdown and reset.
#include "sandbox/devices/virtio/vsock_connection.h"

#include <gtest/gtest.h>

namespace thaw::sandbox::virtio {
namespace {

using Action = VsockConnection::GuestInput::Action;
using State = VsockConnection::State;

constexpr uint64_t kCid = 3;
constexpr uint32_t kBuf = 4096;

VsockHeader from_guest(VsockOp op, uint32_t len = 0, uint32_t buf_alloc = 8192,
                       uint32_t fwd_cnt = 0, uint32_t flags = 0) {
  VsockHeader h;
  h.src_cid = kCid;
  h.dst_cid = kVsockHostCid;
  h.src_port = 5000;
  h.dst_port = 77;
  h.op = op;
  h.len = len;
  h.buf_alloc = buf_alloc;
  h.fwd_cnt = fwd_cnt;
  h.flags = flags;
  return h;
}

VsockConnection established_from_guest() {
  VsockConnection c(kCid, 77, 5000, kBuf, State::kConnectingHost);
  c.on_guest_packet(from_guest(VsockOp::kRequest));
  c.on_host_connected();
  auto resp = c.take_control();
  EXPECT_TRUE(resp.has_value());
  EXPECT_EQ(resp->op, VsockOp::kResponse);
  return c;
}

TEST(VsockConnection, HostInitiatedHandshake) {
  VsockConnection c(kCid, 1u << 30, 1024, kBuf, State::kRequestToGuest);
  auto req = c.take_control();
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->op, VsockOp::kRequest);
  EXPECT_EQ(req->src_cid, kVsockHostCid);
  EXPECT_EQ(req->dst_cid, kCid);
  EXPECT_EQ(req->src_port, 1u << 30);
  EXPECT_EQ(req->dst_port, 1024u);
  EXPECT_EQ(req->buf_alloc, kBuf);
  EXPECT_FALSE(c.take_control().has_value());
  auto in = c.on_guest_packet(from_guest(VsockOp::kResponse));
  EXPECT_EQ(in.action, Action::kEstablished);
  EXPECT_EQ(c.state(), State::kEstablished);
  EXPECT_EQ(c.guest_credit(), 8192u);  // learned from the RESPONSE
}

TEST(VsockConnection, GuestRefusesWithRst) {
  VsockConnection c(kCid, 1u << 30, 1024, kBuf, State::kRequestToGuest);
  (void)c.take_control();
  EXPECT_EQ(c.on_guest_packet(from_guest(VsockOp::kRst)).action, Action::kClose);
  EXPECT_EQ(c.state(), State::kClosed);
  EXPECT_FALSE(c.owes_control());
}

TEST(VsockConnection, ResponseBeforeRequestSentIsAViolation) {
  VsockConnection c(kCid, 1u << 30, 1024, kBuf, State::kRequestToGuest);
  EXPECT_EQ(c.on_guest_packet(from_guest(VsockOp::kResponse)).action, Action::kReset);
  auto rst = c.take_control();
  ASSERT_TRUE(rst.has_value());
  EXPECT_EQ(rst->op, VsockOp::kRst);
  EXPECT_EQ(c.state(), State::kClosed);
}

TEST(VsockConnection, GuestInitiatedConnectFails) {
  VsockConnection c(kCid, 77, 5000, kBuf, State::kConnectingHost);
  c.on_host_connect_failed();
  auto rst = c.take_control();
  ASSERT_TRUE(rst.has_value());
  EXPECT_EQ(rst->op, VsockOp::kRst);
  EXPECT_EQ(rst->dst_port, 5000u);
}

TEST(VsockConnection, GuestDataWithinCreditIsDelivered) {
  auto c = established_from_guest();
  auto in = c.on_guest_packet(from_guest(VsockOp::kRw, 1000));
  EXPECT_EQ(in.action, Action::kDeliver);
  EXPECT_EQ(in.bytes, 1000u);
  EXPECT_EQ(c.buffered(), 1000u);
  c.on_forwarded(1000);
  EXPECT_EQ(c.buffered(), 0u);
}

TEST(VsockConnection, GuestExceedingCreditIsReset) {
  auto c = established_from_guest();
  EXPECT_EQ(c.on_guest_packet(from_guest(VsockOp::kRw, 4000)).action, Action::kDeliver);
  // 96 bytes of credit left; 100 more breaks the contract.
  EXPECT_EQ(c.on_guest_packet(from_guest(VsockOp::kRw, 100)).action, Action::kReset);
  EXPECT_EQ(c.take_control()->op, VsockOp::kRst);
}

TEST(VsockConnection, CreditUpdateOwedAfterHostDrainsHalf) {
  auto c = established_from_guest();
  c.on_guest_packet(from_guest(VsockOp::kRw, 3000));
  c.on_forwarded(100);
  // The guest still believes 3000 of 4096 are used: below half free.
  auto upd = c.take_control();
  ASSERT_TRUE(upd.has_value());
  EXPECT_EQ(upd->op, VsockOp::kCreditUpdate);
  EXPECT_EQ(upd->fwd_cnt, 100u);
  EXPECT_EQ(upd->buf_alloc, kBuf);
  c.on_forwarded(10);  // guest view: 2900 used of 4096 -> still below half free
  EXPECT_TRUE(c.owes_control());
}

TEST(VsockConnection, CreditRequestIsAnswered) {
  auto c = established_from_guest();
  EXPECT_FALSE(c.owes_control());
  c.on_guest_packet(from_guest(VsockOp::kCreditRequest));
  auto upd = c.take_control();
  ASSERT_TRUE(upd.has_value());
  EXPECT_EQ(upd->op, VsockOp::kCreditUpdate);
}

TEST(VsockConnection, HostToGuestStopsAtZeroCreditAndResumesOnUpdate) {
  auto c = established_from_guest();  // guest buf_alloc 8192, fwd_cnt 0
  EXPECT_EQ(c.guest_credit(), 8192u);
  auto rw = c.take_rw(8000);
  EXPECT_EQ(rw.op, VsockOp::kRw);
  EXPECT_EQ(rw.len, 8000u);
  EXPECT_EQ(c.guest_credit(), 192u);
  c.take_rw(192);
  EXPECT_EQ(c.guest_credit(), 0u);  // must not send more
  // The guest consumed 4096 bytes and says so.
  c.on_guest_packet(from_guest(VsockOp::kCreditUpdate, 0, 8192, 4096));
  EXPECT_EQ(c.guest_credit(), 4096u);
  // A guest shrinking its buffer below what is in flight gives zero, not a wrap.
  c.on_guest_packet(from_guest(VsockOp::kCreditUpdate, 0, 1024, 4096));
  EXPECT_EQ(c.guest_credit(), 0u);
}

TEST(VsockConnection, HostEofSendsShutdownAndGuestCanStillSend) {
  auto c = established_from_guest();
  c.on_host_eof();
  auto sd = c.take_control();
  ASSERT_TRUE(sd.has_value());
  EXPECT_EQ(sd->op, VsockOp::kShutdown);
  EXPECT_EQ(sd->flags, kVsockShutdownSend);
  EXPECT_EQ(c.guest_credit(), 0u);
  EXPECT_EQ(c.on_guest_packet(from_guest(VsockOp::kRw, 10)).action, Action::kDeliver);
}

TEST(VsockConnection, GuestFullShutdownGetsRstAfterDrain) {
  auto c = established_from_guest();
  c.on_guest_packet(from_guest(VsockOp::kRw, 500));
  auto in = c.on_guest_packet(
      from_guest(VsockOp::kShutdown, 0, 8192, 0, kVsockShutdownRcv | kVsockShutdownSend));
  EXPECT_EQ(in.action, Action::kShutdownHostWrite);
  EXPECT_FALSE(c.owes_control());  // 500 bytes still to reach the host
  EXPECT_FALSE(c.take_control().has_value());
  c.on_forwarded(500);
  EXPECT_TRUE(c.owes_control());
  EXPECT_EQ(c.take_control()->op, VsockOp::kRst);
  EXPECT_EQ(c.state(), State::kClosed);
}

TEST(VsockConnection, DataAfterGuestShutSendIsAViolation) {
  auto c = established_from_guest();
  c.on_guest_packet(from_guest(VsockOp::kShutdown, 0, 8192, 0, kVsockShutdownSend));
  EXPECT_EQ(c.on_guest_packet(from_guest(VsockOp::kRw, 1)).action, Action::kReset);
}

TEST(VsockConnection, DuplicateRequestResets) {
  auto c = established_from_guest();
  EXPECT_EQ(c.on_guest_packet(from_guest(VsockOp::kRequest)).action, Action::kReset);
}

}  // namespace
}  // namespace thaw::sandbox::virtio
