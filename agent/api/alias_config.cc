#include "agent/api/alias_config.h"

#include <algorithm>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/function_config.h"
#include "agent/api/json_fields.h"
#include "agent/api/layer_api.h"

namespace thaw::agent {
namespace json = boost::json;

namespace {

constexpr int kAliasRecordVersion = 1;

bool is_version(std::string_view v) { return v == "$LATEST" || parse_version_number(v); }

std::optional<ApiError> read_routing(const json::object& o, AliasRequest& req) {
  auto* rc = o.if_contains("RoutingConfig");
  if (rc == nullptr || rc->is_null()) return std::nullopt;
  if (!rc->is_object()) return invalid_content("'RoutingConfig' must be a JSON object");
  if (auto e = check_known_fields(rc->as_object(), {"AdditionalVersionWeights"}, "RoutingConfig")) {
    return e;
  }
  req.routing.emplace();
  auto* weights = rc->as_object().if_contains("AdditionalVersionWeights");
  if (weights == nullptr || weights->is_null()) return std::nullopt;
  if (!weights->is_object()) {
    return invalid_content("'RoutingConfig.AdditionalVersionWeights' must be a JSON object");
  }
  const json::object& w = weights->as_object();
  if (w.size() > 1) {
    return invalid_parameter(fmt::format(
        "RoutingConfig.AdditionalVersionWeights has {} entries; an alias routes to at most one "
        "additional version",
        w.size()));
  }
  if (w.empty()) return std::nullopt;
  const auto& [version, weight] = *w.begin();
  if (!parse_version_number(version)) {
    return invalid_parameter(fmt::format(
        "RoutingConfig.AdditionalVersionWeights: '{}' is not a published version number; "
        "$LATEST cannot take weighted traffic",
        std::string_view(version).substr(0, 64)));
  }
  if (!weight.is_number()) {
    return invalid_content(fmt::format(
        "'RoutingConfig.AdditionalVersionWeights.{}' must be a JSON number", std::string_view(version)));
  }
  double share = weight.to_number<double>();
  if (!(share >= 0.0 && share <= 1.0)) {
    return invalid_parameter(fmt::format(
        "RoutingConfig.AdditionalVersionWeights.{}: weight {} must be between 0.0 and 1.0",
        std::string_view(version), share));
  }
  req.routing = AliasRouting{std::string(version), share};
  return std::nullopt;
}

ApiResult<AliasRequest> parse_alias_body(std::string_view body, bool create) {
  auto doc = parse_json_object(body);
  if (!doc) return doc.error();
  const json::object& o = *doc;
  if (auto e = create ? check_known_fields(o, {"Name", "FunctionVersion", "Description", "RoutingConfig"},
                                           "CreateAlias")
                      : check_known_fields(o, {"FunctionVersion", "Description", "RoutingConfig",
                                               "RevisionId"},
                                           "UpdateAlias")) {
    return *e;
  }
  AliasRequest req;
  if (auto e = read_string(o, "Name", req.name)) return *e;
  if (auto e = read_string(o, "RevisionId", req.revision_id)) return *e;
  std::string text;
  if (o.contains("FunctionVersion")) {
    if (auto e = read_string(o, "FunctionVersion", text)) return *e;
    if (!is_version(text)) {
      return invalid_parameter(fmt::format(
          "FunctionVersion '{}' must be $LATEST or a published version number", text.substr(0, 64)));
    }
    req.function_version = text;
  }
  if (o.contains("Description")) {
    text.clear();
    if (auto e = read_string(o, "Description", text)) return *e;
    if (text.size() > kMaxDescriptionBytes) {
      return invalid_parameter(fmt::format("Description is {} bytes; the limit is {}", text.size(),
                                           kMaxDescriptionBytes));
    }
    req.description = text;
  }
  if (auto e = read_routing(o, req)) return *e;
  return req;
}

}  // namespace

std::optional<ApiError> check_alias_name(std::string_view name) {
  bool chars_ok = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
  });
  bool all_digits =
      std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (name.empty() || name.size() > kMaxAliasNameBytes || !chars_ok || all_digits) {
    return invalid_parameter(fmt::format(
        "alias name '{}' must be 1 to {} characters of [a-zA-Z0-9-_] and not only digits "
        "(digits name versions)",
        name.substr(0, 140), kMaxAliasNameBytes));
  }
  return std::nullopt;
}

ApiResult<AliasRequest> parse_create_alias(std::string_view body) {
  auto req = parse_alias_body(body, true);
  if (!req) return req;
  if (auto e = check_alias_name(req->name)) return *e;
  if (!req->function_version) return invalid_parameter("FunctionVersion is required");
  return req;
}

ApiResult<AliasRequest> parse_update_alias(std::string_view name, std::string_view body) {
  auto req = parse_alias_body(body, false);
  if (!req) return req;
  req->name = std::string(name);
  if (auto e = check_alias_name(name)) return *e;
  return req;
}

std::optional<ApiError> apply_alias_request(const AliasRequest& request, Alias& alias) {
  if (request.function_version) alias.function_version = *request.function_version;
  if (request.description) alias.description = *request.description;
  if (request.routing) alias.routing = *request.routing;
  if (alias.routing && alias.function_version == "$LATEST") {
    return invalid_parameter(
        "RoutingConfig: an alias pointing at $LATEST cannot route to another version; point "
        "it at a published version first");
  }
  if (alias.routing && alias.routing->version == alias.function_version) {
    return invalid_parameter(fmt::format(
        "RoutingConfig: the additional version {} is the alias's own FunctionVersion; name a "
        "different version",
        alias.routing->version));
  }
  return std::nullopt;
}

json::object alias_json(const Alias& a) {
  json::object o{{"AliasArn", qualified_function_arn(a.function_name, a.name)},
                 {"Name", a.name},
                 {"FunctionVersion", a.function_version},
                 {"Description", a.description},
                 {"RevisionId", a.revision_id}};
  if (a.routing) {
    o["RoutingConfig"] = json::object{
        {"AdditionalVersionWeights", json::object{{a.routing->version, a.routing->weight}}}};
  }
  return o;
}

std::string encode_alias_record(const Alias& a) {
  json::object o{{"record_version", kAliasRecordVersion},
                 {"function_name", a.function_name},
                 {"name", a.name},
                 {"function_version", a.function_version},
                 {"description", a.description},
                 {"revision_id", a.revision_id}};
  if (a.routing) {
    o["routing"] = json::object{{"version", a.routing->version}, {"weight", a.routing->weight}};
  }
  return json::serialize(o);
}

Result<Alias> decode_alias_record(std::span<const uint8_t> bytes) {
  auto doc = parse_record_object(bytes);
  if (!doc) return std::move(doc).error();
  const json::object& o = *doc;
  Alias a;
  try {
    if (o.at("record_version").to_number<int64_t>() != kAliasRecordVersion) {
      return Error::format("record_version {} is not {}; written by a different thawd",
                           json::serialize(o.at("record_version")), kAliasRecordVersion);
    }
    a.function_name = o.at("function_name").as_string();
    a.name = o.at("name").as_string();
    a.function_version = o.at("function_version").as_string();
    a.description = o.at("description").as_string();
    a.revision_id = o.at("revision_id").as_string();
    if (auto* r = o.if_contains("routing")) {
      a.routing = AliasRouting{std::string(r->at("version").as_string()),
                               r->at("weight").to_number<double>()};
    }
  } catch (const std::exception& e) {
    return Error::format("a field is missing or has the wrong type: {}", e.what());
  }
  if (auto e = check_function_name(a.function_name)) return Error{e->message, 0};
  if (auto e = check_alias_name(a.name)) return Error{e->message, 0};
  if (!is_version(a.function_version)) {
    return Error::format("function_version '{}' is not a version", a.function_version);
  }
  if (a.routing && (!parse_version_number(a.routing->version) ||
                    !(a.routing->weight >= 0 && a.routing->weight <= 1))) {
    return Error::format("routing to '{}' with weight {} is invalid", a.routing->version,
                         a.routing->weight);
  }
  if (a.revision_id.empty()) return Error::format("revision_id is empty");
  AliasRequest none;
  if (auto e = apply_alias_request(none, a)) return Error{e->message, 0};
  return a;
}

}  // namespace thaw::agent
