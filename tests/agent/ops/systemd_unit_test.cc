// Tests of packaging/thawd.service: systemd-analyze verify accepts it (with
// ExecStart pointed at the built thawd), every flag its ExecStart passes is
// one thawd accepts, and the directives the agent relies on are present.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

int run(const std::string& cmd, std::string& out) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class SystemdUnit : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* src = std::getenv("THAW_SOURCE_ROOT");
    const char* thawd = std::getenv("THAW_THAWD");
    ASSERT_TRUE(src && thawd) << "meson sets THAW_SOURCE_ROOT and THAW_THAWD";
    thawd_ = thawd;
    unit_ = read_text(std::string(src) + "/packaging/thawd.service");
    ASSERT_FALSE(unit_.empty());
  }
  // ExecStart with its continuation lines joined.
  std::string exec_start() const {
    size_t at = unit_.find("\nExecStart=");
    std::string line;
    std::istringstream in(unit_.substr(at + 1));
    std::string part;
    while (std::getline(in, part)) {
      bool more = !part.empty() && part.back() == '\\';
      line += more ? part.substr(0, part.size() - 1) : part;
      if (!more) break;
    }
    return line;
  }
  std::string thawd_, unit_;
};

TEST_F(SystemdUnit, SystemdAnalyzeVerifyAcceptsIt) {
  if (::access("/usr/bin/systemd-analyze", X_OK) != 0 && ::access("/bin/systemd-analyze", X_OK) != 0) {
    GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";
  }
  char tmpl[] = "/tmp/thaw-unit-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  // verify checks that ExecStart's binary exists: point it at the build.
  std::string unit = std::regex_replace(unit_, std::regex("/usr/local/bin/thawd"), thawd_);
  std::ofstream(dir + "/thawd.service") << unit;
  std::string out;
  int rc = run("cd " + dir + " && systemd-analyze verify ./thawd.service", out);
  fs::remove_all(dir);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << "systemd-analyze verify warned";
}

TEST_F(SystemdUnit, ExecStartUsesFlagsThawdAccepts) {
  std::string help;
  ASSERT_EQ(run(thawd_ + " --help", help), 0) << help;
  std::string line = exec_start();
  ASSERT_NE(line.find("/usr/local/bin/thawd"), std::string::npos) << line;
  std::regex flag("(--[a-z][a-z-]+)");
  int flags = 0;
  for (auto it = std::sregex_iterator(line.begin(), line.end(), flag); it != std::sregex_iterator();
       ++it) {
    ++flags;
    EXPECT_NE(help.find((*it)[1].str()), std::string::npos)
        << (*it)[1].str() << " is not a thawd flag:\n" << help;
  }
  EXPECT_GE(flags, 6) << line;
  EXPECT_NE(line.find("--socket /run/thaw/thaw.sock"), std::string::npos) << line;
  EXPECT_NE(line.find("--state-dir /var/lib/thaw"), std::string::npos) << line;
}

TEST_F(SystemdUnit, DirectivesTheAgentReliesOn) {
  for (const char* d : {"Type=notify", "NotifyAccess=main", "WatchdogSec=", "RuntimeDirectory=thaw",
                        "StateDirectory=thaw", "DeviceAllow=/dev/kvm rw", "ProtectSystem=strict",
                        "ReadWritePaths=", "ProtectHome=yes", "PrivateTmp=yes", "Delegate=yes",
                        "LimitNOFILE=", "KillMode=mixed", "NoNewPrivileges=yes"}) {
    EXPECT_NE(unit_.find(std::string("\n") + d), std::string::npos) << d;
  }
  EXPECT_EQ(unit_.find("\nProtectControlGroups=yes"), std::string::npos)
      << "sandbox cgroups are created by thawd";
  EXPECT_EQ(unit_.find("\nPrivateDevices=yes"), std::string::npos) << "/dev/kvm is needed";
}

}  // namespace
