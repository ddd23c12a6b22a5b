// Tests of the thawd binary's command line (agent/thawd_main.cc): the
// doctor mode's exit codes and output, and the service mode's start-up checks
// (the API itself is driven by thawd_api_test).
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

struct Output {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

Output run_thawd(const std::string& args) {
  const char* bin = std::getenv("THAW_THAWD");
  Output o;
  if (!bin) return o;
  std::string cmd = std::string(bin) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return o;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.out.append(buf, n);
  int status = ::pclose(p);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

class ThawdCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(std::getenv("THAW_THAWD"), nullptr) << "meson sets THAW_THAWD to the thawd binary";
    char tmpl[] = "/tmp/thaw-thawd-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    fs::path p = fs::path(root_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string root_;
};

TEST_F(ThawdCli, ServiceModeNeedsAnExecutableInit) {
  Output o = run_thawd("--socket " + root_ + "/s.sock --state-dir " + root_ + "/state --init " +
                       root_ + "/missing-init");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.out.find("is not an executable thaw-init"), std::string::npos) << o.out;
  EXPECT_FALSE(fs::exists(root_ + "/s.sock")) << "nothing may listen before the checks pass";
}

TEST_F(ThawdCli, RuntimeImageMustBeRuntimeEqualsPath) {
  Output o = run_thawd("--runtime-image python3.11");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.out.find("must be RUNTIME=PATH"), std::string::npos) << o.out;
}

TEST_F(ThawdCli, UnknownSocketGroupIsRefused) {
  Output o = run_thawd("--socket-group no-such-group-thaw");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.out.find("neither a gid nor a group name"), std::string::npos) << o.out;
}

TEST_F(ThawdCli, DoctorOnlyFlagsNeedDoctor) {
  Output o = run_thawd("--json");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.out.find("only apply to --doctor"), std::string::npos) << o.out;
}

TEST_F(ThawdCli, DoctorWithoutKvmExitsNonZeroAndSaysWhy) {
  write("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu svm\n");
  write("proc/filesystems", "nodev\toverlay\n\terofs\n");
  Output o = run_thawd("--doctor --host-root " + root_);
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_NE(o.out.find("microvm backend: NOT READY: kvm: " + root_ + "/dev/kvm does not exist"),
            std::string::npos)
      << o.out;
}

TEST_F(ThawdCli, DoctorJsonIsOneParsableObject) {
  write("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu\n");
  fs::create_directories(fs::path(root_) / "sys/module/kvm_pvm");
  Output o = run_thawd("--doctor --json --host-root " + root_);
  EXPECT_EQ(o.exit_code, 1);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(o.out, ec);
  ASSERT_FALSE(ec) << o.out;
  // No dev/kvm in the fake tree: no KVM at all, whatever modules sysfs lists.
  EXPECT_EQ(v.at("kvm_kind").as_string(), "absent");
  EXPECT_EQ(v.at("microvm_ready").as_bool(), false);
}

TEST_F(ThawdCli, GuestVariantFollowsTheKvmModule) {
  write("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu\n");
  write("dev/kvm", "");  // present but not a KVM device
  fs::create_directories(fs::path(root_) / "sys/module/kvm_pvm");
  Output o = run_thawd("--doctor --guest-variant --host-root " + root_);
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "pvm\n");
  fs::remove_all(fs::path(root_) / "sys/module/kvm_pvm");
  o = run_thawd("--doctor --guest-variant --host-root " + root_);
  EXPECT_EQ(o.out, "standard\n");
}

}  // namespace
