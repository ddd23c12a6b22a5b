#include "layers/erofs_builder.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "layers/child_process.h"
#include "tests/layers/temp_dir.h"

namespace thaw::layers {
namespace {

using testing::TempDir;

std::string mkfs() {
  auto found = find_program("mkfs.erofs", "/usr/sbin:/usr/bin:/sbin:/bin");
  return found ? *found : std::string();
}

TEST(ErofsBuilder, BuildsAReadOnlyImageThatFsckAccepts) {
  if (mkfs().empty()) GTEST_SKIP() << "mkfs.erofs not installed (erofs-utils)";
  TempDir tmp;
  std::filesystem::create_directories(tmp / "src/bin");
  std::ofstream(tmp / "src/bin/run") << "#!/bin/sh\n";
  std::string image = tmp / "out.erofs";
  auto r = build_erofs_image(tmp / "src", image, {mkfs()});
  ASSERT_TRUE(r) << r.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(image.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_GT(st.st_size, 0);
  auto fsck = find_program("fsck.erofs", "/usr/sbin:/usr/bin:/sbin:/bin");
  if (fsck) {
    auto check = run_child({*fsck, image}, std::chrono::seconds(30));
    ASSERT_TRUE(check);
    EXPECT_EQ(check->exit_code, 0) << check->output;
  }
}

TEST(ErofsBuilder, NeverOverwritesAnExistingImage) {
  if (mkfs().empty()) GTEST_SKIP() << "mkfs.erofs not installed (erofs-utils)";
  TempDir tmp;
  std::filesystem::create_directories(tmp / "src");
  std::string image = tmp / "taken.erofs";
  std::ofstream(image) << "someone else's";
  auto r = build_erofs_image(tmp / "src", image, {mkfs()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno, EEXIST);
  std::ifstream in(image);
  std::string body((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(body, "someone else's");
}

TEST(ErofsBuilder, RemovesThePartialImageWhenMkfsFails) {
  if (mkfs().empty()) GTEST_SKIP() << "mkfs.erofs not installed (erofs-utils)";
  TempDir tmp;
  std::string image = tmp / "out.erofs";
  auto r = build_erofs_image(tmp / "no-such-source", image, {mkfs()});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("mkfs.erofs exited with status"), std::string::npos)
      << r.error().message;
  EXPECT_NE(::access(image.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace thaw::layers
