// SHA-256 (OpenSSL EVP) as lowercase hex: the content address of a package
// in the image store, and the check that a name really is such a digest.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace thaw::layers {

std::string sha256_hex(std::span<const uint8_t> data);

// True for exactly 64 lowercase hex digits; store paths are built from these
// only, so a digest from a request can never name another file.
bool is_sha256_hex(std::string_view s);

}  // namespace thaw::layers
