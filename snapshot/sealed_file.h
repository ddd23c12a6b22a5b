// The container both snapshot-side files use (state_file.cc for the state,
// working_set.cc for the working set): an 8-byte magic, a format version,
// the header size, the body size and the SHA-256 of the body, then the
// body. Opening it is a pure function over untrusted bytes that refuses a
// foreign, other-version, truncated, padded or corrupt file by name before
// any of the body is decoded.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace thaw::snapshot {

struct SealedFormat {
  std::string_view magic;  // exactly 8 bytes
  uint32_t version = 0;
  std::string_view what;  // "snapshot state file", used in every error
  std::string_view fix;   // what to do about a file of another version
};

// magic, version, header size, body size, SHA-256 of the body.
inline constexpr uint32_t kSealedHeaderSize = 8 + 4 + 4 + 8 + 32;

std::vector<uint8_t> seal(const SealedFormat& format, std::span<const uint8_t> body);
// The body, once magic, version, sizes and checksum are right.
Result<std::span<const uint8_t>> unseal(const SealedFormat& format, std::span<const uint8_t> file);

}  // namespace thaw::snapshot
