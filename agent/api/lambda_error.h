// Lambda API errors as the agent returns them: an HTTP status, the
// x-amzn-ErrorType header and the JSON body {"Type":..., "message":...}
// that the AWS CLI and SDKs parse. Used by every route in agent/api/.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "agent/http/http_server.h"
#include "common/result.h"

namespace thaw::agent {

enum class ApiErrorKind {
  kResourceNotFound,        // 404 ResourceNotFoundException
  kInvalidParameterValue,   // 400 InvalidParameterValueException
  kInvalidRequestContent,   // 400 InvalidRequestContentException (bad JSON, wrong types)
  kResourceConflict,        // 409 ResourceConflictException
  kTooManyRequests,         // 429 TooManyRequestsException
  kRequestTooLarge,         // 413 RequestTooLargeException
  kPreconditionFailed,      // 412 PreconditionFailedException (RevisionId mismatch)
  kService,                 // 500 ServiceException
};

struct ApiError {
  ApiErrorKind kind;
  std::string message;
};

// A value or the Lambda error to answer with (Result<T> carries only a
// message; the API needs the error type too).
template <typename T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}
  ApiResult(ApiError error) : v_(std::move(error)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  T* operator->() { return &value(); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

inline ApiError invalid_parameter(std::string message) {
  return {ApiErrorKind::kInvalidParameterValue, std::move(message)};
}
inline ApiError invalid_content(std::string message) {
  return {ApiErrorKind::kInvalidRequestContent, std::move(message)};
}

unsigned api_error_status(ApiErrorKind kind);
std::string_view api_error_type(ApiErrorKind kind);

// The response Lambda sends for an error: status, x-amzn-ErrorType and the
// body {"Type":"User"|"Service","message":"..."}.
HttpResponse render_api_error(const ApiError& error);
// The same for an error type given by name (the HTTP layer's own errors).
HttpResponse render_api_error(unsigned status, std::string_view type, std::string_view message);

}  // namespace thaw::agent
