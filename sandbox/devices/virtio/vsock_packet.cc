#include "sandbox/devices/virtio/vsock_packet.h"

#include <cstring>

namespace thaw::sandbox::virtio {

namespace {

template <typename T>
T load(std::span<const uint8_t> b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);  // x86 hosts: little-endian as the wire
  return v;
}

template <typename T>
void store(std::array<uint8_t, kVsockHeaderSize>& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

}  // namespace

// Offsets of struct virtio_vsock_hdr, §5.10.6 (packed, 44 bytes).
Result<VsockHeader> decode_vsock_header(std::span<const uint8_t> b) {
  if (b.size() != kVsockHeaderSize) {
    return Error::format("vsock header is {} bytes, expected {}", b.size(), kVsockHeaderSize);
  }
  VsockHeader h;
  h.src_cid = load<uint64_t>(b, 0);
  h.dst_cid = load<uint64_t>(b, 8);
  h.src_port = load<uint32_t>(b, 16);
  h.dst_port = load<uint32_t>(b, 20);
  h.len = load<uint32_t>(b, 24);
  h.type = load<uint16_t>(b, 28);
  h.op = static_cast<VsockOp>(load<uint16_t>(b, 30));
  h.flags = load<uint32_t>(b, 32);
  h.buf_alloc = load<uint32_t>(b, 36);
  h.fwd_cnt = load<uint32_t>(b, 40);
  return h;
}

std::array<uint8_t, kVsockHeaderSize> encode_vsock_header(const VsockHeader& h) {
  std::array<uint8_t, kVsockHeaderSize> b{};
  store(b, 0, h.src_cid);
  store(b, 8, h.dst_cid);
  store(b, 16, h.src_port);
  store(b, 20, h.dst_port);
  store(b, 24, h.len);
  store(b, 28, h.type);
  store(b, 30, static_cast<uint16_t>(h.op));
  store(b, 32, h.flags);
  store(b, 36, h.buf_alloc);
  store(b, 40, h.fwd_cnt);
  return b;
}

Result<void> validate_guest_header(const VsockHeader& h, uint64_t guest_cid,
                                   uint64_t payload_bytes, uint32_t max_payload) {
  // §5.10.6.1: the guest may only speak as itself; this device only knows
  // the host as a peer.
  if (h.src_cid != guest_cid) {
    return Error::format("vsock packet src_cid {} is not the guest's CID {}", h.src_cid,
                         guest_cid);
  }
  if (h.dst_cid != kVsockHostCid) {
    return Error::format("vsock packet dst_cid {} is not the host (CID {})", h.dst_cid,
                         kVsockHostCid);
  }
  if (h.type != kVsockTypeStream) {
    return Error::format("vsock packet type {} is not STREAM (1); SEQPACKET is not offered",
                         h.type);
  }
  if (h.op == VsockOp::kInvalid || static_cast<uint16_t>(h.op) > 7) {
    return Error::format("vsock packet op {} is unknown", static_cast<uint16_t>(h.op));
  }
  if (h.op != VsockOp::kRw && h.len != 0) {
    return Error::format("vsock {} packet carries len {}; only RW has payload",
                         vsock_op_name(h.op), h.len);
  }
  if (h.len > payload_bytes) {
    return Error::format("vsock packet len {} is larger than the {} payload bytes its buffer "
                         "holds",
                         h.len, payload_bytes);
  }
  if (h.len > max_payload) {
    return Error::format("vsock packet len {} exceeds the per-packet limit {}", h.len,
                         max_payload);
  }
  if (h.op == VsockOp::kShutdown &&
      (h.flags & ~(kVsockShutdownRcv | kVsockShutdownSend)) != 0) {
    return Error::format("vsock SHUTDOWN flags {:#x} has unknown bits", h.flags);
  }
  return Ok();
}

const char* vsock_op_name(VsockOp op) {
  switch (op) {
    case VsockOp::kInvalid: return "INVALID";
    case VsockOp::kRequest: return "REQUEST";
    case VsockOp::kResponse: return "RESPONSE";
    case VsockOp::kRst: return "RST";
    case VsockOp::kShutdown: return "SHUTDOWN";
    case VsockOp::kRw: return "RW";
    case VsockOp::kCreditUpdate: return "CREDIT_UPDATE";
    case VsockOp::kCreditRequest: return "CREDIT_REQUEST";
  }
  return "unknown";
}

}  // namespace thaw::sandbox::virtio
