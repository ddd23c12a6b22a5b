// Snapshot and restore through the real thaw-vmm binary: a snapshot taken
// with the control socket's "snapshot" op is restored by a FRESH thaw-vmm
// process (--restore DIR, no kernel), whose guest continues exactly; bad
// snapshots make thaw-vmm exit 1 with the reason on stderr, starting nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "snapshot/vm_snapshot.h"
#include "tests/guest/control_client.h"
#include "tests/guest/vmm_process.h"
#include "tests/snapshot/snapshot_fixture.h"

namespace thaw::snapshot::testing {
namespace {

using std::chrono::seconds;
using testguest::control_request;
using testguest::VmmProcess;

class ThawVmmRestore : public SnapshotTest {
 protected:
  void SetUp() override {
    SnapshotTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto bin = testguest::binaries_from_env();
    ASSERT_TRUE(bin.ok()) << bin.error().message;
    vmm_ = bin->vmm;
  }

  // Boots the counter guest in thaw-vmm, snapshots it at round 3 over the
  // control socket, stops it. Returns its serial log.
  std::string snapshot_counter(const std::string& snap) {
    std::string api = path("boot.sock");
    auto boot = VmmProcess::start(
        vmm_, {"--kernel", guest_, "--cmdline", kCounterCmdline, "--mem", "64", "--api-sock", api},
        path("boot.log"), path("boot.err"));
    EXPECT_TRUE(boot.ok()) << boot.error().message;
    if (!boot.ok()) return {};
    EXPECT_TRUE(boot->wait_for_serial("counter: 4 ", seconds(30)).ok()) << boot->serial();
    auto reply = control_request(api, R"({"op":"snapshot","dir":")" + snap + R"(","kind":"test"})");
    EXPECT_TRUE(reply.ok()) << reply.error().message;
    if (reply.ok()) {
      EXPECT_EQ(reply->at("state").as_string(), "paused");
      EXPECT_EQ(reply->at("memory_bytes").to_number<uint64_t>(), 64ull << 20);
    }
    EXPECT_TRUE(control_request(api, R"({"op":"stop"})").ok());
    auto e = boot->wait(seconds(30));
    EXPECT_TRUE(e.ok() && e->exit_code == 0);
    return read_text(path("boot.log"));
  }

  Result<testguest::VmmExit> restore_expecting_exit(const std::vector<std::string>& args) {
    auto p = VmmProcess::start(vmm_, args, path("restore.log"), path("restore.err"));
    if (!p.ok()) return std::move(p).error();
    return p->wait(seconds(30));
  }

  std::string vmm_;
};

TEST_F(ThawVmmRestore, FreshProcessContinuesTheCounterExactly) {
  std::string snap = path("snap");
  std::string before = snapshot_counter(snap);
  std::string why;
  int last = check_counter_lines(before, why);
  ASSERT_GE(last, 3) << why << before;

  std::string api = path("restored.sock");
  auto restored = VmmProcess::start(vmm_, {"--restore", snap, "--mem", "64", "--api-sock", api},
                                    path("after.log"), path("after.err"));
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  ASSERT_TRUE(restored->wait_for_serial("counter: " + std::to_string(last + 4) + " ", seconds(30)).ok())
      << restored->serial() << read_text(path("after.err"));
  ASSERT_TRUE(control_request(api, R"({"op":"stop"})").ok());
  auto e = restored->wait(seconds(30));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << e->stderr_text;
  std::string after = read_text(path("after.log"));
  EXPECT_EQ(after.find("thaw-test-guest"), std::string::npos) << "the guest booted again:\n" << after;
  EXPECT_GE(check_counter_lines(before + after, why), last + 3) << why << "\n" << before << after;
}

TEST_F(ThawVmmRestore, RefusedSnapshotsExitOneWithTheReason) {
  std::string snap = path("snap");
  snapshot_counter(snap);
  auto e = restore_expecting_exit({"--restore", snap, "--mem", "128"});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 1) << e->stderr_text;
  EXPECT_NE(e->stderr_text.find("restore with --mem 64"), std::string::npos) << e->stderr_text;

  std::string state = snap + "/" + kStateFileName;
  std::string bytes = read_text(state);
  bytes[bytes.size() / 2] ^= 0x10;
  { std::ofstream(state, std::ios::binary | std::ios::trunc) << bytes; }
  e = restore_expecting_exit({"--restore", snap, "--mem", "64"});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 1) << e->stderr_text;
  EXPECT_NE(e->stderr_text.find("checksum mismatch"), std::string::npos) << e->stderr_text;
  EXPECT_EQ(read_text(path("restore.log")), "");
}

TEST_F(ThawVmmRestore, RestoreAndKernelAreExclusive) {
  auto e = restore_expecting_exit({"--restore", path("snap"), "--kernel", guest_});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 1) << e->stderr_text;
}

TEST_F(ThawVmmRestore, SnapshotOpNeedsADirectory) {
  std::string api = path("boot.sock");
  auto boot = VmmProcess::start(
      vmm_, {"--kernel", guest_, "--cmdline", kCounterCmdline, "--mem", "64", "--api-sock", api},
      path("boot.log"), path("boot.err"));
  ASSERT_TRUE(boot.ok()) << boot.error().message;
  ASSERT_TRUE(boot->wait_for_serial("counter: 1 ", seconds(30)).ok()) << boot->serial();
  auto reply = control_request(api, R"({"op":"snapshot"})");
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.error().message.find("snapshot needs a"), std::string::npos) << reply.error().message;
  reply = control_request(api, R"({"op":"snapshot","dir":"/tmp/x","kind":"weird"})");
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.error().message.find("kind"), std::string::npos) << reply.error().message;
  // The VM still runs after refused requests.
  EXPECT_TRUE(boot->wait_for_serial("counter: 3 ", seconds(30)).ok()) << boot->serial();
  EXPECT_TRUE(control_request(api, R"({"op":"stop"})").ok());
  EXPECT_TRUE(boot->wait(seconds(30)).ok());
}

}  // namespace
}  // namespace thaw::snapshot::testing
