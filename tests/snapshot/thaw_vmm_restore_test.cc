// Snapshot and restore through the real thaw-vmm binary: a snapshot taken
// with the control socket's "snapshot" op is restored by a FRESH thaw-vmm
// process (--restore DIR, no kernel), whose guest continues exactly; bad
// snapshots make thaw-vmm exit 1 with the reason on stderr, starting nothing.
// And the pre-spawned form: a `thaw-vmm --standby` waiting with its VM,
// vCPUs and IO ring made takes the snapshot through the "restore" op.
#include <gtest/gtest.h>
#include <unistd.h>

#include <sys/stat.h>

#include <fstream>
#include <thread>

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

  // Stops the restored VMM `p` over `api` and checks it exited 0 and that
  // its serial log `log` continues `before` exactly to round `at_least`.
  void stop_and_check_continuation(VmmProcess& p, const std::string& api, const std::string& log,
                                   const std::string& before, int at_least) {
    ASSERT_TRUE(control_request(api, R"({"op":"stop"})").ok());
    auto e = p.wait(seconds(30));
    ASSERT_TRUE(e.ok()) << e.error().message;
    EXPECT_EQ(e->exit_code, 0) << e->stderr_text;
    std::string after = read_text(log), why;
    EXPECT_EQ(after.find("thaw-test-guest"), std::string::npos) << "the guest booted again:\n"
                                                                << after;
    EXPECT_GE(check_counter_lines(before + after, why), at_least) << why << "\n" << before << after;
  }

  Result<testguest::VmmExit> restore_expecting_exit(const std::vector<std::string>& args) {
    auto p = VmmProcess::start(vmm_, args, path("restore.log"), path("restore.err"));
    if (!p.ok()) return std::move(p).error();
    return p->wait(seconds(30));
  }

  // Starts `thaw-vmm --standby` with `args` (control socket NAME.sock,
  // serial NAME.log) and waits for its control socket, which appears once
  // the VM, vCPUs and ring exist.
  Result<VmmProcess> start_standby(const std::string& name, const std::vector<std::string>& args) {
    std::string api = path(name + ".sock");
    std::vector<std::string> all = {"--standby", "--api-sock", api};
    all.insert(all.end(), args.begin(), args.end());
    auto p = VmmProcess::start(vmm_, all, path(name + ".log"), path(name + ".err"));
    if (!p.ok()) return std::move(p).error();
    for (int i = 0; i < 1000; ++i) {
      struct stat st {};
      if (::stat(api.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Error::format("standby thaw-vmm made no control socket in 10 s: {}",
                         read_text(path(name + ".err")));
  }

  // Starts standby NAME with `args`, expects `request` refused with every
  // one of `needles` in the reason, and stops it: it exits 0, unspent.
  void expect_standby_refusal(const std::string& name, const std::vector<std::string>& args,
                              const std::string& request,
                              std::initializer_list<std::string> needles) {
    auto standby = start_standby(name, args);
    ASSERT_TRUE(standby.ok()) << standby.error().message;
    std::string api = path(name + ".sock");
    auto refused = control_request(api, request);
    ASSERT_FALSE(refused.ok()) << request << " was accepted";
    for (const std::string& needle : needles) {
      EXPECT_NE(refused.error().message.find(needle), std::string::npos)
          << "want \"" << needle << "\" in: " << refused.error().message;
    }
    ASSERT_TRUE(control_request(api, R"({"op":"stop"})").ok());
    auto e = standby->wait(seconds(30));
    ASSERT_TRUE(e.ok()) << e.error().message;
    EXPECT_EQ(e->exit_code, 0) << e->stderr_text;
  }

  std::string vmm_;
};

TEST_F(ThawVmmRestore, FreshProcessContinuesTheCounterExactly) {
  auto counter = checked_counter_snapshot(path("snap"), snapshot_counter(path("snap")));
  ASSERT_TRUE(counter.ok()) << counter.error().message;
  const std::string& snap = counter->dir;
  const std::string& before = counter->before;
  int last = counter->last;

  std::string api = path("restored.sock");
  auto restored = VmmProcess::start(vmm_, {"--restore", snap, "--mem", "64", "--api-sock", api},
                                    path("after.log"), path("after.err"));
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  ASSERT_TRUE(restored->wait_for_serial("counter: " + std::to_string(last + 4) + " ", seconds(30)).ok())
      << restored->serial() << read_text(path("after.err"));
  stop_and_check_continuation(*restored, api, path("after.log"), before, last + 3);
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

// The pre-spawned VMM: a standby made for the snapshot's machine refuses
// snapshots of another machine precisely (and keeps waiting), then takes
// the right one; its guest continues exactly, and it takes no second one.
TEST_F(ThawVmmRestore, StandbyTakesARestoreAndTheGuestContinuesExactly) {
  auto counter = checked_counter_snapshot(path("snap"), snapshot_counter(path("snap")));
  ASSERT_TRUE(counter.ok()) << counter.error().message;
  const std::string& snap = counter->dir;
  const std::string& before = counter->before;
  int last = counter->last;

  std::string request = R"({"op":"restore","dir":")" + snap + R"("})";
  expect_standby_refusal("standby-vcpus", {"--mem", "64", "--vcpus", "2"}, request,
                         {"snapshot has 1 vCPU(s) but the restore asks for --vcpus 2",
                          "this standby thaw-vmm was started with --mem 64 --vcpus 2"});
  expect_standby_refusal(
      "standby-mem", {"--mem", "128"}, request,
      {"snapshot has 67108864 bytes of guest RAM but the restore asks for --mem 128 MiB"});
  expect_standby_refusal("standby-field", {"--mem", "64"},
                         R"({"op":"restore","dir":")" + snap + R"(","disk":[]})",
                         {"restore has unknown field"});
  std::string api = path("standby.sock");
  auto standby = start_standby("standby", {"--mem", "64"});
  ASSERT_TRUE(standby.ok()) << standby.error().message;
  // A refused snapshot leaves the standby waiting for the next request.
  auto missing = control_request(api, R"({"op":"restore","dir":")" + path("none") + R"("})");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find(kStateFileName), std::string::npos)
      << missing.error().message;
  auto reply = control_request(api, request);
  ASSERT_TRUE(reply.ok()) << reply.error().message << read_text(path("standby.err"));
  EXPECT_EQ(reply->at("state").as_string(), "running");
  EXPECT_TRUE(reply->contains("set_state_us"));
  ASSERT_TRUE(standby->wait_for_serial("counter: " + std::to_string(last + 3) + " ", seconds(30)).ok())
      << standby->serial() << read_text(path("standby.err"));
  auto again = control_request(api, request);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("restored a snapshot already"), std::string::npos)
      << again.error().message;
  stop_and_check_continuation(*standby, api, path("standby.log"), before, last + 2);
}

// A restore that fails after the snapshot's memory replaced the standby's
// (here: its disk cannot be opened) must not leave a half-restored VM
// waiting: the standby answers the error and exits 1 with the reason.
TEST_F(ThawVmmRestore, StandbySpentByAFailedRestoreExits) {
  std::string snap = path("snap");
  snapshot_counter(snap);
  auto standby = start_standby("standby", {"--mem", "64"});
  ASSERT_TRUE(standby.ok()) << standby.error().message;
  auto reply = control_request(path("standby.sock"),
                               R"({"op":"restore","dir":")" + snap +
                                   R"(","disks":[{"path":")" + path("missing.img") + R"("}]})");
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.error().message.find("missing.img"), std::string::npos) << reply.error().message;
  auto e = standby->wait(seconds(30));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 1) << e->stderr_text;
  EXPECT_NE(e->stderr_text.find("missing.img"), std::string::npos) << e->stderr_text;
}

TEST_F(ThawVmmRestore, RestoreOpIsOnlyForStandbys) {
  auto e = restore_expecting_exit({"--standby", "--mem", "64"});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 1) << e->stderr_text;
  EXPECT_NE(e->stderr_text.find("--standby needs --api-sock"), std::string::npos) << e->stderr_text;

  std::string api = path("boot.sock");
  auto boot = VmmProcess::start(
      vmm_, {"--kernel", guest_, "--cmdline", kCounterCmdline, "--mem", "64", "--api-sock", api},
      path("boot.log"), path("boot.err"));
  ASSERT_TRUE(boot.ok()) << boot.error().message;
  ASSERT_TRUE(boot->wait_for_serial("counter: 1 ", seconds(30)).ok()) << boot->serial();
  auto reply = control_request(api, R"({"op":"restore","dir":"/tmp"})");
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.error().message.find("only for a standby thaw-vmm"), std::string::npos)
      << reply.error().message;
  EXPECT_TRUE(control_request(api, R"({"op":"stop"})").ok());
  EXPECT_TRUE(boot->wait(seconds(30)).ok());
}

}  // namespace
}  // namespace thaw::snapshot::testing
