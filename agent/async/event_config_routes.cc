// AsyncInvocations' API routes: Lambda's Put/Get/Update/Delete/
// ListFunctionEventInvokeConfig(s) under /2019-09-25/functions/NAME/
// event-invoke-config[/list]?Qualifier=Q. Parsing happens on the loop;
// the store's atomic write runs on a worker.
#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/function_config.h"
#include "agent/async/async_invocations.h"

namespace thaw::agent {
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kEventConfigApiVersion = "2019-09-25";

std::string qualified_arn(const std::string& name, const std::string& qualifier) {
  return function_arn(kRegion, name) + ":" + qualifier;
}

}  // namespace

bool AsyncInvocations::is_config_path(const ApiPath& p) {
  return (p.segments.size() == 4 || p.segments.size() == 5) &&
         p.segments[0] == kEventConfigApiVersion && p.segments[1] == "functions" &&
         p.segments[3] == "event-invoke-config" &&
         (p.segments.size() == 4 || p.segments[4] == "list");
}

void AsyncInvocations::handle_config(const HttpRequest& req, const ApiPath& p, HttpReply reply) {
  const std::string& name = p.segments[2];
  if (auto bad = check_function_name(name)) return reply(render_api_error(*bad));
  bool list = p.segments.size() == 5;
  auto method = req.method();
  if (list ? method != http::verb::get
           : method != http::verb::get && method != http::verb::put &&
                 method != http::verb::post && method != http::verb::delete_) {
    return reply(render_api_error(
        404, "UnknownOperationException",
        fmt::format("no operation for {} {}; event invoke configs take GET, PUT, POST "
                    "(update) and DELETE, and GET .../event-invoke-config/list",
                    std::string_view(req.method_string()), std::string_view(req.target()))));
  }
  std::string qualifier = query_param(p.query, "Qualifier").value_or("$LATEST");
  if (qualifier.empty()) qualifier = "$LATEST";
  if (method == http::verb::get) return reply(config_operation(method, name, qualifier, list, ""));
  run_blocking([this, method, name, qualifier, body = req.body()] {
    return config_operation(method, name, qualifier, false, body);
  }, std::move(reply));
}

HttpResponse AsyncInvocations::config_operation(http::verb method, const std::string& name,
                                                const std::string& qualifier, bool list,
                                                const std::string& body) {
  // A version or alias that exists (no alias routing here: the config is the alias's own).
  if (auto function = registry_.find(name, qualifier); !function) {
    return render_api_error(function.error());
  }
  if (list) {
    json::array configs;
    for (const auto& [q, c] : configs_->list(name)) {
      configs.push_back(event_invoke_config_json(c, qualified_arn(name, q)));
    }
    return json_reply(200, json::object{{"FunctionEventInvokeConfigs", std::move(configs)}});
  }
  std::lock_guard lock(config_mu_);
  auto current = configs_->get(name, qualifier);
  auto not_configured = [&] {
    return render_api_error(
        {ApiErrorKind::kResourceNotFound,
         fmt::format("The function {} doesn't have an EventInvokeConfig; create one with "
                     "PutFunctionEventInvokeConfig",
                     qualified_arn(name, qualifier))});
  };
  if (method == http::verb::get) {
    if (!current) return not_configured();
    return json_reply(200, event_invoke_config_json(*current, qualified_arn(name, qualifier)));
  }
  if (method == http::verb::delete_) {
    auto removed = configs_->remove(name, qualifier);
    if (!removed) return render_api_error({ApiErrorKind::kService, removed.error().message});
    if (!*removed) return not_configured();
    return HttpResponse{204, {}, {}};
  }
  // PUT replaces; POST (Update) merges into what is there.
  bool update = method == http::verb::post;
  auto parsed = parse_event_invoke_config(body, update && current ? &*current : nullptr);
  if (!parsed) return render_api_error(parsed.error());
  if (auto put = configs_->put(name, qualifier, *parsed); !put) {
    return render_api_error({ApiErrorKind::kService,
                             fmt::format("saving the event invoke config: {}", put.error().message)});
  }
  return json_reply(200, event_invoke_config_json(*parsed, qualified_arn(name, qualifier)));
}

}  // namespace thaw::agent
