// vsock across a snapshot: a guest listening on a vsock port is saved,
// restored with a new host socket, told of the transport reset (virtio 1.2
// §5.10.6.7), and then holds a conversation over the new socket.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include "sandbox/vmm/machine.h"
#include "snapshot/vm_snapshot.h"
#include "tests/guest/vsock_host.h"
#include "tests/snapshot/restore_notice_host.h"
#include "tests/snapshot/snapshot_fixture.h"

namespace thaw::snapshot::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_F(SnapshotTest, ListeningGuestTalksOverTheNewSocketAfterRestore) {
  std::string snap = path("snap");
  std::string serial = path("before");
  sandbox::VmmConfig config = counter_config(serial);
  config.cmdline = "thaw.test=vsock-listen thaw.port=5000";
  config.vsock_uds = path("before.sock");
  auto saved = snapshot_when(config, "vsock: listening on port 5000", snap);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  // The old VMM's socket is gone with it: only the new one can reach the guest.
  ::unlink(config.vsock_uds.c_str());

  sandbox::VmmConfig again = config;
  again.serial_path = path("after");
  again.vsock_uds = path("after.sock");
  auto restored = restore_machine(again, snap);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  ASSERT_TRUE(restored->vmm->start().ok());
  ASSERT_TRUE(wait_for_text(again.serial_path, "vsock: transport reset event", seconds(30)))
      << read_text(again.serial_path);

  uint32_t host_port = 0;
  auto conn = testguest::vsock_connect_guest(again.vsock_uds, 5000, milliseconds(10000), &host_port);
  ASSERT_TRUE(conn.ok()) << conn.error().message << "\n" << read_text(again.serial_path);
  std::string ping = "ping after restore\n";
  ASSERT_EQ(::write(conn->get(), ping.data(), ping.size()), static_cast<ssize_t>(ping.size()));
  auto reply = testguest::read_line(conn->get(), milliseconds(10000));
  ASSERT_TRUE(reply.ok()) << reply.error().message << "\n" << read_text(again.serial_path);
  EXPECT_EQ(*reply, "pong: ping after restore");
  conn->reset();  // a clean close: the guest sees end of stream and finishes
  EXPECT_TRUE(wait_for_text(again.serial_path, "thaw-test-guest: done vsock-listen ok", seconds(30)))
      << read_text(again.serial_path);
  int code = restored->vmm->wait();
  EXPECT_EQ(code, sandbox::kExitClean) << restored->vmm->stop_reason();

  std::string before = read_text(serial), after = read_text(again.serial_path);
  EXPECT_EQ(after.find("vsock: listening on port"), std::string::npos)
      << "the guest started over instead of continuing:\n" << after;
  EXPECT_NE(after.find("vsock: received from host: ping after restore"), std::string::npos) << after;
}

// The uniqueness gate (DESIGN.md "Lessons"): each restore of one snapshot
// gets its own sandbox id, entropy and clock through the restore notice,
// which the host sends as the first frame on the re-connected channel; the
// guest (restore-notice scenario, thaw-init's part) refuses anything else
// first, echoes what it got, and its counter continues exactly.
TEST_F(SnapshotTest, EachRestoreGetsItsOwnRestoreNoticeFirst) {
  std::string snap = path("snap");
  sandbox::VmmConfig config = counter_config(path("before"));
  config.cmdline = "thaw.test=restore-notice thaw.step=" + std::to_string(kCounterStep) +
                   " thaw.after=2";
  config.vsock_uds = path("before.sock");
  auto saved = snapshot_when(config, "counter: 3 ", snap);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  std::string before = *saved, why;
  int last = check_counter_lines(before, why);
  ASSERT_GE(last, 2) << why << before;
  ASSERT_EQ(before.find("restore-notice: sandbox"), std::string::npos) << before;

  std::vector<std::string> answers;
  for (int i = 0; i < 2; ++i) {
    sandbox::VmmConfig again = config;
    again.serial_path = path("after-" + std::to_string(i));
    again.vsock_uds = path("after-" + std::to_string(i) + ".sock");
    auto restored = restore_machine(again, snap);
    ASSERT_TRUE(restored.ok()) << restored.error().message;
    ASSERT_TRUE(restored->vmm->start().ok());
    auto identity = fresh_restore_identity();
    ASSERT_TRUE(identity.ok()) << identity.error().message;
    auto answer = deliver_restore_notice(again.vsock_uds, kThawChannelVsockPort, *identity, 10000);
    ASSERT_TRUE(answer.ok()) << answer.error().message << "\n" << read_text(again.serial_path);
    EXPECT_EQ(answer->type, FrameType::kRestoreDone);
    std::string text(answer->payload.begin(), answer->payload.end());
    EXPECT_NE(text.find("sandbox=" + identity->sandbox_id + " "), std::string::npos) << text;
    EXPECT_NE(text.find(fmt::format("clock={} ", identity->notice.wall_clock_ns)),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(fmt::format("entropy-fnv1a={:016x} ", identity->entropy_fnv1a)),
              std::string::npos)
        << text;
    int code = restored->vmm->wait();
    std::string after = read_text(again.serial_path);
    EXPECT_EQ(code, sandbox::kExitClean) << restored->vmm->stop_reason() << "\n" << after;
    EXPECT_NE(after.find("restore-notice: sandbox " + identity->sandbox_id), std::string::npos)
        << after;
    EXPECT_NE(after.find("thaw-test-guest: done restore-notice ok"), std::string::npos) << after;
    EXPECT_EQ(after.find("listening on port"), std::string::npos) << "booted again:\n" << after;
    EXPECT_GE(check_counter_lines(before + after, why), last + 2) << why << "\n" << after;
    answers.push_back(text.substr(0, text.find(" round=")));
  }
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_NE(answers[0], answers[1]) << "two restores of one snapshot got the same identity";
}

}  // namespace
}  // namespace thaw::snapshot::testing
