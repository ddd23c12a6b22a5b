// Base64 (RFC 4648 §4) for the Lambda API's binary fields: Code.ZipFile in,
// CodeSha256 and X-Amz-Log-Result out. Thin wrappers over OpenSSL's EVP codec.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace thaw::agent {

std::string base64_encode(std::span<const uint8_t> bytes);
// nullopt for anything that is not canonical padded base64 (whitespace,
// other alphabets, bad padding, a length that is not a multiple of 4).
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);
// "ab01.." (hex) -> base64 of the bytes; nullopt when not even-length hex.
std::optional<std::string> hex_to_base64(std::string_view hex);

}  // namespace thaw::agent
