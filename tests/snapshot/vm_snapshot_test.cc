// Save and restore of a running test-guest VM (snapshot/vm_snapshot.h) on
// this machine's KVM: the restored guest, in a brand-new Vmm over the
// snapshot's memory file, continues its counter at exactly the next round
// with exactly the next LCG value.
#include "snapshot/vm_snapshot.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <future>

#include "sandbox/vmm/machine.h"

#include "snapshot/state_file.h"
#include "tests/snapshot/snapshot_fixture.h"

namespace thaw::snapshot::testing {
namespace {

using std::chrono::seconds;

// Restores `snap` with its serial log at `serial`, runs until round
// `until` has printed completely, stops. Returns the log.
std::string run_restored(const sandbox::VmmConfig& config, const std::string& snap, int until,
                         const RestoreOptions& options = {}, RestoreReport* report = nullptr) {
  auto restored = restore_machine(config, snap, options);
  EXPECT_TRUE(restored.ok()) << restored.error().message;
  if (!restored.ok()) return {};
  EXPECT_EQ(restored->kind, SnapshotKind::kTest);
  if (report) *report = *restored;
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
  auto counter = counter_snapshot();
  ASSERT_TRUE(counter.ok()) << counter.error().message;
  const std::string& snap = counter->dir;
  const std::string& before = counter->before;
  int last = counter->last;
  std::string why;

  std::string after = run_restored(counter_config(path("after")), snap, last + 3);
  // The restored log starts where the first one stopped, mid-line if the
  // pause fell inside one: together they are one unbroken run.
  EXPECT_EQ(after.find("thaw-test-guest"), std::string::npos) << "the guest booted again:\n"
                                                              << after;
  int total = check_counter_lines(before + after, why);
  EXPECT_GE(total, last + 3) << why << "\nbefore:\n" << before << "\nafter:\n" << after;
}

// A machine with application processors still waiting for INIT/SIPI:
// their MP state, LAPICs and MSRs are saved and restored too.
TEST_F(SnapshotTest, CounterContinuesOnAMachineWithSeveralVcpus) {
  std::string snap = path("snap");
  sandbox::VmmConfig config = counter_config(path("before"));
  config.vcpus = 3;
  auto saved = snapshot_when(config, "counter: 4 ", snap);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  std::string before = *saved, why;
  int last = check_counter_lines(before, why);
  ASSERT_GE(last, 3) << why;
  config.serial_path = path("after");
  std::string after = run_restored(config, snap, last + 2);
  EXPECT_GE(check_counter_lines(before + after, why), last + 2) << why;
}

// Without a machine in the restore's config, the snapshot's is used.
TEST_F(SnapshotTest, MachineCanComeFromTheSnapshot) {
  auto counter = counter_snapshot();
  ASSERT_TRUE(counter.ok()) << counter.error().message;
  const std::string& snap = counter->dir;
  const std::string& before = counter->before;
  int last = counter->last;
  std::string why;
  sandbox::VmmConfig config = counter_config(path("after"));
  config.mem_mib = 256;  // thaw-vmm's defaults, not the snapshot's 64
  config.cpu_model = config.cpu_model == sandbox::CpuModel::kPvm ? sandbox::CpuModel::kStandard
                                                                  : sandbox::CpuModel::kPvm;
  RestoreOptions options;
  options.machine_from_snapshot = true;
  std::string after = run_restored(config, snap, last + 2, options);
  EXPECT_GE(check_counter_lines(before + after, why), last + 2) << why;
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
  auto counter = counter_snapshot();
  ASSERT_TRUE(counter.ok()) << counter.error().message;
  const std::string& snap = counter->dir;
  const std::string& before = counter->before;
  int last = counter->last;
  std::string why;
  std::string first = run_restored(counter_config(path("first")), snap, last + 2);
  std::string second = run_restored(counter_config(path("second")), snap, last + 2);
  EXPECT_GE(check_counter_lines(before + first, why), last + 2) << why;
  EXPECT_GE(check_counter_lines(before + second, why), last + 2) << why;
}

// The control socket's snapshot op runs on the VMM's IO loop thread; a
// snapshot taken there (device state and memory inline) restores exactly.
TEST_F(SnapshotTest, SnapshotTakenOnTheIoLoopThreadRestores) {
  std::string snap = path("snap");
  std::string serial = path("before");
  int code = 0;
  auto vmm = sandbox::build_machine(counter_config(serial), code);
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  ASSERT_TRUE((*vmm)->start().ok());
  ASSERT_TRUE(wait_for_text(serial, "counter: 4 ", seconds(30))) << read_text(serial);
  std::promise<Result<SaveStats>> done;
  sandbox::Vmm* raw = vmm->get();
  raw->io_loop().post([&] {
    done.set_value(save_snapshot(*raw, snap, SnapshotKind::kTest, SaveCaller::kIoLoopThread));
  });
  auto saved = done.get_future().get();
  stop_vm(**vmm);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  EXPECT_GT(saved->memory_bytes_written, 0u);
  EXPECT_EQ(saved->memory_bytes, 64ull << 20);
  std::string before = read_text(serial), why;
  int last = check_counter_lines(before, why);
  ASSERT_GE(last, 3) << why;
  std::string after = run_restored(counter_config(path("after")), snap, last + 2);
  EXPECT_GE(check_counter_lines(before + after, why), last + 2) << why;
}

// A restored VM can itself be snapshotted and restored again.
TEST_F(SnapshotTest, RestoredVmSnapshotsAgain) {
  auto counter = counter_snapshot();
  ASSERT_TRUE(counter.ok()) << counter.error().message;
  const std::string& snap = counter->dir;
  const std::string& before = counter->before;
  int last = counter->last;
  std::string why;

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
  int mid = check_counter_lines(before + middle, why);
  ASSERT_GE(mid, last + 2) << why;

  std::string after = run_restored(counter_config(path("after")), snap2, mid + 2);
  EXPECT_GE(check_counter_lines(before + middle + after, why), mid + 2) << why;
}

// The working set recorded on one restore is prefetched by the next, which
// still continues exactly; with prefetch off the file is ignored.
TEST_F(SnapshotTest, WorkingSetRecordedOnceIsPrefetchedLater) {
  auto counter = counter_snapshot();
  ASSERT_TRUE(counter.ok()) << counter.error().message;
  const std::string& snap = counter->dir;
  const std::string& before = counter->before;
  int last = counter->last;
  std::string why;

  auto restored = restore_machine(counter_config(path("recording")), snap);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->prefetched.pages_read + restored->prefetched.pages_written, 0u);
  ASSERT_TRUE(restored->vmm->start().ok());
  ASSERT_TRUE(wait_for_text(path("recording"), "counter: " + std::to_string(last + 2) + " ",
                            seconds(30)));
  auto set = save_working_set(*restored->vmm, snap);
  stop_vm(*restored->vmm);
  ASSERT_TRUE(set.ok()) << set.error().message;
  // The guest ran its counter loop, stack and serial driver: some pages,
  // written ones among them, and far fewer than its 16384.
  EXPECT_GT(set->page_count(), 4u);
  EXPECT_LT(set->page_count(), 4096u);
  bool any_written = false;
  for (const auto& r : set->runs) any_written |= r.written;
  EXPECT_TRUE(any_written);

  RestoreReport report;
  std::string after = run_restored(counter_config(path("after")), snap, last + 2, {}, &report);
  EXPECT_EQ(report.prefetched.pages_read + report.prefetched.pages_written, set->page_count());
  // KVM_PRE_FAULT_MEMORY where the VM has it (hardware KVM, Linux 6.10+);
  // elsewhere (this PVM host) the restore says why it went without.
  if (report.pre_fault_skipped.empty()) {
    EXPECT_EQ(report.pre_faulted_pages, set->page_count());
  } else {
    EXPECT_EQ(report.pre_faulted_pages, 0u);
    EXPECT_NE(report.pre_fault_skipped.find("KVM_CAP_PRE_FAULT_MEMORY"), std::string::npos);
  }
  EXPECT_GE(check_counter_lines(before + after, why), last + 2) << why;

  RestoreOptions off;
  off.prefetch_working_set = false;
  std::string plain = run_restored(counter_config(path("plain")), snap, last + 2, off, &report);
  EXPECT_EQ(report.prefetched.pages_read + report.prefetched.pages_written, 0u);
  EXPECT_EQ(report.pre_faulted_pages, 0u);
  EXPECT_TRUE(report.pre_fault_skipped.empty()) << "nothing to pre-fault without a working set";
  EXPECT_GE(check_counter_lines(before + plain, why), last + 2) << why;
}

TEST_F(SnapshotTest, CorruptWorkingSetRefusesTheRestoreUnlessPrefetchIsOff) {
  std::string snap = path("snap");
  ASSERT_TRUE(make_counter_snapshot(snap, 1).ok());
  std::string ws = snap + "/" + kWorkingSetFileName;
  WorkingSet set;
  set.memory_size = 32ull << 20;  // recorded for another memory size
  set.runs = {{0, 1, false}};
  ASSERT_TRUE(write_working_set(ws, set).ok());
  auto r = restore_machine(counter_config(path("a")), snap);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("was recorded for 33554432 bytes of guest memory"),
            std::string::npos)
      << r.error().message;
  { std::ofstream(ws, std::ios::trunc) << "garbage"; }
  r = restore_machine(counter_config(path("b")), snap);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("bad magic"), std::string::npos) << r.error().message;
  RestoreOptions off;
  off.prefetch_working_set = false;
  EXPECT_TRUE(restore_machine(counter_config(path("c")), snap, off).ok());
}

}  // namespace
}  // namespace thaw::snapshot::testing
