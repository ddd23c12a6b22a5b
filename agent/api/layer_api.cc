#include "agent/api/layer_api.h"

#include <algorithm>
#include <charconv>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/base64.h"
#include "agent/api/function_config.h"
#include "agent/api/json_fields.h"

namespace thaw::agent {
namespace json = boost::json;

namespace {
constexpr std::string_view kAccount = "000000000000";
}  // namespace

std::string layer_arn(std::string_view name) {
  return fmt::format("arn:aws:lambda:{}:{}:layer:{}", kRegion, kAccount, name);
}

std::string layer_version_arn(std::string_view name, uint32_t version) {
  return fmt::format("{}:{}", layer_arn(name), version);
}

std::optional<uint32_t> parse_version_number(std::string_view text) {
  uint32_t n = 0;
  if (text.empty() || text.size() > 10 || text[0] == '0' ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

ApiResult<LayerVersionRef> parse_layer_version_arn(std::string_view arn) {
  std::string prefix = layer_arn("");
  auto bad = [&](std::string_view why) {
    return invalid_parameter(fmt::format(
        "Layers: '{}' is not a layer version ARN of this agent ({}); expected {}NAME:VERSION",
        arn.substr(0, 200), why, prefix));
  };
  if (!arn.starts_with("arn:aws:lambda:")) return bad("it must start with arn:aws:lambda:");
  if (!arn.starts_with(prefix)) return bad(fmt::format("region {} and account {}", kRegion, kAccount));
  std::string_view rest = arn.substr(prefix.size());
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return bad("no :VERSION at the end");
  LayerVersionRef ref{std::string(rest.substr(0, colon)), 0};
  auto version = parse_version_number(rest.substr(colon + 1));
  if (!version) return bad("the version must be a number from 1");
  if (auto e = layers::LayerRegistry::check_name(ref.name); !e) return bad(e.error().message);
  ref.version = *version;
  return ref;
}

ApiResult<PublishLayerRequest> parse_publish_layer_version(std::string_view name,
                                                           std::string_view body) {
  PublishLayerRequest req;
  req.name = std::string(name);
  if (auto e = layers::LayerRegistry::check_name(req.name); !e) {
    return invalid_parameter(e.error().message);
  }
  auto doc = parse_json_object(body);
  if (!doc) return doc.error();
  const json::object& o = *doc;
  if (auto e = check_known_fields(o, {"Content", "Description", "CompatibleRuntimes", "LicenseInfo",
                                      "CompatibleArchitectures"},
                                  "PublishLayerVersion")) {
    return *e;
  }
  if (auto e = read_string(o, "Description", req.description)) return *e;
  if (auto e = read_string(o, "LicenseInfo", req.license_info)) return *e;
  if (auto e = read_string_list(o, "CompatibleRuntimes", req.compatible_runtimes)) return *e;
  std::vector<std::string> architectures;
  if (auto e = read_string_list(o, "CompatibleArchitectures", architectures)) return *e;
  for (const auto& arch : architectures) {
    if (arch != "x86_64") return invalid_parameter("CompatibleArchitectures: this host runs x86_64 only");
  }
  auto zip = read_zip_package(o, "Content");
  if (!zip) return zip.error();
  req.zip = std::move(*zip);
  return req;
}

json::object layer_version_item_json(const layers::LayerVersion& v) {
  json::array runtimes;
  for (const auto& r : v.compatible_runtimes) runtimes.emplace_back(r);
  return {{"LayerVersionArn", layer_version_arn(v.name, v.version)},
          {"Version", v.version},
          {"Description", v.description},
          {"CreatedDate", v.created_date},
          {"CompatibleRuntimes", std::move(runtimes)},
          {"LicenseInfo", v.license_info},
          {"CompatibleArchitectures", json::array{"x86_64"}}};
}

json::object layer_version_json(const layers::LayerVersion& v) {
  json::object o = layer_version_item_json(v);
  o["LayerArn"] = layer_arn(v.name);
  o["Content"] = json::object{{"CodeSha256", hex_to_base64(v.digest).value_or("")},
                              {"CodeSize", v.zip_bytes}};
  return o;
}

}  // namespace thaw::agent
