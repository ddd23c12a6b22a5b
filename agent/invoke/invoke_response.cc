#include "agent/invoke/invoke_response.h"

#include <boost/json.hpp>

#include "agent/api/base64.h"

namespace thaw::agent {

HttpResponse invoke_response(ApiResult<InvokeOutcome>& outcome, bool tail,
                             std::string_view throttle_reason) {
  if (!outcome) {
    HttpResponse r = render_api_error(outcome.error());
    if (outcome.error().kind == ApiErrorKind::kTooManyRequests) {
      // Lambda's throttle body names why: {"Reason": "ReservedFunction..."}.
      boost::json::value body = boost::json::parse(r.body);
      body.as_object()["Reason"] = throttle_reason;
      r.body = boost::json::serialize(body);
    }
    return r;
  }
  InvokeOutcome& out = *outcome;
  HttpResponse r;
  r.status = 200;
  r.headers.emplace_back("X-Amz-Executed-Version", out.executed_version);
  r.headers.emplace_back("x-amzn-RequestId", out.request_id);
  if (out.function_error) r.headers.emplace_back("X-Amz-Function-Error", "Unhandled");
  if (tail) {
    std::string_view log = out.log;
    if (log.size() > kLogTailBytes) log = log.substr(log.size() - kLogTailBytes);
    r.headers.emplace_back(
        "X-Amz-Log-Result",
        base64_encode({reinterpret_cast<const uint8_t*>(log.data()), log.size()}));
  }
  r.body = std::move(out.body);
  return r;
}

}  // namespace thaw::agent
