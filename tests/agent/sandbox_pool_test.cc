// Tests of agent/invoke/invoke_log's REPORT line: Lambda's field order,
// tab separators, Billed Duration rounded up to the next millisecond (never
// 0), Init Duration only on cold starts, Restore Duration on restores.
// Invocations themselves are covered end to end by thawd_api_test and
// sandbox_concurrency_test.
#include "agent/invoke/invoke_log.h"

#include <gtest/gtest.h>

namespace thaw::agent {
namespace {

TEST(ReportLine, MatchesLambdasFormat) {
  EXPECT_EQ(report_line("id-1", 12.341, 128, 40, -1),
            "REPORT RequestId: id-1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\t"
            "Max Memory Used: 40 MB\t\n");
  EXPECT_EQ(report_line("id-2", 3.0, 256, 1, 150.456),
            "REPORT RequestId: id-2\tDuration: 3.00 ms\tBilled Duration: 3 ms\tMemory Size: 256 MB\t"
            "Max Memory Used: 1 MB\tInit Duration: 150.46 ms\t\n");
}

TEST(ReportLine, RestoredSandboxesReportRestoreDurationInsteadOfInit) {
  EXPECT_EQ(report_line("id-3", 2.5, 512, 30, 100.0, 41.204),
            "REPORT RequestId: id-3\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 512 MB\t"
            "Max Memory Used: 30 MB\tRestore Duration: 41.20 ms\tBilled Restore Duration: 42 ms\t\n");
}

TEST(ReportLine, BilledDurationIsAtLeastOneMillisecond) {
  EXPECT_NE(report_line("x", 0.2, 128, 1, -1).find("Billed Duration: 1 ms"), std::string::npos);
  EXPECT_NE(report_line("x", 0.0, 128, 1, -1).find("Billed Duration: 1 ms"), std::string::npos);
  EXPECT_NE(report_line("x", 1.001, 128, 1, -1).find("Billed Duration: 2 ms"), std::string::npos);
}

}  // namespace
}  // namespace thaw::agent
