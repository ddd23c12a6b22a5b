// Reserved and provisioned concurrency: the settings (Lambda's
// PutFunctionConcurrency / PutProvisionedConcurrencyConfig), their request
// parsers and capacity rules as pure functions, and ConcurrencyStore, which
// keeps them in <state>/concurrency.json (written atomically, reloaded on
// restart). Used by the concurrency routes and the SandboxPool.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "agent/api/lambda_error.h"
#include "common/result.h"

namespace thaw::agent {

// Lambda keeps part of the account's concurrency unreserved; thawd keeps
// at least 10% of --max-sandboxes (and at least 1) for functions without a
// reservation, and refuses reservations that would leave less.
inline constexpr uint32_t kMinUnreservedPercent = 10;
uint32_t min_unreserved(uint32_t max_sandboxes);

struct ProvisionedRequest {
  uint32_t requested = 0;
  std::string last_modified;  // Lambda's LastModified format
  bool operator==(const ProvisionedRequest&) const = default;
};

struct ConcurrencySettings {
  std::map<std::string, uint32_t> reserved;  // function -> ReservedConcurrentExecutions
  // (function, qualifier: a version or alias) -> provisioned sandboxes
  std::map<std::pair<std::string, std::string>, ProvisionedRequest> provisioned;
  bool operator==(const ConcurrencySettings&) const = default;

  uint32_t total_reserved() const;
  // Provisioned sandboxes of `function`, all qualifiers but `except`.
  uint32_t provisioned_of(const std::string& function, std::string_view except = {}) const;
  // Provisioned sandboxes of functions without a reservation.
  uint32_t unreserved_provisioned(const std::string& except_function = {},
                                  std::string_view except_qualifier = {}) const;
};

// {"ReservedConcurrentExecutions": N}, N >= 0.
ApiResult<uint32_t> parse_reserved_concurrency(std::string_view body);
// {"ProvisionedConcurrentExecutions": N}, N >= 1.
ApiResult<uint32_t> parse_provisioned_concurrency(std::string_view body);
// Provisioned concurrency applies to a published version or an alias only.
std::optional<ApiError> check_provisioned_qualifier(const std::optional<std::string>& qualifier);

// Whether `function` may reserve `reserved` on a host of `max_sandboxes`.
std::optional<ApiError> check_reservation(const ConcurrencySettings& s, uint32_t max_sandboxes,
                                          const std::string& function, uint32_t reserved);
// Whether (function, qualifier) may keep `requested` sandboxes provisioned.
std::optional<ApiError> check_provisioned(const ConcurrencySettings& s, uint32_t max_sandboxes,
                                          const std::string& function,
                                          const std::string& qualifier, uint32_t requested);

std::string encode_concurrency_settings(const ConcurrencySettings& s);
Result<ConcurrencySettings> decode_concurrency_settings(std::span<const uint8_t> bytes);

class ConcurrencyStore {
 public:
  // Loads <state_dir>/concurrency.json (absent: no settings). A damaged
  // file loads as no settings and `warning` says why (the next change
  // overwrites it). An empty state_dir keeps settings in memory only.
  static ConcurrencyStore open(const std::string& state_dir, std::string& warning);
  const ConcurrencySettings& settings() const { return settings_; }
  // Writes `next` durably, then makes it current.
  Result<void> replace(ConcurrencySettings next);

 private:
  std::string path_;
  ConcurrencySettings settings_;
};

}  // namespace thaw::agent
