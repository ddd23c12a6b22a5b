// The working-set file and its recording and prefetch
// (snapshot/working_set.h): decode refuses every malformed file; what a
// mapping touched is recorded page by page, read apart from written; and a
// prefetch leaves exactly the recorded pages mapped.
#include "snapshot/working_set.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "snapshot/memory_file.h"

namespace thaw::snapshot {
namespace {

constexpr uint64_t kPage = 4096;

WorkingSet sample() {
  WorkingSet s;
  s.memory_size = 64ull << 20;
  s.runs = {{0, 3, false}, {5 * kPage, 1, true}, {100 * kPage, 20, false}};
  return s;
}

std::string decode_error(const std::vector<uint8_t>& bytes) {
  auto r = decode_working_set(bytes);
  return r.ok() ? std::string("decoded") : r.error().message;
}

// The encoder writes whatever runs it is given, so tests can build the
// files a hostile or buggy writer would (overlapping runs, bad offsets).
std::vector<uint8_t> encode_raw(const WorkingSet& set) { return encode_working_set(set); }

TEST(WorkingSetFile, RoundTrips) {
  auto decoded = decode_working_set(encode_working_set(sample()));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->memory_size, 64ull << 20);
  ASSERT_EQ(decoded->runs.size(), 3u);
  EXPECT_EQ(decoded->runs[1].file_offset, 5 * kPage);
  EXPECT_TRUE(decoded->runs[1].written);
  EXPECT_FALSE(decoded->runs[2].written);
  EXPECT_EQ(decoded->page_count(), 24u);
}

TEST(WorkingSetFile, RefusesForeignCorruptAndTruncatedFiles) {
  auto bytes = encode_working_set(sample());
  auto bad = bytes;
  bad[0] = 'X';
  EXPECT_NE(decode_error(bad).find("bad magic"), std::string::npos);
  bad = bytes;
  bad[8] = 9;
  EXPECT_NE(decode_error(bad).find("working-set file has format version 9, this build reads 2; "
                                   "delete it"),
            std::string::npos);
  // Version 1 (no header-size field) files are refused by their version.
  bad = bytes;
  bad[8] = 1;
  EXPECT_NE(decode_error(bad).find("format version 1, this build reads 2"), std::string::npos);
  bad = bytes;
  bad[12] = 7;  // the header-size field after magic and version
  EXPECT_NE(decode_error(bad).find("working-set file header size is 7, not 56"),
            std::string::npos)
      << decode_error(bad);
  bad = bytes;
  bad.back() ^= 1;
  EXPECT_NE(decode_error(bad).find("checksum mismatch"), std::string::npos);
  bad = bytes;
  bad.resize(bad.size() - 3);
  EXPECT_NE(decode_error(bad).find("truncated or padded"), std::string::npos);
  bad.resize(10);
  EXPECT_NE(decode_error(bad), "decoded");
  EXPECT_NE(decode_error({}), "decoded");
}

TEST(WorkingSetFile, RefusesRunsOutsideOrAcrossEachOther) {
  auto with_runs = [](std::vector<PageRun> runs) {
    WorkingSet s;
    s.memory_size = 1 << 20;  // 256 pages
    s.runs = std::move(runs);
    return decode_error(encode_raw(s));
  };
  EXPECT_NE(with_runs({{255 * kPage, 2, false}}).find("leaves the 0x100000-byte memory file"),
            std::string::npos);
  EXPECT_NE(with_runs({{0, 4, false}, {2 * kPage, 1, true}}).find("overlaps the previous run"),
            std::string::npos);
  EXPECT_NE(with_runs({{100, 1, false}}).find("is malformed"), std::string::npos);
  EXPECT_NE(with_runs({{0, 0, false}}).find("is malformed"), std::string::npos);
  EXPECT_NE(with_runs({{~0ull & ~(kPage - 1), 1, false}}).find("leaves"), std::string::npos);
  EXPECT_EQ(with_runs({{0, 256, true}}), "decoded");
}

// Page kinds per page number, from a set's runs.
std::map<uint64_t, bool> pages_of(const WorkingSet& set) {
  std::map<uint64_t, bool> out;
  for (const auto& r : set.runs) {
    for (uint32_t i = 0; i < r.pages; ++i) out[r.file_offset / kPage + i] = r.written;
  }
  return out;
}

// The kernel maps page-cache neighbours of a read fault too ("fault
// around", 64 KiB-aligned windows by default), so a recording holds the
// touched pages plus, at most, cached pages of the same 16-page windows.
void expect_touched(const WorkingSet& recorded, const std::map<uint64_t, bool>& touched) {
  auto got = pages_of(recorded);
  for (auto [page, written] : touched) {
    ASSERT_TRUE(got.count(page)) << "page " << page << " was touched but not recorded";
    EXPECT_EQ(got[page], written) << "page " << page;
  }
  for (auto [page, written] : got) {
    bool near = false;
    for (auto [t, w] : touched) near |= t / 16 == page / 16;
    EXPECT_TRUE(near) << "page " << page << " was recorded but nothing near it was touched";
  }
}

class WorkingSetMapping : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = "/tmp/thaw-ws-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    file_ = dir_ + "/memory";
    int fd = ::open(file_.c_str(), O_RDWR | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, kSize), 0);
    uint8_t page[kPage];
    std::memset(page, 0x5a, sizeof page);
    // Page 64 is in the page cache but never touched: it must not appear.
    for (uint64_t p : {32, 33, 64, 96}) ASSERT_EQ(::pwrite(fd, page, kPage, p * kPage), ssize_t(kPage));
    ::close(fd);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static constexpr uint64_t kSize = 16ull << 20;
  std::string dir_, file_;
};

TEST_F(WorkingSetMapping, RecordsReadAndWrittenPagesApart) {
  auto memory = map_memory_file(file_, kSize);
  ASSERT_TRUE(memory.ok()) << memory.error().message;
  uint8_t b = 0;
  ASSERT_TRUE(memory->read(32 * kPage, {&b, 1}).ok());
  ASSERT_TRUE(memory->read(33 * kPage + 100, {&b, 1}).ok());
  EXPECT_EQ(b, 0x5a);
  ASSERT_TRUE(memory->write(96 * kPage, std::span<const uint8_t>(&b, 1)).ok());
  auto set = record_working_set(*memory);
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->memory_size, kSize);
  expect_touched(*set, {{32, false}, {33, false}, {96, true}});
  EXPECT_EQ(pages_of(*set).count(64), 0u);
}

TEST_F(WorkingSetMapping, PrefetchMapsTheRecordedPages) {
  WorkingSet set;
  set.memory_size = kSize;
  set.runs = {{32 * kPage, 2, false}, {96 * kPage, 1, true}, {2000 * kPage, 3, false}};
  auto memory = map_memory_file(file_, kSize);
  ASSERT_TRUE(memory.ok()) << memory.error().message;
  auto before = record_working_set(*memory);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->runs.empty());
  auto stats = prefetch_working_set(*memory, set);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->pages_read, 5u);
  EXPECT_EQ(stats->pages_written, 1u);
  auto after = record_working_set(*memory);
  ASSERT_TRUE(after.ok());
  expect_touched(*after, pages_of(set));
  // The page prefetched for writing is a private copy: the file keeps its data.
  const uint8_t mark = 0x11;
  ASSERT_TRUE(memory->write(96 * kPage, std::span<const uint8_t>(&mark, 1)).ok());
  auto again = map_memory_file(file_, kSize);
  ASSERT_TRUE(again.ok());
  uint8_t b = 0;
  ASSERT_TRUE(again->read(96 * kPage, {&b, 1}).ok());
  EXPECT_EQ(b, 0x5a);
}

TEST_F(WorkingSetMapping, PrefetchRefusesASetOfAnotherMemorySize) {
  auto memory = map_memory_file(file_, kSize);
  ASSERT_TRUE(memory.ok());
  WorkingSet set;
  set.memory_size = kSize * 2;
  auto r = prefetch_working_set(*memory, set);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("recorded for 33554432 bytes"), std::string::npos);
}

}  // namespace
}  // namespace thaw::snapshot
