// The scheduler API's routes (AWS Lambda 2015-03-31 paths and shapes; the
// agent-only /agent/v1 routes live in agent/ops/): parses each request on
// the loop thread, runs blocking work (code conversion, cold starts) on the
// WorkerPool and answers back on the loop. Used by thawd's service mode.
#pragma once

#include <cstdint>

#include <boost/json/value.hpp>

#include "agent/api/function_registry.h"
#include "agent/http/http_server.h"
#include "agent/invoke/sandbox_pool.h"
#include "agent/worker_pool.h"
#include "common/io_loop.h"

namespace thaw::agent {

class AsyncInvocations;  // agent/async/async_invocations.h

// Lambda's synchronous Invoke payload limit (6 MB).
inline constexpr uint64_t kMaxSyncPayloadBytes = 6291456;
// CreateFunction: a 50 MB ZIP, base64-encoded, plus the JSON around it.
inline constexpr uint64_t kMaxCreateBodyBytes = (52428800ull + 2) / 3 * 4 + (1u << 20);
inline constexpr uint64_t kMaxOtherBodyBytes = 1u << 20;

class ApiRouter {
 public:
  ApiRouter(IoLoop& loop, FunctionRegistry& registry, SandboxPool& pool, WorkerPool& workers);

  void handle(HttpRequest& request, HttpReply reply);
  // Event invokes and the event-invoke-config routes (none: Event is refused).
  void set_async(AsyncInvocations* async) { async_ = async; }
  // The body limit for a request, chosen from its method and path.
  static uint64_t body_limit(const HttpRequest& request);

 private:
  void create_function(HttpRequest& request, HttpReply reply);
  void invoke(const std::string& name, HttpRequest& request, HttpReply reply);
  // Runs `work` on a worker thread and hands its response to `reply` on the loop.
  void run_blocking(std::function<HttpResponse()> work, HttpReply reply);

  IoLoop& loop_;
  FunctionRegistry& registry_;
  SandboxPool& pool_;
  WorkerPool& workers_;
  AsyncInvocations* async_ = nullptr;
};

// A JSON body with `status`: every route's success answer.
HttpResponse json_reply(unsigned status, const boost::json::value& v);

// Splits "/2015-03-31/functions/NAME/invocations?Qualifier=x": the path
// segments after the API version and the raw query.
struct ApiPath {
  std::vector<std::string> segments;
  std::string query;
};
ApiPath split_target(std::string_view target);
// The value of `key` in an application/x-www-form-urlencoded query (percent
// decoded); nullopt when absent.
std::optional<std::string> query_param(std::string_view query, std::string_view key);

}  // namespace thaw::agent
