#include "runtime-api/frame.h"

#include <cstring>

namespace thaw {
namespace {

void put_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t get_u32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

// Header layout (see .notes/runtime.md): offsets of each field.
constexpr size_t kOffMagic = 0, kOffVersion = 4, kOffHeaderLen = 6, kOffType = 8, kOffFlags = 10,
                 kOffPayloadLen = 12, kOffRequestId = 16, kOffReserved = 52;
static_assert(kOffReserved + 4 == kFrameHeaderSize);

bool id_char_ok(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

}  // namespace

std::string_view frame_type_name(FrameType type) {
  switch (type) {
    case FrameType::kInitConfig: return "init-config";
    case FrameType::kReady: return "ready";
    case FrameType::kInitError: return "init-error";
    case FrameType::kInvoke: return "invoke";
    case FrameType::kResponse: return "response";
    case FrameType::kError: return "error";
    case FrameType::kLogChunk: return "log-chunk";
    case FrameType::kMetrics: return "metrics";
    case FrameType::kRestoreNotice: return "restore-notice";
    case FrameType::kRestoreDone: return "restore-done";
    case FrameType::kRestoreError: return "restore-error";
    case FrameType::kShutdown: return "shutdown";
  }
  return "unknown";
}

Result<void> validate_request_id(std::string_view id) {
  if (id.size() > kRequestIdSize) {
    return Error::format("frame request id is {} bytes, over the {}-byte limit; use a UUID",
                         id.size(), kRequestIdSize);
  }
  for (size_t i = 0; i < id.size(); ++i) {
    if (!id_char_ok(id[i])) {
      return Error::format(
          "frame request id has byte 0x{:02x} at offset {}; only [0-9A-Za-z-] is allowed",
          static_cast<unsigned char>(id[i]), i);
    }
  }
  return Ok();
}

Result<std::array<uint8_t, kFrameHeaderSize>> encode_header(FrameType type, uint16_t flags,
                                                            std::string_view request_id,
                                                            size_t payload_length) {
  if (auto ok = validate_request_id(request_id); !ok) return std::move(ok).error();
  if (payload_length > kMaxFramePayload) {
    return Error::format("{} frame payload is {} bytes, over the {}-byte frame limit",
                         frame_type_name(type), payload_length, kMaxFramePayload);
  }
  if ((flags & ~kKnownFlags) != 0) {
    return Error::format("frame flags 0x{:04x} include unknown bits", flags);
  }
  std::array<uint8_t, kFrameHeaderSize> h{};
  put_u32(&h[kOffMagic], kFrameMagic);
  put_u16(&h[kOffVersion], kFrameVersion);
  put_u16(&h[kOffHeaderLen], kFrameHeaderSize);
  put_u16(&h[kOffType], static_cast<uint16_t>(type));
  put_u16(&h[kOffFlags], flags);
  put_u32(&h[kOffPayloadLen], static_cast<uint32_t>(payload_length));
  std::memcpy(&h[kOffRequestId], request_id.data(), request_id.size());
  return h;
}

Result<std::vector<uint8_t>> encode_frame(const Frame& frame) {
  auto h = encode_header(frame.type, frame.flags, frame.request_id, frame.payload.size());
  if (!h) return std::move(h).error();
  std::vector<uint8_t> out;
  out.reserve(kFrameHeaderSize + frame.payload.size());
  out.insert(out.end(), h->begin(), h->end());
  out.insert(out.end(), frame.payload.begin(), frame.payload.end());
  return out;
}

Result<FrameHeader> decode_header(std::span<const uint8_t> b) {
  if (b.size() != kFrameHeaderSize) {
    return Error::format("frame header is {} bytes; expected exactly {}", b.size(),
                         kFrameHeaderSize);
  }
  uint32_t magic = get_u32(&b[kOffMagic]);
  if (magic != kFrameMagic) {
    return Error::format("frame magic is 0x{:08x}, expected 0x{:08x}: the peer does not speak "
                         "the thaw frame protocol or the stream lost framing",
                         magic, kFrameMagic);
  }
  uint16_t version = get_u16(&b[kOffVersion]);
  if (version != kFrameVersion) {
    return Error::format("frame version {} is not supported (this side speaks {}); run the "
                         "same thaw release on host and guest",
                         version, kFrameVersion);
  }
  uint16_t header_len = get_u16(&b[kOffHeaderLen]);
  if (header_len != kFrameHeaderSize) {
    return Error::format("frame header length field is {}, expected {} for version {}",
                         header_len, kFrameHeaderSize, kFrameVersion);
  }
  uint16_t type = get_u16(&b[kOffType]);
  if (type == 0 || type > kMaxFrameType) {
    return Error::format("frame type {} is unknown (valid: 1..{})", type, kMaxFrameType);
  }
  uint16_t flags = get_u16(&b[kOffFlags]);
  if ((flags & ~kKnownFlags) != 0) {
    return Error::format("frame flags 0x{:04x} include unknown bits (known: 0x{:04x})", flags,
                         kKnownFlags);
  }
  if (flags & kFlagMore && static_cast<FrameType>(type) != FrameType::kResponse) {
    return Error::format("frame flag 'more' is only valid on response frames, got {}",
                         frame_type_name(static_cast<FrameType>(type)));
  }
  uint32_t payload_len = get_u32(&b[kOffPayloadLen]);
  if (payload_len > kMaxFramePayload) {
    return Error::format("frame payload length {} is over the {}-byte limit", payload_len,
                         kMaxFramePayload);
  }
  if (get_u32(&b[kOffReserved]) != 0) {
    return Error::format("frame reserved field is 0x{:08x}, must be 0",
                         get_u32(&b[kOffReserved]));
  }
  // The id is NUL-padded: take bytes up to the first NUL, and require the
  // padding after it to be all NULs so one header has one meaning.
  const char* id = reinterpret_cast<const char*>(&b[kOffRequestId]);
  size_t id_len = 0;
  while (id_len < kRequestIdSize && id[id_len] != '\0') ++id_len;
  for (size_t i = id_len; i < kRequestIdSize; ++i) {
    if (id[i] != '\0') {
      return Error::format("frame request id has a byte after its NUL terminator at offset {}",
                           i);
    }
  }
  FrameHeader h;
  h.type = static_cast<FrameType>(type);
  h.flags = flags;
  h.payload_length = payload_len;
  h.request_id.assign(id, id_len);
  if (auto ok = validate_request_id(h.request_id); !ok) return std::move(ok).error();
  return h;
}

Result<void> FrameDecoder::feed(std::span<const uint8_t> bytes) {
  if (poisoned_) return *poisoned_;
  // Compact before growing so a long-lived stream does not grow without bound.
  if (consumed_ > 0 && consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > (64u << 10) && consumed_ * 2 > buffer_.size()) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  return Ok();
}

Result<std::optional<Frame>> FrameDecoder::next() {
  if (poisoned_) return *poisoned_;
  size_t avail = buffer_.size() - consumed_;
  if (avail < kFrameHeaderSize) return std::optional<Frame>{};
  auto h = decode_header({buffer_.data() + consumed_, kFrameHeaderSize});
  if (!h) {
    poisoned_ = h.error();
    return *poisoned_;
  }
  if (avail < kFrameHeaderSize + h->payload_length) return std::optional<Frame>{};
  const uint8_t* p = buffer_.data() + consumed_ + kFrameHeaderSize;
  Frame f;
  f.type = h->type;
  f.flags = h->flags;
  f.request_id = std::move(h->request_id);
  f.payload.assign(p, p + h->payload_length);
  consumed_ += kFrameHeaderSize + h->payload_length;
  return std::optional<Frame>(std::move(f));
}

}  // namespace thaw
