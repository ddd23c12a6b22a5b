// Many sandboxes restored from one snapshot at the same time, each in its
// own process as thaw-vmm would run them: all continue exactly, and the
// clean pages of the snapshot's memory file are shared between them
// through the page cache (MAP_PRIVATE), read from each child's
// /proc/PID/smaps entry for that file.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "sandbox/vmm/machine.h"
#include "snapshot/vm_snapshot.h"
#include "tests/snapshot/snapshot_fixture.h"

namespace thaw::snapshot::testing {
namespace {

using std::chrono::seconds;

// The counter stops after round 6 and holds in hlt: 50 idle guests cost
// no CPU while the host measures them.
constexpr char kFiniteCounter[] =
    "thaw.test=counter thaw.rounds=6 thaw.step=20000000 thaw.hold=1";
constexpr char kHolding[] = "thaw-test-guest: holding until the host stops the VM";

int restore_count() {
  const char* env = std::getenv("THAW_SNAPSHOT_RESTORES");
  int n = env ? std::atoi(env) : 50;
  return n > 0 ? n : 50;
}

struct MappingUsage {
  uint64_t rss_kib = 0, pss_kib = 0, shared_clean_kib = 0, private_dirty_kib = 0;
  bool found = false;
};

// Sums the smaps fields of every mapping of `file` in process `pid`.
MappingUsage usage_of(pid_t pid, const std::string& file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  MappingUsage u;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    // Header lines start with an address range "start-end perms ...".
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') < line.find(' ')) {
      inside = line.size() >= file.size() && line.compare(line.size() - file.size(), file.size(), file) == 0;
      u.found |= inside;
      continue;
    }
    if (!inside) continue;
    char key[64];
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str(), "%63[^:]: %llu kB", key, &kib) != 2) continue;
    std::string k = key;
    if (k == "Rss") u.rss_kib += kib;
    if (k == "Pss") u.pss_kib += kib;
    if (k == "Shared_Clean") u.shared_clean_kib += kib;
    if (k == "Private_Dirty") u.private_dirty_kib += kib;
  }
  return u;
}

// Whole-process Rss and Pss (/proc/PID/smaps_rollup), in KiB.
std::pair<uint64_t, uint64_t> process_rss_pss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  uint64_t rss = 0, pss = 0;
  while (std::getline(in, line)) {
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str(), "Rss: %llu kB", &kib) == 1) rss = kib;
    if (std::sscanf(line.c_str(), "Pss: %llu kB", &kib) == 1) pss = kib;
  }
  return {rss, pss};
}

// The child: restore, run to the hold, wait for the parent's go (EOF on
// `go_fd`), stop. Exit status 0 = restored and ran.
int child_main(const sandbox::VmmConfig& config, const std::string& snap, int go_fd) {
  auto restored = restore_machine(config, snap);
  if (!restored) {
    std::fprintf(stderr, "restore: %s\n", restored.error().message.c_str());
    return 10;
  }
  if (auto r = restored->vmm->start(); !r) return 11;
  if (!wait_for_text(config.serial_path, kHolding, seconds(120))) {
    stop_vm(*restored->vmm);
    return 12;
  }
  char c;
  while (::read(go_fd, &c, 1) > 0) {
  }
  stop_vm(*restored->vmm);
  return 0;
}

TEST_F(SnapshotTest, ConcurrentRestoresShareTheSnapshotsCleanPages) {
  const int n = restore_count();
  std::string snap = path("snap");
  std::string serial = path("before");
  {
    sandbox::VmmConfig c = counter_config(serial);
    c.cmdline = kFiniteCounter;
    int code = 0;
    auto vmm = sandbox::build_machine(c, code);
    ASSERT_TRUE(vmm.ok()) << vmm.error().message;
    ASSERT_TRUE((*vmm)->start().ok());
    ASSERT_TRUE(wait_for_text(serial, "counter: 3 ", seconds(30))) << read_text(serial);
    auto saved = save_snapshot(**vmm, snap, SnapshotKind::kTest);
    stop_vm(**vmm);
    ASSERT_TRUE(saved.ok()) << saved.error().message;
  }
  std::string before = read_text(serial);

  // Every VM thread of this process is joined: fork() is safe here.
  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < n; ++i) {
    sandbox::VmmConfig c = counter_config(path("restored-" + std::to_string(i)));
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(go[1]);
      ::_exit(child_main(c, snap, go[0]));
    }
    children.push_back(pid);
  }
  ::close(go[0]);

  int holding = 0;
  for (int i = 0; i < n; ++i) {
    holding += wait_for_text(path("restored-" + std::to_string(i)), kHolding, seconds(120));
  }
  MappingUsage total;
  std::string memory_file = snap + "/" + kMemoryFileName;
  int mapped = 0;
  uint64_t process_rss = 0, process_pss = 0;
  for (pid_t pid : children) {
    auto [rss, pss] = process_rss_pss(pid);
    process_rss += rss;
    process_pss += pss;
    MappingUsage u = usage_of(pid, memory_file);
    mapped += u.found;
    total.rss_kib += u.rss_kib;
    total.pss_kib += u.pss_kib;
    total.shared_clean_kib += u.shared_clean_kib;
    total.private_dirty_kib += u.private_dirty_kib;
  }
  ::close(go[1]);  // EOF: the children stop their VMs
  int clean_exits = 0;
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    clean_exits += WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  EXPECT_EQ(holding, n);
  EXPECT_EQ(clean_exits, n);
  EXPECT_EQ(mapped, n) << "a child had no mapping of " << memory_file;

  for (int i = 0; i < n; ++i) {
    std::string after = read_text(path("restored-" + std::to_string(i)));
    std::string why;
    EXPECT_EQ(check_counter_lines(before + after, why), 6) << "restore " << i << ": " << why;
  }

  std::printf("%d concurrent restores, guest-memory mapping per sandbox: Rss %.0f KiB, Pss %.0f KiB, "
              "Shared_Clean %.0f KiB, Private_Dirty %.0f KiB\n",
              n, double(total.rss_kib) / n, double(total.pss_kib) / n,
              double(total.shared_clean_kib) / n, double(total.private_dirty_kib) / n);
  std::printf("whole restore process (test binary forked, so its own pages are shared too): "
              "Rss %.0f KiB, Pss %.0f KiB per sandbox\n",
              double(process_rss) / n, double(process_pss) / n);
  RecordProperty("rss_kib_per_sandbox", std::to_string(total.rss_kib / n));
  RecordProperty("pss_kib_per_sandbox", std::to_string(total.pss_kib / n));
  // Sharing: the clean pages every guest reads are mapped once in the page
  // cache, so the proportional share is well under the resident size.
  if (n >= 4) {
    EXPECT_GT(total.shared_clean_kib, 0u);
    EXPECT_LT(total.pss_kib, total.rss_kib);
  }
}

}  // namespace
}  // namespace thaw::snapshot::testing
