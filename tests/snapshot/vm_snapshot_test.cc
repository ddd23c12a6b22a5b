// Save and restore of a running test-guest VM (snapshot/vm_snapshot.h) on
// this machine's KVM: the restored guest, in a brand-new Vmm over the
// snapshot's memory file, continues its counter at exactly the next round
// with exactly the next LCG value.
#include "snapshot/vm_snapshot.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "snapshot/state_file.h"
#include "tests/snapshot/snapshot_fixture.h"

namespace thaw::snapshot::testing {
namespace {

using std::chrono::seconds;

// Restores `snap` with its serial log at `serial`, runs until round
// `until` has printed completely, stops. Returns the log.
std::string run_restored(const sandbox::VmmConfig& config, const std::string& snap, int until) {
  auto restored = restore_machine(config, snap);
  EXPECT_TRUE(restored.ok()) << restored.error().message;
  if (!restored.ok()) return {};
  EXPECT_EQ(restored->kind, SnapshotKind::kTest);
  auto& vmm = *restored->vmm;
  EXPECT_TRUE(vmm.start().ok());
  bool reached = wait_for_text(config.serial_path, "counter: " + std::to_string(until + 1) + " ",
                               seconds(30));
  EXPECT_TRUE(reached) << "restored guest did not reach round " << until + 1 << ": "
                       << read_text(config.serial_path) << "\nstop: " << vmm.stop_reason();
  stop_vm(vmm);
  return read_text(config.serial_path);
}

TEST_F(SnapshotTest, CounterContinuesExactlyInANewVmm) {
  std::string snap = path("snap");
  auto before = make_counter_snapshot(snap);
  ASSERT_TRUE(before.ok()) << before.error().message;
  std::string why;
  int last = check_counter_lines(*before, why);
  ASSERT_GE(last, 3) << why << "\n" << *before;

  std::string after = run_restored(counter_config(path("after")), snap, last + 3);
  // The restored log starts where the first one stopped, mid-line if the
  // pause fell inside one: together they are one unbroken run.
  EXPECT_EQ(after.find("thaw-test-guest"), std::string::npos) << "the guest booted again:\n"
                                                              << after;
  int total = check_counter_lines(*before + after, why);
  EXPECT_GE(total, last + 3) << why << "\nbefore:\n" << *before << "\nafter:\n" << after;
}

// The snapshot directory holds a sparse memory file of the guest's RAM
// size and a state file; saving twice into the same directory replaces it.
TEST_F(SnapshotTest, SnapshotFilesAreSparseAndComplete) {
  std::string snap = path("snap");
  ASSERT_TRUE(make_counter_snapshot(snap, 1).ok());
  struct stat mem {};
  ASSERT_EQ(::stat((snap + "/" + kMemoryFileName).c_str(), &mem), 0);
  EXPECT_EQ(static_cast<uint64_t>(mem.st_size), 64ull << 20);
  // The test guest touches well under 8 MiB of its 64.
  EXPECT_LT(static_cast<uint64_t>(mem.st_blocks) * 512, 8ull << 20);
  auto state = read_state_file(snap + "/" + kStateFileName);
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(state->machine.vcpu_count, 1u);
  EXPECT_EQ(state->machine.memory_size, 64ull << 20);
  ASSERT_EQ(state->vcpus.size(), 1u);
  EXPECT_GT(state->vcpus[0].msrs.size(), 10u);
  bool has_serial = false;
  for (const auto& d : state->devices) has_serial |= d.name == "pio@0x3f8:serial";
  EXPECT_TRUE(has_serial);

  ASSERT_TRUE(make_counter_snapshot(snap, 2).ok());
  auto again = read_state_file(snap + "/" + kStateFileName);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_NE(again->vcpus[0].regs.rip + again->vcpus[0].regs.rax,
            state->vcpus[0].regs.rip + state->vcpus[0].regs.rax);
}

// One snapshot, restored twice one after the other: each restore starts
// from the same point and computes the same rounds (the snapshot is not
// consumed or changed by a restore; MAP_PRIVATE keeps guest writes private).
TEST_F(SnapshotTest, SameSnapshotRestoresTwiceIdentically) {
  std::string snap = path("snap");
  auto before = make_counter_snapshot(snap);
  ASSERT_TRUE(before.ok()) << before.error().message;
  std::string why;
  int last = check_counter_lines(*before, why);
  ASSERT_GE(last, 3) << why;
  std::string first = run_restored(counter_config(path("first")), snap, last + 2);
  std::string second = run_restored(counter_config(path("second")), snap, last + 2);
  EXPECT_GE(check_counter_lines(*before + first, why), last + 2) << why;
  EXPECT_GE(check_counter_lines(*before + second, why), last + 2) << why;
}

// A restored VM can itself be snapshotted and restored again.
TEST_F(SnapshotTest, RestoredVmSnapshotsAgain) {
  std::string snap = path("snap");
  auto before = make_counter_snapshot(snap);
  ASSERT_TRUE(before.ok()) << before.error().message;
  std::string why;
  int last = check_counter_lines(*before, why);
  ASSERT_GE(last, 3) << why;

  auto restored = restore_machine(counter_config(path("middle")), snap);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  auto& vmm = *restored->vmm;
  ASSERT_TRUE(vmm.start().ok());
  ASSERT_TRUE(wait_for_text(path("middle"), "counter: " + std::to_string(last + 3) + " ",
                            seconds(30)));
  std::string snap2 = path("snap2");
  auto saved = save_snapshot(vmm, snap2, SnapshotKind::kTest);
  stop_vm(vmm);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  std::string middle = read_text(path("middle"));
  int mid = check_counter_lines(*before + middle, why);
  ASSERT_GE(mid, last + 2) << why;

  std::string after = run_restored(counter_config(path("after")), snap2, mid + 2);
  EXPECT_GE(check_counter_lines(*before + middle + after, why), mid + 2) << why;
}

}  // namespace
}  // namespace thaw::snapshot::testing
