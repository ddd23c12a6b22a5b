// Shared by the save/restore tests: a running test-guest VM built in this
// process (the `counter` scenario of tests/guest), a private directory (the
// thaw-vmm tests' TempDir), and the checks that say whether a restored guest
// continued exactly.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "sandbox/vmm/vmm.h"
#include "tests/guest/vmm_process.h"

namespace thaw::snapshot::testing {

// The counter scenario: `counter: K lcg=X` every round, 20M LCG steps a
// round (tests/guest/README.md).
inline constexpr uint64_t kCounterStep = 20000000;
inline constexpr char kCounterCmdline[] = "thaw.test=counter thaw.rounds=0 thaw.step=20000000";

std::string read_text(const std::string& path);

// Polls `path` until it contains `needle`; false after `timeout`.
bool wait_for_text(const std::string& path, const std::string& needle,
                   std::chrono::milliseconds timeout);

// Checks every complete `counter:` line of `serial` against the LCG: rounds
// 1, 2, 3 ... without a gap or repeat and each with the exact LCG value.
// Returns the last complete round (0 when none), or -1 on a mismatch, and
// says which line was wrong in `why`.
int check_counter_lines(const std::string& serial, std::string& why);

// Stops a started VM and waits for its threads.
void stop_vm(sandbox::Vmm& vmm);

class SnapshotTest : public ::testing::Test {
 protected:
  // Skips without /dev/kvm; fails when THAW_TEST_GUEST is not set.
  void SetUp() override;
  void TearDown() override;

  std::string path(const std::string& name) const { return dir_->file(name); }
  // The counter guest's VmmConfig with its serial log at `serial`.
  sandbox::VmmConfig counter_config(const std::string& serial) const;
  // Boots `config` in this process, waits until its serial log (the
  // config's serial_path) holds `text`, saves a snapshot into `snap_dir`
  // and stops the VM. Returns the serial log up to the pause.
  Result<std::string> snapshot_when(const sandbox::VmmConfig& config, const std::string& text,
                                    const std::string& snap_dir);
  // snapshot_when for the counter guest once it printed round `rounds`.
  Result<std::string> make_counter_snapshot(const std::string& snap_dir, int rounds = 3);

  // A counter snapshot in path("snap"), its serial log and its last
  // complete round (checked against the LCG: at least 3).
  struct CounterSnapshot {
    std::string dir;
    std::string before;
    int last = 0;
  };
  Result<CounterSnapshot> counter_snapshot();
  // The check counter_snapshot() makes, for a snapshot in `dir` taken
  // another way (the thaw-vmm binary's snapshot op) with log `before`.
  static Result<CounterSnapshot> checked_counter_snapshot(std::string dir, std::string before);

  std::string guest_;
  std::optional<testguest::TempDir> dir_;
};

}  // namespace thaw::snapshot::testing
