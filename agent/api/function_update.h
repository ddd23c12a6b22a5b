// Request parsers of the operations that change a function after creation:
// UpdateFunctionCode, UpdateFunctionConfiguration and PublishVersion, with
// Lambda's field names, types and preconditions (RevisionId, CodeSha256).
// Used by update_routes.cc and version_routes.cc; FunctionRegistry applies them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "agent/api/function_config.h"

namespace thaw::agent {

struct UpdateCodeRequest {
  std::vector<uint8_t> zip;  // ZipFile, decoded
  bool publish = false;      // also publish a version
  std::string revision_id;   // precondition; empty = none
};

// The settings to change (types already checked); absent fields keep the
// current value when applied with read_function_settings().
struct UpdateConfigurationRequest {
  boost::json::object fields;
  std::string revision_id;
};

struct PublishVersionRequest {
  std::string code_sha256;  // base64 as Lambda returns it; empty = no check
  std::optional<std::string> description;  // default: $LATEST's description
  std::string revision_id;
};

ApiResult<UpdateCodeRequest> parse_update_function_code(std::string_view body);
ApiResult<UpdateConfigurationRequest> parse_update_function_configuration(std::string_view body);
ApiResult<PublishVersionRequest> parse_publish_version(std::string_view body);

// The checks every change of $LATEST or an alias shares: an empty `expected`
// passes; anything else must equal `current` (412 PreconditionFailed).
std::optional<ApiError> check_revision(std::string_view expected, std::string_view current,
                                       std::string_view what);

}  // namespace thaw::agent
