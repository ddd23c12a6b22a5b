// The HTTP answer to a synchronous Invoke: the function's body with
// X-Amz-Executed-Version, x-amzn-RequestId, X-Amz-Function-Error and (with
// X-Amz-Log-Type: Tail) X-Amz-Log-Result, or the Lambda error; throttles
// carry Lambda's "Reason". Used by ApiRouter::invoke.
#pragma once

#include <string_view>

#include "agent/http/http_server.h"
#include "agent/invoke/sandbox_pool.h"

namespace thaw::agent {

inline constexpr size_t kLogTailBytes = 4096;  // X-Amz-Log-Type: Tail returns the last 4 KB

HttpResponse invoke_response(ApiResult<InvokeOutcome>& outcome, bool tail,
                             std::string_view throttle_reason);

}  // namespace thaw::agent
