// The scheduler API's concurrency routes: PutFunctionConcurrency /
// GetFunctionConcurrency / DeleteFunctionConcurrency (/2017-10-31 and
// /2019-09-30 .../functions/NAME/concurrency) and Put/Get/Delete/List
// ProvisionedConcurrencyConfig (/2019-09-30/functions/NAME/
// provisioned-concurrency?Qualifier=). One dispatch line in ApiRouter::handle.
#pragma once

#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "agent/api/api_router.h"

namespace thaw::agent {

// True when `path` is one of the routes above (whatever the method).
bool is_concurrency_path(const ApiPath& path);
// Answers a request for which is_concurrency_path() holds. Loop thread.
void handle_concurrency(const ApiPath& path, HttpRequest& request, HttpReply reply,
                        FunctionRegistry& registry, SandboxPool& pool);
// GetFunction's "Concurrency" ({"ReservedConcurrentExecutions": N}); nullopt
// when the function has no reservation.
std::optional<boost::json::object> function_concurrency_json(const SandboxPool& pool,
                                                             const std::string& function);

}  // namespace thaw::agent
