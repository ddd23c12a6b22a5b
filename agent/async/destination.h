// Destinations of finished asynchronous invocations: Lambda's destination
// record (version, timestamp, requestContext, requestPayload,
// responseContext, responsePayload) and its delivery to a local directory
// (one <request id>.json per event, written atomically, so a re-delivery
// after a crash replaces rather than duplicates) or as an HTTP POST over a
// Unix socket (the scheduler's callback). Used by the dispatcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/async/event_invoke_config.h"
#include "agent/async/event_record.h"
#include "agent/async/retry_policy.h"
#include "common/result.h"

namespace thaw::agent {

// `last` is the last try's outcome, null when the function never ran.
std::string destination_record(const QueuedEvent& event, std::string_view condition,
                               const AttemptOutcome* last, std::string_view function_arn,
                               uint64_t now_ms);

// "2019-11-14T18:16:05.568Z", the record's timestamp format.
std::string iso8601_utc(uint64_t epoch_ms);

// Blocking; the callback gets `timeout` to accept the request and answer
// 2xx. Errors name the destination and what went wrong.
Result<void> deliver_record(const Destination& destination, const std::string& request_id,
                            std::string_view record,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace thaw::agent
