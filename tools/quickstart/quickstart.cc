// thaw-quickstart: the README's main job until thawd's API lands. Deploys a
// function ZIP the way the agent will (ZIP -> content-addressed EROFS image
// -> mounted read-only as /var/task), starts it cold in the process
// backend, invokes it once cold and N times warm, and prints the latencies.
#include <sys/mount.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "layers/image_mount.h"
#include "layers/image_store.h"
#include "runtime-api/frame.h"
#include "runtime-api/messages.h"
#include "sandbox/process/process_sandbox.h"

namespace thaw {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Options {
  std::string zip;
  std::string runtime = "python3.11";
  std::string handler = "lambda_function.lambda_handler";
  std::string runtime_image;  // EROFS image of the runtime; empty: host root
  std::string state_dir = "/var/lib/thaw-quickstart";
  std::string init_path;
  std::string seccomp_policy;
  std::string payload = R"({"name":"thaw"})";
  int warm_invocations = 20;
  int timeout_ms = 10000;
};

// Unmounts the code image however the run ends.
struct MountGuard {
  std::string target;
  ~MountGuard() {
    if (!target.empty()) ::umount2(target.c_str(), MNT_DETACH);
  }
};

// Receives frames until `want` arrives (or an error frame), printing the
// function's log lines when `print_logs`.
Result<Frame> await_result(Sandbox& sandbox, FrameType want, int timeout_ms, bool print_logs) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto frame = sandbox.receive(static_cast<int>(left.count()));
    if (!frame) return std::move(frame).error();
    if (!*frame) break;
    Frame& f = **frame;
    if (f.type == FrameType::kLogChunk) {
      if (!print_logs) continue;
      if (auto log = decode_log_chunk(f.payload)) std::fputs(("  | " + log->text).c_str(), stdout);
      continue;
    }
    if (f.type == FrameType::kMetrics) continue;
    if (f.type == want) return std::move(f);
    if (f.type == FrameType::kError || f.type == FrameType::kInitError) {
      auto report = decode_error_report(f.payload);
      return Error::format("the function failed: {}",
                           report ? report->error_type + " " + report->body : report.error().message);
    }
    return Error::format("unexpected frame type {} from the sandbox", static_cast<int>(f.type));
  }
  return Error::format("no answer from the sandbox within {} ms", timeout_ms);
}

Result<double> invoke(Sandbox& sandbox, int n, const Options& o, std::string* body) {
  Invocation inv;
  inv.deadline_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count()) + static_cast<uint64_t>(o.timeout_ms);
  inv.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:quickstart";
  inv.payload.assign(o.payload.begin(), o.payload.end());
  Frame f;
  f.type = FrameType::kInvoke;
  f.request_id = fmt::format("quickstart-{:04d}", n);
  f.payload = encode_invocation(inv);
  auto start = Clock::now();
  if (auto sent = sandbox.send(f); !sent) return std::move(sent).error();
  // Only the cold invocation's log lines are shown; warm ones would drown the figures.
  auto result = await_result(sandbox, FrameType::kResponse, o.timeout_ms, n == 0);
  if (!result) return std::move(result).error();
  double ms = ms_since(start);
  if (body != nullptr) body->assign(result->payload.begin(), result->payload.end());
  return ms;
}

int run(const Options& o) {
  auto fail = [](const Error& e) {
    std::fprintf(stderr, "thaw-quickstart: %s\n", e.message.c_str());
    return 1;
  };
  std::filesystem::create_directories(o.state_dir);
  auto t0 = Clock::now();
  auto store = layers::ImageStore::open({.state_dir = o.state_dir + "/images"});
  if (!store) return fail(store.error());
  auto image = store->put_file(o.zip);
  if (!image) return fail(image.error());
  double deploy_ms = ms_since(t0);
  std::printf("deployed %s: %llu-byte ZIP -> %llu-byte EROFS image %s (%.1f ms)\n", o.zip.c_str(),
              static_cast<unsigned long long>(image->zip_bytes),
              static_cast<unsigned long long>(image->image_bytes), image->digest.substr(0, 12).c_str(),
              deploy_ms);

  MountGuard code_mount{o.state_dir + "/code-" + image->digest.substr(0, 12)};
  std::filesystem::create_directories(code_mount.target);
  ::umount2(code_mount.target.c_str(), MNT_DETACH);  // a leftover from an interrupted run
  if (auto m = layers::mount_erofs(image->image_path, code_mount.target); !m) return fail(m.error());

  ProcessSandboxOptions so;
  so.init_path = o.init_path;
  so.seccomp_policy_path = o.seccomp_policy;
  so.code_dir = code_mount.target;
  if (!o.runtime_image.empty()) so.root_image = o.runtime_image;
  ProcessSandbox sandbox(so);
  InitConfig config;
  config.function_name = "quickstart";
  config.handler = o.handler;
  config.runtime = o.runtime;
  config.timeout_ms = static_cast<uint32_t>(o.timeout_ms);

  auto cold_start = Clock::now();
  if (auto s = sandbox.start(config); !s) return fail(s.error());
  auto ready = await_result(sandbox, FrameType::kReady, o.timeout_ms, true);
  if (!ready) return fail(ready.error());
  double init_ms = ms_since(cold_start);
  std::string body;
  auto first = invoke(sandbox, 0, o, &body);
  if (!first) return fail(first.error());
  double cold_ms = ms_since(cold_start);
  std::printf("response: %s\n", body.c_str());
  std::printf("cold start: %.2f ms (sandbox + runtime init %.2f ms, first invoke %.2f ms)\n",
              cold_ms, init_ms, *first);

  std::vector<double> warm;
  for (int i = 1; i <= o.warm_invocations; ++i) {
    auto ms = invoke(sandbox, i, o, nullptr);
    if (!ms) return fail(ms.error());
    warm.push_back(*ms);
  }
  if (!warm.empty()) {
    std::sort(warm.begin(), warm.end());
    std::printf("warm invoke (%zu): p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", warm.size(),
                warm[warm.size() / 2], warm[std::min(warm.size() - 1, warm.size() * 99 / 100)],
                warm.back());
  }
  if (auto stats = sandbox.stats()) {
    std::printf("sandbox peak memory: %.1f MiB\n", stats->peak_memory_bytes / 1048576.0);
  }
  (void)sandbox.kill();
  return 0;
}

}  // namespace
}  // namespace thaw

int main(int argc, char** argv) {
  thaw::Options o;
  CLI::App app{"Deploy a Lambda function ZIP and invoke it cold and warm (process backend)"};
  app.add_option("--zip", o.zip, "function deployment package")->required()->check(CLI::ExistingFile);
  app.add_option("--runtime", o.runtime, "python3.11, nodejs20 or provided");
  app.add_option("--handler", o.handler, "file.function");
  app.add_option("--runtime-image", o.runtime_image, "EROFS runtime image (guest/runtimes/build-image.sh)")
      ->check(CLI::ExistingFile);
  app.add_option("--state-dir", o.state_dir, "image store and mount points");
  app.add_option("--init", o.init_path, "the thaw-init binary")->required()->check(CLI::ExistingFile);
  app.add_option("--seccomp-policy", o.seccomp_policy, "sandbox/process/seccomp-policy.txt")
      ->check(CLI::ExistingFile);
  app.add_option("--payload", o.payload, "event JSON");
  app.add_option("--warm", o.warm_invocations, "warm invocations after the cold one")
      ->check(CLI::Range(0, 100000));
  app.add_option("--timeout-ms", o.timeout_ms, "per-invocation timeout")->check(CLI::Range(1, 900000));
  CLI11_PARSE(app, argc, argv);
  return thaw::run(o);
}
