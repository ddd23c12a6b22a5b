#include "agent/invoke/concurrency_settings.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include "common/file_util.h"

namespace thaw::agent {
namespace json = boost::json;

namespace {

constexpr int kRecordVersion = 1;
constexpr size_t kMaxStoreBytes = 4u << 20;

// {"FIELD": non-negative integer} and nothing else.
ApiResult<uint32_t> parse_count_body(std::string_view body, std::string_view field,
                                     std::string_view operation, uint32_t minimum) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) {
    return invalid_content(fmt::format("{}: the body must be a JSON object like {{\"{}\": 1}}",
                                       operation, field));
  }
  const json::object& o = v.as_object();
  for (const auto& [key, value] : o) {
    if (key != field) {
      return invalid_content(fmt::format("unknown field '{}' in {}; it accepts only {}",
                                         std::string_view(key), operation, field));
    }
  }
  const json::value* n = o.if_contains(field);
  if (n == nullptr) return invalid_parameter(fmt::format("{} is required", field));
  if (!n->is_int64() && !n->is_uint64()) {
    return invalid_content(fmt::format("'{}' must be a JSON integer", field));
  }
  bool negative = n->is_int64() && n->as_int64() < 0;
  uint64_t value = negative ? 0 : (n->is_uint64() ? n->as_uint64() : static_cast<uint64_t>(n->as_int64()));
  if (negative || value < minimum || value > UINT32_MAX) {
    return invalid_parameter(fmt::format("{} must be at least {}; got {}", field, minimum,
                                         json::serialize(*n)));
  }
  return static_cast<uint32_t>(value);
}

}  // namespace

uint32_t min_unreserved(uint32_t max_sandboxes) {
  uint32_t m = (max_sandboxes * kMinUnreservedPercent + 99) / 100;
  return m < 1 ? 1 : m;
}

uint32_t ConcurrencySettings::total_reserved() const {
  uint32_t sum = 0;
  for (const auto& [name, n] : reserved) sum += n;
  return sum;
}

uint32_t ConcurrencySettings::provisioned_of(const std::string& function,
                                             std::string_view except) const {
  uint32_t sum = 0;
  for (const auto& [key, p] : provisioned) {
    if (key.first == function && key.second != except) sum += p.requested;
  }
  return sum;
}

uint32_t ConcurrencySettings::unreserved_provisioned(const std::string& except_function,
                                                     std::string_view except_qualifier) const {
  uint32_t sum = 0;
  for (const auto& [key, p] : provisioned) {
    if (reserved.contains(key.first)) continue;
    if (key.first == except_function && key.second == except_qualifier) continue;
    sum += p.requested;
  }
  return sum;
}

ApiResult<uint32_t> parse_reserved_concurrency(std::string_view body) {
  return parse_count_body(body, "ReservedConcurrentExecutions", "PutFunctionConcurrency", 0);
}

ApiResult<uint32_t> parse_provisioned_concurrency(std::string_view body) {
  return parse_count_body(body, "ProvisionedConcurrentExecutions",
                          "PutProvisionedConcurrencyConfig", 1);
}

std::optional<ApiError> check_provisioned_qualifier(const std::optional<std::string>& qualifier) {
  if (!qualifier || qualifier->empty()) {
    return invalid_parameter(
        "Qualifier is required: provisioned concurrency applies to a published version or an "
        "alias (?Qualifier=1 or ?Qualifier=ALIAS)");
  }
  if (*qualifier == "$LATEST") {
    return invalid_parameter(
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions "
        "($LATEST); publish a version (PublishVersion) and use its number or an alias");
  }
  return std::nullopt;
}

std::optional<ApiError> check_reservation(const ConcurrencySettings& s, uint32_t max_sandboxes,
                                          const std::string& function, uint32_t reserved) {
  uint32_t others = s.total_reserved();
  if (auto it = s.reserved.find(function); it != s.reserved.end()) others -= it->second;
  uint32_t floor = min_unreserved(max_sandboxes);
  uint64_t unreserved_after = static_cast<uint64_t>(max_sandboxes) - std::min(max_sandboxes, others);
  if (reserved > unreserved_after || unreserved_after - reserved < floor) {
    return invalid_parameter(fmt::format(
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [{}]: this agent runs at most "
        "{} sandboxes (thawd --max-sandboxes), {} are reserved by other functions and {}% stay "
        "unreserved, so {} can reserve at most {}",
        floor, max_sandboxes, others, kMinUnreservedPercent, function,
        unreserved_after > floor ? unreserved_after - floor : 0));
  }
  if (uint32_t provisioned = s.provisioned_of(function); reserved < provisioned) {
    return invalid_parameter(fmt::format(
        "ReservedConcurrentExecutions {} is below the {} provisioned sandboxes of {}; lower its "
        "provisioned concurrency first (DeleteProvisionedConcurrencyConfig)",
        reserved, provisioned, function));
  }
  return std::nullopt;
}

std::optional<ApiError> check_provisioned(const ConcurrencySettings& s, uint32_t max_sandboxes,
                                          const std::string& function,
                                          const std::string& qualifier, uint32_t requested) {
  if (auto it = s.reserved.find(function); it != s.reserved.end()) {
    uint32_t others = s.provisioned_of(function, qualifier);
    if (others + requested > it->second) {
      return invalid_parameter(fmt::format(
          "Requested Provisioned Concurrency should not be greater than the "
          "reservedConcurrentExecution for function: {} reserves {} and its other qualifiers "
          "keep {} provisioned, so {} may provision at most {}",
          function, it->second, others, qualifier, it->second - std::min(it->second, others)));
    }
    return std::nullopt;
  }
  uint32_t unreserved = max_sandboxes - std::min(max_sandboxes, s.total_reserved());
  uint32_t floor = min_unreserved(max_sandboxes);
  uint32_t others = s.unreserved_provisioned(function, qualifier);
  if (static_cast<uint64_t>(others) + requested + floor > unreserved) {
    return invalid_parameter(fmt::format(
        "Requested Provisioned Concurrency {} for {}:{} does not fit: {} unreserved sandboxes "
        "(thawd --max-sandboxes {} minus reservations), {} already provisioned elsewhere, and {} "
        "must stay free for on-demand invocations",
        requested, function, qualifier, unreserved, max_sandboxes, others, floor));
  }
  return std::nullopt;
}

std::string encode_concurrency_settings(const ConcurrencySettings& s) {
  json::object reserved;
  for (const auto& [name, n] : s.reserved) reserved[name] = n;
  json::array provisioned;
  for (const auto& [key, p] : s.provisioned) {
    provisioned.push_back(json::object{{"function", key.first},
                                       {"qualifier", key.second},
                                       {"requested", p.requested},
                                       {"last_modified", p.last_modified}});
  }
  return json::serialize(json::object{{"record_version", kRecordVersion},
                                      {"reserved", std::move(reserved)},
                                      {"provisioned", std::move(provisioned)}});
}

Result<ConcurrencySettings> decode_concurrency_settings(std::span<const uint8_t> bytes) {
  boost::system::error_code ec;
  json::value v = json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), ec);
  if (ec || !v.is_object()) return Error::format("not a JSON object ({})", ec.message());
  const json::object& o = v.as_object();
  const json::value* version = o.if_contains("record_version");
  if (version == nullptr || !version->is_int64() || version->as_int64() != kRecordVersion) {
    return Error::format("record_version is not {}; this thawd reads only version {}",
                         kRecordVersion, kRecordVersion);
  }
  ConcurrencySettings s;
  const json::value* reserved = o.if_contains("reserved");
  const json::value* provisioned = o.if_contains("provisioned");
  if (reserved == nullptr || !reserved->is_object() || provisioned == nullptr ||
      !provisioned->is_array()) {
    return Error::format("needs a 'reserved' object and a 'provisioned' array");
  }
  for (const auto& [name, n] : reserved->as_object()) {
    if (!n.is_int64() || n.as_int64() < 0 || n.as_int64() > UINT32_MAX) {
      return Error::format("reserved concurrency of '{}' is not a count", std::string_view(name));
    }
    s.reserved[std::string(name)] = static_cast<uint32_t>(n.as_int64());
  }
  for (const auto& entry : provisioned->as_array()) {
    const json::object* e = entry.if_object();
    auto str = [e](std::string_view key) -> const json::string* {
      const json::value* f = e ? e->if_contains(key) : nullptr;
      return f ? f->if_string() : nullptr;
    };
    const json::value* n = e ? e->if_contains("requested") : nullptr;
    if (!str("function") || !str("qualifier") || !str("last_modified") || n == nullptr ||
        !n->is_int64() || n->as_int64() < 1 || n->as_int64() > UINT32_MAX) {
      return Error::format("a provisioned entry lacks function/qualifier/last_modified strings or "
                           "a positive 'requested' count");
    }
    s.provisioned[{std::string(*str("function")), std::string(*str("qualifier"))}] =
        ProvisionedRequest{static_cast<uint32_t>(n->as_int64()), std::string(*str("last_modified"))};
  }
  return s;
}

ConcurrencyStore ConcurrencyStore::open(const std::string& state_dir, std::string& warning) {
  ConcurrencyStore store;
  if (state_dir.empty()) return store;
  store.path_ = state_dir + "/concurrency.json";
  if (::access(store.path_.c_str(), F_OK) != 0) return store;
  auto bytes = read_file(store.path_, kMaxStoreBytes);
  Result<ConcurrencySettings> s = bytes ? decode_concurrency_settings(*bytes)
                                        : Result<ConcurrencySettings>(std::move(bytes).error());
  if (!s) {
    warning = fmt::format("ignoring concurrency settings {}: {}; every function starts without "
                          "reserved or provisioned concurrency (the next Put overwrites the file)",
                          store.path_, s.error().message);
    return store;
  }
  store.settings_ = std::move(*s);
  return store;
}

Result<void> ConcurrencyStore::replace(ConcurrencySettings next) {
  if (!path_.empty()) {
    std::string text = encode_concurrency_settings(next);
    auto ok = write_file_atomic(path_, {reinterpret_cast<const uint8_t*>(text.data()), text.size()},
                                0600);
    if (!ok) return std::move(ok).error();
  }
  settings_ = std::move(next);
  return Ok();
}

}  // namespace thaw::agent
