// The virtqueue fast path: one chain popped and returned per iteration
// (driver publish + pop + push_used + interrupt decision), with a 3-buffer
// direct chain (a blk request) and the same buffers behind an indirect
// table. Reports ns per request.
#include <benchmark/benchmark.h>

#include "sandbox/devices/virtio/virtqueue.h"
#include "tests/sandbox/virtio/fake_driver.h"

namespace thaw::sandbox::virtio {
namespace {

using testing::Buf;
using testing::FakeQueue;
using testing::GuestAllocator;

void run(benchmark::State& state, bool indirect, bool event_idx) {
  auto mem = GuestMemory::create_anonymous(8 << 20);
  if (!mem) return state.SkipWithError(mem.error().message.c_str());
  GuestAllocator alloc(0x1000);
  FakeQueue fq(*mem, alloc, 256);
  Virtqueue vq(256);
  if (!vq.configure(*mem, fq.layout(), event_idx)) return state.SkipWithError("configure");
  std::vector<Buf> bufs{{alloc.alloc(16), 16, false},
                        {alloc.alloc(4096, 4096), 4096, true},
                        {alloc.alloc(1), 1, true}};
  uint16_t head = indirect ? fq.add_indirect(bufs, alloc.alloc(48)) : fq.add_chain(bufs);
  for (auto _ : state) {
    fq.publish(head);
    auto chain = vq.pop(*mem);
    if (!chain || !*chain) return state.SkipWithError("pop failed");
    benchmark::DoNotOptimize((*chain)->writable_bytes);
    if (!vq.push_used(*mem, (*chain)->head, 4097)) return state.SkipWithError("push failed");
    auto irq = vq.should_interrupt(*mem);
    benchmark::DoNotOptimize(irq);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_VirtqueueDirectChain(benchmark::State& s) { run(s, false, false); }
void BM_VirtqueueIndirectChain(benchmark::State& s) { run(s, true, false); }
void BM_VirtqueueDirectChainEventIdx(benchmark::State& s) { run(s, false, true); }
BENCHMARK(BM_VirtqueueDirectChain);
BENCHMARK(BM_VirtqueueIndirectChain);
BENCHMARK(BM_VirtqueueDirectChainEventIdx);

}  // namespace
}  // namespace thaw::sandbox::virtio

BENCHMARK_MAIN();
