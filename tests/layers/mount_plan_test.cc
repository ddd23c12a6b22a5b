#include "layers/mount_plan.h"

#include <gtest/gtest.h>


#include "tests/layers/temp_dir.h"
#include "tests/layers/zip_builder.h"

namespace thaw::layers {
namespace {

using testing::TempDir;
using testing::ZipBuilder;

struct Fixture {
  TempDir tmp;
  std::unique_ptr<ImageStore> store;
  Fixture() {
    auto s = ImageStore::open({.state_dir = tmp / "state"});
    if (!s) throw std::runtime_error(s.error().message);
    store = std::make_unique<ImageStore>(std::move(*s));
  }
  ImageInfo put(const ZipBuilder& b) {
    auto r = store->put(b.build());
    if (!r) throw std::runtime_error(r.error().message);
    return *r;
  }
};

TEST(MountPlan, OrdersDisksAndChecksFunctionLimits) {
  Fixture f;
  auto code = f.put(ZipBuilder().file("bootstrap", "run", 0755));
  std::vector<std::string> layers;
  for (int i = 0; i < 6; ++i) layers.push_back(f.put(ZipBuilder().file("l", std::to_string(i))).digest);
  ZipPolicy policy;
  auto five = build_mount_plan(*f.store, "/runtime.erofs", code.digest,
                               {layers.begin(), layers.begin() + 5}, policy);
  ASSERT_TRUE(five) << five.error().message;
  EXPECT_EQ(five->root.target, "/");
  EXPECT_EQ(five->code.target, "/var/task");
  EXPECT_EQ(five->code.image_path, code.image_path);
  ASSERT_EQ(five->layers.size(), 5u);
  EXPECT_EQ(five->layers[4].digest, layers[4]);
  EXPECT_EQ(five->unpacked_bytes, 3u + 5);
  auto disks = five->disks();
  ASSERT_EQ(disks.size(), 7u);
  EXPECT_EQ(disks[0].image_path, "/runtime.erofs");
  EXPECT_EQ(disks[1].target, "/var/task");
  EXPECT_EQ(disks[6].digest, layers[4]);

  auto six = build_mount_plan(*f.store, "/runtime.erofs", code.digest, layers, policy);
  ASSERT_FALSE(six);
  EXPECT_NE(six.error().message.find("6 layers requested, over the limit of 5"),
            std::string::npos);
  auto twice = build_mount_plan(*f.store, "/r", code.digest, {layers[0], layers[0]}, policy);
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("listed twice"), std::string::npos);
  auto missing = build_mount_plan(*f.store, "/r", std::string(64, 'e'), {}, policy);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("upload the ZIP again"), std::string::npos);

  policy.max_unpacked_bytes = 5;  // code 3 + one layer 1 fits, two layers do not
  EXPECT_TRUE(build_mount_plan(*f.store, "/r", code.digest, {layers[0]}, policy));
  auto over = build_mount_plan(*f.store, "/r", code.digest, {layers[0], layers[1], layers[2]},
                               policy);
  ASSERT_FALSE(over);
  EXPECT_NE(over.error().message.find("unpack to 6 bytes together, over the limit of 5"),
            std::string::npos)
      << over.error().message;
}

}  // namespace
}  // namespace thaw::layers
