#include "agent/async/event_record.h"

#include <chrono>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/function_config.h"
#include "agent/api/json_fields.h"

namespace thaw::agent {
namespace json = boost::json;

namespace {

constexpr size_t kMaxQualifierBytes = 128;  // Lambda's Qualifier limit

Result<std::string> get_string(const json::object& o, std::string_view key, size_t max_bytes) {
  auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return Error::format("'{}' must be a JSON string", key);
  if (v->as_string().size() > max_bytes) {
    return Error::format("'{}' is {} bytes, over the limit of {}", key, v->as_string().size(),
                         max_bytes);
  }
  return std::string(v->as_string());
}

Result<uint64_t> get_uint(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v == nullptr) return Error::format("'{}' is missing", key);
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<uint64_t>(v->as_int64());
  return Error::format("'{}' must be a non-negative JSON integer", key);
}

}  // namespace

std::string_view event_state_name(EventState state) {
  switch (state) {
    case EventState::kQueued: return "queued";
    case EventState::kSucceeded: return "succeeded";
    case EventState::kFailed: return "failed";
  }
  return "queued";
}

bool is_request_id(std::string_view id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = id[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

uint64_t wall_clock_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string encode_event(const QueuedEvent& e) {
  json::object o{{"record_version", kEventRecordVersion},
                 {"request_id", e.request_id},
                 {"function", e.function},
                 {"qualifier", e.qualifier},
                 {"payload", e.payload},
                 {"enqueued_ms", e.enqueued_ms},
                 {"attempts", e.attempts},
                 {"throttles", e.throttles},
                 {"next_attempt_ms", e.next_attempt_ms},
                 {"state", event_state_name(e.state)}};
  if (e.state != EventState::kQueued) {
    o["destination"] = e.destination;
    o["record"] = e.record;
  }
  return json::serialize(o);
}

Result<QueuedEvent> decode_event(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxEventFileBytes) {
    return Error::format("the event is {} bytes, over the limit of {}", bytes.size(),
                         kMaxEventFileBytes);
  }
  auto doc = parse_record_object(bytes);
  if (!doc) return std::move(doc).error();
  const json::object& o = *doc;
  auto version = get_uint(o, "record_version");
  if (!version) return std::move(version).error();
  if (*version != kEventRecordVersion) {
    return Error::format("record_version {} is not the {} this thawd reads", *version,
                         kEventRecordVersion);
  }
  QueuedEvent e;
  for (auto [key, out, max] :
       {std::tuple<std::string_view, std::string*, size_t>{"request_id", &e.request_id, 36},
        {"function", &e.function, kMaxFunctionNameBytes},
        {"qualifier", &e.qualifier, kMaxQualifierBytes},
        {"payload", &e.payload, kMaxAsyncPayloadBytes}}) {
    auto s = get_string(o, key, max);
    if (!s) return std::move(s).error();
    *out = std::move(*s);
  }
  if (!is_request_id(e.request_id)) {
    return Error::format("request_id '{}' is not a lower-case v4 UUID", e.request_id);
  }
  if (auto bad = check_function_name(e.function)) return Error{bad->message};
  if (e.qualifier.empty()) return Error::format("'qualifier' is empty");
  boost::system::error_code ec;
  json::parse(e.payload, ec);
  if (ec) return Error::format("'payload' is not JSON: {}", ec.message());
  for (auto [key, out] : {std::pair<std::string_view, uint64_t*>{"enqueued_ms", &e.enqueued_ms},
                          {"next_attempt_ms", &e.next_attempt_ms}}) {
    auto n = get_uint(o, key);
    if (!n) return std::move(n).error();
    *out = *n;
  }
  for (auto [key, out] : {std::pair<std::string_view, uint32_t*>{"attempts", &e.attempts},
                          {"throttles", &e.throttles}}) {
    auto n = get_uint(o, key);
    if (!n) return std::move(n).error();
    if (*n > 1000000) return Error::format("'{}' is {}, over the limit of 1000000", key, *n);
    *out = static_cast<uint32_t>(*n);
  }
  auto state = get_string(o, "state", 16);
  if (!state) return std::move(state).error();
  if (*state == "queued") {
    e.state = EventState::kQueued;
  } else if (*state == "succeeded") {
    e.state = EventState::kSucceeded;
  } else if (*state == "failed") {
    e.state = EventState::kFailed;
  } else {
    return Error::format("'state' is '{}', not one of queued, succeeded, failed", *state);
  }
  if (e.state != EventState::kQueued) {
    auto dest = get_string(o, "destination", 1024);
    if (!dest) return std::move(dest).error();
    auto record = get_string(o, "record", kMaxEventFileBytes);
    if (!record) return std::move(record).error();
    e.destination = std::move(*dest);
    e.record = std::move(*record);
  }
  return e;
}

}  // namespace thaw::agent
