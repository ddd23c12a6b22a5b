// A function's configuration ($LATEST or a published version): the
// CreateFunction request parser with Lambda's validation rules, the
// FunctionConfiguration JSON the API returns, and the versioned record thawd
// persists under <state>/functions/. Used by the registry and the routes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
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
inline constexpr size_t kMaxLayersPerFunction = 5;

// A layer version attached to a function. The image digest is captured when
// the layer is attached: layer versions are immutable and, as in Lambda, a
// function keeps working after DeleteLayerVersion.
struct FunctionLayer {
  std::string arn;  // arn:aws:lambda:REGION:ACCOUNT:layer:NAME:N
  std::string digest;
  uint64_t code_size = 0;
  bool operator==(const FunctionLayer&) const = default;
};

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
  std::string revision_id;    // a UUID; changes on every update of this config
  std::vector<FunctionLayer> layers;  // mount order: later layers win in /opt
  // $LATEST only: the number PublishVersion gives next (never reused).
  uint32_t next_version = 1;
};

struct CreateFunctionRequest {
  FunctionConfig config;        // code_digest/code_size/last_modified/layers unset
  std::vector<uint8_t> zip;     // Code.ZipFile, decoded
  std::vector<std::string> layer_arns;  // Layers, checked for shape, not existence
  bool publish = false;         // Publish: also publish version 1
};

// Reads the settings CreateFunction and UpdateFunctionConfiguration share
// (Runtime, Handler, Description, Role, MemorySize, Timeout, Environment,
// EphemeralStorage, Layers) over `config`: absent fields keep their value.
// Checks types and the Layers list's shape; validate the config afterwards.
std::optional<ApiError> read_function_settings(const boost::json::object& o, FunctionConfig& config,
                                               std::optional<std::vector<std::string>>& layer_arns);

// Parses and validates a CreateFunction body. Errors name the field and the
// rule: bad JSON and wrong types are InvalidRequestContentException, values
// out of range InvalidParameterValueException.
ApiResult<CreateFunctionRequest> parse_create_function(std::string_view body);
// Empty when `name` is a valid plain function name (1-64 of [A-Za-z0-9_-]).
std::optional<ApiError> check_function_name(std::string_view name);
bool is_provided_runtime(std::string_view runtime);
// Lambda's rules on every field of a config (name, runtime, handler, sizes,
// environment); shared by the request parsers and the record decoder.
std::optional<ApiError> validate_function_config(const FunctionConfig& config);
// The shape of a Layers list: at most 5 well-formed layer version ARNs of
// this region, no layer twice.
std::optional<ApiError> check_layer_list(const std::vector<std::string>& arns);
// Same code and settings (Description, RevisionId, LastModified and version
// aside): PublishVersion of an unchanged $LATEST returns the existing version.
bool same_code_and_settings(const FunctionConfig& a, const FunctionConfig& b);
// A fresh RFC 4122 version 4 UUID, Lambda's RevisionId form.
std::string new_revision_id();

// FunctionConfiguration as GetFunction/ListFunctions/CreateFunction return it
// (FunctionArn qualified with ":N" for a published version).
boost::json::object function_configuration_json(const FunctionConfig& config,
                                                 std::string_view region);
std::string function_arn(std::string_view region, std::string_view name);
// "...:function:NAME:QUALIFIER" (unqualified when `qualifier` is empty).
std::string qualified_function_arn(std::string_view name, std::string_view qualifier);

// The on-disk record (JSON with a "record_version"); decoding re-validates.
// Version 1 records (before versions and layers) load as $LATEST.
std::string encode_function_record(const FunctionConfig& config);
Result<FunctionConfig> decode_function_record(std::span<const uint8_t> bytes);

}  // namespace thaw::agent
