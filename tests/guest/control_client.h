// Client side of thaw-vmm's control socket (--api-sock; one JSON object per
// line each way, CONTRACT.md) for the integration tests: pause, resume,
// stats and stop while a test guest runs.
#pragma once

#include <boost/json.hpp>
#include <string>

#include "common/result.h"

namespace thaw::testguest {

// Sends `request` (one JSON object) and returns the reply object; an error
// when the socket fails, the reply is not JSON, or it says "ok": false.
Result<boost::json::object> control_request(const std::string& api_sock,
                                            const std::string& request);

}  // namespace thaw::testguest
