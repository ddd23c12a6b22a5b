// Cold start through the microvm backend with the project's Linux guest and
// thaw-init: one boot (boot-to-ready, measured once), a function snapshot
// after Init, then restore-to-first-response, p50/p99 per phase:
//  - BM_SandboxRestore: MicrovmSandbox::restore, a fresh thaw-vmm process
//    each time (the agent's path): process start, vsock connected (VM
//    create + memory map + state set + first vCPU runs + thaw-init accepts),
//    restore notice sent, first vsock frame back (kRestoreDone), response
//    to an invocation.
//  - BM_InProcessRestore: the same snapshot restored inside this process,
//    which splits the VMM's share: read state, memory map, VM create,
//    devices, working-set prefetch, state set, then the guest's phases.
// With and without working-set prefetch (the set is recorded up to the
// first response). Needs /dev/kvm and THAW_GUEST_DIR; skips otherwise. On
// PVM hosts guest time is emulated: compare host-side phases, not totals.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "common/file_util.h"
#include "runtime-api/hybrid_vsock.h"
#include "sandbox/frame_socket.h"
#include "sandbox/microvm/snap_start.h"
#include "snapshot/vm_snapshot.h"
#include "tests/microvm/microvm_fixture.h"

namespace thaw {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTimeoutMs = 60000;

double ms(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }
double ms_since(Clock::time_point t) { return ms(Clock::now() - t); }
double ns_to_ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

using Phases = std::map<std::string, std::vector<double>>;

// <phase>_p50_ms and <phase>_p99_ms counters, over every iteration.
void report_phases(benchmark::State& state, const Phases& phases) {
  for (const auto& [name, v] : phases) {
    state.counters[name + "_p50_ms"] = percentile(v, 0.50);
    state.counters[name + "_p99_ms"] = percentile(v, 0.99);
  }
}

struct Fixture {
  std::string scratch, snap, error;
  std::optional<MicrovmSandboxOptions> options;
  double boot_connected_ms = 0, boot_ready_ms = 0, snapshot_ms = 0;
};

Frame invoke_frame(const std::string& id, const std::string& event) {
  Invocation inv;
  inv.deadline_ms = static_cast<uint64_t>(std::time(nullptr)) * 1000 + 600000;
  inv.payload.assign(event.begin(), event.end());
  Frame f;
  f.type = FrameType::kInvoke;
  f.request_id = id;
  f.payload = encode_invocation(inv);
  return f;
}

sandbox::VmmConfig restore_config(const MicrovmSandboxOptions& o, const std::string& dir) {
  sandbox::VmmConfig c;
  c.disks = {{o.root_image, true}, {o.code_image, true}};
  c.vsock_uds = dir + "/vsock.sock";
  c.serial_path = dir + "/console.log";
  return c;
}

// An in-process restore driven to the first response; records the working
// set when `record` (for later prefetching restores).
struct InProcessRun {
  snapshot::RestoreTimings t;
  double start_to_connected = 0, to_restore_done = 0, to_response = 0;
  uint64_t prefetched_pages = 0;
  std::string error;
};

InProcessRun restore_in_process(const Fixture& f, bool prefetch, bool record, int n) {
  InProcessRun run;
  std::string dir = fmt::format("{}/inproc-{}", f.scratch, n);
  std::filesystem::create_directories(dir);
  snapshot::RestoreOptions ro;
  ro.prefetch_working_set = prefetch;
  ro.machine_from_snapshot = true;
  int code = 0;
  auto restored = snapshot::restore_machine(restore_config(*f.options, dir), f.snap, ro, code);
  if (!restored) {
    run.error = restored.error().message;
    return run;
  }
  run.t = restored->timings;
  run.prefetched_pages = restored->prefetched.pages_read + restored->prefetched.pages_written;
  auto t0 = Clock::now();
  (void)restored->vmm->start();
  // As MicrovmSandbox::restore: a channel that ends before kRestoreDone
  // lost the race with the guest's vsock transport reset; open another.
  Frame notice;
  notice.type = FrameType::kRestoreNotice;
  notice.payload = encode_restore_notice(fresh_restore_notice());
  FrameSocket ch;
  bool restore_done = false;
  while (!restore_done && ms_since(t0) < kTimeoutMs) {
    auto c = connect_hybrid_vsock(dir + "/vsock.sock", kThawChannelVsockPort, 2000);
    if (!c) continue;
    if (run.start_to_connected == 0) run.start_to_connected = ms_since(t0);
    ch = FrameSocket(std::move(*c), "in-process microVM");
    if (!ch.send(notice, kTimeoutMs)) continue;
    for (;;) {
      auto r = ch.receive(kTimeoutMs);
      if (!r || !*r) break;
      if ((*r)->type == FrameType::kRestoreDone) {
        restore_done = true;
        break;
      }
    }
  }
  run.to_restore_done = ms_since(t0);
  auto asked = ch.send(invoke_frame("bench", "ping"), kTimeoutMs);
  bool answered = false;
  while (asked && !answered && ms_since(t0) < kTimeoutMs) {
    auto r = ch.receive(kTimeoutMs);
    if (!r || !*r) break;
    answered = (*r)->type == FrameType::kResponse;
  }
  run.to_response = ms_since(t0);
  if (!restore_done || !answered) {
    run.error = "the in-process restore did not answer: " + log_tail(dir + "/console.log", 800);
  }
  if (record && run.error.empty()) {
    auto set = snapshot::save_working_set(*restored->vmm, f.snap);
    if (!set) run.error = set.error().message;
  }
  restored->vmm->request_stop(sandbox::kExitClean, "benchmark done");
  restored->vmm->wait();
  remove_tree(dir);
  return run;
}

std::string* scratch_to_remove = nullptr;  // set once the fixture exists; main() removes it

const Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    ::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/thaw-microvm-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      f.error = "mkdtemp failed";
      return f;
    }
    f.scratch = tmpl;
    f.options = testing::microvm_options(f.scratch, f.error);
    if (!f.options) return f;
    f.snap = f.scratch + "/snapshot";
    MicrovmSandbox vm(*f.options);
    auto t0 = Clock::now();
    if (auto ok = vm.start(testing::provided_init_config()); !ok) {
      f.error = "boot: " + ok.error().message;
      return f;
    }
    f.boot_connected_ms = ms(vm.phases().connected);
    if (auto r = await_frame(vm, FrameType::kReady, kTimeoutMs * 2); !r) {
      f.error = "Init: " + r.error().message;
      return f;
    }
    f.boot_ready_ms = ms_since(t0);
    auto t1 = Clock::now();
    if (auto ok = vm.snapshot(f.snap); !ok) {
      f.error = "snapshot: " + ok.error().message;
      return f;
    }
    f.snapshot_ms = ms_since(t1);
    (void)vm.kill();
    // The working set up to the first response, for the prefetch runs.
    auto rec = restore_in_process(f, false, true, 0);
    if (!rec.error.empty()) f.error = "recording the working set: " + rec.error;
    return f;
  }();
  scratch_to_remove = &f.scratch;
  return f;
}

void BM_BootToReady(benchmark::State& state) {
  const Fixture& f = fixture();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  for (auto _ : state) benchmark::DoNotOptimize(f.boot_ready_ms);
  // One boot per run (20-80 s on PVM hosts): reported, not repeated.
  state.counters["boot_to_vsock_ms"] = f.boot_connected_ms;
  state.counters["boot_to_ready_ms"] = f.boot_ready_ms;
  state.counters["snapshot_ms"] = f.snapshot_ms;
}
BENCHMARK(BM_BootToReady)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_SandboxRestore(benchmark::State& state) {
  const Fixture& f = fixture();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  MicrovmSandboxOptions o = *f.options;
  o.prefetch = state.range(0) != 0;
  Phases p;
  int n = 0;
  double channels = 0;  // host channels per restore (the first may lose to the vsock reset)
  for (auto _ : state) {
    MicrovmSandbox vm(o);
    auto t0 = Clock::now();
    auto ok = vm.restore(f.snap, fresh_restore_notice());
    double restore_done = ms_since(t0);
    auto resp = ok ? testing::invoke(vm, fmt::format("r{}", n++), "ping", kTimeoutMs)
                   : Result<std::string>(ok.error());
    double response = ms_since(t0);
    if (!resp) return state.SkipWithError(resp.error().message.c_str());
    p["process_start"].push_back(ms(vm.phases().spawned));
    p["vsock_connected"].push_back(ms(vm.phases().connected));
    p["notice_sent"].push_back(ms(vm.phases().first_frame_sent));
    p["first_frame"].push_back(restore_done);
    channels += vm.phases().connect_attempts;
    p["invoke_response"].push_back(response);
    state.PauseTiming();
    (void)vm.kill();
    state.ResumeTiming();
  }
  report_phases(state, p);
  state.counters["channels"] = benchmark::Counter(channels, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_SandboxRestore)->Arg(0)->Arg(1)->ArgName("prefetch")->Iterations(15)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_InProcessRestore(benchmark::State& state) {
  const Fixture& f = fixture();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  Phases p;
  int n = 1;
  double pages = 0;
  for (auto _ : state) {
    auto run = restore_in_process(f, state.range(0) != 0, false, n++);
    if (!run.error.empty()) return state.SkipWithError(run.error.c_str());
    p["read_state"].push_back(ns_to_ms(run.t.read_state_ns));
    p["memory_map"].push_back(ns_to_ms(run.t.map_memory_ns));
    p["vm_create"].push_back(ns_to_ms(run.t.create_vm_ns));
    p["devices"].push_back(ns_to_ms(run.t.devices_ns));
    p["prefetch"].push_back(ns_to_ms(run.t.prefetch_ns));
    p["state_set"].push_back(ns_to_ms(run.t.set_state_ns));
    p["start_to_vsock"].push_back(run.start_to_connected);
    p["start_to_first_frame"].push_back(run.to_restore_done);
    p["start_to_response"].push_back(run.to_response);
    pages += static_cast<double>(run.prefetched_pages);
  }
  report_phases(state, p);
  state.counters["prefetched_pages"] = benchmark::Counter(pages, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_InProcessRestore)->Arg(0)->Arg(1)->ArgName("prefetch")->Iterations(15)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace thaw

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // The snapshot (guest RAM, sparse) and images go with the run.
  if (thaw::scratch_to_remove != nullptr && std::getenv("THAW_KEEP_SCRATCH") == nullptr) {
    thaw::remove_tree(*thaw::scratch_to_remove);
  }
  return 0;
}
