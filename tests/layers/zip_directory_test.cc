#include "layers/zip_directory.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/layers/zip_builder.h"

namespace thaw::layers {
namespace {

using testing::RawZip;
using testing::ZipBuilder;

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// Rewrites a plain ZIP's end record into ZIP64 form (APPNOTE 4.3.14-4.3.16):
// 0xFFFF/0xFFFFFFFF markers pointing at a ZIP64 record and locator.
std::vector<uint8_t> as_zip64(std::vector<uint8_t> zip, uint64_t entries) {
  size_t eocd = zip.size() - 22;
  auto le = [](std::vector<uint8_t>& out, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  uint64_t cd_size = zip[eocd + 12] | zip[eocd + 13] << 8 | zip[eocd + 14] << 16;
  uint64_t cd_offset = zip[eocd + 16] | zip[eocd + 17] << 8 | zip[eocd + 18] << 16;
  std::vector<uint8_t> out(zip.begin(), zip.begin() + static_cast<long>(eocd));
  uint64_t rec = out.size();
  le(out, 0x06064b50, 4);
  le(out, 44, 8);
  le(out, 45, 2);
  le(out, 45, 2);
  le(out, 0, 4);
  le(out, 0, 4);
  le(out, entries, 8);
  le(out, entries, 8);
  le(out, cd_size, 8);
  le(out, cd_offset, 8);
  le(out, 0x07064b50, 4);
  le(out, 0, 4);
  le(out, rec, 8);
  le(out, 1, 4);
  le(out, 0x06054b50, 4);
  le(out, 0, 4);
  le(out, 0xffff, 2);
  le(out, 0xffff, 2);
  le(out, 0xffffffff, 4);
  le(out, 0xffffffff, 4);
  le(out, 0, 2);
  return out;
}

TEST(ZipDirectory, ReadsZip64EndRecords) {
  auto zip = as_zip64(RawZip().add({"a", "1"}).add({"b", "2"}).build(), 2);
  auto n = scan_central_directory(zip, 10);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2u);
  auto lying = as_zip64(RawZip().add({"a", "1"}).build(), 1ull << 40);
  auto r = scan_central_directory(lying, 65536);
  ASSERT_FALSE(r);
  EXPECT_HAS(r.error().message, "declares 1099511627776 entries");
  auto broken = zip;
  broken[broken.size() - 22 - 20 + 8] ^= 0x40;  // locator now points nowhere
  EXPECT_HAS(scan_central_directory(broken, 10).error().message, "ZIP64");
}

TEST(ZipDirectory, CountsEntries) {
  auto zip = ZipBuilder().file("a", "1").file("b", "2").build();
  auto n = scan_central_directory(zip, 10);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2u);
}

TEST(ZipDirectory, RefusesSpecialFilesByTheirUnixMode) {
  auto r = scan_central_directory(RawZip().add({"ok", "1"}).add({"pipe", "", 0010600}).build(), 10);
  ASSERT_FALSE(r);
  EXPECT_HAS(r.error().message, "ZIP entry #2 'pipe': it is a FIFO");
}

TEST(ZipDirectory, RefusesEntriesPointingAtNothing) {
  // One entry "a" holding "1": local header + name + data = 32 bytes, then
  // the directory header (offset field at +42, compressed size at +20).
  auto zip = RawZip().add({"a", "1"}).build();
  ASSERT_TRUE(scan_central_directory(zip, 10));
  auto bad_offset = zip;
  bad_offset[32 + 42] = 5;
  EXPECT_HAS(scan_central_directory(bad_offset, 10).error().message,
             "ZIP entry #1 'a': no local file header at offset 5");
  auto bad_size = zip;
  bad_size[32 + 20] = 0xff;
  bad_size[32 + 21] = 0x7f;
  EXPECT_HAS(scan_central_directory(bad_size, 10).error().message,
             "runs into the central directory");
}

TEST(ZipDirectory, FindsTheDirectoryAfterPrependedBytes) {
  // Self-extracting archives put a stub in front; offsets then read short.
  auto zip = RawZip().add({"a", "1"}).build();
  std::vector<uint8_t> sfx(100, 0x90);
  for (uint8_t b : zip) sfx.push_back(b);
  auto n = scan_central_directory(sfx, 10);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1u);
}

}  // namespace
}  // namespace thaw::layers
