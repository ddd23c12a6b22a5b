// Tests of the thaw-vmm executable's command line (sandbox/bin/thaw_vmm.cc):
// usage errors exit 1 with the option named, --help exits 0, and SIGTERM
// stops a running VM cleanly with exit 0. The binary comes from $THAW_VMM.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "sandbox/kvm/kvm_system.h"
#include "tests/sandbox/image_builders.h"

namespace thaw::sandbox {
namespace {

struct VmmRun {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

// Runs thaw-vmm with `args`; `after_start` (if set) runs with the child's
// pid once it started, e.g. to signal it.
VmmRun run_vmm(const std::vector<std::string>& args, void (*after_start)(pid_t) = nullptr) {
  const char* vmm = std::getenv("THAW_VMM");
  VmmRun result;
  if (vmm == nullptr) return result;
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return result;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    ::close(pipe_fds[0]);
    std::vector<char*> argv{const_cast<char*>(vmm)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(vmm, argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  if (after_start != nullptr) after_start(pid);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) result.output.append(buf, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

#define REQUIRE_BINARY()                                                      \
  if (std::getenv("THAW_VMM") == nullptr) GTEST_SKIP() << "THAW_VMM is not set"

TEST(ThawVmmCli, HelpListsEveryContractOptionAndExitsZero) {
  REQUIRE_BINARY();
  VmmRun r = run_vmm({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* option : {"--kernel", "--initrd", "--cmdline", "--mem", "--vcpus", "--disk",
                             "--vsock-uds", "--vsock-cid", "--serial", "--api-sock",
                             "--cpu-model", "Exit codes"}) {
    EXPECT_NE(r.output.find(option), std::string::npos) << option;
  }
}

TEST(ThawVmmCli, BadArgumentsExitOneNamingTheOption) {
  REQUIRE_BINARY();
  VmmRun r = run_vmm({});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--kernel is required"), std::string::npos) << r.output;
  r = run_vmm({"--kernel", "/etc/hostname", "--mem", "0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--mem"), std::string::npos) << r.output;
  r = run_vmm({"--kernel", "/etc/hostname", "--cpu-model", "host"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--cpu-model"), std::string::npos) << r.output;
  r = run_vmm({"--kernel", "/nonexistent/vmlinux"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/vmlinux"), std::string::npos) << r.output;
}

TEST(ThawVmmCli, KernelThatIsNoImageIsAConfigError) {
  REQUIRE_BINARY();
  auto kvm = KvmSystem::open();
  if (!kvm) GTEST_SKIP() << "no usable KVM: " << kvm.error().message;
  VmmRun r = run_vmm({"--kernel", "/etc/hostname", "--mem", "16"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("neither an ELF executable nor a bzImage"), std::string::npos)
      << r.output;
}

TEST(ThawVmmCli, SigtermStopsARunningVmCleanly) {
  REQUIRE_BINARY();
  auto kvm = KvmSystem::open();
  if (!kvm) GTEST_SKIP() << "no usable KVM: " << kvm.error().message;
  char tmpl[] = "/tmp/thaw-vmm-cli-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::vector<uint8_t> spin{0xeb, 0xfe};  // jmp $
  auto image = testing::make_elf(0x100000, {{0x100000, spin, spin.size()}});
  ASSERT_TRUE(write_file_atomic(dir + "/spin.elf", image));
  VmmRun r = run_vmm({"--kernel", dir + "/spin.elf", "--mem", "16", "--serial", dir + "/serial"},
                  [](pid_t pid) {
                    ::usleep(300 * 1000);
                    ::kill(pid, SIGTERM);
                  });
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("stopped by signal 15"), std::string::npos) << r.output;
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace thaw::sandbox
