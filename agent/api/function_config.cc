#include "agent/api/function_config.h"

#include <algorithm>
#include <array>
#include <random>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/base64.h"
#include "agent/api/json_fields.h"
#include "agent/api/layer_api.h"

namespace thaw::agent {
namespace json = boost::json;

namespace {

constexpr int kRecordVersion = 2;  // 2: version, revision_id, layers, next_version
constexpr std::array kRuntimes = {"provided", "provided.al2", "provided.al2023", "python3.11",
                                  "nodejs20.x"};
// Lambda sets these itself; a function may not (Lambda "Defined runtime
// environment variables").
const std::set<std::string, std::less<>> kReservedEnv = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"};

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

std::optional<ApiError> check_env_key(const std::string& key) {
  bool ok = key.size() >= 2 && ((key[0] >= 'a' && key[0] <= 'z') || (key[0] >= 'A' && key[0] <= 'Z'));
  for (char c : key) ok = ok && (is_name_char(c) && c != '-');
  if (!ok) {
    return invalid_parameter(fmt::format(
        "Environment variable name '{}' must match [a-zA-Z][a-zA-Z0-9_]+", key));
  }
  if (kReservedEnv.contains(key)) {
    return invalid_parameter(fmt::format(
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have provided contains reserved keys that are currently not supported "
        "for modification. Reserved keys used in this request: {}",
        key));
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> validate_function_config(const FunctionConfig& c) {
  if (auto e = check_function_name(c.name)) return e;
  if (std::find(kRuntimes.begin(), kRuntimes.end(), c.runtime) == kRuntimes.end()) {
    return invalid_parameter(fmt::format(
        "Value '{}' at 'runtime' failed to satisfy constraint: Member must satisfy enum value "
        "set: [provided, provided.al2, provided.al2023, python3.11, nodejs20.x]",
        c.runtime));
  }
  if (c.handler.empty() && !is_provided_runtime(c.runtime)) {
    return invalid_parameter(fmt::format("Handler is required for runtime {}", c.runtime));
  }
  if (c.handler.size() > kMaxHandlerBytes ||
      std::any_of(c.handler.begin(), c.handler.end(),
                  [](char ch) { return ch <= ' ' || ch == 0x7f; })) {
    return invalid_parameter(fmt::format(
        "Value at 'handler' failed to satisfy constraint: Member must have length less than or "
        "equal to {} and contain no whitespace",
        kMaxHandlerBytes));
  }
  if (c.description.size() > kMaxDescriptionBytes) {
    return invalid_parameter(fmt::format("Description is {} bytes; the limit is {}",
                                         c.description.size(), kMaxDescriptionBytes));
  }
  if (c.memory_mb < kMinMemoryMb || c.memory_mb > kMaxMemoryMb) {
    return invalid_parameter(fmt::format(
        "Value '{}' at 'memorySize' failed to satisfy constraint: Member must have value between "
        "{} and {} (MB)",
        c.memory_mb, kMinMemoryMb, kMaxMemoryMb));
  }
  if (c.timeout_s < 1 || c.timeout_s > kMaxTimeoutSeconds) {
    return invalid_parameter(fmt::format(
        "Value '{}' at 'timeout' failed to satisfy constraint: Member must have value between 1 "
        "and {} (seconds)",
        c.timeout_s, kMaxTimeoutSeconds));
  }
  if (c.ephemeral_mb < kMinEphemeralMb || c.ephemeral_mb > kMaxEphemeralMb) {
    return invalid_parameter(fmt::format(
        "Value '{}' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have "
        "value between {} and {} (MB)",
        c.ephemeral_mb, kMinEphemeralMb, kMaxEphemeralMb));
  }
  json::object vars;
  for (const auto& [k, v] : c.environment) {
    if (auto e = check_env_key(k)) return e;
    vars[k] = v;
  }
  // Lambda measures the variables as serialized JSON.
  size_t bytes = c.environment.empty() ? 0 : json::serialize(vars).size();
  if (bytes > kMaxEnvironmentBytes) {
    return invalid_parameter(fmt::format(
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have provided exceeded the 4KB limit ({} bytes, limit {}); move large "
        "values into the code package",
        bytes, kMaxEnvironmentBytes));
  }
  return std::nullopt;
}

bool is_provided_runtime(std::string_view runtime) { return runtime.starts_with("provided"); }

std::optional<ApiError> check_function_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxFunctionNameBytes ||
      !std::all_of(name.begin(), name.end(), is_name_char)) {
    return invalid_parameter(fmt::format(
        "Value '{}' at 'functionName' failed to satisfy constraint: Member must be 1 to {} "
        "characters of [a-zA-Z0-9-_]",
        name.substr(0, 80), kMaxFunctionNameBytes));
  }
  return std::nullopt;
}

std::optional<ApiError> read_function_settings(const json::object& o, FunctionConfig& c,
                                               std::optional<std::vector<std::string>>& layer_arns) {
  for (auto [key, out] : {std::pair<std::string_view, std::string*>{"Runtime", &c.runtime},
                          {"Handler", &c.handler},
                          {"Description", &c.description},
                          {"Role", &c.role}}) {
    if (auto e = read_string(o, key, *out)) return e;
  }
  if (auto e = read_uint(o, "MemorySize", c.memory_mb)) return e;
  if (auto e = read_uint(o, "Timeout", c.timeout_s)) return e;
  if (auto e = read_environment(o, c.environment)) return e;
  if (auto* s = o.if_contains("EphemeralStorage"); s && !s->is_null()) {
    if (!s->is_object()) return invalid_content("'EphemeralStorage' must be a JSON object");
    if (auto e = check_known_fields(s->as_object(), {"Size"}, "EphemeralStorage")) return e;
    if (auto e = read_uint(s->as_object(), "Size", c.ephemeral_mb)) return e;
  }
  if (auto* l = o.if_contains("Layers"); l && !l->is_null()) {
    std::vector<std::string> arns;
    if (auto e = read_string_list(o, "Layers", arns)) return e;
    if (auto e = check_layer_list(arns)) return e;
    layer_arns = std::move(arns);
  }
  return std::nullopt;
}

std::optional<ApiError> check_layer_list(const std::vector<std::string>& arns) {
  if (arns.size() > kMaxLayersPerFunction) {
    return invalid_parameter(fmt::format(
        "Layers lists {} layer versions; a function may use at most {}: merge layers",
        arns.size(), kMaxLayersPerFunction));
  }
  std::set<std::string> names;
  for (const auto& arn : arns) {
    auto ref = parse_layer_version_arn(arn);
    if (!ref) return ref.error();
    if (!names.insert(ref->name).second) {
      return invalid_parameter(fmt::format(
          "Layers names two versions of layer '{}'; a function may use one version of a layer",
          ref->name));
    }
  }
  return std::nullopt;
}

ApiResult<CreateFunctionRequest> parse_create_function(std::string_view body) {
  auto doc = parse_json_object(body);
  if (!doc) return doc.error();
  const json::object& o = *doc;
  if (auto e = check_known_fields(o,
                                  {"FunctionName", "Runtime", "Handler", "Code", "MemorySize",
                                   "Timeout", "Environment", "Description", "Role", "Publish",
                                   "PackageType", "Architectures", "Layers", "EphemeralStorage"},
                                  "CreateFunction")) {
    return *e;
  }
  CreateFunctionRequest req;
  FunctionConfig& c = req.config;
  if (auto e = read_string(o, "FunctionName", c.name)) return *e;
  if (!o.contains("FunctionName")) return invalid_parameter("FunctionName is required");
  if (!o.contains("Runtime")) return invalid_parameter("Runtime is required (PackageType Zip)");
  std::optional<std::vector<std::string>> layers;
  if (auto e = read_function_settings(o, c, layers)) return *e;
  req.layer_arns = layers.value_or(std::vector<std::string>{});
  std::string package_type = "Zip";
  if (auto e = read_string(o, "PackageType", package_type)) return *e;
  if (package_type != "Zip") {
    return invalid_parameter(fmt::format("PackageType '{}' is not supported; use Zip", package_type));
  }
  if (auto e = read_bool(o, "Publish", req.publish)) return *e;
  std::vector<std::string> architectures;
  if (auto e = read_string_list(o, "Architectures", architectures)) return *e;
  for (const auto& arch : architectures) {
    if (arch != "x86_64") return invalid_parameter("Architectures: this host runs x86_64 only");
  }
  if (auto e = validate_function_config(c)) return *e;

  auto zip = read_zip_package(o, "Code");
  if (!zip) return zip.error();
  req.zip = std::move(*zip);
  return req;
}

bool same_code_and_settings(const FunctionConfig& a, const FunctionConfig& b) {
  return a.name == b.name && a.runtime == b.runtime && a.handler == b.handler &&
         a.role == b.role && a.memory_mb == b.memory_mb && a.timeout_s == b.timeout_s &&
         a.ephemeral_mb == b.ephemeral_mb && a.environment == b.environment &&
         a.code_digest == b.code_digest && a.layers == b.layers;
}

std::string new_revision_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = rng(), lo = rng();
  hi = (hi & ~0xf000ull) | 0x4000ull;                     // version 4
  lo = (lo & ~(3ull << 62)) | (2ull << 62);               // variant 10xx
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff,
                     hi & 0xffff, lo >> 48, lo & 0xffffffffffffull);
}

std::string function_arn(std::string_view region, std::string_view name) {
  return fmt::format("arn:aws:lambda:{}:000000000000:function:{}", region, name);
}

std::string qualified_function_arn(std::string_view name, std::string_view qualifier) {
  std::string arn = function_arn(kRegion, name);
  if (!qualifier.empty()) arn += fmt::format(":{}", qualifier);
  return arn;
}

json::object function_configuration_json(const FunctionConfig& c, std::string_view region) {
  json::object vars;
  for (const auto& [k, v] : c.environment) vars[k] = v;
  std::string arn = function_arn(region, c.name);
  if (c.version != "$LATEST") arn += ":" + c.version;
  json::object o{
      {"FunctionName", c.name},
      {"FunctionArn", arn},
      {"Runtime", c.runtime},
      {"Handler", c.handler},
      {"Role", c.role},
      {"CodeSize", c.code_size},
      {"CodeSha256", hex_to_base64(c.code_digest).value_or("")},
      {"Description", c.description},
      {"Timeout", c.timeout_s},
      {"MemorySize", c.memory_mb},
      {"LastModified", c.last_modified},
      {"Version", c.version},
      {"RevisionId", c.revision_id},
      {"State", "Active"},
      {"LastUpdateStatus", "Successful"},
      {"PackageType", "Zip"},
      {"Architectures", json::array{"x86_64"}},
      {"EphemeralStorage", json::object{{"Size", c.ephemeral_mb}}},
  };
  if (!c.environment.empty()) o["Environment"] = json::object{{"Variables", vars}};
  if (!c.layers.empty()) {
    json::array layers;
    for (const auto& l : c.layers) layers.push_back(json::object{{"Arn", l.arn}, {"CodeSize", l.code_size}});
    o["Layers"] = std::move(layers);
  }
  return o;
}

std::string encode_function_record(const FunctionConfig& c) {
  json::object env;
  for (const auto& [k, v] : c.environment) env[k] = v;
  json::array layers;
  for (const auto& l : c.layers) {
    layers.push_back(json::object{{"arn", l.arn}, {"digest", l.digest}, {"code_size", l.code_size}});
  }
  json::object o{{"record_version", kRecordVersion}, {"name", c.name},
                 {"version", c.version},             {"runtime", c.runtime},
                 {"handler", c.handler},             {"description", c.description},
                 {"role", c.role},                   {"memory_mb", c.memory_mb},
                 {"timeout_s", c.timeout_s},         {"ephemeral_mb", c.ephemeral_mb},
                 {"environment", env},               {"code_digest", c.code_digest},
                 {"code_size", c.code_size},         {"last_modified", c.last_modified},
                 {"revision_id", c.revision_id},     {"layers", layers},
                 {"next_version", c.next_version}};
  return json::serialize(o);
}

namespace {

bool is_hex_digest(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char ch) {
           return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
         });
}

// The fields record_version 2 added; a version 1 record is a $LATEST.
void decode_v2_fields(const json::object& o, FunctionConfig& c) {
  c.version = o.at("version").as_string();
  c.revision_id = o.at("revision_id").as_string();
  c.next_version = o.at("next_version").to_number<uint32_t>();
  for (const auto& l : o.at("layers").as_array()) {
    const json::object& lo = l.as_object();
    c.layers.push_back({std::string(lo.at("arn").as_string()),
                        std::string(lo.at("digest").as_string()),
                        lo.at("code_size").to_number<uint64_t>()});
  }
}

std::optional<std::string> check_record(const FunctionConfig& c) {
  if (auto e = validate_function_config(c)) return "invalid record: " + e->message;
  if (!is_hex_digest(c.code_digest)) return "code_digest is not 64 lowercase hex digits";
  bool numbered = !c.version.empty() && c.version.size() <= 10 &&
                  std::all_of(c.version.begin(), c.version.end(),
                              [](char ch) { return ch >= '0' && ch <= '9'; }) &&
                  c.version[0] != '0';
  if (c.version != "$LATEST" && !numbered) {
    return fmt::format("version '{}' is neither $LATEST nor a version number", c.version);
  }
  if (c.revision_id.empty() || c.revision_id.size() > 64) return "revision_id is empty or too long";
  if (c.next_version == 0) return "next_version is 0";
  if (c.layers.size() > kMaxLayersPerFunction) return "more than 5 layers";
  for (const auto& l : c.layers) {
    if (!parse_layer_version_arn(l.arn) || !is_hex_digest(l.digest)) {
      return fmt::format("layer '{}' has a malformed ARN or digest", l.arn);
    }
  }
  return std::nullopt;
}

}  // namespace

Result<FunctionConfig> decode_function_record(std::span<const uint8_t> bytes) {
  auto doc = parse_record_object(bytes);
  if (!doc) return std::move(doc).error();
  const json::object& o = *doc;
  FunctionConfig c;
  try {
    int64_t record_version = o.at("record_version").to_number<int64_t>();
    if (record_version != 1 && record_version != kRecordVersion) {
      return Error::format("record_version {} is not 1 or {}; written by a different thawd",
                           record_version, kRecordVersion);
    }
    c.name = o.at("name").as_string();
    c.runtime = o.at("runtime").as_string();
    c.handler = o.at("handler").as_string();
    c.description = o.at("description").as_string();
    c.role = o.at("role").as_string();
    c.memory_mb = o.at("memory_mb").to_number<uint32_t>();
    c.timeout_s = o.at("timeout_s").to_number<uint32_t>();
    c.ephemeral_mb = o.at("ephemeral_mb").to_number<uint32_t>();
    for (const auto& [k, v] : o.at("environment").as_object()) {
      c.environment[std::string(k)] = std::string(v.as_string());
    }
    c.code_digest = o.at("code_digest").as_string();
    c.code_size = o.at("code_size").to_number<uint64_t>();
    c.last_modified = o.at("last_modified").as_string();
    if (record_version == 1) {
      c.revision_id = new_revision_id();
    } else {
      decode_v2_fields(o, c);
    }
  } catch (const std::exception& e) {
    // Boost.JSON's accessors throw on a missing key or wrong type: a damaged record.
    return Error::format("a field is missing or has the wrong type: {}", e.what());
  }
  if (auto e = check_record(c)) return Error{*e, 0};
  return c;
}

}  // namespace thaw::agent
