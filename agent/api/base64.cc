#include "agent/api/base64.h"

#include <openssl/evp.h>

namespace thaw::agent {

std::string base64_encode(std::span<const uint8_t> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::vector<uint8_t>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  for (char c : text) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=';
    if (!ok) return std::nullopt;
  }
  size_t pad = 0;
  while (pad < text.size() && pad < 3 && text[text.size() - 1 - pad] == '=') ++pad;
  if (pad > 2 || text.substr(0, text.size() - pad).find('=') != std::string_view::npos) {
    return std::nullopt;
  }
  std::vector<uint8_t> out(text.size() / 4 * 3);
  // EVP_DecodeBlock counts padding as zero bytes; trim them afterwards.
  // Decode in slices: its length argument is an int.
  size_t written = 0;
  constexpr size_t kSlice = 1u << 30;  // a multiple of 4
  for (size_t off = 0; off < text.size(); off += kSlice) {
    size_t len = std::min(kSlice, text.size() - off);
    int n = EVP_DecodeBlock(out.data() + written,
                            reinterpret_cast<const unsigned char*>(text.data() + off),
                            static_cast<int>(len));
    if (n < 0) return std::nullopt;
    written += static_cast<size_t>(n);
  }
  out.resize(written - pad);
  return out;
}

std::optional<std::string> hex_to_base64(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return base64_encode(bytes);
}

}  // namespace thaw::agent
