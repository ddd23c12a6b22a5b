// PublishVersion (POST .../functions/NAME/versions) and ListVersionsByFunction
// (GET .../functions/NAME/versions): Lambda's 2015-03-31 shapes.
#include <boost/json.hpp>

#include "agent/api/control_routes.h"
#include "agent/api/pagination.h"

namespace thaw::agent {
namespace http = boost::beast::http;
namespace json = boost::json;

bool handle_version_routes(const RouteContext& ctx, const ApiPath& p, HttpRequest& req,
                           HttpReply& reply) {
  if (p.segments.size() != 4 || !is_function_subpath(p, "versions")) return false;
  const std::string name = p.segments[2];
  if (req.method() == http::verb::get) {
    auto page = parse_page(p.query);
    if (!page) {
      reply(render_api_error(page.error()));
      return true;
    }
    reply(reply_with(ctx.registry.list_versions(name), 200,
                     [&page = *page](const std::vector<FunctionConfig>& versions) {
                       return paged_list(versions, page, "Versions", config_json);
                     }));
    return true;
  }
  if (req.method() != http::verb::post) return false;
  run_parsed(ctx, parse_publish_version(req.body()), reply,
             [&registry = ctx.registry, name](PublishVersionRequest& r) {
               return reply_with(registry.publish_version(name, r), 201, config_json);
             });
  return true;
}

}  // namespace thaw::agent
