// thaw-native: the native baseline of thaw-bench. It serves the same
// scheduler HTTP API shape as thawd on a Unix socket (POST
// /2015-03-31/functions/NAME/invocations, GET /agent/v1/health) but runs
// the function's bootstrap as plain child processes of its own, each with
// an in-process Runtime API server: no namespaces, seccomp, cgroup or VM.
// thawd's latency divided by this one's is the cost of isolation.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>

#include "agent/api/lambda_error.h"
#include "agent/http/http_server.h"
#include "common/io_loop.h"
#include "perf/thaw-native/native_runtime.h"

namespace {

using namespace thaw;
using namespace thaw::bench;

// Hands invocations to free runtimes, queueing when all are busy.
class Dispatcher {
 public:
  void add(std::unique_ptr<NativeRuntime> r) { runtimes_.push_back(std::move(r)); }
  void submit(std::string payload, agent::HttpReply reply) {
    queue_.emplace_back(std::move(payload), std::move(reply));
    pump();
  }
  void pump() {
    for (auto& r : runtimes_) {
      if (queue_.empty()) return;
      if (!r->free()) continue;
      auto [payload, reply] = std::move(queue_.front());
      queue_.pop_front();
      r->invoke(std::move(payload), std::move(reply));
    }
    bool any_alive = false;
    for (auto& r : runtimes_) any_alive |= r->alive();
    while (!any_alive && !queue_.empty()) {
      queue_.front().second(agent::render_api_error(502, "ServiceException",
                                                    "every native runtime has exited; see thaw-native's log"));
      queue_.pop_front();
    }
  }
  size_t busy() const {
    size_t n = 0;
    for (auto& r : runtimes_) n += r->alive() && !r->free();
    return n;
  }

 private:
  std::vector<std::unique_ptr<NativeRuntime>> runtimes_;
  std::deque<std::pair<std::string, agent::HttpReply>> queue_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"thaw-native: thaw-bench's baseline, the function's runtime with no isolation"};
  std::string socket;
  NativeFunction fn;
  uint32_t runtimes = 1;
  app.add_option("--socket", socket, "Unix socket to serve the invoke API on")->required();
  app.add_option("--bootstrap", fn.bootstrap, "the runtime to start (e.g. guest/runtimes/python3.11/bootstrap)")
      ->required()->check(CLI::ExistingFile);
  app.add_option("--task-root", fn.task_root, "the function's code (LAMBDA_TASK_ROOT)")
      ->required()->check(CLI::ExistingDirectory);
  app.add_option("--handler", fn.handler, "_HANDLER, e.g. lambda_function.lambda_handler");
  app.add_option("--function-name", fn.name, "the one function name served")->default_val("native");
  app.add_option("--runtimes", runtimes, "runtime processes (invocations at once)")->check(CLI::Range(1, 1024));
  CLI11_PARSE(app, argc, argv);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  UniqueFd sig_fd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  auto loop = IoLoop::create();
  if (!sig_fd || !loop) {
    std::fprintf(stderr, "thaw-native: %s\n", loop ? "signalfd failed" : loop.error().message.c_str());
    return 1;
  }
  Dispatcher dispatcher;
  for (uint32_t i = 0; i < runtimes; ++i) {
    auto r = std::make_unique<NativeRuntime>(**loop, [&dispatcher] { dispatcher.pump(); });
    if (auto s = r->start(fn); !s) {
      std::fprintf(stderr, "thaw-native: %s\n", s.error().message.c_str());
      return 1;
    }
    dispatcher.add(std::move(r));
  }
  const std::string invoke_target = "/2015-03-31/functions/" + fn.name + "/invocations";
  agent::HttpServerOptions hs;
  hs.socket_path = socket;
  hs.body_limit = [](const agent::HttpRequest&) -> uint64_t { return 6291456; };
  hs.render_error = [](unsigned status, std::string_view kind, std::string_view message) {
    return agent::render_api_error(status, kind, message);
  };
  auto server = agent::HttpServer::listen_unix(
      **loop, hs, [&](agent::HttpRequest& req, agent::HttpReply reply) {
        std::string_view target(req.target().data(), req.target().size());
        if (req.method() == boost::beast::http::verb::get && target == "/agent/v1/health") {
          return reply({200, {}, fmt::format(R"({{"status":"ok","busy_sandboxes":{}}})", dispatcher.busy())});
        }
        if (req.method() == boost::beast::http::verb::post && target == invoke_target) {
          return dispatcher.submit(std::move(req.body()), std::move(reply));
        }
        reply(agent::render_api_error(404, "ResourceNotFoundException",
                                      fmt::format("thaw-native serves only POST {} and GET /agent/v1/health",
                                                  invoke_target)));
      });
  if (!server) {
    std::fprintf(stderr, "thaw-native: %s\n", server.error().message.c_str());
    return 1;
  }
  IoOp sig_op;
  sig_op.done = [&](int, uint32_t) { (*loop)->stop(); };
  (*loop)->watch(sig_fd.get(), sig_op);
  if (auto ran = (*loop)->run(); !ran) {
    std::fprintf(stderr, "thaw-native: %s\n", ran.error().message.c_str());
    return 1;
  }
  return 0;
}
