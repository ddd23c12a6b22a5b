// One runtime of the native baseline: the function's bootstrap as a plain
// child process of thaw-native (no namespaces, seccomp, cgroup or VM),
// talking to its own in-process RuntimeApiServer on 127.0.0.1. One
// invocation at a time, like a sandbox. Used by thaw_native_main.cc.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "agent/http/http_server.h"
#include "common/io_loop.h"
#include "runtime-api/runtime_api_server.h"

namespace thaw::bench {

struct NativeFunction {
  std::string bootstrap;  // executable started as the runtime
  std::string task_root;  // LAMBDA_TASK_ROOT and cwd
  std::string handler;
  std::string name;
};

class NativeRuntime final : public RuntimeApiEvents {
 public:
  // `on_free` runs (on the loop) whenever this runtime can take an invocation.
  NativeRuntime(IoLoop& loop, std::function<void()> on_free) : loop_(loop), on_free_(std::move(on_free)) {}
  ~NativeRuntime() override;

  Result<void> start(const NativeFunction& fn);
  bool free() const { return alive_ && !reply_; }
  bool alive() const { return alive_; }
  // Hands `payload` to the runtime; `reply` gets the response.
  void invoke(std::string payload, agent::HttpReply reply);

  void on_ready(ReadyKind) override {}
  void on_response(const std::string& id, std::span<const uint8_t> body, bool more) override;
  void on_invocation_error(const std::string& id, ErrorReport report) override;
  void on_init_error(ErrorReport report) override;
  void on_restore_error(ErrorReport report) override;

 private:
  void finish(unsigned status, std::string body, bool function_error);
  void drain(int fd, IoOp& op);
  void died();

  IoLoop& loop_;
  std::function<void()> on_free_;
  std::unique_ptr<RuntimeApiServer> server_;
  pid_t pid_ = -1;
  UniqueFd pidfd_, stdout_fd_, stderr_fd_;
  IoOp pid_op_, stdout_op_, stderr_op_;
  bool alive_ = false;
  uint64_t next_id_ = 0;
  std::string response_;
  agent::HttpReply reply_;
};

}  // namespace thaw::bench
