// CI's check that the perf tools work (not what they measure): runs
// `perf/run.sh --smoke` against this build and checks that every output
// exists and parses: machine facts, micro-benchmark JSON, thaw-bench's JSON
// (thawd and the native baseline, warm/open/throughput/cold/create-rate/
// density), its Markdown listing p50..max, the CDF PNG, the VM peers' JSON
// and the assembled report. Needs root (thawd's sandboxes).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string{std::istreambuf_iterator<char>(in), {}};
}

json::value parse_file(const fs::path& p) {
  boost::system::error_code ec;
  json::value v = json::parse(slurp(p), ec);
  EXPECT_FALSE(ec) << p << " is not JSON: " << ec.message();
  return v;
}

class PerfSmoke : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: thawd's process sandboxes use namespaces and mounts";
    const char* src = std::getenv("THAW_SOURCE_ROOT");
    const char* build = std::getenv("THAW_BUILD_ROOT");
    if (!src || !build) GTEST_SKIP() << "set THAW_SOURCE_ROOT and THAW_BUILD_ROOT (meson does)";
    source_ = src;
    build_ = build;
    if (!fs::exists(build_ / "perf/thaw-bench/thaw-bench")) {
      GTEST_SKIP() << "thaw-bench is not built (meson -Dperf=disabled?)";
    }
    char tmpl[] = "/tmp/thaw-perf-smoke-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    out_ = tmpl;
  }
  void TearDown() override {
    if (!out_.empty() && !HasFailure()) fs::remove_all(out_);
  }
  fs::path source_, build_, out_;
};

TEST_F(PerfSmoke, EveryToolRunsAndWritesItsOutputs) {
  std::string cmd = "cd '" + source_.string() + "' && perf/run.sh --smoke --no-build --builddir '" +
                    build_.string() + "' --out '" + out_.string() + "' >'" + (out_ / "run.log").string() +
                    "' 2>&1";
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "perf/run.sh --smoke failed (status " << status << "); its output:\n"
      << slurp(out_ / "run.log");

  json::value machine = parse_file(out_ / "machine.json");
  for (const char* k : {"commit", "cpu", "kernel", "kvm_kind", "cores"}) {
    EXPECT_TRUE(machine.as_object().contains(k)) << "machine.json lacks " << k;
  }
  for (const char* suite : {"common_io_loop", "http_parse", "snapshot_state_codec"}) {
    json::value v = parse_file(out_ / (std::string(suite) + ".json"));
    ASSERT_TRUE(v.is_object() && v.as_object().contains("benchmarks")) << suite;
    EXPECT_FALSE(v.at("benchmarks").as_array().empty()) << suite;
  }

  json::value bench = parse_file(out_ / "thaw-bench-process.json");
  const auto& series = bench.at("series").as_object();
  for (const char* name : {"thawd process warm closed c=1", "native warm closed c=1",
                           "thawd process cold start"}) {
    ASSERT_TRUE(series.contains(name)) << "no series " << name << " in " << json::serialize(bench);
    const auto& s = series.at(name).as_object();
    EXPECT_GT(s.at("count").to_number<double>(), 0) << name;
    for (const char* k : {"p50_us", "p90_us", "p99_us", "p99.9_us", "max_us", "invocations_per_s",
                          "cpu_us_per_invocation"}) {
      EXPECT_TRUE(s.contains(k)) << name << " lacks " << k;
    }
  }
  EXPECT_TRUE(bench.at("cold_phases").as_object().contains("Init Duration"));
  EXPECT_TRUE(bench.as_object().contains("density"));
  EXPECT_TRUE(bench.as_object().contains("create_rate"));
  EXPECT_FALSE(bench.at("ratios").as_object().empty());

  std::string md = slurp(out_ / "thaw-bench-process.md");
  for (const char* col : {"p50", "p90", "p99", "p99.9", "max", "invocations/s"}) {
    EXPECT_NE(md.find(col), std::string::npos) << "the Markdown summary lacks " << col << ":\n" << md;
  }
  if (::access("/usr/bin/gnuplot", X_OK) == 0) {
    std::string png = slurp(out_ / "thaw-bench-process-cdf.png");
    ASSERT_GT(png.size(), 8u) << "no CDF plot";
    EXPECT_EQ(png.substr(1, 3), "PNG");
  } else {
    EXPECT_NE(md.find("gnuplot is not installed"), std::string::npos) << md;
  }
  json::value peers = parse_file(out_ / "vm_peers.json");
  EXPECT_TRUE(peers.as_object().contains("skipped"));
  std::string report = slurp(out_ / "report.md");
  EXPECT_NE(report.find("thaw perf report"), std::string::npos);
  EXPECT_NE(report.find("kvm_kind"), std::string::npos);
}

}  // namespace
