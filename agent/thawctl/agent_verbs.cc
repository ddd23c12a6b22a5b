// thawctl's agent verbs (thawd's /agent/v1/ API, no `aws lambda` peer):
// health, capacity, sandboxes, metrics, drain, and `logs FUNCTION
// [--follow]`, which reads the per-function log through the agent so it
// works wherever the socket or endpoint reaches.
#include <chrono>
#include <cstdio>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/thawctl/verbs.h"

namespace thaw::thawctl {
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr unsigned kFollowWaitSeconds = 20;  // long-poll per request while following

void add_get(CLI::App& app, Context& ctx, const std::string& verb, const std::string& help,
             const std::string& operation, const std::string& what, bool raw_text = false) {
  CLI::App* sub = app.add_subcommand(verb, help);
  sub->callback([&ctx, operation, what, raw_text] {
    ctx.run = [&ctx, operation, what, raw_text] {
      Call call{operation, http::verb::get, "/agent/v1/" + what};
      if (!raw_text) return perform(ctx, call);
      return perform(ctx, call, [](const ApiResponse& r) {
        std::fwrite(r.body.data(), 1, r.body.size(), stdout);
        return 0;
      });
    };
  });
}

// `logs`: prints the log from --offset; with --follow keeps long-polling.
int run_logs(Context& ctx, const std::string& function, uint64_t offset, bool follow) {
  for (;;) {
    std::string target = fmt::format("/agent/v1/functions/{}/logs?offset={}", url_encode(function),
                                     offset);
    if (follow) target += fmt::format("&wait={}", kFollowWaitSeconds);
    bool restart = false;
    int rc = perform(ctx, {"GetFunctionLogs", http::verb::get, target},
                     [&](const ApiResponse& r) {
                       std::fwrite(r.body.data(), 1, r.body.size(), stdout);
                       std::fflush(stdout);
                       std::string next = r.header("X-Thaw-Log-Offset");
                       char* end = nullptr;
                       uint64_t n = std::strtoull(next.c_str(), &end, 10);
                       if (next.empty() || *end != '\0' || n < offset) {
                         std::fprintf(stderr, "\nthawctl: the agent sent no valid X-Thaw-Log-Offset "
                                              "('%s')\n", next.c_str());
                         return kExitNoAnswer;
                       }
                       offset = n;
                       return 0;
                     });
    if (rc == kExitServiceError && follow && offset > 0) {
      // The log shrank (deleted and re-created function): start over.
      std::fprintf(stderr, "thawctl: the log of %s was replaced; reading it from the start\n",
                   function.c_str());
      offset = 0;
      restart = true;
    } else if (rc != 0 || !follow) {
      return rc;
    }
    if (restart) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void add_drain(CLI::App& app, Context& ctx) {
  CLI::App* sub = app.add_subcommand(
      "drain", "refuse new invokes (503), finish the ones in flight, end idle sandboxes");
  auto status = std::make_shared<bool>(false);
  auto cancel = std::make_shared<bool>(false);
  auto wait = std::make_shared<bool>(false);
  auto wait_timeout = std::make_shared<unsigned>(300);
  sub->add_flag("--status", *status, "only show the drain state");
  sub->add_flag("--cancel", *cancel, "serve again (after a drain started through the API)");
  sub->add_flag("--wait", *wait, "return once drained (nothing in flight, no sandboxes)");
  sub->add_option("--wait-timeout", *wait_timeout, "seconds --wait waits (default 300)");
  sub->callback([&ctx, status, cancel, wait, wait_timeout] {
    if (*status && *cancel) throw CLI::ValidationError("--status and --cancel exclude each other");
    ctx.run = [&ctx, status, cancel, wait, wait_timeout] {
      auto method = *status ? http::verb::get : *cancel ? http::verb::delete_ : http::verb::post;
      std::string last;
      int rc = perform(ctx, {"Drain", method, "/agent/v1/drain"},
                       [&last](const ApiResponse& r) {
                         last = r.body;
                         return 0;
                       });
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*wait_timeout);
      while (rc == 0 && *wait && last.find("\"drained\"") == std::string::npos) {
        if (std::chrono::steady_clock::now() > deadline) {
          print_body(ctx, "Drain", last);
          std::fprintf(stderr, "\nthawctl: not drained after %u s (--wait-timeout)\n",
                       *wait_timeout);
          return kExitNoAnswer;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        rc = perform(ctx, {"Drain", http::verb::get, "/agent/v1/drain"},
                     [&last](const ApiResponse& r) {
                       last = r.body;
                       return 0;
                     });
      }
      return rc == 0 ? print_body(ctx, "Drain", last) : rc;
    };
  });
}

}  // namespace

void add_agent_verbs(CLI::App& app, Context& ctx) {
  add_get(app, ctx, "health", "the agent's liveness and sandbox counts", "Health", "health");
  add_get(app, ctx, "capacity", "sandbox slots, memory and functions", "Capacity", "capacity");
  add_get(app, ctx, "sandboxes", "live sandboxes: function, version, state, pid, memory, age",
          "ListSandboxes", "sandboxes");
  add_get(app, ctx, "metrics", "Prometheus metrics (text exposition 0.0.4)", "Metrics", "metrics",
          true);
  add_drain(app, ctx);

  CLI::App* logs = app.add_subcommand("logs", "print a function's log (START/END/REPORT lines)");
  auto function = std::make_shared<std::string>();
  auto offset = std::make_shared<uint64_t>(0);
  auto follow = std::make_shared<bool>(false);
  logs->add_option("function", *function, "the function's name")->required();
  logs->add_option("--offset", *offset, "start at this byte of the log");
  logs->add_flag("-f,--follow", *follow, "keep printing new lines (Ctrl-C to stop)");
  logs->callback([&ctx, function, offset, follow] {
    ctx.run = [&ctx, function, offset, follow] {
      return run_logs(ctx, *function, *offset, *follow);
    };
  });
}

}  // namespace thaw::thawctl
