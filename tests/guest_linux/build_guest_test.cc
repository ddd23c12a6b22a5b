// Tests of tools/build-guest.sh that need no kernel build: argument errors,
// --only-if-cached, and that a failed build leaves nothing in the cache
// (no half artefact, no temporary directory).
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

struct Output {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

class BuildGuest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* script = std::getenv("THAW_BUILD_GUEST");
    ASSERT_NE(script, nullptr) << "meson sets THAW_BUILD_GUEST to tools/build-guest.sh";
    script_ = script;
    char tmpl[] = "/tmp/thaw-build-guest-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    cache_ = root_ + "/cache";
  }
  void TearDown() override { fs::remove_all(root_); }

  Output run(const std::string& env, const std::string& args) {
    std::string cmd = "env THAW_CACHE=" + cache_ + " " + env + " " + script_ + " " + args + " 2>&1";
    Output o;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return o;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.out.append(buf, n);
    int status = ::pclose(p);
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return o;
  }

  // Entries under the cache's guest/ directory other than the lock file.
  std::vector<std::string> cache_entries() {
    std::vector<std::string> out;
    fs::path dir = fs::path(cache_) / "guest";
    if (!fs::exists(dir)) return out;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().filename() != ".lock") out.push_back(e.path().filename());
    }
    return out;
  }

  // A .tar.xz holding `top/` with one file, standing in for linux-source.
  std::string fake_tarball(const std::string& top) {
    fs::path src = fs::path(root_) / "src" / top;
    fs::create_directories(src);
    std::ofstream(src / "README") << "not a kernel\n";
    std::string tarball = root_ + "/fake.tar.xz";
    std::string cmd = "tar -cJf " + tarball + " -C " + root_ + "/src " + top;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return tarball;
  }

  std::string script_, root_, cache_;
};

TEST_F(BuildGuest, RejectsUnknownVariant) {
  Output o = run("", "--variant riscv");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.out.find("--variant 'riscv' is not one of auto, standard, pvm"), std::string::npos) << o.out;
}

TEST_F(BuildGuest, RejectsUnknownArgument) {
  Output o = run("", "--fast");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.out.find("unknown argument '--fast'"), std::string::npos) << o.out;
}

TEST_F(BuildGuest, MissingSourceNamesThePackage) {
  Output o = run("THAW_LINUX_TARBALL=" + root_ + "/nope.tar.xz", "--variant standard");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.out.find("apt-get install linux-source-6.1"), std::string::npos) << o.out;
}

TEST_F(BuildGuest, OnlyIfCachedDoesNotBuild) {
  std::string tarball = fake_tarball("linux-source-6.1");
  Output o = run("THAW_LINUX_TARBALL=" + tarball, "--variant pvm --only-if-cached");
  EXPECT_EQ(o.exit_code, 3) << o.out;
  EXPECT_NE(o.out.find("no cached pvm guest at " + cache_ + "/guest/pvm-"), std::string::npos) << o.out;
  EXPECT_TRUE(cache_entries().empty());
}

TEST_F(BuildGuest, FailedBuildLeavesNothingBehind) {
  // A source tree without a kernel Makefile: extraction works, `make
  // tinyconfig` fails, and the temporary build directory must go away.
  std::string tarball = fake_tarball("linux-source-6.1");
  Output o = run("THAW_LINUX_TARBALL=" + tarball, "--variant standard");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_NE(o.out.find("make tinyconfig failed"), std::string::npos) << o.out;
  EXPECT_TRUE(cache_entries().empty()) << "left behind: " << (cache_entries().empty() ? "" : cache_entries()[0]);
}

TEST_F(BuildGuest, TarballWithoutSourceTreeIsRejected) {
  std::string tarball = fake_tarball("something-else");
  Output o = run("THAW_LINUX_TARBALL=" + tarball, "--variant standard");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_NE(o.out.find("did not contain a linux-source-* directory"), std::string::npos) << o.out;
  EXPECT_TRUE(cache_entries().empty());
}

TEST_F(BuildGuest, KeyDependsOnTheInputs) {
  std::string a = fake_tarball("linux-source-6.1");
  Output first = run("THAW_LINUX_TARBALL=" + a, "--variant standard --only-if-cached");
  Output pvm = run("THAW_LINUX_TARBALL=" + a, "--variant pvm --only-if-cached");
  Output again = run("THAW_LINUX_TARBALL=" + a, "--variant pvm --only-if-cached");
  // Rebuild the tarball with different content.
  std::ofstream(fs::path(root_) / "src/linux-source-6.1/README") << "changed\n";
  ASSERT_EQ(std::system(("tar -cJf " + a + " -C " + root_ + "/src linux-source-6.1").c_str()), 0);
  Output changed = run("THAW_LINUX_TARBALL=" + a, "--variant standard --only-if-cached");
  auto dir_of = [](const std::string& out) {
    size_t at = out.find(" at ");
    return at == std::string::npos ? out : out.substr(at + 4, out.find(' ', at + 4) - at - 4);
  };
  EXPECT_NE(dir_of(first.out), dir_of(pvm.out)) << first.out << pvm.out;
  EXPECT_NE(dir_of(first.out), dir_of(changed.out)) << first.out << changed.out;
  EXPECT_EQ(dir_of(pvm.out), dir_of(again.out)) << "same inputs, same key";
}

}  // namespace
