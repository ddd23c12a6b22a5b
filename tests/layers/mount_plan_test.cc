#include "layers/mount_plan.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/loop.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/file_util.h"
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

TEST(MountPlan, OverlayLowerdirPutsTheLastLayerOnTop) {
  auto s = overlay_lowerdir({"/l/1", "/l/2", "/l/3"});
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "/l/3:/l/2:/l/1");
  EXPECT_FALSE(overlay_lowerdir({}));
  EXPECT_FALSE(overlay_lowerdir({"/a:b"}));
  EXPECT_FALSE(overlay_lowerdir({"/a,upperdir=/x"}));
}

// ---- mounting the images for real (root only) ----

bool kernel_has(const std::string& fs) {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() >= fs.size() && line.substr(line.size() - fs.size()) == fs) return true;
  }
  return false;
}

// Mounts an EROFS image read-only: straight from the file where the kernel
// supports file-backed EROFS (Linux 6.12+), else through a loop device that
// goes away on unmount (LO_FLAGS_AUTOCLEAR).
Result<void> mount_erofs(const std::string& image, const std::string& dir) {
  if (::mount(image.c_str(), dir.c_str(), "erofs", MS_RDONLY, nullptr) == 0) return Ok();
  auto ctl = open_file("/dev/loop-control", O_RDWR);
  if (!ctl) return std::move(ctl).error();
  int n = ::ioctl(ctl->get(), LOOP_CTL_GET_FREE);
  if (n < 0) return Error::from_errno("LOOP_CTL_GET_FREE");
  std::string dev = "/dev/loop" + std::to_string(n);
  auto loop = open_file(dev, O_RDWR);
  if (!loop) return std::move(loop).error();
  auto img = open_file(image, O_RDONLY);
  if (!img) return std::move(img).error();
  loop_config cfg{};
  cfg.fd = static_cast<uint32_t>(img->get());
  cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
  if (::ioctl(loop->get(), LOOP_CONFIGURE, &cfg) != 0) return Error::from_errno("LOOP_CONFIGURE");
  if (::mount(dev.c_str(), dir.c_str(), "erofs", MS_RDONLY, nullptr) != 0) {
    return Error::from_errno("mount {} on {}", dev, dir);
  }
  return Ok();
}

// Unmounts in reverse order when the test ends, whatever happened.
struct Mounts {
  std::vector<std::string> dirs;
  ~Mounts() {
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
  }
  Result<void> unmount_all() {
    while (!dirs.empty()) {
      if (::umount2(dirs.back().c_str(), 0) != 0) return Error::from_errno("umount {}", dirs.back());
      dirs.pop_back();
    }
    return Ok();
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(MountPlanMount, OverlayInDocumentedOrderLaterLayerWinsAndCodeIsReadOnly) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  if (!kernel_has("erofs") || !kernel_has("overlay")) {
    GTEST_SKIP() << "kernel lacks erofs or overlay (see /proc/filesystems)";
  }
  // A private mount namespace: if the test dies, its mounts die with it.
  if (::unshare(CLONE_NEWNS) == 0) {
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
  }
  Fixture f;
  auto runtime = f.put(ZipBuilder().dir("var/task/").dir("opt/").dir("tmp/").file(
      "runtime-marker", "provided.al2023"));
  auto code = f.put(ZipBuilder()
                        .file("bootstrap", "#!/bin/sh\necho handler\n", 0755)
                        .file("handler.sh", "echo hi\n", 0644)
                        .symlink("run", "bootstrap"));
  auto layer1 = f.put(ZipBuilder()
                          .file("bin/tool", "tool from layer 1\n", 0755)
                          .file("shared/config", "layer 1\n"));
  auto layer2 = f.put(ZipBuilder().file("shared/config", "layer 2\n"));
  auto plan = build_mount_plan(*f.store, runtime.image_path, code.digest,
                               {layer1.digest, layer2.digest}, ZipPolicy{});
  ASSERT_TRUE(plan) << plan.error().message;

  // What thaw-init does in the guest, with directories for the disks.
  namespace fs = std::filesystem;
  std::string m = f.tmp / "m";
  std::string root = m + "/root";
  for (const auto& d : {m + "/rootimg", m + "/rw", root, m + "/l0", m + "/l1"}) {
    fs::create_directories(d);
  }
  Mounts mounts;
  auto mounted = [&](Result<void> r, const std::string& dir) {
    if (r) mounts.dirs.push_back(dir);
    return r.ok() ? std::string() : r.error().message;
  };
  ASSERT_EQ(mounted(mount_erofs(plan->root.image_path, m + "/rootimg"), m + "/rootimg"), "");
  ASSERT_EQ(::mount("tmpfs", (m + "/rw").c_str(), "tmpfs", 0, "size=4m"), 0);
  mounts.dirs.push_back(m + "/rw");
  fs::create_directories(m + "/rw/upper");
  fs::create_directories(m + "/rw/work");
  std::string root_opts =
      "lowerdir=" + m + "/rootimg,upperdir=" + m + "/rw/upper,workdir=" + m + "/rw/work";
  ASSERT_EQ(::mount("overlay", root.c_str(), "overlay", 0, root_opts.c_str()), 0)
      << strerror(errno);
  mounts.dirs.push_back(root);
  std::string task = root + plan->code.target;
  ASSERT_EQ(mounted(mount_erofs(plan->code.image_path, task), task), "");
  std::vector<std::string> layer_dirs;
  for (size_t i = 0; i < plan->layers.size(); ++i) {
    std::string dir = m + "/l" + std::to_string(i);
    ASSERT_EQ(mounted(mount_erofs(plan->layers[i].image_path, dir), dir), "");
    layer_dirs.push_back(dir);
  }
  auto lower = overlay_lowerdir(layer_dirs);
  ASSERT_TRUE(lower);
  std::string opt = root + "/opt";
  ASSERT_EQ(::mount("overlay", opt.c_str(), "overlay", MS_RDONLY, ("lowerdir=" + *lower).c_str()),
            0)
      << strerror(errno);
  mounts.dirs.push_back(opt);

  EXPECT_EQ(slurp(opt + "/shared/config"), "layer 2\n") << "the later layer must win";
  EXPECT_EQ(slurp(opt + "/bin/tool"), "tool from layer 1\n");
  EXPECT_EQ(slurp(root + "/runtime-marker"), "provided.al2023");
  struct stat st {};
  ASSERT_EQ(::stat((task + "/bootstrap").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 0755u) << "bootstrap must stay executable";
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(::stat((opt + "/bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  EXPECT_EQ(fs::read_symlink(task + "/run"), "bootstrap");
  EXPECT_EQ(slurp(task + "/run"), "#!/bin/sh\necho handler\n");

  int w = ::open((task + "/new-file").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  EXPECT_LT(w, 0);
  EXPECT_EQ(errno, EROFS) << "/var/task must be read-only";
  if (w >= 0) ::close(w);
  EXPECT_NE(::unlink((task + "/bootstrap").c_str()), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_NE(::mkdir((opt + "/x").c_str(), 0755), 0);
  EXPECT_EQ(errno, EROFS) << "/opt must be read-only";
  std::ofstream(root + "/scratch") << "root has a tmpfs upper";
  EXPECT_EQ(slurp(root + "/scratch"), "root has a tmpfs upper");

  auto down = mounts.unmount_all();
  EXPECT_TRUE(down) << down.error().message;
}

}  // namespace
}  // namespace thaw::layers
