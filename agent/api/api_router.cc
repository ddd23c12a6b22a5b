#include "agent/api/api_router.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/base64.h"
#include "agent/api/control_routes.h"
#include "agent/api/pagination.h"
#include "agent/invoke/concurrency_routes.h"
#include "agent/invoke/invoke_response.h"
#include "agent/async/async_invocations.h"

namespace thaw::agent {
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kApiVersion = "2015-03-31";

HttpResponse unknown_operation(const HttpRequest& req) {
  return render_api_error(404, "UnknownOperationException",
                          fmt::format("no operation for {} {}; see the Lambda API 2015-03-31 paths "
                                      "under /2015-03-31/functions",
                                      std::string_view(req.method_string()),
                                      std::string_view(req.target())));
}

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 §2.1; in a query (form encoding) '+' is a space too.
std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
      i += 2;
    } else {
      out += plus_is_space && s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

}  // namespace

HttpResponse json_reply(unsigned status, const json::value& v) {
  return HttpResponse{status, {}, json::serialize(v)};
}

ApiPath split_target(std::string_view target) {
  ApiPath p;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    p.query = std::string(target.substr(q + 1));
    target = target.substr(0, q);
  }
  size_t i = 0;
  while (i < target.size()) {
    while (i < target.size() && target[i] == '/') ++i;
    size_t j = target.find('/', i);
    if (j == std::string_view::npos) j = target.size();
    if (j > i) p.segments.push_back(percent_decode(target.substr(i, j - i), false));
    i = j;
  }
  return p;
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq), true) == key) {
      return eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true);
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return std::nullopt;
}

ApiRouter::ApiRouter(IoLoop& loop, FunctionRegistry& registry, SandboxPool& pool,
                     WorkerPool& workers)
    : loop_(loop), registry_(registry), pool_(pool), workers_(workers) {}

uint64_t ApiRouter::body_limit(const HttpRequest& req) {
  ApiPath p = split_target(sv(req.target()));
  if (uint64_t upload = control_body_limit(req, p)) return upload;
  if (req.method() == http::verb::post && p.segments.size() == 4 && p.segments[0] == kApiVersion &&
      p.segments[1] == "functions" && p.segments[3] == "invocations") {
    return kMaxSyncPayloadBytes;
  }
  if (req.method() == http::verb::post && p.segments.size() == 2 && p.segments[0] == kApiVersion &&
      p.segments[1] == "functions") {
    return kMaxCreateBodyBytes;
  }
  return kMaxOtherBodyBytes;
}

void ApiRouter::run_blocking(std::function<HttpResponse()> work, HttpReply reply) {
  workers_.submit([this, work = std::move(work), reply = std::move(reply)]() mutable {
    HttpResponse r = work();
    loop_.post([reply = std::move(reply), r = std::move(r)]() mutable { reply(std::move(r)); });
  });
}

void ApiRouter::handle(HttpRequest& req, HttpReply reply) {
  ApiPath p = split_target(sv(req.target()));
  const auto method = req.method();
  // /agent/v1/* (health, capacity, ...) is answered before this by agent/ops/.
  if (async_ && AsyncInvocations::is_config_path(p)) {
    return async_->handle_config(req, p, std::move(reply));
  }
  if (is_concurrency_path(p)) return handle_concurrency(p, req, std::move(reply), registry_, pool_);
  const RouteContext control{loop_, registry_, pool_, workers_};
  if (handle_layer_routes(control, p, req, reply)) return;
  if (p.segments.size() < 2 || p.segments[0] != kApiVersion || p.segments[1] != "functions") {
    return reply(unknown_operation(req));
  }
  if (p.segments.size() == 2) {
    if (method == http::verb::post) return create_function(req, std::move(reply));
    if (method == http::verb::get) {
      auto which = query_param(p.query, "FunctionVersion");
      if (which && *which != "ALL") {
        return reply(render_api_error(invalid_parameter(
            "FunctionVersion must be ALL (every published version too) or left out ($LATEST only)")));
      }
      auto page = parse_page(p.query);
      if (!page) return reply(render_api_error(page.error()));
      return reply(json_reply(
          200, paged_list(registry_.list(which.has_value()), *page, "Functions",
                          [](const FunctionConfig& c) {
                            return function_configuration_json(c, kRegion);
                          })));
    }
    return reply(unknown_operation(req));
  }
  const std::string& name = p.segments[2];
  if (auto bad = check_function_name(name)) return reply(render_api_error(*bad));
  const std::string qualifier = query_param(p.query, "Qualifier").value_or("");
  if (handle_update_routes(control, p, req, reply)) return;
  if (handle_version_routes(control, p, req, reply)) return;
  if (handle_alias_routes(control, p, req, reply)) return;
  if (p.segments.size() == 3) {
    if (method == http::verb::get) {
      auto c = registry_.find(name, qualifier);
      if (!c) return reply(render_api_error(c.error()));
      json::object got{{"Configuration", function_configuration_json(*c, kRegion)},
                       {"Code", json::object{{"RepositoryType", "thaw-erofs"},
                                             {"ImageDigest", c->code_digest}}}};
      if (auto cc = function_concurrency_json(pool_, name)) got["Concurrency"] = std::move(*cc);
      return reply(json_reply(200, got));
    }
    if (method == http::verb::delete_) {
      auto removed = qualifier.empty() ? registry_.remove(name)
                                       : registry_.remove_version(name, qualifier);
      if (!removed) return reply(render_api_error(removed.error()));
      pool_.drop_function(name, qualifier);  // a version's delete keeps the others warm
      pool_.forget_concurrency(name, qualifier);
      if (async_) async_->forget_function(name, qualifier);  // its event invoke configs
      return reply(HttpResponse{204, {}, {}});
    }
    return reply(unknown_operation(req));
  }
  if (p.segments.size() == 4 && p.segments[3] == "invocations" && method == http::verb::post) {
    return invoke(name, req, std::move(reply));
  }
  return reply(unknown_operation(req));
}

void ApiRouter::create_function(HttpRequest& req, HttpReply reply) {
  auto parsed = parse_create_function(req.body());
  if (!parsed) return reply(render_api_error(parsed.error()));
  auto shared = std::make_shared<CreateFunctionRequest>(std::move(*parsed));
  run_blocking(
      [this, shared]() -> HttpResponse {
        std::string name = shared->config.name;
        auto created = registry_.create(std::move(*shared));
        if (!created) return render_api_error(created.error());
        pool_.drop_function(name);  // sandboxes of an earlier function of that name
        return json_reply(201, function_configuration_json(*created, kRegion));
      },
      std::move(reply));
}

void ApiRouter::invoke(const std::string& name, HttpRequest& req, HttpReply reply) {
  std::string type = std::string(sv(req["X-Amz-Invocation-Type"]));
  if (type.empty()) type = "RequestResponse";
  if (type != "RequestResponse" && type != "Event" && type != "DryRun") {
    return reply(render_api_error(invalid_parameter(fmt::format(
        "X-Amz-Invocation-Type '{}' is not one of RequestResponse, Event, DryRun", type))));
  }
  std::string log_type = std::string(sv(req["X-Amz-Log-Type"]));
  if (!log_type.empty() && log_type != "None" && log_type != "Tail") {
    return reply(render_api_error(
        invalid_parameter(fmt::format("X-Amz-Log-Type '{}' is not one of None, Tail", log_type))));
  }
  auto config = registry_.resolve(
      name, query_param(split_target(sv(req.target())).query, "Qualifier").value_or(""));
  if (!config) return reply(render_api_error(config.error()));
  std::string& body = req.body();
  if (body.empty()) body = "{}";
  if (type == "Event") {
    if (auto too_large = AsyncInvocations::payload_too_large(body.size())) {
      return reply(render_api_error(*too_large));  // 413 before the JSON check, as Lambda
    }
  }
  boost::system::error_code ec;
  json::parse(body, ec);
  if (ec) {
    return reply(render_api_error(invalid_content(
        fmt::format("Could not parse request body into json: {}; the payload must be JSON",
                    ec.message()))));
  }
  if (type == "DryRun") return reply(HttpResponse{204, {}, {}});
  if (type == "Event") {
    if (!async_) {
      return reply(render_api_error(
          {ApiErrorKind::kService, "asynchronous invocations are not set up in this agent"}));
    }
    auto qualifier = query_param(split_target(sv(req.target())).query, "Qualifier");
    return async_->enqueue(name, qualifier.value_or(""), std::move(body), std::move(reply));
  }
  // Loop-driven: the pool answers from the loop when the sandbox responds.
  bool tail = log_type == "Tail";
  std::string function = config->name;
  pool_.invoke(std::move(*config), std::vector<uint8_t>(body.begin(), body.end()),
               [&pool = pool_, function, tail, reply = std::move(reply)](
                   ApiResult<InvokeOutcome> outcome) {
                 reply(invoke_response(outcome, tail, pool.throttle_reason(function)));
               });
}

}  // namespace thaw::agent
