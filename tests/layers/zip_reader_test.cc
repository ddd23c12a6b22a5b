#include "layers/zip_reader.h"

#include <archive_entry.h>
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "tests/layers/zip_builder.h"

namespace thaw::layers {
namespace {

using testing::RawZip;
using testing::ZipBuilder;

// Keeps what read_zip hands over, so tests can see exactly what got through.
struct RecordingSink : EntrySink {
  struct Node {
    char kind;  // 'd', 'f', 'l'
    uint32_t mode = 0;
    std::string data;
  };
  std::map<std::string, Node> nodes;
  std::string open_file;
  uint64_t bytes = 0;

  Result<void> directory(const std::string& p, uint32_t mode, int64_t) override {
    nodes[p] = {'d', mode, {}};
    return Ok();
  }
  Result<void> begin_file(const std::string& p, uint32_t mode, int64_t) override {
    nodes[p] = {'f', mode, {}};
    open_file = p;
    return Ok();
  }
  Result<void> file_data(std::span<const uint8_t> chunk) override {
    bytes += chunk.size();
    if (nodes[open_file].data.size() < 4096) {
      nodes[open_file].data.append(chunk.begin(), chunk.end());
    }
    return Ok();
  }
  Result<void> end_file() override { return Ok(); }
  Result<void> symlink(const std::string& p, const std::string& target, int64_t) override {
    nodes[p] = {'l', 0, target};
    return Ok();
  }
};

std::string read_error(const std::vector<uint8_t>& zip, const ZipPolicy& policy = {}) {
  RecordingSink sink;
  auto r = read_zip(zip, policy, sink);
  return r ? std::string("(accepted)") : r.error().message;
}

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

TEST(ZipReader, KeepsModesDirectoriesAndInsideSymlinks) {
  auto zip = ZipBuilder()
                 .file("bootstrap", "#!/bin/sh\necho hi\n", 0755)
                 .dir("lib/", 0750)
                 .file("lib/libx.so.1", "ELF", 0644)
                 .symlink("lib/libx.so", "libx.so.1")
                 .file("suid", "x", 04755)
                 .file("deep/er/file.txt", "text", 0600)
                 .build();
  RecordingSink sink;
  auto stats = read_zip(zip, {}, sink);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->files, 4u);
  EXPECT_EQ(stats->symlinks, 1u);
  EXPECT_EQ(stats->nodes, 8u);  // 4 files, lib, deep, deep/er, the symlink
  EXPECT_EQ(sink.nodes["bootstrap"].mode, 0755u);
  EXPECT_EQ(sink.nodes["bootstrap"].data, "#!/bin/sh\necho hi\n");
  EXPECT_EQ(sink.nodes["lib"].kind, 'd');
  EXPECT_EQ(sink.nodes["lib"].mode, 0750u);
  EXPECT_EQ(sink.nodes["lib/libx.so"].kind, 'l');
  EXPECT_EQ(sink.nodes["lib/libx.so"].data, "libx.so.1");
  EXPECT_EQ(sink.nodes["suid"].mode, 0755u) << "setuid must be dropped";
  EXPECT_EQ(sink.nodes["deep/er/file.txt"].mode, 0600u);
  EXPECT_EQ(stats->unpacked_bytes, 18u + 3 + 1 + 4 + 9);
}

TEST(ZipReader, AcceptsUtf8NamesRefusesEmptyArchives) {
  RecordingSink sink;
  auto r = read_zip(ZipBuilder().file("caf\xc3\xa9.txt", "x").build(), {}, sink);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(sink.nodes.count("caf\xc3\xa9.txt"), 1u);
  EXPECT_HAS(read_error(RawZip().build()), "no entries");
}

TEST(ZipReader, RefusesDotDotAndAbsoluteNames) {
  auto dotdot = read_error(RawZip().add({"ok.txt", "x"}).add({"../evil", "x"}).build());
  EXPECT_HAS(dotdot, "ZIP entry #2 '../evil'");
  EXPECT_HAS(dotdot, "'..'");
  auto nested = read_error(RawZip().add({"a/../../evil", "x"}).build());
  EXPECT_HAS(nested, "'a/../../evil'");
  auto abs = read_error(RawZip().add({"/etc/cron.d/x", "x"}).build());
  EXPECT_HAS(abs, "'/etc/cron.d/x'");
  EXPECT_HAS(abs, "absolute");
}

TEST(ZipReader, RefusesEscapingSymlinks) {
  auto up = read_error(ZipBuilder().symlink("lib/link", "../../etc/passwd").build());
  EXPECT_HAS(up, "ZIP entry #1 'lib/link'");
  EXPECT_HAS(up, "climbs above the package root");
  auto abs = read_error(ZipBuilder().symlink("link", "/etc/passwd").build());
  EXPECT_HAS(abs, "'link'");
  EXPECT_HAS(abs, "absolute");
  auto chain = read_error(ZipBuilder().symlink("d/s", "..").symlink("x", "d/s/..").build());
  EXPECT_HAS(chain, "symlink 'x'");
  auto through = read_error(
      ZipBuilder().dir("sub/").symlink("evil", "sub").file("evil/payload", "x").build());
  EXPECT_HAS(through, "ZIP entry #3 'evil/payload'");
  EXPECT_HAS(through, "'evil' is a symlink");
}

TEST(ZipReader, RefusesDevicesFifosAndSockets) {
  for (auto [mode, word] : {std::pair{0010644u, "a FIFO"}, std::pair{0020644u, "a character"},
                            std::pair{0060644u, "a block"}, std::pair{0140644u, "a socket"}}) {
    auto msg = read_error(RawZip().add({"node", "", mode}).build());
    EXPECT_HAS(msg, "ZIP entry #1 'node'");
    EXPECT_HAS(msg, word);
  }
}

TEST(ZipReader, RefusesHardLinksAndEncryptedEntriesByType) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "b");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_hardlink(e, "a");
  auto r = check_entry_type(e);
  ASSERT_FALSE(r);
  EXPECT_HAS(r.error().message, "hard link");
  archive_entry_free(e);
}

TEST(ZipReader, RefusesEncryptedEntries) {
  auto msg = read_error(RawZip().add({"secret.txt", std::string(20, 'z'), 0100644, 1}).build());
  EXPECT_HAS(msg, "ZIP entry #1 'secret.txt'");
  EXPECT_HAS(msg, "encrypted");
}

TEST(ZipReader, RefusesDuplicateNamesAfterNormalising) {
  auto same = read_error(RawZip().add({"a.txt", "1"}).add({"a.txt", "2"}).build());
  EXPECT_HAS(same, "ZIP entry #2 'a.txt'");
  EXPECT_HAS(same, "appears twice");
  auto spelled = read_error(RawZip().add({"a/b", "1"}).add({"./a//b", "2"}).build());
  EXPECT_HAS(spelled, "ZIP entry #2 './a//b'");
  auto kinds = read_error(ZipBuilder().file("x", "1").dir("x/").build());
  EXPECT_HAS(kinds, "appears twice");
}

TEST(ZipReader, RefusesZipOverSizeLimit) {
  ZipPolicy policy;
  policy.max_zip_bytes = 100;
  auto msg = read_error(ZipBuilder().file("f", std::string(200, 'q')).build(false), policy);
  EXPECT_HAS(msg, "over the limit of 100 bytes");
}

TEST(ZipReader, StopsAtTheUnpackedLimitWhileStreaming) {
  ZipPolicy policy;
  policy.max_unpacked_bytes = 1 << 20;
  // Declared sizes are honest here, so the entry is refused before a byte is written.
  RecordingSink sink;
  auto r = read_zip(ZipBuilder().file("big", std::string(2 << 20, '\0')).build(), policy, sink);
  ASSERT_FALSE(r);
  EXPECT_HAS(r.error().message, "ZIP entry #1 'big'");
  EXPECT_HAS(r.error().message, "1048576");
  EXPECT_EQ(sink.bytes, 0u);
  // Across entries the running total stops the stream at the crossing entry.
  RecordingSink sink2;
  ZipBuilder many;
  for (int i = 0; i < 8; ++i) many.file("part" + std::to_string(i), std::string(200000, 'a'));
  auto r2 = read_zip(many.build(), policy, sink2);
  ASSERT_FALSE(r2);
  EXPECT_HAS(r2.error().message, "ZIP entry #6 'part5'");
  EXPECT_LE(sink2.bytes, policy.max_unpacked_bytes);
}

TEST(ZipReader, CountsRealBytesWhenTheDirectoryLiesAboutSizes) {
  ZipPolicy policy;
  policy.max_unpacked_bytes = 1 << 20;
  policy.ratio_floor_bytes = 1ull << 40;  // only the unpacked limit may stop it
  auto zip = ZipBuilder().file("liar", std::string(8 << 20, '\0')).build();
  // Rewrite the directory's uncompressed size (APPNOTE 4.3.12, +24) to 100
  // bytes, so the declared size passes the early check and only the bytes
  // actually inflated can stop the entry.
  size_t eocd = zip.size() - 22;
  size_t cd = zip[eocd + 16] | zip[eocd + 17] << 8 | zip[eocd + 18] << 16 |
              static_cast<size_t>(zip[eocd + 19]) << 24;
  ASSERT_EQ(zip[cd], 0x50);
  // The local header (at offset 0) says the same, as libarchive cross-checks.
  for (size_t field : {cd + 24, size_t{22}}) {
    zip[field] = 100;
    zip[field + 1] = zip[field + 2] = zip[field + 3] = 0;
  }
  RecordingSink sink;
  auto r = read_zip(zip, policy, sink);
  ASSERT_FALSE(r);
  EXPECT_HAS(r.error().message, "ZIP entry #1 'liar'");
  EXPECT_HAS(r.error().message, "over the limit of 1048576 bytes");
  EXPECT_GT(sink.bytes, 100u) << "the stream ran past the declared size";
  EXPECT_LE(sink.bytes, policy.max_unpacked_bytes) << "no byte past the limit reaches disk";
}

TEST(ZipReader, RefusesBombRatio) {
  ZipPolicy policy;
  policy.max_ratio = 50;
  policy.ratio_floor_bytes = 64 * 1024;
  auto zip = ZipBuilder().file("zeros", std::string(4 << 20, '\0')).build();
  ASSERT_LT(zip.size() * 50, 4u << 20);
  RecordingSink sink;
  auto r = read_zip(zip, policy, sink);
  ASSERT_FALSE(r);
  EXPECT_HAS(r.error().message, "zip bomb");
  EXPECT_HAS(r.error().message, "'zeros'");
  EXPECT_LT(sink.bytes, 4u << 20) << "must stop while streaming";
}

TEST(ZipReader, RefusesOverlappingEntriesBomb) {
  // Fifield's "better zip bomb": many directory entries share one file's
  // data, so the unpacked size grows with no compression at all (libarchive
  // would silently read only the first). Refused before a byte is written.
  std::string kernel(64 * 1024, 'k');
  RawZip bomb;
  bomb.add({"f0", kernel});
  for (int i = 1; i < 300; ++i) bomb.add({"f" + std::to_string(i), kernel, 0100644, 0, 0});
  RecordingSink sink;
  auto r = read_zip(bomb.build(), ZipPolicy{}, sink);
  ASSERT_FALSE(r) << "accepted " << sink.bytes << " bytes";
  EXPECT_HAS(r.error().message, "ZIP entry #2 'f1' overlaps the data of entry #1 'f0'");
  EXPECT_HAS(r.error().message, "zip bomb");
  EXPECT_EQ(sink.bytes, 0u);
}

TEST(ZipReader, RefusesTooManyEntries) {
  ZipPolicy policy;
  policy.max_entries = 10;
  ZipBuilder b;
  for (int i = 0; i < 11; ++i) b.file("f" + std::to_string(i), "x");
  auto declared = read_error(b.build(), policy);
  EXPECT_HAS(declared, "declares 11 entries, over the limit of 10");
  // Implicit parent directories count: 4 entries, 12 nodes.
  ZipBuilder deep;
  for (int i = 0; i < 4; ++i) {
    std::string d = "d" + std::to_string(i);
    deep.file(d + "/" + d + "/f", "x");
  }
  auto implicit = read_error(deep.build(), policy);
  EXPECT_HAS(implicit, "ZIP entry #4");
  EXPECT_HAS(implicit, "more than 10 files, directories and symlinks");
}

TEST(ZipReader, BoundsTheMemoryNamesTake) {
  ZipPolicy policy;
  policy.max_total_name_bytes = 200;
  std::string deep;
  for (int i = 0; i < 10; ++i) deep += "directory" + std::to_string(i) + "/";
  // 10 parents of growing length: far more name bytes than the one entry name.
  auto msg = read_error(ZipBuilder().file(deep + "f", "x").build(), policy);
  EXPECT_HAS(msg, "ZIP entry #1");
  EXPECT_HAS(msg, "more than 200 bytes");
}

TEST(ZipReader, EscapesControlBytesInErrors) {
  auto msg = read_error(RawZip().add({"a\nSTART RequestId: forged", "x"}).build());
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_HAS(msg, "a\\x0aSTART");
}

TEST(ZipReader, RefusesNonZipInput) {
  EXPECT_HAS(read_error({}), "too short to be a ZIP");
  std::string text = "this is a plain text file, not a zip archive at all";
  EXPECT_HAS(read_error({text.begin(), text.end()}), "not a ZIP archive");
  std::vector<uint8_t> noise(4096);
  std::mt19937 rng(7);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  EXPECT_HAS(read_error(noise), "not a ZIP archive");
}

TEST(ZipReader, RefusesTruncatedInput) {
  auto zip = ZipBuilder().file("a.txt", std::string(5000, 'a')).file("b.txt", "b").build(false);
  std::vector<uint8_t> tail_cut(zip.begin(), zip.end() - 10);
  EXPECT_HAS(read_error(tail_cut), "is it truncated?");
  // Bytes missing from the middle: the directory now points past the data.
  std::vector<uint8_t> middle_cut;
  for (size_t i = 0; i < zip.size(); ++i) {
    if (i < 100 || i >= 3000) middle_cut.push_back(zip[i]);
  }
  EXPECT_HAS(read_error(middle_cut), "truncated or corrupt");
  // The directory itself cut short.
  auto short_dir = ZipBuilder().file("a", "1").file("b", "2").build(false);
  short_dir[short_dir.size() - 22 + 10] = 3;  // end record: 3 entries, directory holds 2
  short_dir[short_dir.size() - 22 + 8] = 3;
  EXPECT_HAS(read_error(short_dir), "ZIP entry #3: its central directory header is missing");
}

TEST(ZipReader, RefusesCorruptData) {
  auto zip = RawZip().add({"a.txt", std::string(64, 'a')}).build();
  zip[30 + 5 + 10] ^= 0xff;  // a byte of a.txt's stored data
  auto msg = read_error(zip);
  EXPECT_HAS(msg, "ZIP entry #1 'a.txt'");
  EXPECT_HAS(msg, "corrupt");
}

TEST(ZipReader, SkipsARootDirectoryEntry) {
  RecordingSink sink;
  auto r = read_zip(RawZip().add({"./", "", 040755}).add({"./a", "x"}).build(), {}, sink);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->nodes, 1u);
  EXPECT_HAS(read_error(RawZip().add({".", "x"}).build()), "ZIP entry #1 '.'");
}

}  // namespace
}  // namespace thaw::layers
