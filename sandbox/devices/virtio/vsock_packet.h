// virtio-vsock packet header (virtio 1.2 §5.10.6): pure parse/encode of the
// 44-byte little-endian header, and validation of what a guest may send.
// Used by VsockConnection and VsockDevice; no I/O here.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "common/result.h"

namespace thaw::sandbox::virtio {

inline constexpr uint64_t kVsockHostCid = 2;
inline constexpr size_t kVsockHeaderSize = 44;

enum class VsockOp : uint16_t {
  kInvalid = 0,
  kRequest = 1,
  kResponse = 2,
  kRst = 3,
  kShutdown = 4,
  kRw = 5,
  kCreditUpdate = 6,
  kCreditRequest = 7,
};
inline constexpr uint16_t kVsockTypeStream = 1;
inline constexpr uint32_t kVsockShutdownRcv = 1;   // peer will receive no more
inline constexpr uint32_t kVsockShutdownSend = 2;  // peer will send no more

struct VsockHeader {
  uint64_t src_cid = 0;
  uint64_t dst_cid = 0;
  uint32_t src_port = 0;
  uint32_t dst_port = 0;
  uint32_t len = 0;
  uint16_t type = kVsockTypeStream;
  VsockOp op = VsockOp::kInvalid;
  uint32_t flags = 0;
  uint32_t buf_alloc = 0;
  uint32_t fwd_cnt = 0;
};

// Field-by-field little-endian decode; needs exactly kVsockHeaderSize bytes.
Result<VsockHeader> decode_vsock_header(std::span<const uint8_t> bytes);
std::array<uint8_t, kVsockHeaderSize> encode_vsock_header(const VsockHeader& h);

// Checks a header the guest put on the TX queue: src_cid is the guest's
// CID, dst_cid the host, type STREAM, a known op, len only on RW and no
// larger than the payload the chain carries nor max_payload.
Result<void> validate_guest_header(const VsockHeader& h, uint64_t guest_cid,
                                   uint64_t payload_bytes, uint32_t max_payload);

const char* vsock_op_name(VsockOp op);

}  // namespace thaw::sandbox::virtio
