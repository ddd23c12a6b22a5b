#include "agent/api/function_config.h"

#include <algorithm>
#include <array>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/base64.h"

namespace thaw::agent {
namespace json = boost::json;

namespace {

constexpr int kRecordVersion = 1;
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

// Shared by the request parser and the record decoder.
std::optional<ApiError> validate(const FunctionConfig& c) {
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

// Typed field readers: a wrong JSON type names the field and what it must be.
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
  int64_t n = v->is_int64() ? v->as_int64() : static_cast<int64_t>(std::min<uint64_t>(
                                                   v->as_uint64(), INT64_MAX));
  // Out of range values keep a sentinel that validate() reports with the limit.
  out = n < 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(n, UINT32_MAX));
  return std::nullopt;
}

std::optional<ApiError> read_environment(const json::object& o, FunctionConfig& c) {
  auto* env = o.if_contains("Environment");
  if (env == nullptr || env->is_null()) return std::nullopt;
  if (!env->is_object()) return invalid_content("'Environment' must be a JSON object");
  for (const auto& [k, v] : env->as_object()) {
    if (k != "Variables") {
      return invalid_content(fmt::format("unknown field 'Environment.{}'; only Variables", std::string_view(k)));
    }
  }
  auto* vars = env->as_object().if_contains("Variables");
  if (vars == nullptr || vars->is_null()) return std::nullopt;
  if (!vars->is_object()) return invalid_content("'Environment.Variables' must be a JSON object");
  for (const auto& [k, v] : vars->as_object()) {
    if (!v.is_string()) {
      return invalid_content(
          fmt::format("'Environment.Variables.{}' must be a JSON string", std::string_view(k)));
    }
    c.environment[std::string(k)] = std::string(v.as_string());
  }
  return std::nullopt;
}

}  // namespace

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

ApiResult<CreateFunctionRequest> parse_create_function(std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec) {
    return invalid_content(fmt::format("the request body is not valid JSON: {}", ec.message()));
  }
  if (!doc.is_object()) return invalid_content("the request body must be a JSON object");
  const json::object& o = doc.as_object();
  static const std::set<std::string, std::less<>> kKnown = {
      "FunctionName", "Runtime", "Handler", "Code", "MemorySize", "Timeout", "Environment",
      "Description", "Role", "Publish", "PackageType", "Architectures", "Layers",
      "EphemeralStorage"};
  for (const auto& [k, v] : o) {
    if (!kKnown.contains(std::string_view(k))) {
      return invalid_content(fmt::format(
          "unknown field '{}' in CreateFunction; this agent accepts: FunctionName, Runtime, "
          "Handler, Code, MemorySize, Timeout, Environment, Description, Role, PackageType, "
          "Architectures, EphemeralStorage",
          std::string_view(k)));
    }
  }
  CreateFunctionRequest req;
  FunctionConfig& c = req.config;
  for (auto [key, out] : {std::pair<std::string_view, std::string*>{"FunctionName", &c.name},
                          {"Runtime", &c.runtime},
                          {"Handler", &c.handler},
                          {"Description", &c.description},
                          {"Role", &c.role}}) {
    if (auto e = read_string(o, key, *out)) return *e;
  }
  if (!o.contains("FunctionName")) return invalid_parameter("FunctionName is required");
  if (!o.contains("Runtime")) return invalid_parameter("Runtime is required (PackageType Zip)");
  if (auto e = read_uint(o, "MemorySize", c.memory_mb)) return *e;
  if (auto e = read_uint(o, "Timeout", c.timeout_s)) return *e;
  if (auto e = read_environment(o, c)) return *e;
  std::string package_type = "Zip";
  if (auto e = read_string(o, "PackageType", package_type)) return *e;
  if (package_type != "Zip") {
    return invalid_parameter(fmt::format("PackageType '{}' is not supported; use Zip", package_type));
  }
  if (auto* p = o.if_contains("Publish"); p && !p->is_null()) {
    if (!p->is_bool()) return invalid_content("'Publish' must be a JSON boolean");
    if (p->as_bool()) {
      return invalid_parameter("Publish=true is not supported yet: versions are not implemented; "
                               "create the function without Publish and invoke $LATEST");
    }
  }
  if (auto* a = o.if_contains("Architectures"); a && !a->is_null()) {
    if (!a->is_array()) return invalid_content("'Architectures' must be a JSON array");
    for (const auto& arch : a->as_array()) {
      if (!arch.is_string() || arch.as_string() != "x86_64") {
        return invalid_parameter("Architectures: this host runs x86_64 only");
      }
    }
  }
  if (auto* l = o.if_contains("Layers"); l && !l->is_null()) {
    if (!l->is_array()) return invalid_content("'Layers' must be a JSON array");
    if (!l->as_array().empty()) {
      return invalid_parameter("Layers are not supported by this agent yet; bundle the layer's "
                               "files into the function's ZIP");
    }
  }
  if (auto* s = o.if_contains("EphemeralStorage"); s && !s->is_null()) {
    if (!s->is_object()) return invalid_content("'EphemeralStorage' must be a JSON object");
    if (auto e = read_uint(s->as_object(), "Size", c.ephemeral_mb)) return *e;
  }
  if (auto e = validate(c)) return *e;

  auto* code = o.if_contains("Code");
  if (code == nullptr || code->is_null()) return invalid_parameter("Code is required (Code.ZipFile)");
  if (!code->is_object()) return invalid_content("'Code' must be a JSON object");
  for (const auto& [k, v] : code->as_object()) {
    if (k != "ZipFile") {
      return invalid_parameter(fmt::format(
          "Code.{} is not supported: this agent has no S3 or image registry; send the package "
          "as Code.ZipFile (base64)",
          std::string_view(k)));
    }
  }
  auto* zip = code->as_object().if_contains("ZipFile");
  if (zip == nullptr) return invalid_parameter("Code.ZipFile is required");
  if (!zip->is_string()) return invalid_content("'Code.ZipFile' must be a base64 JSON string");
  auto bytes = base64_decode(zip->as_string());
  if (!bytes) {
    return invalid_parameter("Code.ZipFile is not valid base64 (RFC 4648, padded, no line breaks)");
  }
  if (bytes->empty()) return invalid_parameter("Code.ZipFile is empty; send a ZIP package");
  req.zip = std::move(*bytes);
  return req;
}

std::string function_arn(std::string_view region, std::string_view name) {
  return fmt::format("arn:aws:lambda:{}:000000000000:function:{}", region, name);
}

json::object function_configuration_json(const FunctionConfig& c, std::string_view region) {
  json::object vars;
  for (const auto& [k, v] : c.environment) vars[k] = v;
  json::object o{
      {"FunctionName", c.name},
      {"FunctionArn", function_arn(region, c.name)},
      {"Runtime", c.runtime},
      {"Handler", c.handler},
      {"Role", c.role},
      {"CodeSize", c.code_size},
      {"CodeSha256", hex_to_base64(c.code_digest).value_or("")},
      {"Description", c.description},
      {"Timeout", c.timeout_s},
      {"MemorySize", c.memory_mb},
      {"LastModified", c.last_modified},
      {"Version", "$LATEST"},
      {"State", "Active"},
      {"LastUpdateStatus", "Successful"},
      {"PackageType", "Zip"},
      {"Architectures", json::array{"x86_64"}},
      {"EphemeralStorage", json::object{{"Size", c.ephemeral_mb}}},
  };
  if (!c.environment.empty()) o["Environment"] = json::object{{"Variables", vars}};
  return o;
}

std::string encode_function_record(const FunctionConfig& c) {
  json::object env;
  for (const auto& [k, v] : c.environment) env[k] = v;
  json::object o{{"record_version", kRecordVersion}, {"name", c.name},
                 {"runtime", c.runtime},             {"handler", c.handler},
                 {"description", c.description},     {"role", c.role},
                 {"memory_mb", c.memory_mb},         {"timeout_s", c.timeout_s},
                 {"ephemeral_mb", c.ephemeral_mb},   {"environment", env},
                 {"code_digest", c.code_digest},     {"code_size", c.code_size},
                 {"last_modified", c.last_modified}};
  return json::serialize(o);
}

Result<FunctionConfig> decode_function_record(std::span<const uint8_t> bytes) {
  boost::system::error_code ec;
  json::value doc = json::parse(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), ec);
  if (ec || !doc.is_object()) return Error::format("not a JSON object ({})", ec.message());
  const json::object& o = doc.as_object();
  FunctionConfig c;
  try {
    if (o.at("record_version").to_number<int64_t>() != kRecordVersion) {
      return Error::format("record_version {} is not {}; written by a different thawd",
                           json::serialize(o.at("record_version")), kRecordVersion);
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
  } catch (const std::exception& e) {
    // Boost.JSON's accessors throw on a missing key or wrong type: a damaged record.
    return Error::format("a field is missing or has the wrong type: {}", e.what());
  }
  if (auto e = validate(c)) return Error::format("invalid record: {}", e->message);
  if (c.code_digest.size() != 64) return Error::format("code_digest is not 64 hex digits");
  return c;
}

}  // namespace thaw::agent
