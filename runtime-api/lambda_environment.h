// What the function's runtime process sees: the Lambda environment
// variables and the bootstrap that starts it. Pure functions used by
// thaw-init, unit-tested on their own.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime-api/messages.h"

namespace thaw {

inline constexpr char kTaskRoot[] = "/var/task";
inline constexpr char kRuntimeDir[] = "/var/runtime";

// "NAME=value" strings for execve(): Lambda's reserved variables from the
// config, then the function's own variables; a function variable that
// names a reserved one (AWS_REGION, _HANDLER, ...) is dropped and listed
// in `dropped` so the caller can log it.
std::vector<std::string> lambda_environment(const InitConfig& config,
                                            std::vector<std::string>* dropped = nullptr,
                                            uint16_t api_port = 9001);

// True for variables Lambda reserves (the function may not set them).
bool is_reserved_variable(std::string_view name);

// The bootstrap to exec: config.bootstrap when set; for a managed runtime
// /var/runtime/bootstrap; for `provided` the first executable of
// /var/task/bootstrap, /opt/bootstrap, /var/runtime/bootstrap.
// `is_executable` is access(X_OK) in thaw-init and a fake in tests.
Result<std::string> find_bootstrap(const InitConfig& config,
                                   const std::function<bool(const std::string&)>& is_executable);

}  // namespace thaw
