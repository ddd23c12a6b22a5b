// The microvm backend end to end on this host's KVM with the project's
// guest kernel: ONE Linux boot per run (thaw-init as /init, the `provided`
// static bootstrap from an EROFS code disk), Init, an invocation, a
// function snapshot, then restores in fresh thaw-vmm processes that get a
// restore notice (wall clock + entropy) and answer invocations. Skips with
// the reason without /dev/kvm or the cached guest (THAW_GUEST_DIR). On PVM
// hosts the boot takes 20-80 s of emulated kernel time; restores are fast.
#include <gtest/gtest.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/file_util.h"
#include "sandbox/microvm/microvm_sandbox.h"
#include "tests/microvm/microvm_fixture.h"

namespace thaw::testing {
namespace {
namespace fs = std::filesystem;

constexpr int kBootTimeoutMs = 480000;   // PVM under load: up to ~2 min seen
constexpr int kInitTimeoutMs = 120000;   // mounts + fork/exec of the bootstrap, emulated
constexpr int kInvokeTimeoutMs = 60000;
constexpr int kRestoreTimeoutMs = 30000;
constexpr uint64_t kNoticeEpoch = 1924992000;  // 2031-01-01T00:00:00Z: no host clock shows it

double ms(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

RestoreNotice notice_at(uint64_t epoch_s) {
  RestoreNotice n;
  n.wall_clock_ns = epoch_s * 1000000000ull;
  n.entropy.resize(64);
  size_t got = 0;
  while (got < n.entropy.size()) {
    ssize_t r = ::getrandom(n.entropy.data() + got, n.entropy.size() - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
  return n;
}

class MicrovmSandboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/thaw-microvm-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      boot_error_ = "mkdtemp failed";
      return;
    }
    scratch_ = tmpl;
    options_ = microvm_options(scratch_, skip_);
    if (!options_) return;
    options_->boot_timeout_ms = kBootTimeoutMs;
    options_->restore_timeout_ms = kRestoreTimeoutMs;
    snapshot_dir_ = scratch_ + "/snapshot";
    boot_error_ = boot_and_snapshot();
  }

  static std::string boot_and_snapshot() {
    MicrovmSandbox vm(*options_);
    auto t0 = std::chrono::steady_clock::now();
    if (auto ok = vm.start(provided_init_config()); !ok) return "start: " + ok.error().message;
    auto ready = await_frame(vm, FrameType::kReady, kInitTimeoutMs, &init_log_);
    if (!ready) return "waiting for kReady: " + ready.error().message;
    auto booted = std::chrono::steady_clock::now() - t0;
    std::printf("boot to thaw-init listening %.0f ms, to runtime ready %.0f ms\n",
                ms(vm.phases().connected), ms(booted));
    auto first = invoke(vm, "req-boot-1", "echo:booted", kInvokeTimeoutMs);
    if (!first) return "first invocation: " + first.error().message;
    first_response_ = *first;
    if (auto ok = vm.snapshot(snapshot_dir_); !ok) return "snapshot: " + ok.error().message;
    // The original keeps serving after the snapshot (resumed).
    auto after = invoke(vm, "req-boot-2", "echo:resumed", kInvokeTimeoutMs);
    if (!after) return "invocation after the snapshot: " + after.error().message;
    resumed_response_ = *after;
    (void)vm.kill();
    return "";
  }

  static void TearDownTestSuite() {
    if (!scratch_.empty() && std::getenv("THAW_KEEP_SCRATCH") == nullptr) remove_tree(scratch_);
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(boot_error_.empty()) << boot_error_;
  }

  // A sandbox restored from the suite's snapshot, past kRestoreDone.
  static Result<std::unique_ptr<MicrovmSandbox>> restored(const RestoreNotice& notice) {
    auto vm = std::make_unique<MicrovmSandbox>(*options_);
    if (auto ok = vm->restore(snapshot_dir_, notice); !ok) return std::move(ok).error();
    return vm;
  }

  static inline std::string scratch_, skip_, boot_error_, snapshot_dir_;
  static inline std::optional<MicrovmSandboxOptions> options_;
  static inline std::string init_log_, first_response_, resumed_response_;
};

TEST_F(MicrovmSandboxTest, BootsThawInitRunsInitAndInvokes) {
  EXPECT_EQ(first_response_, "booted");
  EXPECT_EQ(resumed_response_, "resumed");
  // The bootstrap ran as Lambda's sandbox user from the EROFS code disk.
  EXPECT_NE(init_log_.find("bootstrap: init as uid 993"), std::string::npos) << init_log_;
  EXPECT_TRUE(fs::exists(snapshot_dir_ + "/state"));
  EXPECT_TRUE(fs::exists(snapshot_dir_ + "/memory"));
}

TEST_F(MicrovmSandboxTest, RestoredGuestAppliesTheNoticeAndInvokes) {
  auto vm = restored(notice_at(kNoticeEpoch));
  ASSERT_TRUE(vm.ok()) << vm.error().message;
  const MicrovmPhases& p = (*vm)->phases();
  std::printf("restore: spawned %.2f ms, vsock connected %.2f ms (%d channels), notice sent "
              "%.2f ms, restore-done %.2f ms\n",
              ms(p.spawned), ms(p.connected), p.connect_attempts, ms(p.first_frame_sent),
              ms(p.restore_done));
  auto clock = invoke(**vm, "req-restore-1", "clock", kInvokeTimeoutMs);
  ASSERT_TRUE(clock.ok()) << clock.error().message;
  // "<seconds> <rng hex>": the clock is the notice's (2031, never the
  // snapshot's or the host's), and the RNG is seeded.
  long long seconds = std::atoll(clock->c_str());
  EXPECT_GE(seconds, static_cast<long long>(kNoticeEpoch)) << *clock;
  EXPECT_LT(seconds, static_cast<long long>(kNoticeEpoch) + 600) << *clock;
  EXPECT_EQ(clock->find("--"), std::string::npos) << "guest RNG not seeded: " << *clock;
  auto echo = invoke(**vm, "req-restore-2", "echo:again", kInvokeTimeoutMs);
  ASSERT_TRUE(echo.ok()) << echo.error().message;
  EXPECT_EQ(*echo, "again");
}

TEST_F(MicrovmSandboxTest, TwoRestoresOfOneSnapshotAreNotClones) {
  auto a = restored(notice_at(kNoticeEpoch));
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = restored(notice_at(kNoticeEpoch + 100));
  ASSERT_TRUE(b.ok()) << b.error().message;
  auto ca = invoke(**a, "req-a", "clock", kInvokeTimeoutMs);
  auto cb = invoke(**b, "req-b", "clock", kInvokeTimeoutMs);
  ASSERT_TRUE(ca.ok()) << ca.error().message;
  ASSERT_TRUE(cb.ok()) << cb.error().message;
  std::printf("restore a: %s\nrestore b: %s\n", ca->c_str(), cb->c_str());
  // Each got its own clock, and the same post-init RNG state did not give
  // the same bytes to both (fresh entropy per restore).
  EXPECT_GE(std::atoll(cb->c_str()), static_cast<long long>(kNoticeEpoch + 100));
  ASSERT_GT(ca->find(' '), 0u);
  EXPECT_NE(ca->substr(ca->find(' ')), cb->substr(cb->find(' ')));
}

TEST_F(MicrovmSandboxTest, CorruptSnapshotIsRefusedBeforeTheGuestRuns) {
  std::string bad = scratch_ + "/corrupt";
  fs::create_directories(bad);
  fs::create_hard_link(snapshot_dir_ + "/memory", bad + "/memory");
  fs::copy_file(snapshot_dir_ + "/state", bad + "/state");
  {
    std::fstream f(bad + "/state", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(bad + "/state") / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(fs::file_size(bad + "/state") / 2));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  MicrovmSandbox vm(*options_);
  auto ok = vm.restore(bad, notice_at(kNoticeEpoch));
  ASSERT_FALSE(ok.ok());
  EXPECT_NE(ok.error().message.find("thaw-vmm ended (exit"), std::string::npos)
      << ok.error().message;
  EXPECT_NE(ok.error().message.find("checksum"), std::string::npos) << ok.error().message;
}

}  // namespace
}  // namespace thaw::testing
