// The whole cold path through the real thaw-vmm binary, two ways:
// - fresh process: spawn `thaw-vmm --restore DIR` (what the agent pays
//   without a pool: exec, dynamic linking, KVM VM and vCPUs, IO ring);
// - standby: a `thaw-vmm --standby` spawned beforehand (untimed) already
//   holds its VM, vCPUs and ring; the timed part starts at the "restore"
//   op sent over its control socket (DESIGN.md "Lessons": pre-spawned VMMs).
// Each reports until the guest's first serial byte and until the guest's
// answer to the restore notice over the new vsock socket (first vsock
// frame), with and without working-set prefetch.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "perf/snapshot/bench_support.h"
#include "tests/guest/control_client.h"

namespace thaw::snapshot::bench {
namespace {

// Spawns thaw-vmm with `args`, output to /dev/null; -1 on failure.
pid_t spawn_vmm(const char* vmm, std::vector<std::string> args) {
  args.insert(args.begin(), vmm);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, vmm, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return err == 0 ? pid : -1;
}

void end_vmm(pid_t pid) {
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

bool wait_for_socket(const std::string& path, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 2) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

void BM_RestoreProcess(benchmark::State& state) {
  const Fixture& f = fixture();
  const char* vmm = std::getenv("THAW_VMM");
  if (!f.error.empty() || vmm == nullptr) {
    state.SkipWithError(f.error.empty() ? "THAW_VMM is not set" : f.error.c_str());
    return;
  }
  bool standby = state.range(1) != 0;
  std::vector<double> first_out, first_frame, restore_op, restore_op_inside;
  int n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::string uds = f.dir + "/proc-" + std::to_string(n) + ".sock";
    std::string api = f.dir + "/api-" + std::to_string(n++) + ".sock";
    auto pipe = SerialPipe::create(f.dir + "/process.fifo");
    pid_t pid = -1;
    if (pipe && standby) {
      pid = spawn_vmm(vmm, {"--standby", "--api-sock", api, "--mem", "64"});
      if (pid > 0 && !wait_for_socket(api, 10000)) {
        end_vmm(pid);
        pid = -1;
      }
    }
    state.ResumeTiming();
    if (!pipe || (standby && pid < 0)) {
      state.SkipWithError(pipe ? "the standby thaw-vmm made no control socket" : "mkfifo failed");
      return;
    }
    std::string error;
    auto t0 = Clock::now();
    if (standby) {
      std::string request = R"({"op":"restore","dir":")" + f.snap + R"(","serial":")" +
                            pipe->path + R"(","vsock_uds":")" + uds + "\"" +
                            (state.range(0) == 0 ? R"(,"prefetch":false})" : "}");
      auto reply = testguest::control_request(api, request);
      if (!reply) {
        error = reply.error().message;
      } else if (const auto* total = reply->if_contains("total_us")) {
        restore_op_inside.push_back(static_cast<double>(total->to_number<uint64_t>()));
      }
    } else {
      std::vector<std::string> args = {"--restore", f.snap, "--serial", pipe->path,
                                       "--vsock-uds", uds};
      if (state.range(0) == 0) args.push_back("--no-prefetch");
      pid = spawn_vmm(vmm, args);
      if (pid < 0) error = "posix_spawn thaw-vmm failed";
    }
    auto t1 = Clock::now();
    if (error.empty() && !pipe->wait_first_byte(10000)) error = "no serial output in 10 s";
    auto t2 = Clock::now();
    pipe->close();
    if (error.empty()) error = exchange_restore_notice(uds, 10000);
    auto t3 = Clock::now();
    state.PauseTiming();
    if (pid > 0) end_vmm(pid);
    state.ResumeTiming();
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
    restore_op.push_back(micros_between(t0, t1));
    first_out.push_back(micros_between(t0, t2));
    first_frame.push_back(micros_between(t0, t3));
  }
  // Fresh process: from posix_spawn; standby: from sending the restore op.
  if (standby) {
    report_percentiles(state, "restore_op", restore_op);
    // The op's own time in thaw-vmm (its reply's total_us); the rest of
    // restore_op is the socket round trip and waking the VMM's IO thread.
    report_percentiles(state, "restore_op_in_vmm", restore_op_inside);
  }
  report_percentiles(state, "to_first_output", first_out);
  report_percentiles(state, "to_first_vsock_frame", first_frame);
}
BENCHMARK(BM_RestoreProcess)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"prefetch", "standby"})
    ->Iterations(20)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace thaw::snapshot::bench
