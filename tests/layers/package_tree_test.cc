#include "layers/package_tree.h"

#include <gtest/gtest.h>

namespace thaw::layers {
namespace {

TEST(PackageTree, ImplicitParentsAndExplicitDirectoryLater) {
  PackageTree t;
  ASSERT_TRUE(t.add("a/b/c", NodeKind::kFile));
  EXPECT_EQ(t.size(), 3u);  // a, a/b, a/b/c
  EXPECT_TRUE(t.add("a/b", NodeKind::kDirectory));
  auto again = t.add("a/b", NodeKind::kDirectory);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("appears twice"), std::string::npos);
}

TEST(PackageTree, RefusesDuplicatesAndFileParents) {
  PackageTree t;
  ASSERT_TRUE(t.add("x", NodeKind::kFile));
  EXPECT_FALSE(t.add("x", NodeKind::kFile));
  EXPECT_FALSE(t.add("x", NodeKind::kDirectory));
  auto under = t.add("x/y", NodeKind::kFile);
  ASSERT_FALSE(under);
  EXPECT_NE(under.error().message.find("'x' is a file"), std::string::npos);
}

TEST(PackageTree, RefusesWritesThroughSymlinks) {
  PackageTree t;
  ASSERT_TRUE(t.add("sub", NodeKind::kDirectory));
  ASSERT_TRUE(t.add("evil", NodeKind::kSymlink, "sub"));
  auto r = t.add("evil/file", NodeKind::kFile);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'evil' is a symlink"), std::string::npos);
}

TEST(PackageTree, SymlinksInsideThePackagePass) {
  PackageTree t;
  ASSERT_TRUE(t.add("lib/libfoo.so.1", NodeKind::kFile));
  ASSERT_TRUE(t.add("lib/libfoo.so", NodeKind::kSymlink, "libfoo.so.1"));
  ASSERT_TRUE(t.add("bin/up", NodeKind::kSymlink, "../lib"));
  ASSERT_TRUE(t.add("dangling", NodeKind::kSymlink, "not/there"));
  EXPECT_TRUE(t.check_symlinks());
}

TEST(PackageTree, CatchesEscapesThroughOtherSymlinks) {
  // d/s -> ".." is the root (fine), but x -> "d/s/.." then climbs above it,
  // though a purely lexical check sees "d/s/.." as "d".
  PackageTree t;
  ASSERT_TRUE(t.add("d/s", NodeKind::kSymlink, ".."));
  ASSERT_TRUE(t.add("x", NodeKind::kSymlink, "d/s/.."));
  auto r = t.check_symlinks();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("symlink 'x'"), std::string::npos);
  EXPECT_NE(r.error().message.find("leaves the package"), std::string::npos);
}

TEST(PackageTree, RefusesSymlinkLoops) {
  PackageTree t;
  ASSERT_TRUE(t.add("a", NodeKind::kSymlink, "b"));
  ASSERT_TRUE(t.add("b", NodeKind::kSymlink, "a"));
  auto r = t.check_symlinks();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("hops"), std::string::npos);
}

}  // namespace
}  // namespace thaw::layers
