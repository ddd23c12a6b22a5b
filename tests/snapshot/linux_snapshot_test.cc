// The Linux guest across a snapshot: boot the project's guest kernel with
// an /init that counts in a shell loop, snapshot it mid-count, restore it
// into a new Vmm, and the same userspace process keeps counting. Needs
// the guest artefacts of tools/build-guest.sh (THAW_GUEST_DIR); skipped
// without them. Slow where guest kernel code is emulated (PVM: ~1 min).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "sandbox/vmm/machine.h"
#include "snapshot/vm_snapshot.h"
#include "tests/snapshot/linux_guest.h"
#include "tests/snapshot/snapshot_fixture.h"

namespace thaw::snapshot::testing {
namespace {

using std::chrono::seconds;

TEST_F(SnapshotTest, LinuxUserspaceProcessKeepsRunningAfterRestore) {
  std::string why;
  auto guest = counting_linux_guest(dir_->path(), why);
  if (!guest) GTEST_SKIP() << why;
  sandbox::VmmConfig config = *guest;
  config.serial_path = path("boot.log");
  int code = 0;
  auto vmm = sandbox::build_machine(config, code);
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  ASSERT_TRUE((*vmm)->start().ok());
  ASSERT_TRUE(wait_for_text(config.serial_path, "tick 5 ", seconds(300)))
      << read_text(config.serial_path) << "\nstop: " << (*vmm)->stop_reason();
  auto saved = save_snapshot(**vmm, path("snap"), SnapshotKind::kBase);
  stop_vm(**vmm);
  vmm->reset();
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  std::string before = read_text(config.serial_path), pid;
  int last = last_tick(before, pid);
  ASSERT_GE(last, 5) << before;

  config.serial_path = path("after.log");
  auto restored = restore_machine(config, path("snap"));
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  ASSERT_TRUE(restored->vmm->start().ok());
  bool ticking = wait_for_text(config.serial_path, "tick " + std::to_string(last + 5) + " ",
                               seconds(120));
  std::string after = read_text(config.serial_path);
  std::string stop = restored->vmm->stop_reason();
  stop_vm(*restored->vmm);
  ASSERT_TRUE(ticking) << "restored guest did not count on:\n" << after << "\nstop: " << stop;
  // One process, one unbroken count: no reboot, no second /init.
  EXPECT_GE(last_tick(before + after, pid), last + 5) << before << after;
  EXPECT_EQ(after.find("Linux version"), std::string::npos) << after;
  std::printf("snapshot at tick %d (pid %s); the restored guest printed:\n%.200s\n", last,
              pid.c_str(), after.c_str());
}

}  // namespace
}  // namespace thaw::snapshot::testing
