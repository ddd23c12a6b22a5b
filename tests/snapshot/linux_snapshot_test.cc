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

#include "common/file_util.h"
#include "sandbox/vmm/machine.h"
#include "snapshot/vm_snapshot.h"
#include "tests/snapshot/snapshot_fixture.h"

namespace thaw::snapshot::testing {
namespace {

using std::chrono::seconds;

// Shell builtins only: on PVM every fork+exec costs about a second of
// emulated kernel code, the loop itself runs natively at CPL3.
constexpr char kCountingInit[] =
    "#!/bin/busybox sh\n"
    "/bin/busybox mount -t proc proc /proc\n"
    "i=0\n"
    "while :; do\n"
    "  j=0; while [ $j -lt 3000 ]; do j=$((j+1)); done\n"
    "  i=$((i+1)); echo \"tick $i pid $$\"\n"
    "done\n";

void put_newc(std::string& out, const std::string& name, uint32_t mode, const std::string& data) {
  char header[111];
  std::snprintf(header, sizeof header,
                "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 1u, mode, 0u, 0u,
                1u, 0u, static_cast<unsigned>(data.size()), 0u, 0u, 0u, 0u,
                static_cast<unsigned>(name.size() + 1), 0u);
  out += header;
  out += name;
  out += '\0';
  while (out.size() % 4) out += '\0';
  out += data;
  while (out.size() % 4) out += '\0';
}

// The guest's own initramfs with a second newc archive appended whose
// /init replaces the first one's (the kernel unpacks both in order).
std::string counting_initramfs(const std::string& base) {
  std::ifstream in(base, std::ios::binary);
  std::ostringstream all;
  all << in.rdbuf();
  std::string out = all.str();
  while (out.size() % 4) out += '\0';
  put_newc(out, "init", 0100755, kCountingInit);
  put_newc(out, "TRAILER!!!", 0, "");
  return out;
}

// The last "tick N" line's N in `log`, 0 if none; -1 if a line skips or repeats.
int last_tick(const std::string& log, std::string& pid) {
  std::istringstream in(log);
  std::string line;
  int last = 0;
  while (std::getline(in, line)) {
    int n = 0;
    char p[32] = {};
    if (std::sscanf(line.c_str(), "tick %d pid %31s", &n, p) != 2) continue;
    if (last != 0 && n != last + 1) return -1;
    if (!pid.empty() && pid != p) return -1;
    pid = p;
    last = n;
  }
  return last;
}

TEST_F(SnapshotTest, LinuxUserspaceProcessKeepsRunningAfterRestore) {
  const char* guest_dir = std::getenv("THAW_GUEST_DIR");
  if (guest_dir == nullptr || ::access((std::string(guest_dir) + "/complete").c_str(), F_OK) != 0) {
    GTEST_SKIP() << "THAW_GUEST_DIR does not name built guest artefacts (tools/build-guest.sh)";
  }
  std::string dir = guest_dir;
  std::string initrd = path("initramfs.cpio");
  {
    std::ofstream out(initrd, std::ios::binary);
    out << counting_initramfs(dir + "/initramfs-test.cpio");
  }
  std::string cmdline = read_text(dir + "/cmdline");
  while (!cmdline.empty() && (cmdline.back() == '\n' || cmdline.back() == ' ')) cmdline.pop_back();
  std::string model = read_text(dir + "/cpu-model");

  sandbox::VmmConfig config;
  config.kernel_path = dir + "/vmlinux";
  config.initrd_path = initrd;
  config.cmdline = cmdline;
  config.mem_mib = 128;
  config.vcpus = 1;
  config.serial_path = path("boot.log");
  config.cpu_model = model.rfind("standard", 0) == 0 ? sandbox::CpuModel::kStandard
                                                     : sandbox::CpuModel::kPvm;
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
