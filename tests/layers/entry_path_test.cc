#include "layers/entry_path.h"

#include <gtest/gtest.h>

namespace thaw::layers {
namespace {

const ZipPolicy kPolicy;

TEST(EntryPath, NormalisesDotsAndRepeatedSlashes) {
  auto p = normalize_entry_name("./a//b/./c", kPolicy);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->path, "a/b/c");
  EXPECT_FALSE(p->is_directory);
  auto d = normalize_entry_name("lib/", kPolicy);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->path, "lib");
  EXPECT_TRUE(d->is_directory);
}

TEST(EntryPath, RefusesTraversalAbsoluteAndOddBytes) {
  EXPECT_NE(normalize_entry_name("../etc/passwd", kPolicy).error().message.find("'..'"),
            std::string::npos);
  EXPECT_NE(normalize_entry_name("a/../../b", kPolicy).error().message.find("'..'"),
            std::string::npos);
  EXPECT_NE(normalize_entry_name("/etc/passwd", kPolicy).error().message.find("absolute"),
            std::string::npos);
  EXPECT_NE(normalize_entry_name("a\\b", kPolicy).error().message.find("backslash"),
            std::string::npos);
  EXPECT_NE(normalize_entry_name(std::string("a\nb"), kPolicy).error().message.find("0x0a"),
            std::string::npos);
  EXPECT_FALSE(normalize_entry_name("", kPolicy));
  auto root = normalize_entry_name("./", kPolicy);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->path, "");
  EXPECT_TRUE(root->is_directory);
  EXPECT_FALSE(normalize_entry_name(".", kPolicy));
}

TEST(EntryPath, RefusesOverLongAndDeepNames) {
  EXPECT_FALSE(normalize_entry_name(std::string(256, 'x'), kPolicy));
  EXPECT_TRUE(normalize_entry_name(std::string(255, 'x'), kPolicy));
  std::string deep;
  for (int i = 0; i < 65; ++i) deep += "d/";
  deep += "f";
  auto r = normalize_entry_name(deep, kPolicy);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("64"), std::string::npos);
}

TEST(EntryPath, LinkTargetsResolveFromTheLinkDirectory) {
  auto in = resolve_link_lexically("a/b/link", "../c/file", kPolicy);
  ASSERT_TRUE(in) << in.error().message;
  EXPECT_EQ(*in, "a/c/file");
  auto root = resolve_link_lexically("a/link", "..", kPolicy);
  ASSERT_TRUE(root);
  EXPECT_EQ(*root, "");
  auto out = resolve_link_lexically("a/link", "../../etc", kPolicy);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("climbs above"), std::string::npos);
  auto abs = resolve_link_lexically("link", "/etc/passwd", kPolicy);
  ASSERT_FALSE(abs);
  EXPECT_NE(abs.error().message.find("absolute"), std::string::npos);
  EXPECT_FALSE(resolve_link_lexically("link", "", kPolicy));
}

TEST(EntryPath, SplitAndParent) {
  auto parts = split_path("/a//b/");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0], "a");
  EXPECT_EQ(parts[1], "b");
  EXPECT_EQ(parent_of("a/b/c"), "a/b");
  EXPECT_EQ(parent_of("c"), "");
}

}  // namespace
}  // namespace thaw::layers
