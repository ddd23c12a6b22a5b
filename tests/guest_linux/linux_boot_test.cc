// Boots the project's Linux guest (tools/build-guest.sh artefacts) in
// thaw-vmm on this host's real KVM and waits for the test initramfs's
// userspace marker. Skips, with the reason, when the artefacts, thaw-vmm or
// a usable KVM are missing, or when the built variant does not suit the host.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agent/doctor.h"

extern char** environ;

namespace {

constexpr char kMarker[] = "THAW-GUEST-USERSPACE-OK";
// ENVIRONMENT.md measured ~64 s to /init on PVM (every CPL0 instruction is
// emulated); hardware KVM takes well under a second. Generous on purpose.
constexpr auto kBootLimit = std::chrono::seconds(480);

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

bool is_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

struct VmmRun {
  int exit_code = -1;  // -1: killed at the time limit
  double seconds = 0;
};

VmmRun run_with_limit(const std::vector<std::string>& argv, const std::string& stderr_path) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  auto start = std::chrono::steady_clock::now();
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  VmmRun run;
  if (rc != 0) return run;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() - start > kBootLimit) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return run;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

// Boots `kernel` (a file of the build-guest directory) to the marker.
void boot_to_marker(const std::string& kernel) {
  const char* dir_env = std::getenv("THAW_GUEST_DIR");
  if (!dir_env || !*dir_env) {
    GTEST_SKIP() << "THAW_GUEST_DIR is unset: build the guest with tools/build-guest.sh and point "
                    "THAW_GUEST_DIR at the directory it prints (tools/test.sh does both)";
  }
  std::string dir = dir_env;
  for (const std::string& name : {kernel, std::string("initramfs-test.cpio"), std::string("cmdline"),
                                 std::string("cpu-model"), std::string("variant")}) {
    if (!is_file(dir + "/" + name))
      GTEST_SKIP() << dir << "/" << name << " is missing: rerun tools/build-guest.sh";
  }
  const char* vmm_env = std::getenv("THAW_VMM");
  std::string vmm = vmm_env ? vmm_env : "";
  if (vmm.empty() || ::access(vmm.c_str(), X_OK) != 0)
    GTEST_SKIP() << "thaw-vmm is not built at '" << vmm << "' (THAW_VMM)";
  if (::access("/dev/kvm", R_OK | W_OK) != 0)
    GTEST_SKIP() << "/dev/kvm is missing or not accessible: this host cannot run a microVM";

  thaw::doctor::KvmKind kind = thaw::doctor::KvmKind::absent;
  thaw::doctor::Check kvm = thaw::doctor::check_kvm(thaw::doctor::HostPaths{}, &kind);
  if (kvm.status == thaw::doctor::Status::fail) GTEST_SKIP() << "KVM unusable: " << kvm.summary;
  std::string variant = first_line(dir + "/variant");
  if (variant != "pvm" && kind == thaw::doctor::KvmKind::pvm) {
    GTEST_SKIP() << "the guest in " << dir << " is the '" << variant << "' variant, which stops "
                 << "on this PVM host's CPL0 emulator; build it with tools/build-guest.sh --variant pvm";
  }

  char tmpl[] = "/tmp/thaw-linux-boot-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string tmp = tmpl;
  std::string serial = tmp + "/serial.log";
  std::string err = tmp + "/vmm.stderr";
  VmmRun run = run_with_limit({vmm, "--kernel", dir + "/" + kernel, "--initrd",
                               dir + "/initramfs-test.cpio", "--cmdline", first_line(dir + "/cmdline"),
                               "--cpu-model", first_line(dir + "/cpu-model"), "--mem", "256",
                               "--vcpus", "1", "--serial", serial},
                              err);
  std::string console = read_all(serial);
  std::string vmm_err = read_all(err);
  std::string tail = console.size() > 3000 ? console.substr(console.size() - 3000) : console;
  EXPECT_NE(console.find(kMarker), std::string::npos)
      << "no " << kMarker << " after " << run.seconds << " s (exit " << run.exit_code
      << ")\n--- console tail ---\n" << tail << "\n--- thaw-vmm stderr ---\n" << vmm_err;
  EXPECT_EQ(run.exit_code, 0) << "thaw-vmm should exit 0 on the guest's i8042 reset\n" << vmm_err;
  std::printf("linux guest (%s, %s) reached userspace and reset in %.1f s\n", variant.c_str(),
              kernel.c_str(), run.seconds);
  ::unlink(serial.c_str());
  ::unlink(err.c_str());
  ::rmdir(tmp.c_str());
}

// The ELF's 64-bit entry: no decompressor, the fast path on every host.
TEST(LinuxGuest, VmlinuxBootsToUserspaceMarker) { boot_to_marker("vmlinux"); }

// The bzImage through the Linux boot protocol's 64-bit entry; on PVM its
// LZ4 decompressor runs emulated, ~15 s more than vmlinux.
TEST(LinuxGuest, BzImageBootsToUserspaceMarker) { boot_to_marker("bzImage"); }

}  // namespace
