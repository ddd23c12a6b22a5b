// Restore of the Linux guest (THAW_GUEST_DIR) in this process, with and
// without working-set prefetch; skipped where no guest kernel is built.
#include <benchmark/benchmark.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "perf/snapshot/bench_support.h"
#include "sandbox/vmm/machine.h"
#include "tests/snapshot/linux_guest.h"

namespace thaw::snapshot::bench {
namespace {

// The Linux guest (THAW_GUEST_DIR), snapshotted just after a "tick" line:
// every restore resumes the same guest work up to the next line, so the
// spread between prefetch off and on is the host's paging cost alone.
struct LinuxFixture {
  std::string snap;
  sandbox::VmmConfig config;
  std::string error;
};

const LinuxFixture& linux_fixture() {
  static LinuxFixture f = [] {
    LinuxFixture f;
    const Fixture& base = fixture();
    if (!base.error.empty()) {
      f.error = base.error;
      return f;
    }
    auto guest = testing::counting_linux_guest(base.dir, f.error);
    if (!guest) return f;
    f.config = *guest;
    f.config.serial_path = base.dir + "/linux-boot.log";
    f.snap = base.dir + "/linux-snap";
    int code = 0;
    auto vmm = sandbox::build_machine(f.config, code);
    if (!vmm || !(*vmm)->start()) {
      f.error = vmm ? "start failed" : vmm.error().message;
      return f;
    }
    // Just after the fifth tick's line ends.
    auto deadline = Clock::now() + std::chrono::seconds(300);
    while (Clock::now() < deadline) {
      std::ifstream in(f.config.serial_path);
      std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // The console ends lines in "\r\n" (a tty) or "\n".
      if (log.find("tick 5 pid 1\n") != std::string::npos ||
          log.find("tick 5 pid 1\r\n") != std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    auto saved = save_snapshot(**vmm, f.snap, SnapshotKind::kBase);
    (*vmm)->request_stop(sandbox::kExitClean, "snapshot taken");
    (*vmm)->wait();
    if (!saved) {
      f.error = saved.error().message;
      return f;
    }
    // Working set up to the next output, recorded on a plain restore.
    auto pipe = SerialPipe::create(base.dir + "/linux-record.fifo");
    sandbox::VmmConfig c = f.config;
    c.serial_path = pipe->path;
    f.error = record_working_set(c, f.snap, *pipe, 30000);
    return f;
  }();
  return f;
}

void BM_RestoreLinux(benchmark::State& state) {
  const LinuxFixture& f = linux_fixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  RestoreOptions options;
  options.prefetch_working_set = state.range(0) != 0;
  std::vector<double> restore_us, first_out, prefetch_us, create_us, set_us;
  double faults = 0, pages = 0;
  for (auto _ : state) {
    auto pipe = SerialPipe::create(fixture().dir + "/linux.fifo");
    sandbox::VmmConfig c = f.config;
    c.serial_path = pipe->path;
    auto run = timed_restore(c, f.snap, options, *pipe, 30000);
    if (!run) {
      state.SkipWithError(run.error().message.c_str());
      pipe->close();
      return;
    }
    const RestoredMachine& restored = run->machine;
    faults += static_cast<double>(run->faults);
    pages += static_cast<double>(restored.prefetched.pages_read + restored.prefetched.pages_written);
    state.PauseTiming();
    restored.vmm->request_stop(sandbox::kExitClean, "measured");
    pipe->close();
    restored.vmm->wait();
    state.ResumeTiming();
    if (!run->output) {
      state.SkipWithError("the restored Linux guest printed nothing in 30 s");
      return;
    }
    restore_us.push_back(micros_between(run->start, run->restored));
    prefetch_us.push_back(micros(restored.timings.prefetch_ns));
    create_us.push_back(micros(restored.timings.create_vm_ns));
    set_us.push_back(micros(restored.timings.set_state_ns));
    first_out.push_back(micros_between(run->restored, run->first_output));
  }
  state.counters["restore_p50_us"] = percentile(restore_us, 0.50);
  state.counters["restore_p99_us"] = percentile(restore_us, 0.99);
  state.counters["prefetch_p50_us"] = percentile(prefetch_us, 0.50);
  state.counters["create_vm_p50_us"] = percentile(create_us, 0.50);
  state.counters["set_state_p50_us"] = percentile(set_us, 0.50);
  state.counters["start_to_next_line_p50_us"] = percentile(first_out, 0.50);
  state.counters["start_to_next_line_p99_us"] = percentile(first_out, 0.99);
  state.counters["minflt"] = benchmark::Counter(faults, benchmark::Counter::kAvgIterations);
  state.counters["prefetched_pages"] = benchmark::Counter(pages, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_RestoreLinux)->Arg(0)->Arg(1)->ArgName("prefetch")->Iterations(10)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace thaw::snapshot::bench
