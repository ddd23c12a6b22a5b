// Restore latency of a test-guest snapshot, split into the phases the
// cold-start path pays (RestoreTimings: read + check state, map memory,
// prefetch the working set, create the KVM VM, wire devices, set state)
// plus start-to-first-output: from Vmm::start() until the restored guest's
// first serial byte reaches the host, i.e. the first vCPU run through to
// its first exit. With and without working-set prefetch. Counters are per
// restore; *_p50_us / *_p99_us are over every restore of the run, and
// minflt is the host's minor page faults per restore.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "sandbox/vmm/machine.h"
#include "snapshot/vm_snapshot.h"
#include "tests/snapshot/linux_guest.h"

namespace thaw::snapshot {
namespace {

using Clock = std::chrono::steady_clock;

// Small rounds: the guest prints a line every few microseconds of its own
// time, so its first output after a restore follows its first instructions.
constexpr char kCmdline[] = "thaw.test=counter thaw.rounds=0 thaw.step=1000";

struct Fixture {
  std::string dir;
  std::string snap;
  std::string error;
};

sandbox::VmmConfig config_for(const std::string& guest, const std::string& serial) {
  sandbox::VmmConfig c;
  c.kernel_path = guest;
  c.cmdline = kCmdline;
  c.mem_mib = 64;
  c.vcpus = 1;
  c.serial_path = serial;
  c.cpu_model = sandbox::default_cpu_model();
  return c;
}

// A FIFO as the serial "file": poll() on its read end wakes on the first
// byte the guest writes, without spinning next to the vCPU on 2 cores.
struct SerialPipe {
  std::string path;
  int read_fd = -1;
  static std::optional<SerialPipe> create(const std::string& path) {
    ::unlink(path.c_str());
    if (::mkfifo(path.c_str(), 0600) != 0) return std::nullopt;
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    return SerialPipe{path, fd};
  }
  bool wait_first_byte(int timeout_ms) const {
    pollfd p{read_fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1;
  }
  void close() {
    if (read_fd >= 0) ::close(read_fd);
    read_fd = -1;
    ::unlink(path.c_str());
  }
};

// Records the working set up to the guest's first output on a restore made
// without prefetch, and stores it beside the snapshot. Empty on success,
// else what went wrong.
std::string record_working_set(const sandbox::VmmConfig& config, const std::string& snap,
                               SerialPipe& pipe, int timeout_ms) {
  RestoreOptions plain;
  plain.prefetch_working_set = false;
  auto restored = restore_machine(config, snap, plain);
  if (!restored) return restored.error().message;
  (void)restored->vmm->start();
  bool out = pipe.wait_first_byte(timeout_ms);
  auto set = save_working_set(*restored->vmm, snap);
  restored->vmm->request_stop(sandbox::kExitClean, "recorded");
  pipe.close();
  restored->vmm->wait();
  if (!set) return set.error().message;
  if (!out) return fmt::format("the restored guest printed nothing in {} ms", timeout_ms);
  return "";
}

const Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    // A closed serial FIFO must fail the guest's writes, not kill us.
    ::signal(SIGPIPE, SIG_IGN);
    const char* guest = std::getenv("THAW_TEST_GUEST");
    if (!guest) {
      f.error = "THAW_TEST_GUEST is not set; run through meson test --benchmark";
      return f;
    }
    char templ[] = "/tmp/thaw-restore-bench-XXXXXX";
    if (!::mkdtemp(templ)) {
      f.error = "mkdtemp failed";
      return f;
    }
    f.dir = templ;
    f.snap = f.dir + "/snap";
    int code = 0;
    auto vmm = sandbox::build_machine(config_for(guest, f.dir + "/boot.log"), code);
    if (!vmm) {
      f.error = vmm.error().message;
      return f;
    }
    (void)(*vmm)->start();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto saved = save_snapshot(**vmm, f.snap, SnapshotKind::kTest);
    (*vmm)->request_stop(sandbox::kExitClean, "snapshot taken");
    (*vmm)->wait();
    if (!saved) {
      f.error = saved.error().message;
      return f;
    }
    // The working set up to the first output, recorded on a plain restore.
    auto pipe = SerialPipe::create(f.dir + "/record.fifo");
    f.error = record_working_set(config_for(guest, pipe->path), f.snap, *pipe, 10000);
    return f;
  }();
  return f;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

long minflt() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

void BM_Restore(benchmark::State& state) {
  const Fixture& f = fixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  RestoreOptions options;
  options.prefetch_working_set = state.range(0) != 0;
  const char* guest = std::getenv("THAW_TEST_GUEST");
  std::vector<double> read_state, map, prefetch, create, devices, set_state, first_out, total;
  double faults = 0;
  for (auto _ : state) {
    auto pipe = SerialPipe::create(f.dir + "/bench.fifo");
    if (!pipe) {
      state.SkipWithError("mkfifo failed");
      return;
    }
    long flt0 = minflt();
    auto t0 = Clock::now();
    auto restored = restore_machine(config_for(guest, pipe->path), f.snap, options);
    if (!restored) {
      state.SkipWithError(restored.error().message.c_str());
      pipe->close();
      return;
    }
    auto t1 = Clock::now();
    (void)restored->vmm->start();
    bool out = pipe->wait_first_byte(10000);
    auto t2 = Clock::now();
    faults += static_cast<double>(minflt() - flt0);
    state.PauseTiming();
    restored->vmm->request_stop(sandbox::kExitClean, "measured");
    pipe->close();
    restored->vmm->wait();
    restored->vmm.reset();
    state.ResumeTiming();
    if (!out) {
      state.SkipWithError("the restored guest printed nothing in 10 s");
      return;
    }
    const RestoreTimings& t = restored->timings;
    auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
    read_state.push_back(us(t.read_state_ns));
    map.push_back(us(t.map_memory_ns));
    prefetch.push_back(us(t.prefetch_ns));
    create.push_back(us(t.create_vm_ns));
    devices.push_back(us(t.devices_ns));
    set_state.push_back(us(t.set_state_ns));
    first_out.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
    total.push_back(std::chrono::duration<double, std::micro>(t2 - t0).count());
  }
  auto report = [&](const char* name, const std::vector<double>& v) {
    state.counters[std::string(name) + "_p50_us"] = percentile(v, 0.50);
    state.counters[std::string(name) + "_p99_us"] = percentile(v, 0.99);
  };
  report("read_state", read_state);
  report("map_memory", map);
  report("prefetch", prefetch);
  report("create_vm", create);
  report("devices", devices);
  report("set_state", set_state);
  report("start_to_first_output", first_out);
  report("total", total);
  state.counters["minflt"] = benchmark::Counter(faults, benchmark::Counter::kAvgIterations);
}
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
      if (log.find("tick 5 pid 1\n") != std::string::npos) break;
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
    long flt0 = minflt();
    auto t0 = Clock::now();
    auto restored = restore_machine(c, f.snap, options);
    if (!restored) {
      state.SkipWithError(restored.error().message.c_str());
      pipe->close();
      return;
    }
    auto t1 = Clock::now();
    (void)restored->vmm->start();
    bool out = pipe->wait_first_byte(30000);
    auto t2 = Clock::now();
    faults += static_cast<double>(minflt() - flt0);
    pages += static_cast<double>(restored->prefetched.pages_read + restored->prefetched.pages_written);
    state.PauseTiming();
    restored->vmm->request_stop(sandbox::kExitClean, "measured");
    pipe->close();
    restored->vmm->wait();
    restored->vmm.reset();
    state.ResumeTiming();
    if (!out) {
      state.SkipWithError("the restored Linux guest printed nothing in 30 s");
      return;
    }
    restore_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    prefetch_us.push_back(static_cast<double>(restored->timings.prefetch_ns) / 1000.0);
    create_us.push_back(static_cast<double>(restored->timings.create_vm_ns) / 1000.0);
    set_us.push_back(static_cast<double>(restored->timings.set_state_ns) / 1000.0);
    first_out.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
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

// The whole cold path as the agent pays it without a pre-forked pool:
// spawn `thaw-vmm --restore DIR` and wait for the guest's first serial
// byte. The difference to BM_Restore's total is process start (exec,
// dynamic linking, IO loop and signal set-up).
void BM_RestoreProcess(benchmark::State& state) {
  const Fixture& f = fixture();
  const char* vmm = std::getenv("THAW_VMM");
  if (!f.error.empty() || vmm == nullptr) {
    state.SkipWithError(f.error.empty() ? "THAW_VMM is not set" : f.error.c_str());
    return;
  }
  std::vector<double> first_out;
  for (auto _ : state) {
    auto pipe = SerialPipe::create(f.dir + "/process.fifo");
    if (!pipe) {
      state.SkipWithError("mkfifo failed");
      return;
    }
    std::vector<std::string> args = {vmm, "--restore", f.snap, "--serial", pipe->path};
    if (state.range(0) == 0) args.push_back("--no-prefetch");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    auto t0 = Clock::now();
    pid_t pid = -1;
    int err = ::posix_spawn(&pid, vmm, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) {
      state.SkipWithError("posix_spawn thaw-vmm failed");
      pipe->close();
      return;
    }
    bool out = pipe->wait_first_byte(10000);
    auto t1 = Clock::now();
    state.PauseTiming();
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pipe->close();
    state.ResumeTiming();
    if (!out) {
      state.SkipWithError("the restored thaw-vmm printed nothing in 10 s");
      return;
    }
    first_out.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  state.counters["spawn_to_first_output_p50_us"] = percentile(first_out, 0.50);
  state.counters["spawn_to_first_output_p99_us"] = percentile(first_out, 0.99);
}
BENCHMARK(BM_RestoreProcess)->Arg(0)->Arg(1)->ArgName("prefetch")->Iterations(20)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK(BM_Restore)->Arg(0)->Arg(1)->ArgName("prefetch")->Iterations(40)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace thaw::snapshot

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  const auto& f = thaw::snapshot::fixture();
  if (!f.dir.empty()) std::filesystem::remove_all(f.dir);
  benchmark::Shutdown();
  return 0;
}
