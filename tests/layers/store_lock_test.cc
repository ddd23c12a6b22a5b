#include "layers/store_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/layers/temp_dir.h"

namespace thaw::layers {
namespace {

using testing::TempDir;

TEST(StoreLock, TryFailsWhileHeldAndTheFileGoesWithTheHolder) {
  TempDir tmp;
  std::string path = tmp / "d.lock";
  {
    auto first = StoreLock::acquire(path, StoreLock::Mode::kWait);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_TRUE(first->held());
    auto second = StoreLock::acquire(path, StoreLock::Mode::kTry);
    ASSERT_TRUE(second);
    EXPECT_FALSE(second->held());
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "released locks remove their file";
  auto again = StoreLock::acquire(path, StoreLock::Mode::kTry);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->held());
}

TEST(StoreLock, WaitersNeverHoldItTogether) {
  // Each holder checks nobody else is inside; the file is unlinked and
  // recreated on every release, so this also covers the retry on a stale inode.
  TempDir tmp;
  std::string path = tmp / "d.lock";
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto lock = StoreLock::acquire(path, StoreLock::Mode::kWait);
        ASSERT_TRUE(lock && lock->held());
        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        std::this_thread::yield();
        inside.fetch_sub(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0);
}

TEST(StoreLock, ReportsAnUnusableDirectory) {
  auto r = StoreLock::acquire("/nonexistent-dir/x.lock", StoreLock::Mode::kWait);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent-dir/x.lock"), std::string::npos);
}

}  // namespace
}  // namespace thaw::layers
