#include "layers/sha256.h"

#include <gtest/gtest.h>

namespace thaw::layers {
namespace {

TEST(Sha256, MatchesFips180Vectors) {
  auto bytes = [](std::string_view s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  // FIPS 180-2 appendix B.1 and the empty message.
  EXPECT_EQ(sha256_hex(bytes("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(bytes("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, RecognisesOnlyCanonicalDigests) {
  EXPECT_TRUE(is_sha256_hex(std::string(64, 'a')));
  EXPECT_FALSE(is_sha256_hex(std::string(64, 'A')));  // one spelling per digest
  EXPECT_FALSE(is_sha256_hex(std::string(63, 'a')));
  EXPECT_FALSE(is_sha256_hex(std::string(62, 'a') + "/."));
  EXPECT_FALSE(is_sha256_hex(""));
}

}  // namespace
}  // namespace thaw::layers
