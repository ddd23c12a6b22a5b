// Aliases (Lambda 2015-03-31): CreateAlias and ListAliases on
// .../functions/NAME/aliases, GetAlias/UpdateAlias/DeleteAlias on
// .../functions/NAME/aliases/ALIAS.
#include <boost/json.hpp>

#include "agent/api/control_routes.h"
#include "agent/api/pagination.h"

namespace thaw::agent {
namespace http = boost::beast::http;
namespace json = boost::json;

bool handle_alias_routes(const RouteContext& ctx, const ApiPath& p, HttpRequest& req,
                         HttpReply& reply) {
  if ((p.segments.size() != 4 && p.segments.size() != 5) || !is_function_subpath(p, "aliases")) {
    return false;
  }
  const std::string name = p.segments[2];
  const auto method = req.method();
  if (p.segments.size() == 4) {
    if (method == http::verb::get) {
      auto page = parse_page(p.query);
      if (!page) {
        reply(render_api_error(page.error()));
        return true;
      }
      reply(reply_with(ctx.registry.list_aliases(name, query_param(p.query, "FunctionVersion")), 200,
                       [&page = *page](const std::vector<Alias>& aliases) {
                         return paged_list(aliases, page, "Aliases", alias_json);
                       }));
      return true;
    }
    if (method != http::verb::post) return false;
    run_parsed(ctx, parse_create_alias(req.body()), reply,
               [&registry = ctx.registry, name](AliasRequest& r) {
                 return reply_with(registry.create_alias(name, r), 201, alias_json);
               });
    return true;
  }
  const std::string alias = p.segments[4];
  if (method == http::verb::get) {
    reply(reply_with(ctx.registry.get_alias(name, alias), 200, alias_json));
    return true;
  }
  if (method == http::verb::delete_) {
    ctx.run_blocking(
        [&registry = ctx.registry, name, alias]() {
          return reply_no_content(registry.remove_alias(name, alias));
        },
        std::move(reply));
    return true;
  }
  if (method != http::verb::put) return false;
  run_parsed(ctx, parse_update_alias(alias, req.body()), reply,
             [&registry = ctx.registry, name](AliasRequest& r) {
               return reply_with(registry.update_alias(name, r), 200, alias_json);
             });
  return true;
}

}  // namespace thaw::agent
