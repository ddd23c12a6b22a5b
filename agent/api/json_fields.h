// Typed readers for the fields of Lambda API request bodies: a wrong JSON type
// names the field and what it must be (InvalidRequestContentException), an
// unknown field is named with the list the operation accepts. Used by every
// request parser in agent/api/.
#pragma once

#include <cstdint>
#include <initializer_list>
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

// A persisted record's bytes as a JSON object (records are thawd's own
// files, so errors are plain Result errors for the load warnings).
Result<boost::json::object> parse_record_object(std::span<const uint8_t> bytes);

// Parses `body` as a JSON object; anything else is InvalidRequestContent.
ApiResult<boost::json::object> parse_json_object(std::string_view body);

// The first key of `o` not in `known`, reported as "unknown field 'K' in
// OPERATION; this agent accepts: A, B, ...".
std::optional<ApiError> check_known_fields(const boost::json::object& o,
                                           std::initializer_list<std::string_view> known,
                                           std::string_view operation);

// Each reader leaves `out` alone when the key is absent or null. Integers out
// of uint32 range are clamped (0 or UINT32_MAX) so range checks report them.
std::optional<ApiError> read_string(const boost::json::object& o, std::string_view key,
                                    std::string& out);
std::optional<ApiError> read_uint(const boost::json::object& o, std::string_view key,
                                  uint32_t& out);
std::optional<ApiError> read_bool(const boost::json::object& o, std::string_view key, bool& out);
// A JSON array of strings.
std::optional<ApiError> read_string_list(const boost::json::object& o, std::string_view key,
                                         std::vector<std::string>& out);
// A base64 ZIP package (`field` names it in errors: "Code.ZipFile"); absent,
// not a string, not base64 or empty is an error.
ApiResult<std::vector<uint8_t>> read_zip_file(const boost::json::object& o, std::string_view key,
                                              std::string_view field);
// A package object {"ZipFile": base64} under `key` ("Code", "Content"): it
// is required, and any other member (S3Bucket, ImageUri) is refused by name.
ApiResult<std::vector<uint8_t>> read_zip_package(const boost::json::object& o, std::string_view key);
// {"Variables": {"K": "v", ...}} into `out` (replacing it when present).
std::optional<ApiError> read_environment(const boost::json::object& o,
                                         std::map<std::string, std::string>& out);

}  // namespace thaw::agent
