// Layers (Lambda API 2018-10-31): ListLayers (GET /layers),
// PublishLayerVersion and ListLayerVersions (POST|GET /layers/NAME/versions),
// GetLayerVersion and DeleteLayerVersion (GET|DELETE /layers/NAME/versions/N).
#include <algorithm>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/control_routes.h"
#include "agent/api/pagination.h"

namespace thaw::agent {
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

json::object layer_list_item_json(const layers::LayerVersion& v) {
  return json::object{{"LayerName", v.name},
                      {"LayerArn", layer_arn(v.name)},
                      {"LatestMatchingVersion", layer_version_item_json(v)}};
}

}  // namespace

bool handle_layer_routes(const RouteContext& ctx, const ApiPath& p, HttpRequest& req,
                         HttpReply& reply) {
  const auto& s = p.segments;
  if (s.size() < 2 || s[0] != "2018-10-31" || s[1] != "layers") return false;
  const auto method = req.method();
  if (s.size() == 2 && method == http::verb::get) {
    auto page = parse_page(p.query);
    reply(page ? json_reply(200, paged_list(ctx.registry.list_layers(), *page, "Layers",
                                            layer_list_item_json))
               : render_api_error(page.error()));
    return true;
  }
  if ((s.size() != 4 && s.size() != 5) || s[3] != "versions") return false;
  const std::string name = s[2];
  if (auto bad = layers::LayerRegistry::check_name(name); !bad) {
    reply(render_api_error(invalid_parameter(bad.error().message)));
    return true;
  }
  if (s.size() == 4) {
    if (method == http::verb::get) {
      auto page = parse_page(p.query);
      if (!page) {
        reply(render_api_error(page.error()));
        return true;
      }
      auto versions = ctx.registry.list_layer_versions(name);
      std::reverse(versions.begin(), versions.end());  // Lambda lists the newest first
      reply(json_reply(200, paged_list(versions, *page, "LayerVersions", layer_version_item_json)));
      return true;
    }
    if (method != http::verb::post) return false;
    run_parsed(ctx, parse_publish_layer_version(name, req.body()), reply,
               [&registry = ctx.registry](PublishLayerRequest& r) {
                 return reply_with(registry.publish_layer_version(std::move(r)), 201,
                                   layer_version_json);
               });
    return true;
  }
  auto version = parse_version_number(s[4]);
  if (!version) {
    reply(render_api_error(invalid_parameter(fmt::format(
        "layer version '{}' must be a number from 1 to 4294967295", s[4].substr(0, 20)))));
    return true;
  }
  if (method == http::verb::get) {
    reply(reply_with(ctx.registry.get_layer_version(name, *version), 200, layer_version_json));
    return true;
  }
  if (method != http::verb::delete_) return false;
  ctx.run_blocking(
      [&registry = ctx.registry, name, number = *version]() {
        return reply_no_content(registry.remove_layer_version(name, number));
      },
      std::move(reply));
  return true;
}

}  // namespace thaw::agent
