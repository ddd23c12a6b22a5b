// Benchmarks of agent/ops and the scheduler's request parsing: rendering
// the Prometheus exposition (per function count), recording an invocation
// into the metrics (1 and 4 threads), parsing scheduler requests with
// Beast's parser as the HTTP server does, and the AgentOps gate every
// Invoke passes. No root needed.
// Run: meson test -C BUILD --benchmark ops (or the binary directly).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/http/parser.hpp>
#pragma GCC diagnostic pop

#include "agent/ops/agent_ops.h"
#include "agent/ops/metrics.h"

namespace thaw::agent::ops {
namespace {

namespace http = boost::beast::http;

void BM_RenderMetrics(benchmark::State& state) {
  MetricsRegistry m;
  for (int64_t f = 0; f < state.range(0); ++f) {
    std::string name = fmt::format("function-{}", f);
    for (int i = 0; i < 20; ++i) {
      m.record_invocation(name, i % 7 ? Outcome::kSuccess : Outcome::kFunctionError);
      m.observe_invoke_latency(name, 0.001 * i);
      m.observe_function_duration(name, 0.0008 * i);
      m.record_start(name, i == 0);
    }
  }
  m.record_cold_start_phase("init", 0.05);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = m.render_prometheus({3, 1, 0, 1, false});
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_RenderMetrics)->Arg(1)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

MetricsRegistry& shared_registry() {
  static MetricsRegistry m;
  return m;
}

// What one finished invocation costs the hot path: counter + histogram.
void BM_RecordInvocation(benchmark::State& state) {
  MetricsRegistry& m = shared_registry();
  std::string name = fmt::format("function-{}", state.thread_index() % 2);
  for (auto _ : state) {
    m.record_invocation(name, Outcome::kSuccess);
    m.observe_function_duration(name, 0.0042);
  }
}
BENCHMARK(BM_RecordInvocation)->Threads(1)->Threads(4);

std::string invoke_request(size_t payload) {
  std::string body(payload, 'x');
  body.front() = '"';
  body.back() = '"';
  return fmt::format(
      "POST /2015-03-31/functions/my-function/invocations?Qualifier=live HTTP/1.1\r\n"
      "Host: thaw\r\nUser-Agent: scheduler/1.0\r\nX-Amz-Invocation-Type: RequestResponse\r\n"
      "X-Amz-Log-Type: Tail\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
      body.size(), body);
}

// The HTTP server's parse of one scheduler request (header, then the body
// once the per-route limit is known), for a given payload size.
void BM_ParseSchedulerRequest(benchmark::State& state) {
  std::string wire = invoke_request(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    http::request_parser<http::string_body> p;
    p.body_limit(6u << 20);
    boost::system::error_code ec;
    size_t n = p.put(boost::asio::buffer(wire), ec);
    if (!ec && !p.is_done()) n += p.put(boost::asio::buffer(wire.data() + n, wire.size() - n), ec);
    if (ec || !p.is_done()) state.SkipWithError("the request did not parse");
    benchmark::DoNotOptimize(p.get().body().data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ParseSchedulerRequest)->Arg(64)->Arg(4096)->Arg(262144);

// AgentOps::handle on an Invoke: path split, drain check, reply wrap, and
// the wrapped reply's metrics when the router answers.
void BM_AgentOpsInvokeGate(benchmark::State& state) {
  auto loop = IoLoop::create(16);
  if (!loop) {
    state.SkipWithError("io_uring unavailable");
    return;
  }
  AgentView v;
  v.max_sandboxes = [] { return 16u; };
  v.counts = [] { return SandboxCounts{}; };
  v.sandboxes = [] { return std::vector<SandboxRow>{}; };
  v.functions = [] { return size_t{1}; };
  v.function_exists = [](const std::string&) { return true; };
  MetricsRegistry m;
  AgentOps ops(**loop, v, m);
  HttpRequest req;
  req.method(http::verb::post);
  req.target("/2015-03-31/functions/my-function/invocations");
  size_t answered = 0;
  for (auto _ : state) {
    HttpReply reply = [&answered](HttpResponse) { ++answered; };
    if (!ops.handle(req, reply)) reply(HttpResponse{200, {}, {}});
  }
  if (answered != static_cast<size_t>(state.iterations())) state.SkipWithError("lost replies");
}
BENCHMARK(BM_AgentOpsInvokeGate);

}  // namespace
}  // namespace thaw::agent::ops

BENCHMARK_MAIN();
