#include "layers/directory_sink.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_util.h"
#include "tests/layers/temp_dir.h"
#include "tests/layers/zip_builder.h"

namespace thaw::layers {
namespace {

using testing::TempDir;
using testing::ZipBuilder;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

TEST(DirectorySink, UnpacksModesDirectoriesSymlinksAndTimes) {
  TempDir tmp;
  auto sink = DirectorySink::create(tmp / "root");
  ASSERT_TRUE(sink) << sink.error().message;
  auto zip = ZipBuilder()
                 .file("bootstrap", "#!/bin/sh\n", 0755)
                 .dir("ro/", 0555)
                 .file("ro/data", "d", 0444)
                 .symlink("run", "bootstrap")
                 .file("implicit/x", "x", 0640)
                 .build();
  auto stats = read_zip(zip, {}, *sink);
  ASSERT_TRUE(stats) << stats.error().message;
  ASSERT_TRUE(sink->finish());
  EXPECT_EQ(mode_of(tmp / "root/bootstrap"), S_IFREG | 0755);
  EXPECT_EQ(mode_of(tmp / "root/ro"), S_IFDIR | 0555);
  EXPECT_EQ(mode_of(tmp / "root/ro/data"), S_IFREG | 0444);
  EXPECT_EQ(mode_of(tmp / "root/implicit"), S_IFDIR | 0755);
  EXPECT_EQ(mode_of(tmp / "root/implicit/x"), S_IFREG | 0640);
  EXPECT_TRUE(S_ISLNK(mode_of(tmp / "root/run")));
  char target[64] = {};
  ASSERT_GT(::readlink((tmp / "root/run").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "bootstrap");
  struct stat st {};
  ASSERT_EQ(::stat((tmp / "root/bootstrap").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 1700000000);  // ZipBuilder's time, kept for .pyc checks
  auto body = read_file(tmp / "root/bootstrap", 100);
  ASSERT_TRUE(body);
  EXPECT_EQ(std::string(body->begin(), body->end()), "#!/bin/sh\n");
}

TEST(DirectorySink, NeverWritesThroughASymlinkPlantedOnDisk) {
  // Even if a symlink slipped past the package checks, openat(O_NOFOLLOW)
  // refuses to walk through it.
  TempDir tmp;
  TempDir outside;
  auto sink = DirectorySink::create(tmp / "root");
  ASSERT_TRUE(sink);
  ASSERT_TRUE(sink->symlink("escape", outside.path(), 0));
  auto r = sink->begin_file("escape/owned", 0644, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno, ENOTDIR);
  EXPECT_NE(::access((outside / "owned").c_str(), F_OK), 0);
  auto leaf = sink->begin_file("escape", 0644, 0);
  EXPECT_FALSE(leaf) << "O_EXCL|O_NOFOLLOW must not open through the link";
}

TEST(DirectorySink, RefusesAnExistingRoot) {
  TempDir tmp;
  auto sink = DirectorySink::create(tmp.path());
  ASSERT_FALSE(sink);
  EXPECT_EQ(sink.error().sys_errno, EEXIST);
}

}  // namespace
}  // namespace thaw::layers
