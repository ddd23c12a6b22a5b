#include "agent/invoke/concurrency_routes.h"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace thaw::agent {
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

HttpResponse json_reply(unsigned status, const json::value& v) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

HttpResponse no_content() { return HttpResponse{204, {}, {}}; }

bool is_version(const std::string& s) { return s == "2017-10-31" || s == "2019-09-30"; }

json::object provisioned_json(const ProvisionedStatus& st) {
  json::object o{{"RequestedProvisionedConcurrentExecutions", st.requested},
                 {"AvailableProvisionedConcurrentExecutions", st.available},
                 {"AllocatedProvisionedConcurrentExecutions", st.allocated},
                 {"Status", st.status},
                 {"LastModified", st.last_modified}};
  if (!st.status_reason.empty()) o["StatusReason"] = st.status_reason;
  return o;
}

HttpResponse provisioned_not_found(const std::string& name, const std::string& qualifier) {
  return render_api_error(404, "ProvisionedConcurrencyConfigNotFoundException",
                          fmt::format("No Provisioned Concurrency Config found for this function: "
                                      "{}:{}; create one with PutProvisionedConcurrencyConfig",
                                      function_arn(kRegion, name), qualifier));
}

HttpResponse method_not_allowed(const HttpRequest& req) {
  return render_api_error(
      405, "MethodNotAllowedException",
      fmt::format("{} is not allowed on {}; use PUT, GET or DELETE",
                  std::string_view(req.method_string()), std::string_view(req.target())));
}

void reserved_route(const std::string& name, HttpRequest& req, HttpReply& reply,
                    SandboxPool& pool) {
  switch (req.method()) {
    case http::verb::put: {
      auto n = parse_reserved_concurrency(req.body());
      if (!n) return reply(render_api_error(n.error()));
      if (auto bad = pool.put_reserved(name, *n)) return reply(render_api_error(*bad));
      return reply(json_reply(200, json::object{{"ReservedConcurrentExecutions", *n}}));
    }
    case http::verb::get: {
      auto o = function_concurrency_json(pool, name);
      return reply(json_reply(200, o ? *o : json::object{}));
    }
    case http::verb::delete_:
      if (auto bad = pool.delete_reserved(name)) return reply(render_api_error(*bad));
      return reply(no_content());
    default:
      return reply(method_not_allowed(req));
  }
}

void provisioned_route(const std::string& name, const ApiPath& p, HttpRequest& req,
                       HttpReply& reply, FunctionRegistry& registry, SandboxPool& pool) {
  auto qualifier = query_param(p.query, "Qualifier");
  if (req.method() == http::verb::get && !qualifier) {  // ListProvisionedConcurrencyConfigs
    json::array list;
    for (const auto& [key, request] : pool.concurrency().provisioned) {
      if (key.first != name) continue;
      json::object o = provisioned_json(*pool.provisioned_status(key.first, key.second));
      o["FunctionArn"] = function_arn(kRegion, name) + ":" + key.second;
      list.push_back(std::move(o));
    }
    return reply(json_reply(200, json::object{{"ProvisionedConcurrencyConfigs", std::move(list)}}));
  }
  if (auto bad = check_provisioned_qualifier(qualifier)) return reply(render_api_error(*bad));
  switch (req.method()) {
    case http::verb::put: {
      auto n = parse_provisioned_concurrency(req.body());
      if (!n) return reply(render_api_error(n.error()));
      auto target = registry.find(name, *qualifier);
      if (!target) return reply(render_api_error(target.error()));
      if (auto bad = pool.put_provisioned(name, *qualifier, *n)) {
        return reply(render_api_error(*bad));
      }
      return reply(json_reply(202, provisioned_json(*pool.provisioned_status(name, *qualifier))));
    }
    case http::verb::get: {
      auto st = pool.provisioned_status(name, *qualifier);
      if (!st) return reply(provisioned_not_found(name, *qualifier));
      return reply(json_reply(200, provisioned_json(*st)));
    }
    case http::verb::delete_:
      if (!pool.provisioned_status(name, *qualifier)) {
        return reply(provisioned_not_found(name, *qualifier));
      }
      if (auto bad = pool.delete_provisioned(name, *qualifier)) return reply(render_api_error(*bad));
      return reply(no_content());
    default:
      return reply(method_not_allowed(req));
  }
}

}  // namespace

bool is_concurrency_path(const ApiPath& p) {
  if (p.segments.size() != 4 || !is_version(p.segments[0]) || p.segments[1] != "functions") {
    return false;
  }
  return p.segments[3] == "concurrency" ||
         (p.segments[3] == "provisioned-concurrency" && p.segments[0] == "2019-09-30");
}

void handle_concurrency(const ApiPath& p, HttpRequest& req, HttpReply reply,
                        FunctionRegistry& registry, SandboxPool& pool) {
  const std::string& name = p.segments[2];
  if (auto bad = check_function_name(name)) return reply(render_api_error(*bad));
  if (!registry.get(name)) {
    return reply(render_api_error({ApiErrorKind::kResourceNotFound,
                                   fmt::format("Function not found: {}", function_arn(kRegion, name))}));
  }
  if (p.segments[3] == "concurrency") return reserved_route(name, req, reply, pool);
  provisioned_route(name, p, req, reply, registry, pool);
}

std::optional<json::object> function_concurrency_json(const SandboxPool& pool,
                                                       const std::string& function) {
  const auto& reserved = pool.concurrency().reserved;
  auto it = reserved.find(function);
  if (it == reserved.end()) return std::nullopt;
  return json::object{{"ReservedConcurrentExecutions", it->second}};
}

}  // namespace thaw::agent
