// The parsers thaw-bench runs on what the agent under test sends back:
// HTTP response heads (perf/thaw-bench/http_client.h), REPORT lines
// (cold_modes.h) and /proc/PID/stat lines (process_stats.h).
#include <gtest/gtest.h>

#include "perf/thaw-bench/cold_modes.h"
#include "perf/thaw-bench/http_client.h"
#include "perf/thaw-bench/process_stats.h"

namespace thaw::bench {
namespace {

TEST(ParseResponseHead, StatusAndHeadersCaseInsensitive) {
  auto r = parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Amz-Log-Result:  abc= \r\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->header("content-length"), "12");
  EXPECT_EQ(r->header("x-amz-log-result"), "abc=");
  EXPECT_EQ(r->header("X-Amz-Function-Error"), "");
}

TEST(ParseResponseHead, RefusesMalformedHeads) {
  for (const char* bad : {"", "HTTP/2 200 OK\r\n", "HTTP/1.1 2x0 OK\r\n", "HTTP/1.1 999 Nope\r\n",
                          "HTTP/1.1 200 OK\r\nno colon here\r\n", "HTTP/1.1 200 OK\r\n: empty\r\n"}) {
    auto r = parse_response_head(bad);
    EXPECT_FALSE(r) << bad;
  }
  auto r = parse_response_head("SSH-2.0-OpenSSH\r\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("status line"), std::string::npos) << r.error().message;
}

TEST(ParseReportFields, ColdStartLine) {
  auto f = parse_report_fields(
      "START RequestId: a Version: $LATEST\nhello\nEND RequestId: a\n"
      "REPORT RequestId: a\tDuration: 1.25 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
      "Max Memory Used: 31 MB\tInit Duration: 340.50 ms\tRestore Duration: 4.00 ms\t\n");
  EXPECT_DOUBLE_EQ(f.at("Duration"), 1.25);
  EXPECT_DOUBLE_EQ(f.at("Billed Duration"), 2);
  EXPECT_DOUBLE_EQ(f.at("Init Duration"), 340.5);
  EXPECT_DOUBLE_EQ(f.at("Restore Duration"), 4);
  EXPECT_DOUBLE_EQ(f.at("Max Memory Used"), 31);
  EXPECT_FALSE(f.contains("RequestId"));
}

TEST(ParseReportFields, NoReportLineGivesNothing) {
  EXPECT_TRUE(parse_report_fields("START RequestId: a\nDuration: 5 ms\n").empty());
  EXPECT_TRUE(parse_report_fields("").empty());
}

TEST(ParseStatFields, CommandWithSpacesAndParentheses) {
  auto f = parse_stat_fields("1234 (python3 (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 1 0");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ((*f)[0], "S");
  EXPECT_EQ((*f)[1], "1");
  EXPECT_EQ((*f)[11], "7");  // utime
  EXPECT_EQ((*f)[14], "1");  // cstime
}

TEST(ParseStatFields, RefusesTruncatedLines) {
  EXPECT_FALSE(parse_stat_fields("1234 (sh) S 1 2 3"));
  EXPECT_FALSE(parse_stat_fields("garbage"));
  EXPECT_FALSE(parse_stat_fields(""));
}

TEST(CpuSnapshot, CountsNewProcessesWholeAndIgnoresEndedOnes) {
  CpuSnapshot start, end;
  start.by_pid[1] = {1.0, 0.5, 0};
  start.by_pid[2] = {3.0, 0.0, 99};  // ends before `end`, its parent outside the tree
  end.by_pid[1] = {1.5, 0.75, 0};    // +0.5 own, +0.25 reaped children
  end.by_pid[3] = {0.2, 0.1, 1};     // new: all of it
  EXPECT_NEAR(end.seconds_since(start), 0.5 + 0.25 + 0.3, 1e-9);
}

TEST(CpuSnapshot, AChildReapedInsideTheWindowCostsOnlyItsTimeInside) {
  CpuSnapshot start, end;
  start.by_pid[1] = {1.0, 0.0, 0};
  start.by_pid[2] = {40.0, 0.0, 1};  // a VM that booted before the window
  end.by_pid[1] = {1.1, 40.5, 0};    // reaped it: 40 s before + 0.5 s inside
  EXPECT_NEAR(end.seconds_since(start), 0.1 + 0.5, 1e-9);
}

TEST(ProcessTree, FindsThisProcess) {
  auto tree = process_tree(::getpid());
  ASSERT_FALSE(tree.empty());
  EXPECT_EQ(tree[0], ::getpid());
  EXPECT_GE(CpuSnapshot::take(::getpid()).by_pid.count(::getpid()), 1u);
}

}  // namespace
}  // namespace thaw::bench
