// A function's asynchronous invocation settings (Lambda's
// FunctionEventInvokeConfig): retries, maximum event age and destinations.
// Pure parsing with Lambda's validation, the JSON the API returns, the
// destination strings this agent delivers to, and the on-disk record.
// Used by the event-invoke-config routes, their store and the dispatcher.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "agent/api/lambda_error.h"
#include "common/result.h"

namespace thaw::agent {

// https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionEventInvokeConfig.html
inline constexpr uint32_t kDefaultMaxRetryAttempts = 2;
inline constexpr uint32_t kMaxRetryAttempts = 2;
inline constexpr uint32_t kMinEventAgeSeconds = 60;
inline constexpr uint32_t kMaxEventAgeSeconds = 21600;  // also the default
inline constexpr size_t kMaxDestinationBytes = 350;

struct EventInvokeConfig {
  std::optional<uint32_t> max_retry_attempts;  // unset: 2
  std::optional<uint32_t> max_event_age_s;     // unset: 21600
  std::string on_success;                      // "" = none
  std::string on_failure;
  double last_modified = 0;  // seconds since the epoch, as Lambda returns it

  uint32_t retries() const { return max_retry_attempts.value_or(kDefaultMaxRetryAttempts); }
  uint32_t max_age_s() const { return max_event_age_s.value_or(kMaxEventAgeSeconds); }
};

// Where a destination record goes.
struct Destination {
  enum class Kind { kDirectory, kUnixHttp };
  Kind kind = Kind::kDirectory;
  std::string path;       // kDirectory: the directory; kUnixHttp: the socket
  std::string http_path;  // kUnixHttp: the request target ("/" when not given)
};

// "file:///abs/dir", "/abs/dir" or "unix:///abs/path.sock:/http/path".
// Anything else (an AWS ARN included) is InvalidParameterValue naming the
// forms this agent delivers to.
ApiResult<Destination> parse_destination(std::string_view destination);

// Put replaces the whole config (`base` null); Update merges the fields
// present into `base`. Bad JSON, unknown fields and wrong types are
// InvalidRequestContent; values out of range InvalidParameterValue.
ApiResult<EventInvokeConfig> parse_event_invoke_config(std::string_view body,
                                                       const EventInvokeConfig* base);

// FunctionEventInvokeConfig as Get/Put/Update return it.
boost::json::object event_invoke_config_json(const EventInvokeConfig& config,
                                             std::string_view function_arn);

// The record kept under <state>/event-invoke-config/ (validated on decode).
boost::json::object encode_event_invoke_config(const EventInvokeConfig& config);
Result<EventInvokeConfig> decode_event_invoke_config(const boost::json::value& value);

}  // namespace thaw::agent
