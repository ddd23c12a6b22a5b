// snapshot/state_file.h's codec: encoding a machine's state at snapshot time
// and decoding (with the SHA-256 check and every bound) at restore time,
// for the shape a function sandbox has (1 and 4 vCPUs, a 4 KiB XSAVE area,
// ~40 MSRs, a CPUID table, serial + 3 virtio-blk + vsock device blobs).
#include <benchmark/benchmark.h>

#include "snapshot/state_file.h"

namespace thaw::snapshot {
namespace {

SnapshotState sandbox_state(uint32_t vcpus) {
  SnapshotState s;
  s.machine.kind = SnapshotKind::kFunction;
  s.machine.memory_size = 256ull << 20;
  s.machine.regions.push_back({0, 256ull << 20, 0});
  s.machine.vcpu_count = vcpus;
  s.machine.cpu_model = "standard";
  s.machine.cpuid.resize(40);
  for (uint32_t i = 0; i < 40; ++i) s.machine.cpuid[i].function = i;
  s.machine.snapshot_id.fill(0x5a);
  for (uint32_t i = 0; i < vcpus; ++i) {
    VcpuState v;
    v.index = i;
    v.regs.rip = 0xffffffff81000000ull + i;
    v.xsave.assign(4096, static_cast<uint8_t>(i));
    v.msrs.resize(40);
    for (uint32_t m = 0; m < 40; ++m) v.msrs[m] = {0xc0000080 + m, 0, m * 7ull};
    s.vcpus.push_back(std::move(v));
  }
  s.devices.push_back({"serial0", std::vector<uint8_t>(64, 1)});
  for (int d = 0; d < 3; ++d) s.devices.push_back({"virtio-blk" + std::to_string(d), std::vector<uint8_t>(512, 2)});
  s.devices.push_back({"virtio-vsock0", std::vector<uint8_t>(1024, 3)});
  return s;
}

void BM_EncodeState(benchmark::State& state) {
  SnapshotState s = sandbox_state(static_cast<uint32_t>(state.range(0)));
  size_t bytes = 0;
  for (auto _ : state) {
    auto out = encode_state(s);
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["state_bytes"] = static_cast<double>(bytes);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
}
BENCHMARK(BM_EncodeState)->Arg(1)->Arg(4);

void BM_DecodeState(benchmark::State& state) {
  auto bytes = encode_state(sandbox_state(static_cast<uint32_t>(state.range(0))));
  for (auto _ : state) {
    auto back = decode_state(bytes);
    if (!back) return state.SkipWithError(back.error().message.c_str());
    benchmark::DoNotOptimize(back->vcpus.data());
  }
  state.counters["state_bytes"] = static_cast<double>(bytes.size());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodeState)->Arg(1)->Arg(4);

}  // namespace
}  // namespace thaw::snapshot

BENCHMARK_MAIN();
