// One invocation round trip through the process backend: host frame ->
// thaw-init -> Runtime API (/next) -> a trivial C++ bootstrap -> /response
// -> thaw-init -> host frames (response + metrics); against a plain
// Unix-socket echo of the same bytes to another process, in the same run.
// Reports p50/p99 in microseconds as counters. Needs root (namespaces).
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <signal.h>
#include <sstream>
#include <vector>

#include "common/file_util.h"
#include "sandbox/process/process_sandbox.h"

namespace thaw {
namespace {

using Clock = std::chrono::steady_clock;

void report(benchmark::State& state, std::vector<double>& us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  state.counters["max_us"] = us.back();
}

Frame invoke_frame(uint64_t n) {
  Invocation inv;
  inv.deadline_ms = 1700000000000;
  inv.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench";
  inv.payload = {'p', 'i', 'n', 'g'};
  Frame f;
  f.type = FrameType::kInvoke;
  f.request_id = fmt::format("bench-{}", n);
  f.payload = encode_invocation(inv);
  return f;
}

// The test bootstrap in a fresh code directory and the options that run it
// under thaw-init; the directory goes when the benchmark ends (after the
// sandbox declared below it is gone).
struct BenchFunction {
  std::string code;
  ProcessSandboxOptions options;

  ~BenchFunction() {
    std::error_code ec;
    if (!code.empty()) std::filesystem::remove_all(code, ec);
  }

  // False, with the benchmark marked skipped, where the process backend
  // cannot run (not root, or not started by meson).
  bool prepare(benchmark::State& state, bool seccomp) {
    const char* init = std::getenv("THAW_INIT");
    const char* bootstrap = std::getenv("THAW_TEST_BOOTSTRAP");
    if (::geteuid() != 0 || init == nullptr || bootstrap == nullptr) {
      state.SkipWithError("needs root and THAW_INIT/THAW_TEST_BOOTSTRAP (run via meson)");
      return false;
    }
    char tmpl[] = "/tmp/thaw-bench-code-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      state.SkipWithError("mkdtemp /tmp/thaw-bench-code-XXXXXX failed");
      return false;
    }
    code = tmpl;
    ::chmod(code.c_str(), 0755);
    std::filesystem::copy_file(bootstrap, code + "/bootstrap");
    options.init_path = init;
    options.code_dir = code;
    const char* policy = std::getenv("THAW_SECCOMP_POLICY");
    if (seccomp && policy != nullptr) options.seccomp_policy_path = policy;
    return true;
  }
};

void BM_InvokeThroughThawInit(benchmark::State& state) {
  BenchFunction fn;
  if (!fn.prepare(state, /*seccomp=*/true)) return;
  ProcessSandbox sandbox(fn.options);
  InitConfig c;
  c.function_name = "bench";
  c.handler = "x";
  c.runtime = "provided";
  if (auto ok = sandbox.start(c); !ok) {
    state.SkipWithError(ok.error().message.c_str());
    return;
  }
  auto wait_for = [&](FrameType type) -> bool {
    for (;;) {
      auto f = sandbox.receive(5000);
      if (!f.ok() || !f->has_value()) return false;
      if ((*f)->type == type) return true;
      if ((*f)->type != FrameType::kLogChunk && (*f)->type != FrameType::kResponse) return false;
    }
  };
  if (!wait_for(FrameType::kReady)) {
    state.SkipWithError("sandbox never became ready");
    return;
  }
  std::vector<double> us;
  uint64_t n = 0;
  for (auto _ : state) {
    Frame f = invoke_frame(n++);
    auto t0 = Clock::now();
    if (!sandbox.send(f).ok() || !wait_for(FrameType::kMetrics)) {
      state.SkipWithError("invocation failed");
      break;
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  report(state, us);
  (void)sandbox.kill();
}
BENCHMARK(BM_InvokeThroughThawInit)->Unit(benchmark::kMicrosecond)->Iterations(2000);

// Cold start of the process backend: clone into new namespaces, seccomp,
// cgroup, mounts and pivot_root by thaw-init, runtime exec, first /next.
void BM_ProcessSandboxColdStart(benchmark::State& state) {
  BenchFunction fn;
  if (!fn.prepare(state, /*seccomp=*/true)) return;
  InitConfig c;
  c.function_name = "bench";
  c.runtime = "provided";
  std::vector<double> us;
  for (auto _ : state) {
    auto t0 = Clock::now();
    ProcessSandbox sandbox(fn.options);
    bool ready = sandbox.start(c).ok();
    while (ready) {
      auto f = sandbox.receive(5000);
      if (!f.ok() || !f->has_value()) {
        ready = false;
        break;
      }
      if ((*f)->type == FrameType::kReady) break;
    }
    if (!ready) {
      state.SkipWithError("sandbox did not become ready");
      break;
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    state.PauseTiming();
    (void)sandbox.kill();
    state.ResumeTiming();
  }
  report(state, us);
}
BENCHMARK(BM_ProcessSandboxColdStart)->Unit(benchmark::kMillisecond)->Iterations(30);

// System calls the guest side (thaw-init + the runtime) makes per
// invocation, counted by strace -c attached to both for a fixed number of
// invocations (strace slows them; only the count is reported).
void BM_GuestSyscallsPerInvocation(benchmark::State& state) {
  if (::access("/usr/bin/strace", X_OK) != 0) {
    state.SkipWithError("needs /usr/bin/strace (apt-get install strace)");
    return;
  }
  BenchFunction fn;
  if (!fn.prepare(state, /*seccomp=*/false)) return;
  ProcessSandbox sandbox(fn.options);
  InitConfig c;
  c.function_name = "bench";
  c.runtime = "provided";
  auto wait_for = [&](FrameType type) -> bool {
    for (;;) {
      auto f = sandbox.receive(10000);
      if (!f.ok() || !f->has_value()) return false;
      if ((*f)->type == type) return true;
    }
  };
  if (!sandbox.start(c).ok() || !wait_for(FrameType::kReady)) {
    state.SkipWithError("sandbox did not start");
    return;
  }
  int init_pid = sandbox.stats()->pid;
  std::string children =
      *read_pseudo_file(fmt::format("/proc/{}/task/{}/children", init_pid, init_pid));
  std::string runtime_pid = children.substr(0, children.find(' '));
  std::string out = fn.code + "/strace.txt";
  pid_t tracer = ::fork();
  if (tracer == 0) {
    std::string ip = std::to_string(init_pid);
    ::execl("/usr/bin/strace", "strace", "-c", "-f", "-o", out.c_str(), "-p", ip.c_str(), "-p",
            runtime_pid.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::usleep(500000);  // strace attaches
  const int kInvocations = 200;
  uint64_t n = 0;
  for (auto _ : state) {
    for (int i = 0; i < kInvocations; ++i) {
      if (!sandbox.send(invoke_frame(n++)).ok() || !wait_for(FrameType::kMetrics)) {
        state.SkipWithError("invocation failed");
        break;
      }
    }
  }
  ::kill(tracer, SIGINT);
  ::waitpid(tracer, nullptr, 0);
  // "100.00    0.001234     1     5000     12 total": calls is the 4th field.
  std::string text = *read_pseudo_file(out, 1 << 20);  // strace -c summary
  if (std::getenv("THAW_BENCH_SHOW_SYSCALLS")) std::fputs(text.c_str(), stderr);
  size_t total = text.rfind("total");
  size_t line = text.rfind('\n', total);
  std::istringstream fields(text.substr(line + 1, total - line - 1));
  std::string pct, secs, per_call;
  double calls = 0;
  fields >> pct >> secs >> per_call >> calls;
  state.counters["syscalls_per_invocation"] =
      calls / (static_cast<double>(kInvocations) * static_cast<double>(state.iterations()));
  (void)sandbox.kill();
}
BENCHMARK(BM_GuestSyscallsPerInvocation)->Unit(benchmark::kMillisecond)->Iterations(1);

// The floor: the same invoke frame to another process over a Unix socket
// and the same-sized reply frame back.
void BM_UnixSocketEchoReference(benchmark::State& state) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    state.SkipWithError("socketpair");
    return;
  }
  UniqueFd host(sv[0]), peer(sv[1]);
  size_t frame_size = kFrameHeaderSize + invoke_frame(0).payload.size();
  pid_t pid = ::fork();
  if (pid == 0) {
    host.reset();
    std::vector<uint8_t> buf(frame_size);
    while (read_exact(peer.get(), buf, "echo").ok() && write_all(peer.get(), buf, "echo").ok()) {
    }
    ::_exit(0);
  }
  peer.reset();
  std::vector<uint8_t> out = *encode_frame(invoke_frame(0));
  std::vector<uint8_t> in(out.size());
  std::vector<double> us;
  for (auto _ : state) {
    auto t0 = Clock::now();
    if (!write_all(host.get(), out, "echo").ok() || !read_exact(host.get(), in, "echo").ok()) {
      state.SkipWithError("echo failed");
      break;
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  report(state, us);
  host.reset();
  ::waitpid(pid, nullptr, 0);
}
BENCHMARK(BM_UnixSocketEchoReference)->Unit(benchmark::kMicrosecond)->Iterations(2000);

}  // namespace
}  // namespace thaw

BENCHMARK_MAIN();
