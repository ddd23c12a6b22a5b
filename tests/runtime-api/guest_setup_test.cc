#include "runtime-api/guest_setup.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime-api/runtime_process.h"

namespace thaw {
namespace {

TEST(GuestSetup, ParsesVmHwm) {
  auto v = parse_vm_hwm("Name:\tx\nVmPeak:\t  100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1 kB\n");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 2048u * 1024);
  EXPECT_FALSE(parse_vm_hwm("Name:\tkthread\n").ok());
  EXPECT_FALSE(parse_vm_hwm("VmHWM:\t  kB\n").ok());
  auto self = peak_rss_bytes(::getpid());
  ASSERT_TRUE(self.ok()) << self.error().message;
  EXPECT_GT(*self, 0u);
}

TEST(RuntimeProcess, DescribesExitsLikeLambda) {
  EXPECT_EQ(describe_exit(3 << 8), "exit status 3");
  EXPECT_EQ(describe_exit(SIGKILL), "signal: killed");
  EXPECT_EQ(describe_exit(SIGSEGV), "signal: segmentation fault");
  EXPECT_EQ(exit_code_of(3 << 8), 3);
  EXPECT_EQ(exit_code_of(SIGKILL), 128 + 9);
}

TEST(RuntimeProcess, ExecFailureComesBackAsAnError) {
  RuntimeSpawn spec;
  spec.path = "/nonexistent/bootstrap";
  spec.cwd = "/";
  auto p = spawn_runtime(spec);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("execve"), std::string::npos) << p.error().message;
  EXPECT_NE(p.error().message.find("No such file"), std::string::npos) << p.error().message;
}

TEST(RuntimeProcess, CapturesOutputAndEnvironment) {
  RuntimeSpawn spec;
  spec.path = "/usr/bin/env";  // prints exactly the environment it was given
  spec.cwd = "/";
  spec.env = {"GREETING=hi"};
  auto p = spawn_runtime(spec);
  ASSERT_TRUE(p.ok()) << p.error().message;
  int status = 0;
  ASSERT_EQ(::waitpid(p->pid, &status, 0), p->pid);
  EXPECT_EQ(exit_code_of(status), 0);
  char buf[256] = {};
  ssize_t n = ::read(p->stdout_fd.get(), buf, sizeof buf - 1);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "GREETING=hi\n");
}

}  // namespace
}  // namespace thaw
