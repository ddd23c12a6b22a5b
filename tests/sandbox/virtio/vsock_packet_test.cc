// Pure vsock header parse/encode and guest-header validation (§5.10.6).
#include "sandbox/devices/virtio/vsock_packet.h"

#include <gtest/gtest.h>

namespace thaw::sandbox::virtio {
namespace {

VsockHeader guest_rw(uint32_t len) {
  VsockHeader h;
  h.src_cid = 3;
  h.dst_cid = kVsockHostCid;
  h.src_port = 1000;
  h.dst_port = 1024;
  h.len = len;
  h.op = VsockOp::kRw;
  h.buf_alloc = 65536;
  h.fwd_cnt = 17;
  return h;
}

TEST(VsockPacket, EncodeDecodeRoundTripWithWireOffsets) {
  VsockHeader h = guest_rw(300);
  h.flags = 0x2;
  auto bytes = encode_vsock_header(h);
  EXPECT_EQ(bytes[0], 3);       // src_cid at 0
  EXPECT_EQ(bytes[8], 2);       // dst_cid at 8
  EXPECT_EQ(bytes[24], 300 & 0xff);  // len at 24
  EXPECT_EQ(bytes[25], 300 >> 8);
  EXPECT_EQ(bytes[28], 1);      // type at 28
  EXPECT_EQ(bytes[30], 5);      // op at 30
  EXPECT_EQ(bytes[40], 17);     // fwd_cnt at 40
  auto d = decode_vsock_header(bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->src_port, 1000u);
  EXPECT_EQ(d->dst_port, 1024u);
  EXPECT_EQ(d->len, 300u);
  EXPECT_EQ(d->op, VsockOp::kRw);
  EXPECT_EQ(d->flags, 2u);
  EXPECT_EQ(d->buf_alloc, 65536u);
}

TEST(VsockPacket, DecodeNeedsExactSize) {
  uint8_t short_buf[43] = {};
  EXPECT_FALSE(decode_vsock_header(short_buf).ok());
}

TEST(VsockPacket, ValidationRejectsSpoofingAndBadFields) {
  EXPECT_TRUE(validate_guest_header(guest_rw(10), 3, 10, 65536).ok());
  auto h = guest_rw(10);
  h.src_cid = 4;  // another guest's CID
  EXPECT_FALSE(validate_guest_header(h, 3, 10, 65536).ok());
  h = guest_rw(10);
  h.dst_cid = 5;  // not the host
  EXPECT_FALSE(validate_guest_header(h, 3, 10, 65536).ok());
  h = guest_rw(10);
  h.type = 2;  // SEQPACKET not offered
  EXPECT_FALSE(validate_guest_header(h, 3, 10, 65536).ok());
  h = guest_rw(11);  // len beyond the buffer
  auto r = validate_guest_header(h, 3, 10, 65536);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("len 11"), std::string::npos);
  h = guest_rw(70000);  // above the per-packet limit
  EXPECT_FALSE(validate_guest_header(h, 3, 80000, 65536).ok());
  h = guest_rw(4);
  h.op = VsockOp::kRequest;  // payload on a control packet
  EXPECT_FALSE(validate_guest_header(h, 3, 4, 65536).ok());
  h = guest_rw(0);
  h.op = static_cast<VsockOp>(9);
  EXPECT_FALSE(validate_guest_header(h, 3, 0, 65536).ok());
  h = guest_rw(0);
  h.op = VsockOp::kShutdown;
  h.flags = 4;
  EXPECT_FALSE(validate_guest_header(h, 3, 0, 65536).ok());
}

}  // namespace
}  // namespace thaw::sandbox::virtio
