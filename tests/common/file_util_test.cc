#include "common/file_util.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

namespace thaw {
namespace {

class FileUtil : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/thaw-file-util-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(FileUtil, AtomicWriteReplacesWholeFileAndLeavesNoTemp) {
  std::string path = dir_ + "/state.json";
  std::vector<uint8_t> first(10000, 'a'), second(3, 'b');
  ASSERT_TRUE(write_file_atomic(path, first).ok());
  ASSERT_TRUE(write_file_atomic(path, second).ok());
  auto data = read_file(path, 1 << 20);
  ASSERT_TRUE(data.ok()) << data.error().message;
  EXPECT_EQ(*data, second);
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST_F(FileUtil, ReadFileRefusesOverLimit) {
  std::string path = dir_ + "/big";
  ASSERT_TRUE(write_file_atomic(path, std::vector<uint8_t>(100, 1)).ok());
  auto data = read_file(path, 99);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.error().message.find("over the limit of 99 bytes"), std::string::npos);
}

TEST_F(FileUtil, ReadExactReportsShortFile) {
  std::string path = dir_ + "/short";
  ASSERT_TRUE(write_file_atomic(path, std::vector<uint8_t>(4, 1)).ok());
  auto fd = open_file(path, O_RDONLY);
  ASSERT_TRUE(fd.ok());
  std::vector<uint8_t> buf(8);
  auto r = read_exact(fd->get(), buf, "short");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("after 4 of 8 bytes"), std::string::npos);
}

}  // namespace
}  // namespace thaw
