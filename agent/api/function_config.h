// A function's $LATEST configuration: the CreateFunction request parser with
// Lambda's validation rules, the FunctionConfiguration JSON the API returns,
// and the versioned record thawd persists under <state>/functions/.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "agent/api/lambda_error.h"
#include "common/result.h"

namespace thaw::agent {

// Lambda's limits (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
inline constexpr std::string_view kRegion = "us-east-1";  // the agent answers as one region
inline constexpr uint32_t kMinMemoryMb = 128;
inline constexpr uint32_t kMaxMemoryMb = 10240;
inline constexpr uint32_t kMaxTimeoutSeconds = 900;
inline constexpr size_t kMaxEnvironmentBytes = 4096;
inline constexpr size_t kMaxFunctionNameBytes = 64;
inline constexpr size_t kMaxHandlerBytes = 128;
inline constexpr size_t kMaxDescriptionBytes = 256;
inline constexpr uint32_t kMinEphemeralMb = 512;
inline constexpr uint32_t kMaxEphemeralMb = 10240;

struct FunctionConfig {
  std::string name;
  // "$LATEST" (mutable) or a published version "1", "2", ... (immutable).
  std::string version = "$LATEST";
  std::string runtime;  // provided, provided.al2, provided.al2023, python3.11, nodejs20.x
  std::string handler;
  std::string description;
  std::string role;
  uint32_t memory_mb = 128;
  uint32_t timeout_s = 3;
  uint32_t ephemeral_mb = 512;
  std::map<std::string, std::string> environment;
  std::string code_digest;  // hex SHA-256 of the ZIP (layers ImageStore key)
  uint64_t code_size = 0;   // ZIP bytes
  std::string last_modified;  // 2026-11-23T12:00:00.000+0000
};

struct CreateFunctionRequest {
  FunctionConfig config;        // code_digest/code_size/last_modified unset
  std::vector<uint8_t> zip;     // Code.ZipFile, decoded
};

// Parses and validates a CreateFunction body. Errors name the field and the
// rule: bad JSON and wrong types are InvalidRequestContentException, values
// out of range InvalidParameterValueException.
ApiResult<CreateFunctionRequest> parse_create_function(std::string_view body);
// Empty when `name` is a valid plain function name (1-64 of [A-Za-z0-9_-]).
std::optional<ApiError> check_function_name(std::string_view name);
bool is_provided_runtime(std::string_view runtime);

// FunctionConfiguration as GetFunction/ListFunctions/CreateFunction return it.
boost::json::object function_configuration_json(const FunctionConfig& config,
                                                 std::string_view region);
std::string function_arn(std::string_view region, std::string_view name);

// The on-disk record (JSON with a "record_version"); decoding re-validates.
std::string encode_function_record(const FunctionConfig& config);
Result<FunctionConfig> decode_function_record(std::span<const uint8_t> bytes);

}  // namespace thaw::agent
