#include "agent/api/lambda_error.h"

#include <boost/json.hpp>

namespace thaw::agent {

unsigned api_error_status(ApiErrorKind kind) {
  switch (kind) {
    case ApiErrorKind::kResourceNotFound: return 404;
    case ApiErrorKind::kInvalidParameterValue: return 400;
    case ApiErrorKind::kInvalidRequestContent: return 400;
    case ApiErrorKind::kResourceConflict: return 409;
    case ApiErrorKind::kTooManyRequests: return 429;
    case ApiErrorKind::kRequestTooLarge: return 413;
    case ApiErrorKind::kPreconditionFailed: return 412;
    case ApiErrorKind::kService: return 500;
  }
  return 500;
}

std::string_view api_error_type(ApiErrorKind kind) {
  switch (kind) {
    case ApiErrorKind::kResourceNotFound: return "ResourceNotFoundException";
    case ApiErrorKind::kInvalidParameterValue: return "InvalidParameterValueException";
    case ApiErrorKind::kInvalidRequestContent: return "InvalidRequestContentException";
    case ApiErrorKind::kResourceConflict: return "ResourceConflictException";
    case ApiErrorKind::kTooManyRequests: return "TooManyRequestsException";
    case ApiErrorKind::kRequestTooLarge: return "RequestTooLargeException";
    case ApiErrorKind::kPreconditionFailed: return "PreconditionFailedException";
    case ApiErrorKind::kService: return "ServiceException";
  }
  return "ServiceException";
}

HttpResponse render_api_error(const ApiError& error) {
  return render_api_error(api_error_status(error.kind), api_error_type(error.kind), error.message);
}

HttpResponse render_api_error(unsigned status, std::string_view type, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("x-amzn-ErrorType", std::string(type));
  // Lambda marks its own failures "Service" and the caller's "User".
  boost::json::object body{{"Type", status >= 500 ? "Service" : "User"},
                           {"message", message}};
  r.body = boost::json::serialize(body);
  return r;
}

}  // namespace thaw::agent
