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

}  // namespace

EventInvoker make_pool_invoker(FunctionRegistry& registry, SandboxPool& pool) {
  return [&registry, &pool](const QueuedEvent& e) -> AttemptOutcome {
    AttemptOutcome o;
    o.executed_version = e.qualifier;
    auto config = registry.get(e.function);
    if (!config || (e.qualifier != "$LATEST" && e.qualifier != config->version)) {
      o.kind = AttemptKind::kGone;
      o.status_code = 404;
      o.body = error_body("ResourceNotFoundException",
                          fmt::format("Function not found: {}", event_function_arn(e)));
      return o;
    }
    o.executed_version = config->version;
    auto out = pool.invoke(*config, std::vector<uint8_t>(e.payload.begin(), e.payload.end()));
    if (!out) {
      const ApiError& err = out.error();
      o.kind = err.kind == ApiErrorKind::kResourceNotFound ? AttemptKind::kGone
                                                           : AttemptKind::kThrottled;
      o.status_code = api_error_status(err.kind);
      o.body = error_body(api_error_type(err.kind), err.message);
      return o;
    }
    if (out->function_error) {
      o.kind = AttemptKind::kFunctionError;
      o.function_error = "Unhandled";
    }
    o.body = std::move(out->body);
    return o;
  };
}

}  // namespace thaw::agent
