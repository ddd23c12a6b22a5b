// Parses Marker/MaxItems of the List* calls (see pagination.h).
#include "agent/api/pagination.h"

#include <charconv>
#include <optional>

#include <fmt/format.h>

#include "agent/api/api_router.h"

namespace thaw::agent {
namespace {

// A decimal number without sign or spaces, or nullopt.
std::optional<size_t> parse_count(const std::string& text) {
  size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

}  // namespace

ApiResult<PageRequest> parse_page(std::string_view query) {
  PageRequest page;
  if (auto marker = query_param(query, "Marker")) {
    auto n = parse_count(*marker);
    if (!n) {
      return invalid_parameter(fmt::format(
          "Marker '{}' is not one this agent returned; pass the NextMarker of the previous page, "
          "or no Marker for the first page",
          *marker));
    }
    page.start = *n;
  }
  if (auto max_items = query_param(query, "MaxItems")) {
    auto n = parse_count(*max_items);
    if (!n || *n < 1 || *n > kMaxListItems) {
      return invalid_parameter(fmt::format(
          "MaxItems '{}' must be an integer from 1 to {}", *max_items, kMaxListItems));
    }
    page.max_items = *n;
  }
  return page;
}

}  // namespace thaw::agent
