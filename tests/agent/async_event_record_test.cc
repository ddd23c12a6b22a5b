// Unit tests of agent/async/event_record: the queued event's on-disk record
// round-trips and every damaged or hostile field is refused by name.
#include "agent/async/event_record.h"

#include <gtest/gtest.h>

#include "agent/invoke/invoke_log.h"

namespace thaw::agent {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

QueuedEvent sample() {
  QueuedEvent e;
  e.request_id = new_request_id();
  e.function = "orders";
  e.qualifier = "$LATEST";
  e.payload = R"({"order":42})";
  e.enqueued_ms = 1700000000123;
  e.attempts = 2;
  e.throttles = 1;
  e.next_attempt_ms = 1700000060123;
  return e;
}

// Re-encodes `e` with one field of the JSON replaced.
std::string with_field(const QueuedEvent& e, const std::string& field, const std::string& json) {
  std::string s = encode_event(e);
  size_t at = s.find("\"" + field + "\":");
  EXPECT_NE(at, std::string::npos) << field;
  size_t start = at + field.size() + 3;
  size_t end = start;
  int depth = 0;
  bool in_string = false;
  for (; end < s.size(); ++end) {
    char c = s[end];
    if (in_string) {
      if (c == '\\') ++end;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') { if (depth-- == 0) break; }
    else if (c == ',' && depth == 0) break;
  }
  return s.substr(0, start) + json + s.substr(end);
}

TEST(AsyncEventRecord, RequestIdsAreV4Uuids) {
  std::string id = new_request_id();
  EXPECT_TRUE(is_request_id(id)) << id;
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(new_request_id(), id);
  EXPECT_FALSE(is_request_id("../../etc/passwd"));
  EXPECT_FALSE(is_request_id("AAAAAAAA-0000-4000-8000-000000000000"));
}

TEST(AsyncEventRecord, QueuedAndFinishedEventsRoundTrip) {
  QueuedEvent e = sample();
  auto back = decode_event(bytes(encode_event(e)));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->request_id, e.request_id);
  EXPECT_EQ(back->function, "orders");
  EXPECT_EQ(back->payload, e.payload);
  EXPECT_EQ(back->enqueued_ms, e.enqueued_ms);
  EXPECT_EQ(back->attempts, 2u);
  EXPECT_EQ(back->throttles, 1u);
  EXPECT_EQ(back->next_attempt_ms, e.next_attempt_ms);
  EXPECT_EQ(back->state, EventState::kQueued);

  e.state = EventState::kSucceeded;
  e.destination = "/var/lib/sink";
  e.record = R"({"version":"1.0"})";
  back = decode_event(bytes(encode_event(e)));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->state, EventState::kSucceeded);
  EXPECT_EQ(back->destination, "/var/lib/sink");
  EXPECT_EQ(back->record, e.record);
}

TEST(AsyncEventRecord, DamagedFieldsAreRefusedByName) {
  QueuedEvent e = sample();
  struct Case {
    std::string field, value, expect;
  };
  for (const auto& c : std::vector<Case>{
           {"record_version", "2", "record_version 2"},
           {"request_id", "\"../x\"", "request_id '../x'"},
           {"function", "\"a/b\"", "functionName"},
           {"qualifier", "\"\"", "'qualifier' is empty"},
           {"payload", "\"{not json\"", "'payload' is not JSON"},
           {"payload", "\"" + std::string(262145, 'a') + "\"", "over the limit of 262144"},
           {"attempts", "-1", "'attempts' must be a non-negative JSON integer"},
           {"attempts", "2000000", "over the limit of 1000000"},
           {"state", "\"running\"", "not one of queued, succeeded, failed"},
           {"enqueued_ms", "\"soon\"", "'enqueued_ms'"},
       }) {
    auto r = decode_event(bytes(with_field(e, c.field, c.value)));
    ASSERT_FALSE(r) << c.field << " = " << c.value.substr(0, 40);
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos)
        << c.field << ": " << r.error().message.substr(0, 200);
  }
  EXPECT_FALSE(decode_event(bytes("[]")));
  EXPECT_FALSE(decode_event(bytes("{\"record_version\":1")));
  // A finished event must carry its record.
  e.state = EventState::kFailed;
  std::string s = encode_event(e);
  s = s.substr(0, s.find(",\"destination\"")) + "}";
  auto r = decode_event(bytes(s));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'destination'"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace thaw::agent
