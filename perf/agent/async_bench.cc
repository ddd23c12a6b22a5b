// Asynchronous (Event) invokes through thawd's socket. Enqueue: the 202's
// latency (p50/p99/p99.9 µs) on one keep-alive connection — each 202 waits
// for the event file's fsync and its directory's — and the end-to-end rate
// until the queue is empty. Drain: events written to <state>/events while
// thawd is stopped, then the rate at which a fresh thawd reloads and runs
// them (each event: attempt record, invoke, outcome record, removal).
// Needs root. Run: meson test -C BUILD --benchmark thawd_async
#include <filesystem>

#include "agent/async/event_record.h"
#include "agent/invoke/invoke_log.h"
#include "perf/agent/thawd_bench_support.h"

namespace thaw::agent::bench {
namespace {

namespace fs = std::filesystem;

constexpr const char* kEvent = "X-Amz-Invocation-Type: Event\r\n";

size_t queued_files(const std::string& events_dir) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(events_dir, ec)) {
    if (e.path().extension() == ".json") ++n;
  }
  return n;
}

// Waits (up to 10 min) for the queue to empty; false on timeout.
bool wait_drained(const std::string& events_dir) {
  auto until = Clock::now() + std::chrono::minutes(10);
  while (queued_files(events_dir) > 0) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// An agent with function "async" created and warmed by one sync invoke.
bool prepare(Agent& agent, Client& c) {
  std::string body;
  return c.ok() && agent.create(c, "async") &&
         c.call("POST", "/2015-03-31/functions/async/invocations", "{}", body) == 200;
}

void BM_AsyncEnqueue(benchmark::State& state) {
  Agent agent({"--async-threads", std::to_string(state.range(0))});
  if (!agent.error.empty()) return state.SkipWithError(agent.error.c_str());
  Client c(agent.socket);
  if (!prepare(agent, c)) return state.SkipWithError("creating or warming the function failed");
  std::string body;
  std::vector<double> us;
  auto start = Clock::now();
  for (auto _ : state) {
    auto t = Clock::now();
    if (c.call("POST", "/2015-03-31/functions/async/invocations", "{}", body, kEvent) != 202) {
      return state.SkipWithError(("an Event invoke was not accepted: " + body).c_str());
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  double enqueue_s = std::chrono::duration<double>(Clock::now() - start).count();
  report_latencies(state, us, enqueue_s, "enqueued_per_s");
  if (!wait_drained(agent.dir + "/state/events")) return state.SkipWithError("queue never drained");
  double total_s = std::chrono::duration<double>(Clock::now() - start).count();
  state.counters["end_to_end_events_per_s"] = static_cast<double>(us.size()) / total_s;
}
BENCHMARK(BM_AsyncEnqueue)->Arg(4)->Iterations(2000)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_AsyncDrain(benchmark::State& state) {
  Agent agent({"--async-threads", std::to_string(state.range(0))});
  if (!agent.error.empty()) return state.SkipWithError(agent.error.c_str());
  {
    Client c(agent.socket);
    if (!prepare(agent, c)) return state.SkipWithError("creating the function failed");
  }
  std::string events_dir = agent.dir + "/state/events";
  const size_t n = static_cast<size_t>(state.range(1));
  for (auto _ : state) {
    state.PauseTiming();
    agent.stop();
    QueuedEvent e;
    e.function = "async";
    e.payload = "{}";
    e.enqueued_ms = wall_clock_ms();
    for (size_t i = 0; i < n; ++i) {
      e.request_id = new_request_id();
      std::ofstream(events_dir + "/" + e.request_id + ".json") << encode_event(e);
    }
    state.ResumeTiming();
    auto t = Clock::now();
    agent.start();
    if (!agent.error.empty() || !wait_drained(events_dir)) {
      return state.SkipWithError("thawd did not drain the queue");
    }
    double s = std::chrono::duration<double>(Clock::now() - t).count();
    state.counters["drained_events_per_s"] = static_cast<double>(n) / s;
    state.counters["ms_per_event"] = s * 1000 / static_cast<double>(n);
  }
}
BENCHMARK(BM_AsyncDrain)->Args({4, 1000})->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace thaw::agent::bench

BENCHMARK_MAIN();
