// End to end through thawd: scheduler socket -> HTTP/1.1 parse -> router ->
// SandboxPool on the loop -> process sandbox (thaw-init + a trivial C++ `provided` runtime)
// -> back. Warm: one keep-alive connection, one invoke after another
// (p50/p99/p99.9 in µs, invocations/s). Cold: each iteration invokes a
// freshly created function (sandbox start + Init + first invoke), with the
// agent's phase split (mounts, create, init, first_invoke). Needs root.
#include "perf/agent/thawd_bench_support.h"

namespace thaw::agent::bench {
namespace {

void report(benchmark::State& state, std::vector<double>& us, double seconds) {
  report_latencies(state, us, seconds, "invokes_per_s");
}

void BM_WarmInvoke(benchmark::State& state) {
  Agent agent;
  if (!agent.error.empty()) return state.SkipWithError(agent.error.c_str());
  Client c(agent.socket);
  std::string body;
  if (!c.ok() || !agent.create(c, "warm") ||
      c.call("POST", "/2015-03-31/functions/warm/invocations", "{}", body) != 200) {
    return state.SkipWithError("creating or cold-invoking the function failed");
  }
  std::vector<double> us;
  auto start = Clock::now();
  for (auto _ : state) {
    auto t = Clock::now();
    if (c.call("POST", "/2015-03-31/functions/warm/invocations", "{}", body) != 200) {
      return state.SkipWithError("a warm invoke failed");
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  report(state, us, std::chrono::duration<double>(Clock::now() - start).count());
}
BENCHMARK(BM_WarmInvoke)->Iterations(3000)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_ColdInvoke(benchmark::State& state) {
  Agent agent;
  if (!agent.error.empty()) return state.SkipWithError(agent.error.c_str());
  Client c(agent.socket);
  std::string body;
  std::vector<double> us;
  int n = 0;
  auto start = Clock::now();
  for (auto _ : state) {
    state.PauseTiming();
    std::string name = "cold" + std::to_string(n++);
    bool created = agent.create(c, name);  // same ZIP: the image is converted once
    state.ResumeTiming();
    if (!created) return state.SkipWithError("CreateFunction failed");
    auto t = Clock::now();
    if (c.call("POST", "/2015-03-31/functions/" + name + "/invocations", "{}", body) != 200) {
      return state.SkipWithError("a cold invoke failed");
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  report(state, us, std::chrono::duration<double>(Clock::now() - start).count());
  // The agent's own split of those cold starts (SandboxPool's phases, from
  // /agent/v1/metrics): mean ms per phase.
  if (c.call("GET", "/agent/v1/metrics", "", body) != 200) return;
  for (const char* phase : {"mounts", "create", "init", "first_invoke"}) {
    std::string labels = std::string("{phase=\"") + phase + "\"} ";
    auto value = [&body, &labels](const std::string& series) {
      std::string key = "thaw_cold_start_phase_seconds_" + series + labels;
      size_t at = body.find(key);
      return at == std::string::npos ? 0.0 : std::strtod(body.c_str() + at + key.size(), nullptr);
    };
    double count = value("count");
    if (count > 0) state.counters[std::string(phase) + "_ms"] = value("sum") / count * 1000;
  }
}
BENCHMARK(BM_ColdInvoke)->Iterations(100)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace thaw::agent::bench

BENCHMARK_MAIN();
