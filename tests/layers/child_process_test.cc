#include "layers/child_process.h"

#include <gtest/gtest.h>

namespace thaw::layers {
namespace {

using namespace std::chrono_literals;

TEST(ChildProcess, CapturesOutputAndExitCode) {
  auto r = run_child({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, 10s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->signal, 0);
  EXPECT_EQ(r->output, "out\nerr\n");
}

TEST(ChildProcess, KeepsOnlyTheTailOfLongOutput) {
  auto r = run_child({"/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' a; echo END"}, 10s,
                     64);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->output.size(), 64u);
  EXPECT_EQ(r->output.substr(60), "END\n");
}

TEST(ChildProcess, KillsAChildPastItsDeadline) {
  auto start = std::chrono::steady_clock::now();
  auto r = run_child({"/bin/sleep", "30"}, 200ms);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("deadline"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(ChildProcess, ReportsSignalsAndRefusesRelativePaths) {
  auto r = run_child({"/bin/sh", "-c", "kill -9 $$"}, 10s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->signal, 9);
  EXPECT_FALSE(run_child({"sh", "-c", "true"}, 10s));
  auto missing = run_child({"/nonexistent/tool"}, 10s);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/tool"), std::string::npos);
}

TEST(ChildProcess, FindsProgramsOnAbsolutePathsOnly) {
  auto sh = find_program("sh", "relative:/usr/bin:/bin");
  ASSERT_TRUE(sh) << sh.error().message;
  EXPECT_EQ(sh->front(), '/');
  EXPECT_FALSE(find_program("sh", "bin:usr/bin"));
}

}  // namespace
}  // namespace thaw::layers
