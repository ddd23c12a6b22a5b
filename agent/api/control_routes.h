// The control-plane routes beyond Create/Get/List/Delete/Invoke: function
// updates, versions, aliases (Lambda API 2015-03-31) and layers
// (2018-10-31). Each handle_* returns false when the request is not one of
// its routes, else answers it (mutations run on the WorkerPool). Called from
// ApiRouter::handle, one line each.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/json/value.hpp>

#include "agent/api/api_router.h"

namespace thaw::agent {

struct RouteContext {
  IoLoop& loop;
  FunctionRegistry& registry;
  SandboxPool& pool;
  WorkerPool& workers;

  // Runs `work` on a worker thread and hands its response to `reply` on the loop.
  void run_blocking(std::function<HttpResponse()> work, HttpReply reply) const;
};

// FunctionConfiguration of this agent's region.
boost::json::value config_json(const FunctionConfig& config);
// The routes' results as responses: the value as JSON with `status`, or the error.
template <typename T, typename ToJson>
HttpResponse reply_with(ApiResult<T> result, unsigned status, ToJson to_json) {
  if (!result) return render_api_error(result.error());
  return json_reply(status, to_json(*result));
}

// 204 (a Delete*) or the error.
template <typename T>
HttpResponse reply_no_content(const ApiResult<T>& result) {
  if (!result) return render_api_error(result.error());
  return HttpResponse{204, {}, {}};
}

// Answers a parse error at once; otherwise runs `work(parsed)` (returning
// the HttpResponse) on a worker thread. Mutations persist records (fsync),
// so they never run on the loop.
template <typename Parsed, typename Work>
void run_parsed(const RouteContext& ctx, ApiResult<Parsed> parsed, HttpReply& reply, Work work) {
  if (!parsed) return reply(render_api_error(parsed.error()));
  auto shared = std::make_shared<Parsed>(std::move(*parsed));
  ctx.run_blocking([shared, work = std::move(work)]() { return work(*shared); }, std::move(reply));
}

// PUT .../functions/NAME/code, PUT|GET .../functions/NAME/configuration.
bool handle_update_routes(const RouteContext& ctx, const ApiPath& p, HttpRequest& req,
                          HttpReply& reply);
// POST|GET .../functions/NAME/versions.
bool handle_version_routes(const RouteContext& ctx, const ApiPath& p, HttpRequest& req,
                           HttpReply& reply);
// .../functions/NAME/aliases[/ALIAS].
bool handle_alias_routes(const RouteContext& ctx, const ApiPath& p, HttpRequest& req,
                         HttpReply& reply);
// /2018-10-31/layers[/NAME/versions[/N]].
bool handle_layer_routes(const RouteContext& ctx, const ApiPath& p, HttpRequest& req,
                         HttpReply& reply);
// The body limit of the code and layer uploads these routes take; 0 when
// the request is none of them.
uint64_t control_body_limit(const HttpRequest& req, const ApiPath& p);

// "functions/NAME/<segment>..." under the 2015-03-31 API with a valid NAME.
bool is_function_subpath(const ApiPath& p, std::string_view segment);

}  // namespace thaw::agent
