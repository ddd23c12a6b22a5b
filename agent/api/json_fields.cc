#include "agent/api/json_fields.h"

#include <algorithm>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/base64.h"

namespace thaw::agent {
namespace json = boost::json;

Result<json::object> parse_record_object(std::span<const uint8_t> bytes) {
  boost::system::error_code ec;
  json::value doc = json::parse(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), ec);
  if (ec || !doc.is_object()) return Error::format("not a JSON object ({})", ec.message());
  return std::move(doc.as_object());
}

ApiResult<json::object> parse_json_object(std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec) {
    return invalid_content(fmt::format("the request body is not valid JSON: {}", ec.message()));
  }
  if (!doc.is_object()) return invalid_content("the request body must be a JSON object");
  return std::move(doc.as_object());
}

std::optional<ApiError> check_known_fields(const json::object& o,
                                           std::initializer_list<std::string_view> known,
                                           std::string_view operation) {
  for (const auto& [k, v] : o) {
    if (std::find(known.begin(), known.end(), std::string_view(k)) == known.end()) {
      return invalid_content(fmt::format("unknown field '{}' in {}; this agent accepts: {}",
                                         std::string_view(k), operation,
                                         fmt::join(known, ", ")));
    }
  }
  return std::nullopt;
}

std::optional<ApiError> read_string(const json::object& o, std::string_view key, std::string& out) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_string()) return invalid_content(fmt::format("'{}' must be a JSON string", key));
  out = std::string(v->as_string());
  return std::nullopt;
}

std::optional<ApiError> read_uint(const json::object& o, std::string_view key, uint32_t& out) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_int64() && !v->is_uint64()) {
    return invalid_content(fmt::format("'{}' must be a JSON integer", key));
  }
  int64_t n = v->is_int64() ? v->as_int64()
                            : static_cast<int64_t>(std::min<uint64_t>(v->as_uint64(), INT64_MAX));
  out = n < 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(n, UINT32_MAX));
  return std::nullopt;
}

std::optional<ApiError> read_bool(const json::object& o, std::string_view key, bool& out) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_bool()) return invalid_content(fmt::format("'{}' must be a JSON boolean", key));
  out = v->as_bool();
  return std::nullopt;
}

std::optional<ApiError> read_string_list(const json::object& o, std::string_view key,
                                         std::vector<std::string>& out) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_array()) return invalid_content(fmt::format("'{}' must be a JSON array", key));
  std::vector<std::string> items;
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) {
      return invalid_content(fmt::format("every item of '{}' must be a JSON string", key));
    }
    items.emplace_back(item.as_string());
  }
  out = std::move(items);
  return std::nullopt;
}

ApiResult<std::vector<uint8_t>> read_zip_file(const json::object& o, std::string_view key,
                                              std::string_view field) {
  auto* zip = o.if_contains(key);
  if (zip == nullptr || zip->is_null()) return invalid_parameter(fmt::format("{} is required", field));
  if (!zip->is_string()) return invalid_content(fmt::format("'{}' must be a base64 JSON string", field));
  auto bytes = base64_decode(zip->as_string());
  if (!bytes) {
    return invalid_parameter(
        fmt::format("{} is not valid base64 (RFC 4648, padded, no line breaks)", field));
  }
  if (bytes->empty()) return invalid_parameter(fmt::format("{} is empty; send a ZIP package", field));
  return std::move(*bytes);
}

ApiResult<std::vector<uint8_t>> read_zip_package(const json::object& o, std::string_view key) {
  auto* package = o.if_contains(key);
  if (package == nullptr || package->is_null()) {
    return invalid_parameter(fmt::format("{} is required ({}.ZipFile, base64)", key, key));
  }
  if (!package->is_object()) return invalid_content(fmt::format("'{}' must be a JSON object", key));
  for (const auto& [k, v] : package->as_object()) {
    if (k != "ZipFile") {
      return invalid_parameter(fmt::format(
          "{}.{} is not supported: this agent has no S3 or image registry; send the package as "
          "{}.ZipFile (base64)",
          key, std::string_view(k), key));
    }
  }
  return read_zip_file(package->as_object(), "ZipFile", fmt::format("{}.ZipFile", key));
}

std::optional<ApiError> read_environment(const json::object& o,
                                         std::map<std::string, std::string>& out) {
  auto* env = o.if_contains("Environment");
  if (env == nullptr || env->is_null()) return std::nullopt;
  if (!env->is_object()) return invalid_content("'Environment' must be a JSON object");
  for (const auto& [k, v] : env->as_object()) {
    if (k != "Variables") {
      return invalid_content(
          fmt::format("unknown field 'Environment.{}'; only Variables", std::string_view(k)));
    }
  }
  std::map<std::string, std::string> vars;
  auto* given = env->as_object().if_contains("Variables");
  if (given != nullptr && !given->is_null()) {
    if (!given->is_object()) return invalid_content("'Environment.Variables' must be a JSON object");
    for (const auto& [k, v] : given->as_object()) {
      if (!v.is_string()) {
        return invalid_content(
            fmt::format("'Environment.Variables.{}' must be a JSON string", std::string_view(k)));
      }
      vars[std::string(k)] = std::string(v.as_string());
    }
  }
  out = std::move(vars);
  return std::nullopt;
}

}  // namespace thaw::agent
