// The system under test for thaw-bench: a thawd it starts (temp state dir
// and socket), a thaw-native baseline it starts, or an agent already
// listening on a socket. Also the function it deploys (the sample Python
// function or a `provided` bootstrap) as a ZIP for CreateFunction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "perf/thaw-bench/http_client.h"

namespace thaw::bench {

struct FunctionSpec {
  std::string runtime;    // "python3.11" or "provided"
  std::string handler;    // e.g. lambda_function.lambda_handler
  // The ZIP's entries: (name in the ZIP, file on this host).
  std::vector<std::pair<std::string, std::string>> files;
  std::string code_dir;   // the native baseline's LAMBDA_TASK_ROOT
  std::string bootstrap;  // what the native baseline executes as the runtime
  std::string payload;    // the invoke body
  uint32_t memory_mb = 128;
};

enum class TargetKind { kThawd, kNative, kSocket };

struct TargetOptions {
  TargetKind kind = TargetKind::kThawd;
  std::string binary;  // thawd or thaw-native
  std::string socket;  // kSocket: the agent's socket
  std::string init;    // thawd --init
  std::string seccomp_policy;
  std::vector<std::string> runtime_images;  // RUNTIME=PATH
  std::vector<std::string> extra_args;      // passed to thawd verbatim (e.g. --backend microvm)
  uint32_t max_sandboxes = 256;
  uint32_t native_runtimes = 1;  // thaw-native: runtime processes (= max concurrency)
};

class Target {
 public:
  static Result<std::unique_ptr<Target>> start(const TargetOptions& options, const FunctionSpec& fn);
  ~Target();  // SIGTERM, wait, remove the temp dir
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  const std::string& socket() const { return socket_; }
  pid_t pid() const { return pid_; }  // the agent: CPU and PSS are read under it
  TargetKind kind() const { return kind_; }
  // The agent's log (empty for kSocket), for error messages.
  std::string log_path() const { return dir_.empty() ? std::string() : dir_ + "/agent.log"; }

  // CreateFunction / DeleteFunction for `name` (thaw-native serves one
  // fixed function and refuses both: callers check supports_create()).
  bool supports_create() const { return kind_ != TargetKind::kNative; }
  Result<void> create_function(UdsHttpClient& client, const std::string& name) const;
  Result<void> delete_function(UdsHttpClient& client, const std::string& name) const;
  static std::string invoke_path(const std::string& name);

 private:
  Target() = default;
  Result<void> wait_until_healthy();

  TargetKind kind_ = TargetKind::kThawd;
  std::string dir_;
  std::string socket_;
  pid_t pid_ = -1;
  bool owned_ = false;
  std::string create_body_prefix_;  // CreateFunction JSON up to the name
  std::string create_body_suffix_;
};

// A ZIP of the given files (name in the ZIP, host path), modes kept.
Result<std::vector<uint8_t>> zip_files(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace thaw::bench
