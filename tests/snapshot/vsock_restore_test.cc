// vsock across a snapshot: a guest listening on a vsock port is saved,
// restored with a new host socket, told of the transport reset (virtio 1.2
// §5.10.6.7), and then holds a conversation over the new socket.
#include <gtest/gtest.h>
#include <unistd.h>

#include "sandbox/vmm/machine.h"
#include "snapshot/vm_snapshot.h"
#include "tests/guest/vsock_host.h"
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
  {
    int code = 0;
    auto vmm = sandbox::build_machine(config, code);
    ASSERT_TRUE(vmm.ok()) << vmm.error().message;
    ASSERT_TRUE((*vmm)->start().ok());
    ASSERT_TRUE(wait_for_text(serial, "vsock: listening on port 5000", seconds(30)))
        << read_text(serial);
    auto saved = save_snapshot(**vmm, snap, SnapshotKind::kTest);
    stop_vm(**vmm);
    ASSERT_TRUE(saved.ok()) << saved.error().message;
  }
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

}  // namespace
}  // namespace thaw::snapshot::testing
