// virtio-blk across snapshots: the guest's stress pass (write 2000 sectors
// in batches, then read every one back and compare) is snapshotted in the
// middle of its writes and again in the middle of its reads, each time
// restored into a new Vmm with the disk rebound to the image; the guest
// finishes with every sector as it wrote it. Shows that save drains the
// requests in flight and restore resumes the queues where they were.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "sandbox/vmm/machine.h"
#include "snapshot/vm_snapshot.h"
#include "tests/snapshot/snapshot_fixture.h"

namespace thaw::snapshot::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kWrote[] = "blk-stress: wrote 2000 sectors in batches of 4";
constexpr char kReadBack[] = "blk-stress: read back 2000 sectors ok";

TEST_F(SnapshotTest, DiskStressSurvivesSnapshotsMidWriteAndMidRead) {
  std::string disk = path("disk.img");
  { std::ofstream(disk).close(); }
  ASSERT_EQ(::truncate(disk.c_str(), 4 << 20), 0);

  sandbox::VmmConfig config = counter_config(path("serial-1"));
  config.cmdline = "thaw.test=blk-stress thaw.sectors=2000";
  config.disks = {{disk, false}};
  int code = 0;
  auto vmm = sandbox::build_machine(config, code);
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  ASSERT_TRUE((*vmm)->start().ok());
  // ~1 ms a batch here: 150 ms in, the writes are under way.
  ASSERT_TRUE(wait_for_text(config.serial_path, "blk: disk 0", seconds(30)))
      << read_text(config.serial_path);
  std::this_thread::sleep_for(milliseconds(150));
  auto saved = save_snapshot(**vmm, path("snap-1"), SnapshotKind::kTest);
  stop_vm(**vmm);
  vmm->reset();
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  std::string log = read_text(config.serial_path);
  bool mid_write = log.find(kWrote) == std::string::npos;

  config.serial_path = path("serial-2");
  auto second = restore_machine(config, path("snap-1"));
  ASSERT_TRUE(second.ok()) << second.error().message;
  ASSERT_TRUE(second->vmm->start().ok());
  ASSERT_TRUE(wait_for_text(config.serial_path, kWrote, seconds(60)))
      << log << read_text(config.serial_path);
  std::this_thread::sleep_for(milliseconds(150));
  saved = save_snapshot(*second->vmm, path("snap-2"), SnapshotKind::kTest);
  stop_vm(*second->vmm);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  log += read_text(config.serial_path);
  bool mid_read = log.find(kReadBack) == std::string::npos;

  config.serial_path = path("serial-3");
  auto third = restore_machine(config, path("snap-2"));
  ASSERT_TRUE(third.ok()) << third.error().message;
  ASSERT_TRUE(third->vmm->start().ok());
  int exit_code = third->vmm->wait();
  log += read_text(config.serial_path);
  EXPECT_EQ(exit_code, sandbox::kExitClean) << third->vmm->stop_reason() << "\n" << log;
  EXPECT_NE(log.find(kReadBack), std::string::npos) << log;
  EXPECT_NE(log.find("thaw-test-guest: done blk-stress ok"), std::string::npos) << log;
  EXPECT_EQ(log.find("FAIL"), std::string::npos) << log;
  // The point of the test is the mid-pass cut; say so if the host was too
  // slow or too fast to make one.
  EXPECT_TRUE(mid_write) << "first snapshot came after the write pass:\n" << log;
  EXPECT_TRUE(mid_read) << "second snapshot came after the read pass:\n" << log;
}

}  // namespace
}  // namespace thaw::snapshot::testing
