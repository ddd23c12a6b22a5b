// Function aliases as Lambda's CreateAlias/UpdateAlias define them: a name
// pointing at a version, optionally routing a weight of invocations to one
// additional version. Request parsers with Lambda's validation, the
// AliasConfiguration JSON, and the record persisted under
// <state>/functions/NAME.d/aliases/. Used by FunctionRegistry and alias_routes.cc.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "agent/api/lambda_error.h"
#include "common/result.h"

namespace thaw::agent {

inline constexpr size_t kMaxAliasNameBytes = 128;

struct AliasRouting {
  std::string version;  // the additional version ("2")
  double weight = 0;    // share of invocations it gets, 0..1
  bool operator==(const AliasRouting&) const = default;
};

struct Alias {
  std::string function_name;
  std::string name;
  std::string function_version;  // "$LATEST" or "N"
  std::string description;
  std::string revision_id;
  std::optional<AliasRouting> routing;
};

// A CreateAlias or UpdateAlias body; absent fields stay nullopt.
struct AliasRequest {
  std::string name;
  std::optional<std::string> function_version;
  std::optional<std::string> description;
  // Outer: RoutingConfig given; inner nullopt: given with no weights (clears it).
  std::optional<std::optional<AliasRouting>> routing;
  std::string revision_id;  // UpdateAlias precondition; empty = none
};

// Lambda's alias name rule: 1-128 of [a-zA-Z0-9-_], not all digits.
std::optional<ApiError> check_alias_name(std::string_view name);
ApiResult<AliasRequest> parse_create_alias(std::string_view body);
ApiResult<AliasRequest> parse_update_alias(std::string_view name, std::string_view body);
// Applies `request` over `alias` and checks the result (routing is not
// allowed on $LATEST, nor to the alias's own version). Version existence is
// the registry's job.
std::optional<ApiError> apply_alias_request(const AliasRequest& request, Alias& alias);

boost::json::object alias_json(const Alias& alias);
std::string encode_alias_record(const Alias& alias);
Result<Alias> decode_alias_record(std::span<const uint8_t> bytes);

}  // namespace thaw::agent
