// UpdateFunctionCode (PUT .../functions/NAME/code), UpdateFunctionConfiguration
// (PUT .../configuration) and GetFunctionConfiguration (GET .../configuration).
// An update drops the function's idle sandboxes so none of the old $LATEST
// is reused.
#include <boost/json.hpp>

#include "agent/api/control_routes.h"

namespace thaw::agent {
namespace http = boost::beast::http;

bool handle_update_routes(const RouteContext& ctx, const ApiPath& p, HttpRequest& req,
                          HttpReply& reply) {
  bool code = is_function_subpath(p, "code");
  if (p.segments.size() != 4 || (!code && !is_function_subpath(p, "configuration"))) return false;
  const std::string name = p.segments[2];
  const auto method = req.method();
  if (!code && method == http::verb::get) {
    std::string qualifier = query_param(p.query, "Qualifier").value_or("");
    reply(reply_with(ctx.registry.find(name, qualifier), 200, config_json));
    return true;
  }
  if (method != http::verb::put) return false;
  // Warm sandboxes of the old $LATEST must not serve the new one.
  auto answer = [&pool = ctx.pool, name](ApiResult<FunctionConfig> updated) {
    if (updated) pool.drop_function(name);
    return reply_with(std::move(updated), 200, config_json);
  };
  auto& registry = ctx.registry;
  if (code) {
    run_parsed(ctx, parse_update_function_code(req.body()), reply,
               [&registry, name, answer](UpdateCodeRequest& r) {
                 return answer(registry.update_code(name, std::move(r)));
               });
  } else {
    run_parsed(ctx, parse_update_function_configuration(req.body()), reply,
               [&registry, name, answer](UpdateConfigurationRequest& r) {
                 return answer(registry.update_configuration(name, r));
               });
  }
  return true;
}

}  // namespace thaw::agent
