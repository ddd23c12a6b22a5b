// The host<->guest frame: one fixed little-endian header plus a payload,
// spoken between thawd (or a test) and thaw-init over vsock or a Unix
// socket. Pure encode/decode; every header field from the peer is checked.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace thaw {

inline constexpr uint32_t kFrameMagic = 0x57414854;  // bytes "THAW" on the wire
inline constexpr uint16_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderSize = 56;
inline constexpr size_t kRequestIdSize = 36;  // a UUID in text form
// The largest payload either side accepts: a 6 MB (6291556-byte) invoke
// payload or response plus its metadata, with room to spare.
inline constexpr uint32_t kMaxFramePayload = 8u << 20;
// vsock port thaw-init listens on inside a microVM (see .notes/runtime.md).
inline constexpr uint32_t kThawChannelVsockPort = 1024;

enum class FrameType : uint16_t {
  kInitConfig = 1,     // host -> guest: environment, handler, mounts, limits
  kReady = 2,          // guest -> host: the runtime reached /next (init done)
  kInitError = 3,      // guest -> host: init failed (runtime error or exit)
  kInvoke = 4,         // host -> guest: one invocation
  kResponse = 5,       // guest -> host: the function's result (or a chunk)
  kError = 6,          // guest -> host: the invocation failed
  kLogChunk = 7,       // guest -> host: whole lines of runtime output
  kMetrics = 8,        // guest -> host: per-invocation duration and memory
  kRestoreNotice = 9,  // host -> guest: fresh entropy and wall clock
  kRestoreDone = 10,   // guest -> host: restore hooks ran, ready to invoke
  kRestoreError = 11,  // guest -> host: the runtime's restore hook failed
  kShutdown = 12,      // host -> guest: stop the runtime and power off
};
inline constexpr uint16_t kMaxFrameType = 12;

// kResponse with kFlagMore is one chunk of a streamed response; the last
// chunk carries no kFlagMore.
inline constexpr uint16_t kFlagMore = 1u << 0;
inline constexpr uint16_t kKnownFlags = kFlagMore;

std::string_view frame_type_name(FrameType type);

struct FrameHeader {
  FrameType type = FrameType::kShutdown;
  uint16_t flags = 0;
  uint32_t payload_length = 0;
  std::string request_id;  // empty for frames outside an invocation
};

struct Frame {
  FrameType type = FrameType::kShutdown;
  uint16_t flags = 0;
  std::string request_id;
  std::vector<uint8_t> payload;
};

// Rejects request ids that are too long or hold bytes outside [0-9A-Za-z-].
Result<void> validate_request_id(std::string_view id);

// Writes the header for `payload_length` bytes; fails on a bad request id or
// an over-limit length.
Result<std::array<uint8_t, kFrameHeaderSize>> encode_header(FrameType type, uint16_t flags,
                                                            std::string_view request_id,
                                                            size_t payload_length);
// Header + payload in one buffer.
Result<std::vector<uint8_t>> encode_frame(const Frame& frame);
// Parses exactly kFrameHeaderSize bytes.
Result<FrameHeader> decode_header(std::span<const uint8_t> bytes);

// Incremental decoder for a byte stream: feed() what recv() returned, then
// next() until it yields nothing. A malformed header poisons the decoder
// (the stream has lost framing); the caller drops the connection.
class FrameDecoder {
 public:
  Result<void> feed(std::span<const uint8_t> bytes);
  Result<std::optional<Frame>> next();
  size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  std::vector<uint8_t> buffer_;
  size_t consumed_ = 0;
  std::optional<Error> poisoned_;
};

}  // namespace thaw
