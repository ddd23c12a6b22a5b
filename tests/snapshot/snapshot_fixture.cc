#include "tests/snapshot/snapshot_fixture.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "sandbox/vmm/machine.h"
#include "snapshot/vm_snapshot.h"

namespace thaw::snapshot::testing {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool wait_for_text(const std::string& path, const std::string& needle,
                   std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (read_text(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

int check_counter_lines(const std::string& serial, std::string& why) {
  std::istringstream in(serial.substr(0, serial.rfind('\n') + 1));
  std::string line;
  uint64_t x = 1;
  int expected = 1;
  while (std::getline(in, line)) {
    int round = 0;
    uint64_t lcg = 0;
    if (std::sscanf(line.c_str(), "counter: %d lcg=%" SCNx64, &round, &lcg) != 2) continue;
    for (uint64_t i = 0; i < kCounterStep; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
    if (round != expected || lcg != x) {
      char want[64];
      std::snprintf(want, sizeof want, "counter: %d lcg=%016" PRIx64, expected, x);
      why = "line '" + line + "' where '" + want + "' was due";
      return -1;
    }
    expected = round + 1;
  }
  return expected - 1;
}

void SnapshotTest::SetUp() {
  if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/kvm is not accessible";
  const char* guest = std::getenv("THAW_TEST_GUEST");
  ASSERT_TRUE(guest != nullptr && *guest) << "THAW_TEST_GUEST is not set; run through meson test";
  guest_ = guest;
  auto dir = testguest::TempDir::create();
  ASSERT_TRUE(dir.ok()) << dir.error().message;
  dir_.emplace(std::move(*dir));
}

void SnapshotTest::TearDown() { dir_.reset(); }

sandbox::VmmConfig SnapshotTest::counter_config(const std::string& serial) const {
  sandbox::VmmConfig c;
  c.kernel_path = guest_;
  c.cmdline = kCounterCmdline;
  c.mem_mib = 64;
  c.vcpus = 1;
  c.serial_path = serial;
  c.cpu_model = sandbox::default_cpu_model();
  return c;
}

void stop_vm(sandbox::Vmm& vmm) {
  vmm.request_stop(sandbox::kExitClean, "test done");
  vmm.wait();
}

Result<std::string> SnapshotTest::snapshot_when(const sandbox::VmmConfig& config,
                                                const std::string& text,
                                                const std::string& snap_dir) {
  int code = 0;
  auto vmm = sandbox::build_machine(config, code);
  if (!vmm) return std::move(vmm).error();
  if (auto r = (*vmm)->start(); !r) return std::move(r).error();
  if (!wait_for_text(config.serial_path, text, std::chrono::seconds(30))) {
    stop_vm(**vmm);
    return Error::format("the guest did not print \"{}\" in 30 s: {}", text,
                         read_text(config.serial_path));
  }
  auto saved = save_snapshot(**vmm, snap_dir, SnapshotKind::kTest);
  stop_vm(**vmm);
  if (!saved) return std::move(saved).error();
  return read_text(config.serial_path);
}

Result<std::string> SnapshotTest::make_counter_snapshot(const std::string& snap_dir, int rounds) {
  std::string serial = path("before-" + std::filesystem::path(snap_dir).filename().string());
  // Round `rounds + 1` has begun printing: round `rounds` is complete.
  return snapshot_when(counter_config(serial), "counter: " + std::to_string(rounds + 1) + " ",
                       snap_dir);
}

Result<SnapshotTest::CounterSnapshot> SnapshotTest::counter_snapshot() {
  auto before = make_counter_snapshot(path("snap"));
  if (!before) return std::move(before).error();
  return checked_counter_snapshot(path("snap"), std::move(*before));
}

Result<SnapshotTest::CounterSnapshot> SnapshotTest::checked_counter_snapshot(std::string dir,
                                                                             std::string before) {
  CounterSnapshot s{std::move(dir), std::move(before), 0};
  std::string why;
  s.last = check_counter_lines(s.before, why);
  if (s.last < 3) {
    return Error::format("the log before the snapshot ends at round {} ({}):\n{}", s.last, why,
                         s.before);
  }
  return s;
}

}  // namespace thaw::snapshot::testing
