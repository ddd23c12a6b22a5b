// One queued asynchronous invocation (InvocationType Event) as thawd keeps it
// on disk under <state>/events/<request id>.json: the pure encode/decode pair
// (decoding re-validates every field: the file is input) and the limits.
// Used by the event store, the dispatcher and their tests.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace thaw::agent {

// Lambda's asynchronous Invoke payload limit (256 KB).
inline constexpr uint64_t kMaxAsyncPayloadBytes = 262144;
// A finished event's destination record: the payload, the response (up to
// the 6 MB sync limit) and the JSON around them.
inline constexpr uint64_t kMaxEventFileBytes = 8u << 20;
inline constexpr uint32_t kEventRecordVersion = 1;

enum class EventState {
  kQueued,     // waiting for its next attempt
  kSucceeded,  // success recorded: never run again; the record is being delivered
  kFailed,     // retries exhausted or too old; the record is being delivered
};

struct QueuedEvent {
  std::string request_id;  // the 202's x-amzn-RequestId (a v4 UUID; names the file)
  std::string function;
  std::string qualifier = "$LATEST";
  std::string payload;       // the caller's JSON, as sent
  uint64_t enqueued_ms = 0;  // wall clock (ms since the epoch): survives restarts
  uint32_t attempts = 0;     // invocations started (approximateInvokeCount)
  uint32_t throttles = 0;    // tries refused by throttling or a sandbox failure
  uint64_t next_attempt_ms = 0;  // wall clock; 0 = as soon as possible
  EventState state = EventState::kQueued;
  // When finished: where the record goes ("" = the failure log for a
  // failed event, nowhere for a succeeded one) and the record itself.
  std::string destination;
  std::string record;
  // Deliveries the destination refused in this run (memory only: a restart
  // delivers afresh).
  uint32_t refused_deliveries = 0;
};

std::string_view event_state_name(EventState state);
// 8-4-4-4-12 lower-case hex: what new_request_id() (agent/invoke/invoke_log.h) makes.
bool is_request_id(std::string_view id);
uint64_t wall_clock_ms();

std::string encode_event(const QueuedEvent& event);
// Refuses (naming the field and the rule) anything a queued event cannot
// hold: a wrong record_version, a bad id, function name or state, a payload
// over 256 KB or not JSON.
Result<QueuedEvent> decode_event(std::span<const uint8_t> bytes);

}  // namespace thaw::agent
