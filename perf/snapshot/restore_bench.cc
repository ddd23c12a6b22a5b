// Restore latency of a test-guest snapshot in this process, split into the
// phases the cold-start path pays (RestoreTimings: read + check state, map
// memory, prefetch the working set, create the KVM VM, wire devices, set
// state, KVM_PRE_FAULT_MEMORY) plus start-to-first-output (Vmm::start()
// until the guest's first serial byte: the first vCPU run to its first
// exit) and start-to-first-vsock-frame (the agent's restore notice sent
// over the new vsock socket and the guest's restore-done frame received).
// Arguments: working-set prefetch off/on, page cache warm/cold (the
// snapshot's files dropped with POSIX_FADV_DONTNEED before each restore).
// KVM_PRE_FAULT_MEMORY is used with prefetch where the VM reports it; where
// not, the label says why. Counters are per restore; *_p50_us / *_p99_us
// are over every restore of the run; minflt is the host's minor faults.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "perf/snapshot/bench_support.h"

namespace thaw::snapshot::bench {
namespace {

void BM_Restore(benchmark::State& state) {
  const Fixture& f = fixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  RestoreOptions options;
  options.prefetch_working_set = state.range(0) != 0;
  bool cold = state.range(1) != 0;
  std::vector<double> read_state, map, prefetch, create, devices, set_state, pre_fault,
      first_out, connected, first_frame, total;
  double faults = 0, still_cached = 0, pre_faulted = 0;
  std::string pre_fault_skipped;
  int n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    if (cold) {
      for (const char* name : {kMemoryFileName, kStateFileName, kWorkingSetFileName}) {
        long left = drop_from_page_cache(f.snap + "/" + name);
        if (left > 0) still_cached += static_cast<double>(left);
      }
    }
    std::string uds = f.dir + "/bench-" + std::to_string(n++) + ".sock";
    auto pipe = SerialPipe::create(f.dir + "/bench.fifo");
    state.ResumeTiming();
    if (!pipe) {
      state.SkipWithError("mkfifo failed");
      return;
    }
    auto run = timed_restore(guest_config(f.guest, pipe->path, uds), f.snap, options, *pipe, 10000);
    pipe->close();
    if (!run) {
      state.SkipWithError(run.error().message.c_str());
      return;
    }
    const RestoredMachine& restored = run->machine;
    auto t1 = run->restored;
    Clock::time_point accepted = run->first_output;
    std::string error = run->output ? exchange_restore_notice(uds, 10000, &accepted)
                                    : "the restored guest printed nothing in 10 s";
    auto t3 = Clock::now();
    faults += static_cast<double>(run->faults);
    state.PauseTiming();
    restored.vmm->request_stop(sandbox::kExitClean, "measured");
    restored.vmm->wait();
    state.ResumeTiming();
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
    const RestoreTimings& t = restored.timings;
    read_state.push_back(micros(t.read_state_ns));
    map.push_back(micros(t.map_memory_ns));
    prefetch.push_back(micros(t.prefetch_ns));
    create.push_back(micros(t.create_vm_ns));
    devices.push_back(micros(t.devices_ns));
    set_state.push_back(micros(t.set_state_ns));
    pre_fault.push_back(micros(t.pre_fault_ns));
    first_out.push_back(micros_between(t1, run->first_output));
    connected.push_back(micros_between(t1, accepted));
    first_frame.push_back(micros_between(t1, t3));
    total.push_back(micros_between(run->start, t3));
    pre_faulted += static_cast<double>(restored.pre_faulted_pages);
    pre_fault_skipped = restored.pre_fault_skipped;
  }
  report_percentiles(state, "read_state", read_state);
  report_percentiles(state, "map_memory", map);
  report_percentiles(state, "prefetch", prefetch);
  report_percentiles(state, "create_vm", create);
  report_percentiles(state, "devices", devices);
  report_percentiles(state, "set_state", set_state);
  report_percentiles(state, "pre_fault", pre_fault);
  report_percentiles(state, "start_to_first_output", first_out);
  report_percentiles(state, "start_to_vsock_accept", connected);
  report_percentiles(state, "start_to_first_vsock_frame", first_frame);
  report_percentiles(state, "total", total);
  using C = benchmark::Counter;
  state.counters["minflt"] = C(faults, C::kAvgIterations);
  state.counters["pre_faulted_pages"] = C(pre_faulted, C::kAvgIterations);
  // Proof that "cold" was cold: pages of the snapshot files still cached
  // right after the drop (0 expected).
  if (cold) state.counters["cached_after_drop"] = C(still_cached, C::kAvgIterations);
  if (!pre_fault_skipped.empty()) state.SetLabel("pre-fault skipped: " + pre_fault_skipped);
}
BENCHMARK(BM_Restore)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"prefetch", "cold"})
    ->Iterations(40)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace thaw::snapshot::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  const auto& f = thaw::snapshot::bench::fixture();
  if (!f.dir.empty()) std::filesystem::remove_all(f.dir);
  benchmark::Shutdown();
  return 0;
}
