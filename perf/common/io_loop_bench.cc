// Cost of one turn of common/io_loop.h's IoLoop, the event loop under every
// hot path (thawd's listener, thaw-init's Runtime API, the VMM's device
// backends): a NOP SQE submitted and its completion run, and a post() from
// the loop thread woken through the eventfd and drained. ns/op.
#include <benchmark/benchmark.h>

#include "common/io_loop.h"

namespace thaw {
namespace {

void BM_NopRoundTrip(benchmark::State& state) {
  auto loop = IoLoop::create();
  if (!loop) return state.SkipWithError(loop.error().message.c_str());
  IoOp op;
  uint64_t done = 0;
  op.done = [&done](int, uint32_t) { ++done; };
  for (auto _ : state) {
    io_uring_prep_nop((*loop)->prepare(op));
    auto ran = (*loop)->run_once(-1);
    if (!ran) return state.SkipWithError(ran.error().message.c_str());
  }
  if (done != static_cast<uint64_t>(state.iterations())) state.SkipWithError("a NOP completion was lost");
}
BENCHMARK(BM_NopRoundTrip);

void BM_NopBatch(benchmark::State& state) {
  auto loop = IoLoop::create();
  if (!loop) return state.SkipWithError(loop.error().message.c_str());
  const int batch = static_cast<int>(state.range(0));
  std::vector<IoOp> ops(static_cast<size_t>(batch));
  int pending = 0;
  for (auto& op : ops) op.done = [&pending](int, uint32_t) { --pending; };
  for (auto _ : state) {
    for (auto& op : ops) io_uring_prep_nop((*loop)->prepare(op));
    pending = batch;
    while (pending > 0) {
      if (!(*loop)->run_once(-1)) return state.SkipWithError("run_once failed");
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_NopBatch)->Arg(8)->Arg(64);

void BM_PostAndTurn(benchmark::State& state) {
  auto loop = IoLoop::create();
  if (!loop) return state.SkipWithError(loop.error().message.c_str());
  uint64_t ran = 0;
  uint64_t expected = 0;
  for (auto _ : state) {
    (*loop)->post([&ran] { ++ran; });
    ++expected;
    // One turn normally suffices (the eventfd's poll completion drains the
    // posted queue); a bounded retry keeps a lost wake-up from hanging.
    for (int turns = 0; ran < expected && turns < 1000; ++turns) {
      if (!(*loop)->run_once(100)) return state.SkipWithError("run_once failed");
    }
    if (ran < expected) return state.SkipWithError("a posted callback did not run within 1000 turns");
  }
}
BENCHMARK(BM_PostAndTurn);

}  // namespace
}  // namespace thaw

BENCHMARK_MAIN();
