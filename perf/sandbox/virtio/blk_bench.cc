// The virtio-blk request path end to end: a 4 KiB or 64 KiB read request
// on the ring, parsed, submitted as io_uring readv into guest memory (page
// cache hit), completed with status byte + used entry + interrupt decision.
// One request in flight at a time, so the figure is per-request latency.
#include <benchmark/benchmark.h>
#include <linux/virtio_blk.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "sandbox/devices/virtio/mmio_transport.h"
#include "sandbox/devices/virtio/virtio_blk.h"
#include "tests/sandbox/virtio/fake_driver.h"

namespace thaw::sandbox::virtio {
namespace {

using testing::CountingInterrupt;
using testing::FakeQueue;
using testing::GuestAllocator;
using testing::MmioDriver;

void BM_BlkRead(benchmark::State& state) {
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  char path[] = "/tmp/thaw-blk-bench-XXXXXX";
  UniqueFd file(::mkstemp(path));
  if (!file) return state.SkipWithError("mkstemp");
  std::vector<uint8_t> image(16 << 20, 0x5a);
  if (::pwrite(file.get(), image.data(), image.size(), 0) != ssize_t(image.size())) {
    return state.SkipWithError("writing the image");
  }
  auto loop = IoLoop::create();
  auto mem = GuestMemory::create_anonymous(8 << 20);
  if (!loop || !mem) return state.SkipWithError("setup");
  auto blk = VirtioBlk::create({.path = path}, **loop);
  ::unlink(path);
  if (!blk) return state.SkipWithError(blk.error().message.c_str());
  CountingInterrupt irq;
  MmioTransport t(std::move(*blk), *mem, irq);
  MmioDriver drv(t);
  GuestAllocator alloc(0x10000);
  FakeQueue q(*mem, alloc, 256);
  drv.init(drv.device_features(), {&q});
  while (!t.is_active()) (void)(*loop)->run_once(5);

  uint64_t hdr = alloc.alloc(16), data = alloc.alloc(len, 4096), status = alloc.alloc(1, 1);
  uint16_t head = q.add_chain({{hdr, 16, false}, {data, len, true}, {status, 1, true}});
  uint64_t sector = 0;
  const uint64_t sectors = image.size() / 512 - len / 512;
  for (auto _ : state) {
    uint32_t h[4] = {VIRTIO_BLK_T_IN, 0, static_cast<uint32_t>(sector), 0};
    (void)mem->write(hdr, {reinterpret_cast<uint8_t*>(h), 16});
    sector = (sector + len / 512) % sectors;
    q.publish(head);
    t.notify_queue(0);
    while (!q.next_used()) (void)(*loop)->run_once(-1);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * len);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (*mem->read_obj<uint8_t>(status) != VIRTIO_BLK_S_OK) state.SkipWithError("request failed");
}
BENCHMARK(BM_BlkRead)->Arg(4096)->Arg(65536);

}  // namespace
}  // namespace thaw::sandbox::virtio

BENCHMARK_MAIN();
