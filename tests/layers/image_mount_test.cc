#include "layers/image_mount.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/file_util.h"
#include "layers/image_store.h"
#include "layers/mount_plan.h"
#include "tests/layers/temp_dir.h"
#include "tests/layers/zip_builder.h"

namespace thaw::layers {
namespace {

using testing::TempDir;
using testing::ZipBuilder;
namespace fs = std::filesystem;

TEST(ImageMount, OverlayLowerdirPutsTheLastLayerOnTop) {
  auto s = overlay_lowerdir({"/l/1", "/l/2", "/l/3"});
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "/l/3:/l/2:/l/1");
  EXPECT_FALSE(overlay_lowerdir({}));
  EXPECT_FALSE(overlay_lowerdir({"/a:b"}));
  EXPECT_FALSE(overlay_lowerdir({"/a,upperdir=/x"}));
}

TEST(ImageMount, RefusesSourcesThatAreNotImages) {
  TempDir tmp;
  auto dev = mount_erofs("/dev/null", tmp.path());
  ASSERT_FALSE(dev);
  EXPECT_NE(dev.error().message.find("neither a block device nor an image file"),
            std::string::npos);
  EXPECT_FALSE(mount_erofs(tmp / "missing.erofs", tmp.path()));
  EXPECT_TRUE(mount_layers({}, tmp.path())) << "no layers: nothing to mount";
}

// ---- mounting for real (root only) ----

bool kernel_has(const std::string& fs_name) {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() >= fs_name.size() &&
        line.compare(line.size() - fs_name.size(), fs_name.size(), fs_name) == 0) {
      return true;
    }
  }
  return false;
}

// Unmounts in reverse order when the test ends, whatever happened.
struct Mounts {
  std::vector<std::string> dirs;
  ~Mounts() {
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
  }
  std::string add(Result<void> r, const std::string& dir) {
    if (r) dirs.push_back(dir);
    return r ? std::string() : r.error().message;
  }
  Result<void> unmount_all() {
    while (!dirs.empty()) {
      if (::umount2(dirs.back().c_str(), 0) != 0) {
        return Error::from_errno("umount {}", dirs.back());
      }
      dirs.pop_back();
    }
    return Ok();
  }
};

// A file's contents (read to EOF: some are /sys files), or why it could
// not be read, so a failed comparison says so instead of showing "".
std::string slurp(const std::string& path) {
  auto text = read_pseudo_file(path, 1 << 20);
  return text ? *text : "<" + text.error().message + ">";
}

class ImageMountAsRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
    if (!kernel_has("erofs") || !kernel_has("overlay")) {
      GTEST_SKIP() << "kernel lacks erofs or overlay (see /proc/filesystems)";
    }
    // A private mount namespace: if the test dies, its mounts die with it.
    if (::unshare(CLONE_NEWNS) == 0) {
      ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
    }
    auto s = ImageStore::open({.state_dir = tmp_ / "state"});
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::make_unique<ImageStore>(std::move(*s));
  }
  ImageInfo put(const ZipBuilder& b) {
    auto r = store_->put(b.build());
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : ImageInfo{};
  }
  std::string dir(const std::string& name) {
    std::string d = tmp_ / name;
    fs::create_directories(d);
    return d;
  }

  TempDir tmp_;
  std::unique_ptr<ImageStore> store_;
};

TEST_F(ImageMountAsRoot, DocumentedLayoutLaterLayerWinsAndCodeIsReadOnly) {
  auto runtime = put(ZipBuilder().dir("var/task/").dir("opt/").dir("tmp/").file(
      "runtime-marker", "provided.al2023"));
  auto code = put(ZipBuilder()
                      .file("bootstrap", "#!/bin/sh\necho handler\n", 0755)
                      .file("handler.sh", "echo hi\n", 0644)
                      .symlink("run", "bootstrap"));
  auto layer1 = put(ZipBuilder()
                        .file("bin/tool", "tool from layer 1\n", 0755)
                        .file("shared/config", "layer 1\n"));
  auto layer2 = put(ZipBuilder().file("shared/config", "layer 2\n"));
  auto plan = build_mount_plan(*store_, runtime.image_path, code.digest,
                               {layer1.digest, layer2.digest}, ZipPolicy{});
  ASSERT_TRUE(plan) << plan.error().message;

  // What thaw-init does: "/" = runtime image under a tmpfs upper, the code
  // image at /var/task, the layers merged at /opt.
  std::string root = dir("root"), rootimg = dir("rootimg"), rw = dir("rw");
  Mounts m;
  ASSERT_EQ(m.add(mount_erofs(plan->root.image_path, rootimg), rootimg), "");
  ASSERT_EQ(::mount("tmpfs", rw.c_str(), "tmpfs", 0, "size=4m"), 0);
  m.dirs.push_back(rw);
  fs::create_directories(rw + "/upper");
  fs::create_directories(rw + "/work");
  std::string root_opts =
      "lowerdir=" + rootimg + ",upperdir=" + rw + "/upper,workdir=" + rw + "/work";
  ASSERT_EQ(::mount("overlay", root.c_str(), "overlay", 0, root_opts.c_str()), 0)
      << strerror(errno);
  m.dirs.push_back(root);
  std::string task = root + plan->code.target;
  ASSERT_EQ(m.add(mount_erofs(plan->code.image_path, task), task), "");
  std::vector<std::string> layer_dirs;
  for (size_t i = 0; i < plan->layers.size(); ++i) {
    std::string d = dir("layer" + std::to_string(i));
    ASSERT_EQ(m.add(mount_erofs(plan->layers[i].image_path, d), d), "");
    layer_dirs.push_back(d);
  }
  std::string opt = root + "/opt";
  ASSERT_EQ(m.add(mount_layers(layer_dirs, opt), opt), "");

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

  auto down = m.unmount_all();
  EXPECT_TRUE(down) << down.error().message;
}

TEST_F(ImageMountAsRoot, OneLayerIsAReadOnlyBindMount) {
  auto layer = put(ZipBuilder().file("lib/only.txt", "just me\n"));
  std::string img = dir("img"), opt = dir("opt");
  Mounts m;
  ASSERT_EQ(m.add(mount_erofs(layer.image_path, img), img), "");
  ASSERT_EQ(m.add(mount_layers({img}, opt), opt), "");
  EXPECT_EQ(slurp(opt + "/lib/only.txt"), "just me\n");
  EXPECT_NE(::mkdir((opt + "/x").c_str(), 0755), 0);
  EXPECT_EQ(errno, EROFS);
  auto down = m.unmount_all();
  EXPECT_TRUE(down) << down.error().message;
}

TEST_F(ImageMountAsRoot, LoopDevicePathMountsAndDetachesAtUnmount) {
  if (::access("/dev/loop-control", F_OK) != 0) GTEST_SKIP() << "no /dev/loop-control";
  auto image = put(ZipBuilder().file("bootstrap", "#!/bin/sh\n", 0755));
  std::string target = dir("viaLoop");
  Mounts m;
  ASSERT_EQ(m.add(mount_erofs_loop(image.image_path, target), target), "");
  struct stat st {};
  ASSERT_EQ(::stat((target + "/bootstrap").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 0755u);
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  // The device behind the mount must be a loop device bound to our image...
  std::string sys = "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" +
                    std::to_string(minor(st.st_dev)) + "/loop/backing_file";
  EXPECT_EQ(slurp(sys), image.image_path + "\n");
  ASSERT_TRUE(m.unmount_all());
  // ...and be detached once unmounted (LO_FLAGS_AUTOCLEAR; the release can
  // trail the unmount by a moment).
  for (int i = 0; i < 100 && slurp(sys) == image.image_path + "\n"; ++i) ::usleep(20000);
  EXPECT_NE(slurp(sys), image.image_path + "\n");
}

TEST_F(ImageMountAsRoot, RefusesAFileThatIsNotAnImage) {
  std::string bogus = tmp_ / "bogus.erofs";
  std::ofstream(bogus) << std::string(8192, 'x');
  auto r = mount_erofs(bogus, dir("bogus"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bogus.erofs"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace thaw::layers
