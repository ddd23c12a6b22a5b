// The Lambda layer API's shapes (2018-10-31): layer version ARNs, the
// PublishLayerVersion request parser, and the LayerVersion JSON that
// Publish/Get/ListLayerVersions return. Used by layer_routes.cc and by the
// function config parsers (Layers lists of ARNs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "agent/api/lambda_error.h"
#include "layers/layer_registry.h"

namespace thaw::agent {

struct LayerVersionRef {
  std::string name;
  uint32_t version = 0;
};

// "arn:aws:lambda:us-east-1:000000000000:layer:NAME" and the same with ":N".
std::string layer_arn(std::string_view name);
std::string layer_version_arn(std::string_view name, uint32_t version);
// Accepts only this agent's region and account; errors say what was expected.
ApiResult<LayerVersionRef> parse_layer_version_arn(std::string_view arn);
// A version number path segment or query value: 1 to 4294967295, no sign.
std::optional<uint32_t> parse_version_number(std::string_view text);

struct PublishLayerRequest {
  std::string name;  // from the path
  std::string description;
  std::vector<std::string> compatible_runtimes;
  std::string license_info;
  std::vector<uint8_t> zip;  // Content.ZipFile, decoded
};

// Parses a PublishLayerVersion body for the layer `name` (checked here).
ApiResult<PublishLayerRequest> parse_publish_layer_version(std::string_view name,
                                                           std::string_view body);

// GetLayerVersion / PublishLayerVersion response.
boost::json::object layer_version_json(const layers::LayerVersion& v);
// An item of ListLayerVersions / ListLayers (no Content).
boost::json::object layer_version_item_json(const layers::LayerVersion& v);

}  // namespace thaw::agent
