#include "runtime-api/lambda_environment.h"

#include <array>
#include <map>

namespace thaw {

bool is_reserved_variable(std::string_view name) {
  // Lambda docs, "Defined runtime environment variables": these are
  // reserved; TZ, LANG, PATH, LD_LIBRARY_PATH and the like may be overridden.
  static constexpr std::array<std::string_view, 14> kReserved = {
      "_HANDLER",          "_X_AMZN_TRACE_ID",       "AWS_DEFAULT_REGION",
      "AWS_REGION",        "AWS_EXECUTION_ENV",      "AWS_ACCESS_KEY",
      "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",  "AWS_SESSION_TOKEN",
      "LAMBDA_TASK_ROOT",  "LAMBDA_RUNTIME_DIR",     "AWS_LAMBDA_RUNTIME_API",
      "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS"};
  if (name.starts_with("AWS_LAMBDA_")) return true;
  for (auto r : kReserved) {
    if (name == r) return true;
  }
  return false;
}

std::vector<std::string> lambda_environment(const InitConfig& c,
                                            std::vector<std::string>* dropped,
                                            uint16_t api_port) {
  std::map<std::string, std::string> env;
  env["_HANDLER"] = c.handler;
  env["AWS_REGION"] = c.region;
  env["AWS_DEFAULT_REGION"] = c.region;
  if (!c.runtime.empty() && c.runtime != "provided") {
    env["AWS_EXECUTION_ENV"] = "AWS_Lambda_" + c.runtime;
  }
  env["AWS_LAMBDA_FUNCTION_NAME"] = c.function_name;
  env["AWS_LAMBDA_FUNCTION_VERSION"] = c.function_version;
  env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = std::to_string(c.memory_mb);
  env["AWS_LAMBDA_LOG_GROUP_NAME"] = c.log_group;
  env["AWS_LAMBDA_LOG_STREAM_NAME"] = c.log_stream;
  env["AWS_LAMBDA_INITIALIZATION_TYPE"] = c.initialization_type;
  env["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:" + std::to_string(api_port);
  env["LAMBDA_TASK_ROOT"] = kTaskRoot;
  env["LAMBDA_RUNTIME_DIR"] = kRuntimeDir;
  if (!c.credentials.access_key_id.empty()) {
    env["AWS_ACCESS_KEY_ID"] = c.credentials.access_key_id;
    env["AWS_SECRET_ACCESS_KEY"] = c.credentials.secret_access_key;
    if (!c.credentials.session_token.empty()) {
      env["AWS_SESSION_TOKEN"] = c.credentials.session_token;
    }
  }
  env["TZ"] = ":UTC";
  env["LANG"] = "en_US.UTF-8";
  env["PATH"] = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin";
  env["LD_LIBRARY_PATH"] =
      "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:"
      "/opt/lib";
  for (const auto& [k, v] : c.environment) {
    if (is_reserved_variable(k)) {
      if (dropped) dropped->push_back(k);
      continue;
    }
    env[k] = v;
  }
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

Result<std::string> find_bootstrap(const InitConfig& c,
                                   const std::function<bool(const std::string&)>& is_executable) {
  if (!c.bootstrap.empty()) {
    if (is_executable(c.bootstrap)) return c.bootstrap;
    return Error::format("Couldn't find valid bootstrap(s): [{}]: configure an executable path",
                         c.bootstrap);
  }
  // A managed runtime (python3.11, nodejs20) always starts its own
  // bootstrap; only custom runtimes (provided*) look in the code and layers.
  const std::string runtime_bootstrap = std::string(kRuntimeDir) + "/bootstrap";
  bool managed = !c.runtime.empty() && !c.runtime.starts_with("provided");
  if (managed) {
    if (is_executable(runtime_bootstrap)) return runtime_bootstrap;
    return Error::format("Couldn't find valid bootstrap(s): [{}]: the {} runtime image is "
                         "missing its bootstrap",
                         runtime_bootstrap, c.runtime);
  }
  const std::array<std::string, 3> candidates = {std::string(kTaskRoot) + "/bootstrap",
                                                 "/opt/bootstrap", runtime_bootstrap};
  for (const auto& path : candidates) {
    if (is_executable(path)) return path;
  }
  // Lambda's own wording for Runtime.InvalidEntrypoint.
  return Error::format(
      "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap "
      "/var/runtime/bootstrap]: ship an executable 'bootstrap' in the function ZIP or a layer");
}

}  // namespace thaw
