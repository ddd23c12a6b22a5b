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

void BM_InvokeThroughThawInit(benchmark::State& state) {
  const char* init = std::getenv("THAW_INIT");
  const char* bootstrap = std::getenv("THAW_TEST_BOOTSTRAP");
  if (::geteuid() != 0 || init == nullptr || bootstrap == nullptr) {
    state.SkipWithError("needs root and THAW_INIT/THAW_TEST_BOOTSTRAP (run via meson)");
    return;
  }
  char tmpl[] = "/tmp/thaw-bench-code-XXXXXX";
  std::string code = ::mkdtemp(tmpl);
  ::chmod(code.c_str(), 0755);
  std::filesystem::copy_file(bootstrap, code + "/bootstrap");
  ProcessSandboxOptions o;
  o.init_path = init;
  o.code_dir = code;
  if (const char* p = std::getenv("THAW_SECCOMP_POLICY")) o.seccomp_policy_path = p;
  ProcessSandbox sandbox(o);
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
  std::filesystem::remove_all(code);
}
BENCHMARK(BM_InvokeThroughThawInit)->Unit(benchmark::kMicrosecond)->Iterations(2000);

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
