// virtio-blk across snapshots: the guest's stress pass (write 2000 sectors
// in batches, then read every one back and compare) is snapshotted in the
// middle of its writes and again in the middle of its reads, each time
// restored into a new Vmm with the disk rebound to the image; the guest
// finishes with every sector as it wrote it. Shows that save drains the
// requests in flight and restore resumes the queues where they were. And a
// disk rebound at restore to an image of another size is announced to the
// guest (blk-resize scenario).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>
#include <vector>

#include "sandbox/vmm/machine.h"
#include "snapshot/vm_snapshot.h"
#include "tests/guest/guest_fixture.h"
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

// A disk image with host_pattern() in its last sector (the blk-resize
// scenario reads it after the capacity changed).
std::string make_patterned_disk(const std::string& path, uint64_t sectors) {
  std::vector<uint8_t> image(sectors * testguest::kSector, 0);
  for (uint32_t i = 0; i < testguest::kSector; ++i) {
    image[(sectors - 1) * testguest::kSector + i] = testguest::host_pattern(sectors - 1, i);
  }
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size()));
  return path;
}

// A disk rebound at restore to an image of another size: the restore
// raises a config-change interrupt with a new ConfigGeneration (virtio 1.2
// §4.2.2.1, §2.5.2), the guest re-reads the capacity, reads the new last
// sector and is refused one past it.
TEST_F(SnapshotTest, DiskReboundWithAnotherSizeIsAnnouncedToTheGuest) {
  sandbox::VmmConfig config = counter_config(path("before"));
  config.cmdline = "thaw.test=blk-resize";
  config.disks = {{make_patterned_disk(path("small.img"), 2048), false}};
  auto saved =
      snapshot_when(config, "blk-resize: disk 0 has 2048 sectors, generation 0;", path("snap"));
  ASSERT_TRUE(saved.ok()) << saved.error().message;

  config.serial_path = path("after");
  config.disks = {{make_patterned_disk(path("large.img"), 6144), false}};
  auto restored = restore_machine(config, path("snap"));
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  ASSERT_TRUE(restored->vmm->start().ok());
  int exit_code = restored->vmm->wait();
  std::string after = read_text(config.serial_path);
  EXPECT_EQ(exit_code, sandbox::kExitClean) << restored->vmm->stop_reason() << "\n" << after;
  EXPECT_NE(after.find("blk-resize: capacity 2048 -> 6144 sectors after 1 config interrupt(s), "
                       "generation 1\n"),
            std::string::npos)
      << after;
  EXPECT_NE(after.find("blk-resize: read new last sector 6143 ok"), std::string::npos) << after;
  EXPECT_NE(after.find("blk-resize: read past the new end refused ok"), std::string::npos) << after;
  EXPECT_NE(after.find("thaw-test-guest: done blk-resize ok"), std::string::npos) << after;
}

}  // namespace
}  // namespace thaw::snapshot::testing
