#include "agent/async/event_invoke_config.h"

#include <cctype>
#include <chrono>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/json_fields.h"

namespace thaw::agent {
namespace json = boost::json;

namespace {

constexpr std::string_view kForms =
    "use file:///DIR or /DIR (a directory, one JSON record per event) or "
    "unix:///SOCKET:/PATH (an HTTP POST over a Unix socket)";

bool is_clean_absolute(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  for (char c : p) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  // No "." or ".." component: the path means what it says.
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i + 1);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i + 1, j - i - 1);
    if (part == "." || part == "..") return false;
    i = j;
  }
  return true;
}

std::optional<ApiError> range_error(std::string_view field, int64_t v, int64_t lo, int64_t hi) {
  if (v >= lo && v <= hi) return std::nullopt;
  return invalid_parameter(fmt::format(
      "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: Member must "
      "have value {} {}",
      v, field, v < lo ? "greater than or equal to" : "less than or equal to", v < lo ? lo : hi));
}

std::optional<ApiError> read_int(const json::object& o, std::string_view key, int64_t lo,
                                 int64_t hi, std::optional<uint32_t>& out) {
  auto* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_null()) {
    out.reset();
    return std::nullopt;
  }
  if (!v->is_int64() && !v->is_uint64()) {
    return invalid_content(fmt::format("'{}' must be a JSON integer", key));
  }
  int64_t n = v->is_int64() ? v->as_int64() : INT64_MAX;
  std::string field(key);
  field[0] = static_cast<char>(std::tolower(field[0]));
  if (auto e = range_error(field, n, lo, hi)) return e;
  out = static_cast<uint32_t>(n);
  return std::nullopt;
}

// DestinationConfig.OnSuccess / OnFailure: {"Destination": "..."} or {}.
std::optional<ApiError> read_destination(const json::object& dc, std::string_view key,
                                         std::string& out) {
  auto* v = dc.if_contains(key);
  if (v == nullptr) return std::nullopt;
  std::string where = fmt::format("DestinationConfig.{}", key);
  if (v->is_null()) {
    out.clear();
    return std::nullopt;
  }
  if (!v->is_object()) return invalid_content(fmt::format("'{}' must be a JSON object", where));
  if (auto e = check_known_fields(v->as_object(), {"Destination"}, where)) return e;
  auto* d = v->as_object().if_contains("Destination");
  if (d == nullptr || d->is_null()) {
    out.clear();
    return std::nullopt;
  }
  if (!d->is_string()) {
    return invalid_content(fmt::format("'{}.Destination' must be a JSON string", where));
  }
  std::string_view s = d->as_string();
  if (s.size() > kMaxDestinationBytes) {
    return invalid_parameter(fmt::format("{}.Destination is {} bytes, over the limit of {}", where,
                                         s.size(), kMaxDestinationBytes));
  }
  if (!s.empty()) {
    auto parsed = parse_destination(s);
    if (!parsed) return ApiError{parsed.error().kind, where + ": " + parsed.error().message};
  }
  out = std::string(s);
  return std::nullopt;
}

double now_seconds() {
  using namespace std::chrono;
  return static_cast<double>(
             duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()) /
         1000.0;
}

json::object destination_json(const std::string& d) {
  if (d.empty()) return {};
  return {{"Destination", d}};
}

}  // namespace

ApiResult<Destination> parse_destination(std::string_view s) {
  Destination d;
  if (s.starts_with("unix://")) {
    std::string_view rest = s.substr(7);
    size_t split = rest.rfind(":/");
    d.kind = Destination::Kind::kUnixHttp;
    d.path = std::string(rest.substr(0, split));
    d.http_path = split == std::string_view::npos ? "/" : std::string(rest.substr(split + 1));
    if (!is_clean_absolute(d.path) || d.path.size() > 107) {
      return invalid_parameter(fmt::format(
          "destination '{}': the socket must be an absolute path of at most 107 bytes without "
          "'.' or '..'; {}",
          s, kForms));
    }
    for (char c : d.http_path) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
        return invalid_parameter(fmt::format(
            "destination '{}': the HTTP path must be printable ASCII without spaces; {}", s,
            kForms));
      }
    }
    return d;
  }
  std::string_view dir = s.starts_with("file://") ? s.substr(7) : s;
  if (!is_clean_absolute(dir)) {
    return invalid_parameter(
        fmt::format("destination '{}' is not supported by this agent; {}", s, kForms));
  }
  d.path = std::string(dir);
  return d;
}

ApiResult<EventInvokeConfig> parse_event_invoke_config(std::string_view body,
                                                       const EventInvokeConfig* base) {
  if (body.empty()) body = "{}";
  auto doc = parse_json_object(body);
  if (!doc) return doc.error();
  const json::object& o = *doc;
  if (auto e = check_known_fields(
          o, {"MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"},
          "the event invoke config")) {
    return *e;
  }
  EventInvokeConfig c = base ? *base : EventInvokeConfig{};
  if (auto e = read_int(o, "MaximumRetryAttempts", 0, kMaxRetryAttempts, c.max_retry_attempts)) {
    return *e;
  }
  if (auto e = read_int(o, "MaximumEventAgeInSeconds", kMinEventAgeSeconds, kMaxEventAgeSeconds,
                        c.max_event_age_s)) {
    return *e;
  }
  if (auto* dc = o.if_contains("DestinationConfig"); dc != nullptr && !dc->is_null()) {
    if (!dc->is_object()) return invalid_content("'DestinationConfig' must be a JSON object");
    const json::object& d = dc->as_object();
    if (auto e = check_known_fields(d, {"OnSuccess", "OnFailure"}, "DestinationConfig")) return *e;
    if (auto e = read_destination(d, "OnSuccess", c.on_success)) return *e;
    if (auto e = read_destination(d, "OnFailure", c.on_failure)) return *e;
  }
  c.last_modified = now_seconds();
  return c;
}

json::object event_invoke_config_json(const EventInvokeConfig& c, std::string_view function_arn) {
  json::object o{{"LastModified", c.last_modified}, {"FunctionArn", function_arn}};
  if (c.max_retry_attempts) o["MaximumRetryAttempts"] = *c.max_retry_attempts;
  if (c.max_event_age_s) o["MaximumEventAgeInSeconds"] = *c.max_event_age_s;
  o["DestinationConfig"] = json::object{{"OnSuccess", destination_json(c.on_success)},
                                        {"OnFailure", destination_json(c.on_failure)}};
  return o;
}

json::object encode_event_invoke_config(const EventInvokeConfig& c) {
  json::object o = event_invoke_config_json(c, "");
  o.erase("FunctionArn");
  return o;
}

Result<EventInvokeConfig> decode_event_invoke_config(const json::value& v) {
  if (!v.is_object()) return Error::format("an event invoke config must be a JSON object");
  json::object o = v.as_object();
  auto* lm = o.if_contains("LastModified");
  double last_modified = lm && lm->is_number() ? lm->to_number<double>() : 0;
  o.erase("LastModified");
  // The stored shape is the API's: the API's own validation re-checks it.
  auto c = parse_event_invoke_config(json::serialize(o), nullptr);
  if (!c) return Error{c.error().message};
  c->last_modified = last_modified;
  return std::move(*c);
}

}  // namespace thaw::agent
