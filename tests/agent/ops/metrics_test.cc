// Tests of agent/ops/metrics: histogram buckets, the registry's counters,
// the series cap, and that the exposition is valid Prometheus text 0.0.4.
#include "agent/ops/metrics.h"

#include <map>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/agent/ops/prometheus_text.h"

namespace thaw::agent::ops {
namespace {

TEST(Histogram, BucketsAreCumulativeAndUpperBoundInclusive) {
  const double bounds[] = {0.01, 0.1, 1};
  Histogram h(bounds);
  h.observe(0.01);   // on the bound: counted in le="0.01"
  h.observe(0.05);
  h.observe(0.5);
  h.observe(7);      // only +Inf
  EXPECT_EQ(h.cumulative(), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(h.count(), 4u);
  EXPECT_NEAR(h.sum(), 7.56, 1e-6);
  h.observe(-1);  // a clock step backwards: counted in the first bucket, adds nothing to the sum
  EXPECT_EQ(h.cumulative()[0], 2u);
  EXPECT_NEAR(h.sum(), 7.56, 1e-6);
}

TEST(Histogram, RendersBucketsSumAndCount) {
  const double bounds[] = {0.5, 1};
  Histogram h(bounds);
  h.observe(0.25);
  h.observe(2);
  std::string out;
  h.render(out, "x_seconds", "function=\"f\"");
  EXPECT_EQ(out,
            "x_seconds_bucket{function=\"f\",le=\"0.5\"} 1\n"
            "x_seconds_bucket{function=\"f\",le=\"1\"} 1\n"
            "x_seconds_bucket{function=\"f\",le=\"+Inf\"} 2\n"
            "x_seconds_sum{function=\"f\"} 2.25\n"
            "x_seconds_count{function=\"f\"} 2\n");
  out.clear();
  h.render(out, "y", "");
  EXPECT_NE(out.find("y_bucket{le=\"+Inf\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("y_count 2\n"), std::string::npos) << out;
}

TEST(MetricsRegistry, CountsByFunctionAndOutcome) {
  MetricsRegistry m;
  m.record_invocation("a", Outcome::kSuccess);
  m.record_invocation("a", Outcome::kSuccess);
  m.record_invocation("a", Outcome::kFunctionError);
  m.record_invocation("b", Outcome::kThrottled);
  m.record_start("a", true);
  m.record_start("a", false);
  m.record_start("a", false);
  m.observe_invoke_latency("a", 0.003);
  m.observe_function_duration("a", 0.002);
  m.record_cold_start_phase("init", 0.2);
  EXPECT_EQ(m.invocations("a", Outcome::kSuccess), 2u);
  EXPECT_EQ(m.invocations("a", Outcome::kFunctionError), 1u);
  EXPECT_EQ(m.invocations("b", Outcome::kThrottled), 1u);
  EXPECT_EQ(m.invocations("zzz", Outcome::kSuccess), 0u);
  EXPECT_EQ(m.starts("a", true), 1u);
  EXPECT_EQ(m.starts("a", false), 2u);

  auto samples = parse_prometheus_text(m.render_prometheus({3, 1, 2, 1, true}));
  ASSERT_TRUE(samples) << samples.error().message;
  auto& s = *samples;
  EXPECT_EQ(s.at("thaw_invocations_total{function=\"a\",outcome=\"success\"}"), 2);
  EXPECT_EQ(s.at("thaw_invocations_total{function=\"a\",outcome=\"client_error\"}"), 0);
  EXPECT_EQ(s.at("thaw_errors_total{function=\"a\"}"), 1);
  EXPECT_EQ(s.at("thaw_throttles_total{function=\"b\"}"), 1);
  EXPECT_EQ(s.at("thaw_cold_starts_total{function=\"a\"}"), 1);
  EXPECT_EQ(s.at("thaw_warm_starts_total{function=\"a\"}"), 2);
  EXPECT_EQ(s.at("thaw_invoke_duration_seconds_count{function=\"a\"}"), 1);
  EXPECT_EQ(s.at("thaw_invoke_duration_seconds_bucket{function=\"a\",le=\"0.005\"}"), 1);
  EXPECT_EQ(s.at("thaw_invoke_duration_seconds_bucket{function=\"a\",le=\"0.0025\"}"), 0);
  EXPECT_EQ(s.at("thaw_function_duration_seconds_count{function=\"a\"}"), 1);
  EXPECT_EQ(s.at("thaw_cold_start_phase_seconds_count{phase=\"init\"}"), 1);
  EXPECT_EQ(s.at("thaw_sandboxes{state=\"idle\"}"), 3);
  EXPECT_EQ(s.at("thaw_sandboxes{state=\"busy\"}"), 1);
  EXPECT_EQ(s.at("thaw_sandboxes{state=\"provisioned\"}"), 2);
  EXPECT_EQ(s.at("thaw_invocations_in_flight"), 1);
  EXPECT_EQ(s.at("thaw_draining"), 1);
}

TEST(MetricsRegistry, FunctionSeriesAreCappedUnderOther) {
  MetricsRegistry m;
  for (size_t i = 0; i < kMaxFunctionSeries + 10; ++i) {
    m.record_invocation(fmt::format("f{}", i), Outcome::kClientError);
  }
  EXPECT_EQ(m.invocations(fmt::format("f{}", kMaxFunctionSeries - 1), Outcome::kClientError), 1u);
  EXPECT_EQ(m.invocations(fmt::format("f{}", kMaxFunctionSeries + 5), Outcome::kClientError), 0u);
  EXPECT_EQ(m.invocations(kOtherFunction, Outcome::kClientError), 10u);
}

TEST(MetricsRegistry, ConcurrentRecordingLosesNothing) {
  MetricsRegistry m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 5000; ++i) {
        m.record_invocation(t % 2 ? "odd" : "even", Outcome::kSuccess);
        m.observe_invoke_latency("shared", 0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.invocations("odd", Outcome::kSuccess), 10000u);
  EXPECT_EQ(m.invocations("even", Outcome::kSuccess), 10000u);
  EXPECT_EQ(m.latency_count("shared"), 20000u);
}

TEST(MetricsRegistry, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  MetricsRegistry m;
  m.record_invocation("we\"ird", Outcome::kSuccess);
  auto samples = parse_prometheus_text(m.render_prometheus({}));
  ASSERT_TRUE(samples) << samples.error().message;
  EXPECT_EQ(samples->at("thaw_invocations_total{function=\"we\\\"ird\",outcome=\"success\"}"), 1);
}

TEST(PrometheusText, TheCheckerRefusesMalformedLines) {
  EXPECT_FALSE(parse_prometheus_text("metric_without_value\n"));
  EXPECT_FALSE(parse_prometheus_text("bad-name 1\n"));
  EXPECT_FALSE(parse_prometheus_text("# TYPE x counter\nx{a=\"1\" 2\n"));
  EXPECT_FALSE(parse_prometheus_text("x 1\nx 2\n")) << "a duplicate series";
  EXPECT_TRUE(parse_prometheus_text("# HELP x y\n# TYPE x counter\nx{a=\"1\"} 2\n"));
}

}  // namespace
}  // namespace thaw::agent::ops
