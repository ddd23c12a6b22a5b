// thawd --backend microvm end to end on this host's KVM (one Linux boot):
// CreateFunction with the static `provided` bootstrap, a cold invoke that
// boots, runs Init and saves the function snapshot, then (the warm sandbox
// reaped) a cold invoke restored from it: the response comes from a guest
// whose clock the restore notice set, and REPORT has Restore Duration.
// Skips without /dev/kvm or the cached guest kernel (THAW_GUEST_DIR).
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "sandbox/microvm/guest_initramfs.h"
#include "tests/agent/thawd_harness.h"

namespace thaw::agent::testing {
namespace {

class ThawdMicrovmTest : public ThawdHarness {
 protected:
  void SetUp() override {
    const char* guest = std::getenv("THAW_GUEST_DIR");
    const char* vmm = std::getenv("THAW_VMM");
    const char* bootstrap = std::getenv("THAW_MICROVM_BOOTSTRAP");
    if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/kvm is not usable here";
    if (guest == nullptr || !std::filesystem::exists(std::string(guest) + "/complete")) {
      GTEST_SKIP() << "THAW_GUEST_DIR does not name a built guest kernel (tools/build-guest.sh "
                      "--print-dir; tools/test.sh sets it)";
    }
    ASSERT_NE(vmm, nullptr) << "meson sets THAW_VMM";
    ASSERT_NE(bootstrap, nullptr) << "meson sets THAW_MICROVM_BOOTSTRAP";
    bootstrap_ = read_text(bootstrap);
    if (!check_static_elf({reinterpret_cast<const uint8_t*>(bootstrap_.data()), bootstrap_.size()},
                          bootstrap)) {
      GTEST_SKIP() << bootstrap << " is not static (sanitizer build): the guest has no libc";
    }
    ThawdHarness::SetUp();  // a process-backend thawd: replaced below
    if (IsSkipped() || HasFatalFailure()) return;
    stop(SIGTERM);
    start({"--backend", "microvm", "--vmm", vmm, "--guest-dir", guest, "--idle-timeout", "1"});
    recv_timeout_s_ = 900;  // the first cold start boots the guest (20-110 s on PVM hosts)
  }

  std::string bootstrap_;
};

TEST_F(ThawdMicrovmTest, FirstColdStartSnapshotsAndTheNextOneRestores) {
  auto created = create("mv", "provided.al2", "", {{"bootstrap", bootstrap_, 0755}},
                        {{"MemorySize", 128}, {"Timeout", 60}});
  ASSERT_EQ(created.status, 201u) << created.body << log_text();

  auto booted = invoke("mv", "\"echo:booted\"");
  ASSERT_EQ(booted.status, 200u) << booted.body << log_text();
  EXPECT_EQ(booted.body, "booted") << function_log("mv");
  std::string snapshots = dir_ + "/state/snapshots/mv";
  ASSERT_TRUE(std::filesystem::exists(snapshots)) << function_log("mv") << log_text();

  // --idle-timeout 1: the warm sandbox goes, the next invoke is cold again.
  ASSERT_TRUE(eventually(
      [&] { return request("GET", "/agent/v1/sandboxes").body.find("\"mv\"") == std::string::npos; },
      30))
      << request("GET", "/agent/v1/sandboxes").body;
  auto restored = invoke("mv", "\"clock\"");
  ASSERT_EQ(restored.status, 200u) << restored.body << log_text();
  // "<guest seconds> <rng hex>": the notice set the guest clock to the host's.
  long long guest_now = std::atoll(restored.body.c_str());
  long long host_now = static_cast<long long>(std::time(nullptr));
  EXPECT_LT(std::llabs(guest_now - host_now), 120) << restored.body;
  EXPECT_EQ(restored.body.find("--"), std::string::npos) << "guest RNG unseeded: " << restored.body;

  std::string log = function_log("mv");
  EXPECT_EQ(count(log, "Init Duration:"), 1u) << log;
  EXPECT_EQ(count(log, "\tRestore Duration:"), 1u) << log;  // not "Billed Restore ..."
  std::printf("%s", log.c_str());
}

}  // namespace
}  // namespace thaw::agent::testing
