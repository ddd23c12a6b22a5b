#include "layers/image_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "layers/sha256.h"
#include "tests/layers/temp_dir.h"
#include "tests/layers/zip_builder.h"

namespace thaw::layers {
namespace {

using testing::RawZip;
using testing::TempDir;
using testing::ZipBuilder;
namespace fs = std::filesystem;

size_t count_entries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

ino_t inode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

Result<ImageStore> open_store(const TempDir& tmp, StoreOptions extra = {}) {
  extra.state_dir = tmp / "state";
  return ImageStore::open(extra);
}

std::vector<uint8_t> sample_zip() {
  return ZipBuilder().file("bootstrap", "#!/bin/sh\n", 0755).file("lib/a.py", "x = 1\n").build();
}

TEST(ImageStore, ConvertsOnceAndNamesImagesByZipDigest) {
  TempDir tmp;
  auto store = open_store(tmp);
  ASSERT_TRUE(store) << store.error().message;
  auto zip = sample_zip();
  auto first = store->put(zip);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->digest, sha256_hex(zip));
  EXPECT_EQ(first->image_path, tmp / "state/images/" + first->digest + ".erofs");
  EXPECT_EQ(first->unpacked_bytes, 16u);
  EXPECT_EQ(first->nodes, 3u);
  EXPECT_GT(first->image_bytes, 0u);
  struct stat st {};
  ASSERT_EQ(::stat(first->image_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  ino_t ino = inode_of(first->image_path);

  auto second = store->put(zip);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->digest, first->digest);
  EXPECT_EQ(inode_of(second->image_path), ino) << "a second upload must not convert again";
  EXPECT_EQ(count_entries(tmp / "state/images"), 2u);  // image + record
  EXPECT_EQ(count_entries(tmp / "state/tmp"), 0u);

  auto found = store->find(first->digest);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->unpacked_bytes, 16u);
  auto none = store->find(std::string(64, '0'));
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  EXPECT_FALSE(store->find("../../etc/passwd"));
}

TEST(ImageStore, ConcurrentUploadsOfOneZipConvertOnce) {
  TempDir tmp;
  auto store = open_store(tmp);
  ASSERT_TRUE(store);
  ZipBuilder b;
  for (int i = 0; i < 200; ++i) b.file("f" + std::to_string(i), std::string(5000, 'a' + i % 26));
  auto zip = b.build();
  std::vector<std::thread> threads;
  std::vector<std::string> paths(6);
  std::vector<ino_t> inodes(6);
  for (size_t i = 0; i < paths.size(); ++i) {
    threads.emplace_back([&, i] {
      // A store per thread, as separate processes would have.
      auto own = open_store(tmp);
      ASSERT_TRUE(own);
      auto r = own->put(zip);
      ASSERT_TRUE(r) << r.error().message;
      paths[i] = r->image_path;
      inodes[i] = inode_of(r->image_path);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 1; i < paths.size(); ++i) {
    EXPECT_EQ(paths[i], paths[0]);
    EXPECT_EQ(inodes[i], inodes[0]) << "the image was converted more than once";
  }
  EXPECT_EQ(count_entries(tmp / "state/images"), 2u);
  EXPECT_EQ(count_entries(tmp / "state/tmp"), 0u);
  EXPECT_EQ(count_entries(tmp / "state/locks"), 0u);
}

TEST(ImageStore, RefusalsLeaveNothingBehind) {
  TempDir tmp;
  StoreOptions options;
  options.policy.max_unpacked_bytes = 100000;
  auto store = open_store(tmp, options);
  ASSERT_TRUE(store);
  RawZip overlap;
  overlap.add({"k0", std::string(4096, 'k')});
  overlap.add({"k1", std::string(4096, 'k'), 0100644, 0, 0});
  auto valid = ZipBuilder().file("a", std::string(5000, 'a')).build();
  std::vector<uint8_t> truncated(valid.begin(), valid.end() - 30);
  std::vector<std::vector<uint8_t>> hostile = {
      ZipBuilder().file("ok", "fine").symlink("out", "../../x").build(),
      ZipBuilder().file("a", std::string(60000, 'a')).file("b", std::string(60000, 'b')).build(),
      RawZip().add({"good", "1"}).add({"../evil", "2"}).build(),
      RawZip().add({"/abs", "1"}).build(),
      RawZip().add({"x", "1"}).add({"./x", "2"}).build(),
      RawZip().add({"fifo", "", 0010644}).build(),
      RawZip().add({"enc", std::string(20, 'e'), 0100644, 1}).build(),
      overlap.build(),
      ZipBuilder().dir("d/").symlink("l", "d").file("l/x", "1").build(),
  };
  for (const auto& zip : hostile) {
    auto r = store->put(zip);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("ZIP entry"), std::string::npos) << r.error().message;
  }
  std::string text = "not a zip";
  EXPECT_FALSE(store->put({reinterpret_cast<const uint8_t*>(text.data()), text.size()}));
  EXPECT_FALSE(store->put(truncated));
  EXPECT_EQ(count_entries(tmp / "state/images"), 0u);
  EXPECT_EQ(count_entries(tmp / "state/tmp"), 0u);
  EXPECT_EQ(count_entries(tmp / "state/locks"), 0u) << "lock files must not pile up";
}

TEST(ImageStore, EnforcesTheZipAndBudgetLimits) {
  TempDir tmp;
  auto store = open_store(tmp);
  ASSERT_TRUE(store);
  std::vector<uint8_t> huge(store->policy().max_zip_bytes + 1);
  auto big = store->put(huge);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("52428801 bytes, over the limit of 52428800"),
            std::string::npos)
      << big.error().message;
  auto zip = sample_zip();
  auto tight = store->put(zip, 10);
  ASSERT_FALSE(tight);
  EXPECT_NE(tight.error().message.find("10-byte limit"), std::string::npos)
      << tight.error().message;
  ASSERT_TRUE(store->put(zip));
  auto cached = store->put(zip, 10);  // the budget applies to a cached image too
  ASSERT_FALSE(cached);
  EXPECT_NE(cached.error().message.find("16 bytes"), std::string::npos);
}

TEST(ImageStore, PutFileReadsFromDisk) {
  TempDir tmp;
  auto store = open_store(tmp);
  ASSERT_TRUE(store);
  auto zip = sample_zip();
  std::ofstream(tmp / "pkg.zip", std::ios::binary)
      .write(reinterpret_cast<const char*>(zip.data()), static_cast<std::streamsize>(zip.size()));
  auto r = store->put_file(tmp / "pkg.zip");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->digest, sha256_hex(zip));
  EXPECT_FALSE(store->put_file(tmp / "missing.zip"));
}

TEST(ImageStore, ReportsMkfsFailureWithItsOutput) {
  TempDir tmp;
  std::string fake = tmp / "fake-mkfs";
  std::ofstream(fake) << "#!/bin/sh\necho 'fake-mkfs: disk on fire' >&2\nexit 7\n";
  ASSERT_EQ(::chmod(fake.c_str(), 0755), 0);
  StoreOptions options;
  options.mkfs_path = fake;
  auto store = open_store(tmp, options);
  ASSERT_TRUE(store);
  auto r = store->put(sample_zip());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("exited with status 7"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("disk on fire"), std::string::npos);
  EXPECT_EQ(count_entries(tmp / "state/images"), 0u);
  EXPECT_EQ(count_entries(tmp / "state/tmp"), 0u);
}

TEST(ImageStore, OpenCleansLeftoversOfACrash) {
  TempDir tmp;
  std::string digest(64, 'a');
  {
    auto store = open_store(tmp);
    ASSERT_TRUE(store);
  }
  // What a conversion killed mid-way leaves: a temp tree, a record without
  // its image, a record's own temp file, and an image with no record.
  fs::create_directories(tmp / "state/tmp/" + digest + ".Xy12ab/root/lib");
  std::ofstream(tmp / "state/tmp/" + digest + ".Xy12ab/root/lib/f") << "partial";
  std::ofstream(tmp / "state/images/" + digest + ".json") << "{}";
  std::ofstream(tmp / "state/images/" + digest + ".json.tmp.1234") << "{";
  std::string other(64, 'b');
  std::ofstream(tmp / "state/images/" + other + ".erofs") << "half";
  std::ofstream(tmp / "state/images/README") << "operator's note";
  auto store = open_store(tmp);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ(store->cleaned_at_open().size(), 4u);
  EXPECT_EQ(count_entries(tmp / "state/tmp"), 0u);
  EXPECT_EQ(count_entries(tmp / "state/images"), 1u);  // README: not ours, kept
  auto find = store->find(digest);
  ASSERT_TRUE(find);
  EXPECT_FALSE(*find);
}

TEST(ImageStore, ARealCrashMidConversionLeavesNothingVisible) {
  TempDir tmp;
  // This "mkfs.erofs" kills the process converting, as a power cut or OOM
  // kill would, after the package was unpacked and the image name claimed.
  std::string killer = tmp / "killer-mkfs";
  std::ofstream(killer) << "#!/bin/sh\nkill -9 $PPID\nexit 1\n";
  ASSERT_EQ(::chmod(killer.c_str(), 0755), 0);
  auto zip = sample_zip();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    StoreOptions options;
    options.mkfs_path = killer;
    auto store = open_store(tmp, options);
    if (store) (void)store->put(zip);
    ::_exit(0);  // not reached when the crash happened
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the converting process should have been killed";
  EXPECT_EQ(count_entries(tmp / "state/tmp"), 1u) << "the crash leaves its work tree";
  EXPECT_EQ(count_entries(tmp / "state/images"), 0u) << "but nothing visible";

  auto store = open_store(tmp);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ(store->cleaned_at_open().size(), 1u);
  EXPECT_EQ(count_entries(tmp / "state/tmp"), 0u);
  auto again = store->put(zip);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(count_entries(tmp / "state/images"), 2u);
}

TEST(ImageStore, UnpacksIntoAScratchDirAndCleansItToo) {
  TempDir tmp;
  StoreOptions options;
  options.scratch_dir = tmp / "scratch";
  auto store = open_store(tmp, options);
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_TRUE(store->put(sample_zip()));
  EXPECT_EQ(count_entries(tmp / "scratch"), 0u);
  EXPECT_EQ(count_entries(tmp / "state/tmp"), 0u);
  std::string digest(64, 'c');
  fs::create_directories(tmp / "scratch/" + digest + ".AbCdEf/root");
  auto reopened = open_store(tmp, options);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->cleaned_at_open().size(), 1u);
  EXPECT_EQ(count_entries(tmp / "scratch"), 0u);
}

TEST(ImageStore, GcSparesReferencedInUseAndYoungImages) {
  TempDir tmp;
  StoreOptions options;
  options.gc_grace = std::chrono::seconds(0);
  auto store = open_store(tmp, options);
  ASSERT_TRUE(store);
  std::vector<ImageInfo> images;
  for (int i = 0; i < 4; ++i) {
    auto r = store->put(ZipBuilder().file("f", std::to_string(i)).build());
    ASSERT_TRUE(r) << r.error().message;
    images.push_back(*r);
  }
  auto report = store->gc({images[0].digest}, {images[1].digest});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->removed.size(), 2u);
  EXPECT_EQ(report->kept_in_use, std::vector<std::string>{images[1].digest});
  EXPECT_GT(report->bytes_freed, 0u);
  for (int i = 0; i < 4; ++i) {
    auto f = store->find(images[static_cast<size_t>(i)].digest);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->has_value(), i < 2) << i;
  }
  EXPECT_EQ(count_entries(tmp / "state/images"), 4u);

  StoreOptions patient;
  patient.gc_grace = std::chrono::hours(1);
  auto store2 = open_store(tmp, patient);
  ASSERT_TRUE(store2);
  auto young = store2->gc({}, {});
  ASSERT_TRUE(young);
  EXPECT_TRUE(young->removed.empty());
  EXPECT_EQ(young->kept_young.size(), 2u);
}

}  // namespace
}  // namespace thaw::layers
