#include "snapshot/memory_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace thaw::snapshot {
namespace {

class MemoryFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/thaw-memfile-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/vm.mem";
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(MemoryFile, SparseWhereZeroAndRestoresCopyOnWrite) {
  constexpr uint64_t kSize = 16 << 20;
  auto mem = sandbox::GuestMemory::create_memfd(kSize);
  ASSERT_TRUE(mem.ok()) << mem.error().message;
  ASSERT_TRUE(mem->write_obj<uint64_t>(0x1000, 0x1122334455667788).ok());
  ASSERT_TRUE(mem->write_obj<uint64_t>(kSize - 8, 42).ok());

  auto stats = write_memory_file(*mem, path_);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->bytes_total, kSize);
  EXPECT_EQ(stats->bytes_written, 2u * 4096);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSize);
  EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512, 64u * 1024) << "zero pages were written";

  auto restored = map_memory_file(path_, kSize);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(*restored->read_obj<uint64_t>(0x1000), 0x1122334455667788u);
  EXPECT_EQ(*restored->read_obj<uint64_t>(kSize - 8), 42u);
  EXPECT_EQ(*restored->read_obj<uint64_t>(0x800000), 0u);
  // A write to the restored guest must not reach the file others share.
  ASSERT_TRUE(restored->write_obj<uint64_t>(0x1000, 7).ok());
  auto again = map_memory_file(path_, kSize);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->read_obj<uint64_t>(0x1000), 0x1122334455667788u);
}

TEST_F(MemoryFile, RefusesWrongSize) {
  auto mem = sandbox::GuestMemory::create_anonymous(1 << 20);
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(write_memory_file(*mem, path_).ok());
  auto r = map_memory_file(path_, 2 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is 1048576 bytes, the snapshot needs 2097152"),
            std::string::npos);
}

}  // namespace
}  // namespace thaw::snapshot

namespace thaw::snapshot {
namespace {

// Saving reads only pages that can hold data: the memfd behind a large,
// mostly untouched guest does not grow to its full size while it is saved.
TEST_F(MemoryFile, SavingDoesNotAllocateUntouchedGuestPages) {
  constexpr uint64_t kSize = 64 << 20;
  auto mem = sandbox::GuestMemory::create_memfd(kSize);
  ASSERT_TRUE(mem.ok()) << mem.error().message;
  ASSERT_TRUE(mem->write_obj<uint64_t>(0x200000, 7).ok());
  auto stats = write_memory_file(*mem, path_);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->bytes_written, 4096u);
  struct stat st {};
  ASSERT_EQ(::fstat(mem->fd(), &st), 0);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 1u << 20)
      << "saving allocated the memfd's holes";
}

// A restored guest's writes live in private copy-on-write pages that the
// snapshot file does not have, even over its holes: saving again keeps them.
TEST_F(MemoryFile, SavingARestoredGuestKeepsItsCopyOnWritePages) {
  constexpr uint64_t kSize = 16 << 20;
  auto mem = sandbox::GuestMemory::create_memfd(kSize);
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(mem->write_obj<uint64_t>(0x1000, 1).ok());
  ASSERT_TRUE(write_memory_file(*mem, path_).ok());
  auto restored = map_memory_file(path_, kSize);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  ASSERT_TRUE(restored->write_obj<uint64_t>(0x1000, 2).ok());     // over data
  ASSERT_TRUE(restored->write_obj<uint64_t>(0x900000, 3).ok());   // over a hole
  std::string second = path_ + ".2";
  auto stats = write_memory_file(*restored, second);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->bytes_written, 2 * 4096u);
  auto again = map_memory_file(second, kSize);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->read_obj<uint64_t>(0x1000), 2u);
  EXPECT_EQ(*again->read_obj<uint64_t>(0x900000), 3u);
  ::unlink(second.c_str());
}

}  // namespace
}  // namespace thaw::snapshot
