// Frame codec cost: header encode/decode and a whole invocation frame
// through FrameDecoder, at the payload sizes the invoke path sees.
#include <benchmark/benchmark.h>

#include "runtime-api/frame.h"
#include "runtime-api/messages.h"

namespace thaw {
namespace {

constexpr char kId[] = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

void BM_EncodeHeader(benchmark::State& state) {
  for (auto _ : state) {
    auto h = encode_header(FrameType::kResponse, 0, kId, 1024);
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_EncodeHeader);

void BM_DecodeHeader(benchmark::State& state) {
  auto h = encode_header(FrameType::kResponse, 0, kId, 1024);
  for (auto _ : state) {
    auto d = decode_header(*h);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecodeHeader);

void BM_InvokeFrameRoundTrip(benchmark::State& state) {
  Invocation inv;
  inv.deadline_ms = 1700000000000;
  inv.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:f";
  inv.trace_id = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1";
  inv.payload.assign(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    Frame f;
    f.type = FrameType::kInvoke;
    f.request_id = kId;
    f.payload = encode_invocation(inv);
    auto bytes = encode_frame(f);
    FrameDecoder d;
    (void)d.feed(*bytes);
    auto back = d.next();
    auto decoded = decode_invocation((*back)->payload);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_InvokeFrameRoundTrip)->Arg(64)->Arg(4096)->Arg(256 << 10)->Arg(6291556);

}  // namespace
}  // namespace thaw

BENCHMARK_MAIN();
