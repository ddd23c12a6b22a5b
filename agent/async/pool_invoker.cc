#include "agent/async/pool_invoker.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/function_registry.h"
#include "agent/invoke/sandbox_pool.h"

namespace thaw::agent {

namespace {

std::string error_body(std::string_view type, std::string_view message) {
  return boost::json::serialize(
      boost::json::object{{"errorType", type}, {"errorMessage", message}});
}

// A try refused before the function ran: 429 and 5xx are retried with
// backoff; any other 4xx (the function or qualifier is gone) is final.
AttemptOutcome refused(const ApiError& err, std::string executed_version) {
  AttemptOutcome o;
  unsigned status = api_error_status(err.kind);
  o.kind = status == 429 || status >= 500 ? AttemptKind::kThrottled : AttemptKind::kGone;
  o.status_code = status;
  o.executed_version = std::move(executed_version);
  o.body = error_body(api_error_type(err.kind), err.message);
  return o;
}

}  // namespace

EventInvoker make_pool_invoker(FunctionRegistry& registry, SandboxPool& pool) {
  return [&registry, &pool](const QueuedEvent& e) -> AttemptOutcome {
    // Resolved at each try, like Lambda: an alias may point elsewhere by now.
    auto config = registry.resolve(e.function, e.qualifier);
    if (!config) return refused(config.error(), e.qualifier);
    // Every try logs START/END/REPORT under the event's request id, as Lambda does.
    auto out = pool.invoke(*config, std::vector<uint8_t>(e.payload.begin(), e.payload.end()),
                           e.request_id);
    if (!out) return refused(out.error(), config->version);
    AttemptOutcome o;
    o.executed_version = config->version;
    if (out->function_error) {
      o.kind = AttemptKind::kFunctionError;
      o.function_error = "Unhandled";
    }
    o.body = std::move(out->body);
    return o;
  };
}

}  // namespace thaw::agent
