// Marker/MaxItems pagination of Lambda's List* calls (ListFunctions,
// ListVersionsByFunction, ListAliases, ListLayers, ListLayerVersions): the
// request's page and the response's NextMarker. Used by api_router.cc and
// the version, alias and layer routes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "agent/api/lambda_error.h"

namespace thaw::agent {

inline constexpr size_t kMaxListItems = 10000;  // Lambda's MaxItems range is 1-10000

struct PageRequest {
  size_t start = 0;  // Marker: the index of the page's first item
  size_t max_items = std::numeric_limits<size_t>::max();  // MaxItems; absent: the rest
};

// Marker and MaxItems of `query`; a 400 InvalidParameterValue names a bad one.
ApiResult<PageRequest> parse_page(std::string_view query);

// {"<key>": [the page's items], "NextMarker": "..." while more remain}. A
// Marker past the end (the list shrank since) gives an empty page.
template <typename T, typename ToJson>
boost::json::object paged_list(const std::vector<T>& items, const PageRequest& page,
                               std::string_view key, ToJson to_json) {
  size_t begin = std::min(page.start, items.size());
  size_t end = begin + std::min(page.max_items, items.size() - begin);
  boost::json::array out;
  for (size_t i = begin; i < end; ++i) out.push_back(to_json(items[i]));
  boost::json::object body{{key, std::move(out)}};
  if (end < items.size()) body["NextMarker"] = std::to_string(end);
  return body;
}

}  // namespace thaw::agent
