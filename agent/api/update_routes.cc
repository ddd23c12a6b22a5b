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
  if (code) {
    auto parsed = parse_update_function_code(req.body());
    if (!parsed) {
      reply(render_api_error(parsed.error()));
      return true;
    }
    auto request = std::make_shared<UpdateCodeRequest>(std::move(*parsed));
    ctx.run_blocking(
        [&registry = ctx.registry, &pool = ctx.pool, name, request]() {
          auto updated = registry.update_code(name, std::move(*request));
          if (updated) pool.drop_function(name);
          return reply_with(std::move(updated), 200, config_json);
        },
        std::move(reply));
    return true;
  }
  auto parsed = parse_update_function_configuration(req.body());
  if (!parsed) {
    reply(render_api_error(parsed.error()));
    return true;
  }
  auto request = std::make_shared<UpdateConfigurationRequest>(std::move(*parsed));
  ctx.run_blocking(
      [&registry = ctx.registry, &pool = ctx.pool, name, request]() {
        auto updated = registry.update_configuration(name, *request);
        if (updated) pool.drop_function(name);
        return reply_with(std::move(updated), 200, config_json);
      },
      std::move(reply));
  return true;
}

}  // namespace thaw::agent
