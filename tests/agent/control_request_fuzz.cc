// Fuzz target for the control plane's parsers of untrusted bytes: every
// request body parser (CreateFunction, UpdateFunctionCode/Configuration,
// PublishVersion, Create/UpdateAlias, PublishLayerVersion), layer ARNs, and
// the persisted function and alias records. Besides "no crash, no UB", a
// record that decodes must encode and decode to the same record. Built with
// -fsanitize=fuzzer where the compiler has libFuzzer; otherwise
// control_request_fuzz_driver.cc runs it over mutated valid inputs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "agent/api/alias_config.h"
#include "agent/api/function_config.h"
#include "agent/api/function_update.h"
#include "agent/api/layer_api.h"

using namespace thaw::agent;

namespace {

void check_record_round_trip(std::span<const uint8_t> bytes) {
  auto config = decode_function_record(bytes);
  if (config) {
    std::string again = encode_function_record(*config);
    auto back = decode_function_record({reinterpret_cast<const uint8_t*>(again.data()), again.size()});
    if (!back || encode_function_record(*back) != again) std::abort();
  }
  auto alias = decode_alias_record(bytes);
  if (alias) {
    std::string again = encode_alias_record(*alias);
    auto back = decode_alias_record({reinterpret_cast<const uint8_t*>(again.data()), again.size()});
    if (!back || encode_alias_record(*back) != again) std::abort();
    (void)alias_json(*back);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto created = parse_create_function(body)) (void)function_configuration_json(created->config, kRegion);
  (void)parse_update_function_code(body);
  if (auto update = parse_update_function_configuration(body)) {
    FunctionConfig c;
    c.name = "f";
    c.runtime = "provided";
    std::optional<std::vector<std::string>> layers;
    // Types were checked by the parser: applying the fields cannot fail on them.
    if (read_function_settings(update->fields, c, layers)) std::abort();
    (void)validate_function_config(c);
  }
  (void)parse_publish_version(body);
  for (auto alias : {parse_create_alias(body), parse_update_alias("live", body)}) {
    if (!alias) continue;
    Alias a{"f", alias->name.empty() ? "live" : alias->name, "1", "", "rev", std::nullopt};
    if (!apply_alias_request(*alias, a)) {
      std::string rec = encode_alias_record(a);
      // An alias the API accepted is one the loader accepts.
      if (!decode_alias_record({reinterpret_cast<const uint8_t*>(rec.data()), rec.size()})) std::abort();
    }
  }
  (void)parse_publish_layer_version("layer", body);
  (void)parse_layer_version_arn(body);
  check_record_round_trip({data, size});
  return 0;
}
