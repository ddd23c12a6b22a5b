#include "snapshot/sealed_file.h"

#include <openssl/sha.h>

#include <cstring>

#include "common/byte_io.h"

namespace thaw::snapshot {

static_assert(kSealedHeaderSize == 8 + 4 + 4 + 8 + SHA256_DIGEST_LENGTH);

std::vector<uint8_t> seal(const SealedFormat& format, std::span<const uint8_t> body) {
  ByteWriter file;
  file.put_bytes({reinterpret_cast<const uint8_t*>(format.magic.data()), format.magic.size()});
  file.put(format.version);
  file.put(kSealedHeaderSize);
  file.put(static_cast<uint64_t>(body.size()));
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(body.data(), body.size(), digest);
  file.put_bytes(digest);
  file.put_bytes(body);
  return file.take();
}

Result<std::span<const uint8_t>> unseal(const SealedFormat& format, std::span<const uint8_t> file) {
  ByteReader r(file);
  auto magic = r.get_bytes(format.magic.size(), "magic");
  if (!magic || std::memcmp(magic->data(), format.magic.data(), format.magic.size()) != 0) {
    return Error::format("not a thaw {} (bad magic)", format.what);
  }
  auto version = r.get<uint32_t>("format version");
  if (!version) return std::move(version).error().context(format.what);
  if (*version != format.version) {
    return Error::format("{} has format version {}, this build reads {}; {}", format.what,
                         *version, format.version, format.fix);
  }
  auto header_size = r.get<uint32_t>("header size");
  if (!header_size) return std::move(header_size).error().context(format.what);
  if (*header_size != kSealedHeaderSize) {
    return Error::format("{} header size is {}, not {} (corrupt file)", format.what, *header_size,
                         kSealedHeaderSize);
  }
  auto body_size = r.get<uint64_t>("body size");
  if (!body_size) return std::move(body_size).error().context(format.what);
  auto digest = r.get_bytes(SHA256_DIGEST_LENGTH, "checksum");
  if (!digest) return std::move(digest).error().context(format.what);
  if (*body_size != r.remaining()) {
    return Error::format("{} is truncated or padded: header says {} body bytes, file has {}",
                         format.what, *body_size, r.remaining());
  }
  auto body = r.get_bytes(*body_size, "body");
  if (!body) return std::move(body).error().context(format.what);
  uint8_t actual[SHA256_DIGEST_LENGTH];
  SHA256(body->data(), body->size(), actual);
  if (std::memcmp(actual, digest->data(), SHA256_DIGEST_LENGTH) != 0) {
    return Error::format("{} checksum mismatch: the file is corrupt", format.what);
  }
  return *body;
}

}  // namespace thaw::snapshot
