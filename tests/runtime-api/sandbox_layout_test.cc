#include "runtime-api/sandbox_layout.h"

#include <gtest/gtest.h>

namespace thaw {
namespace {

const MountSpec* find(const std::vector<MountSpec>& m, const std::string& target) {
  for (const auto& x : m) {
    if (x.target == target) return &x;
  }
  return nullptr;
}

TEST(SandboxLayout, ProcessBackendFromHostDirectories) {
  SandboxLayout l;
  l.stage = "/s";
  l.root = {"/", "bind"};
  l.code = {"/code", "bind"};
  l.layers = {{"/l1", "bind"}, {"/l2", "bind"}};
  l.tmp_size_mb = 10;
  auto m = layout_mounts(l);
  EXPECT_EQ(layout_root(l), "/s/root");
  EXPECT_EQ(m[0].target, "/s");
  EXPECT_EQ(m[0].fstype, "tmpfs");
  ASSERT_NE(find(m, "/s/root"), nullptr);
  EXPECT_EQ(find(m, "/s/root")->options, "lowerdir=/,upperdir=/s/upper,workdir=/s/work");
  EXPECT_TRUE(find(m, "/s/root/var/task")->read_only);
  EXPECT_EQ(find(m, "/s/root/var/task")->fstype, "bind");
  EXPECT_EQ(find(m, "/s/root/opt")->options, "lowerdir=/l2:/l1") << "later layers win";
  EXPECT_TRUE(find(m, "/s/root/opt")->read_only);
  EXPECT_EQ(find(m, "/s/root/tmp")->options, "mode=1777,size=10m");
  EXPECT_EQ(find(m, "/s/root/dev")->fstype, "tmpfs-dev");
  EXPECT_EQ(find(m, "/s/root/dev/urandom")->source, "/dev/urandom");
  EXPECT_EQ(find(m, "/dev/kvm"), nullptr);
  // Every target lies under the stage: nothing is mounted over the host.
  for (const auto& x : m) EXPECT_TRUE(x.target.starts_with("/s")) << x.target;
}

TEST(SandboxLayout, MicroVmFromVirtioBlockDevices) {
  SandboxLayout l;
  l.stage = "/sandbox";
  l.root = {"/dev/vda", "erofs"};
  l.code = {"/dev/vdb", "erofs"};
  l.layers = {{"/dev/vdc", "erofs"}};
  l.dev = DevNodes::kDevtmpfs;
  auto m = layout_mounts(l);
  ASSERT_NE(find(m, "/sandbox/image"), nullptr);
  EXPECT_EQ(find(m, "/sandbox/image")->source, "/dev/vda");
  EXPECT_TRUE(find(m, "/sandbox/image")->read_only);
  EXPECT_EQ(find(m, "/sandbox/root")->options,
            "lowerdir=/sandbox/image,upperdir=/sandbox/upper,workdir=/sandbox/work");
  EXPECT_EQ(find(m, "/sandbox/root/var/task")->fstype, "erofs");
  EXPECT_EQ(find(m, "/sandbox/layers/0")->source, "/dev/vdc");
  EXPECT_EQ(find(m, "/sandbox/root/opt")->source, "/sandbox/layers/0");
  EXPECT_EQ(find(m, "/sandbox/root/dev")->fstype, "devtmpfs");
  EXPECT_EQ(find(m, "/sandbox/root/dev/null"), nullptr);
}

TEST(SandboxLayout, NoLayersGivesAnEmptyReadOnlyOpt) {
  SandboxLayout l;
  l.stage = "/s";
  l.root = {"/img", "bind"};
  auto m = layout_mounts(l);
  EXPECT_EQ(find(m, "/s/root/opt")->fstype, "tmpfs");
  EXPECT_TRUE(find(m, "/s/root/opt")->read_only);
  EXPECT_EQ(find(m, "/s/root/var/task"), nullptr);
}

}  // namespace
}  // namespace thaw
