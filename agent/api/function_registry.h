// The function registry: every function's $LATEST configuration, its
// published versions and aliases, and the layer versions functions use. Code
// and layer ZIPs are converted once into the layers ImageStore. State lives
// under <state>/functions/ (NAME.json = $LATEST; NAME.d/versions/N.json;
// NAME.d/aliases/ALIAS.json) and <state>/layers/, each record written
// atomically and reloaded on restart. Thread-safe: the API calls it from the
// loop and from worker threads; the SandboxPool asks it for images.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/api/alias_config.h"
#include "agent/api/alias_routing.h"
#include "agent/api/function_config.h"
#include "agent/api/function_update.h"
#include "agent/api/layer_api.h"
#include "layers/image_store.h"
#include "layers/layer_registry.h"

namespace thaw::agent {

class FunctionRegistry {
 public:
  // Loads every record under <state_dir>/functions and <state_dir>/layers. A
  // damaged record is skipped and reported in load_warnings(), never
  // half-loaded (an alias whose version did not load is skipped too).
  // `routing_seed` makes weighted alias routing reproducible.
  static Result<std::unique_ptr<FunctionRegistry>> open(const std::string& state_dir,
                                                        layers::StoreOptions store_options,
                                                        uint64_t routing_seed = random_routing_seed());

  // --- $LATEST (function_registry.cc)
  // Converts the ZIP (hostile input: refusals are InvalidParameterValue),
  // checks the layers exist, records the function and, with Publish, version
  // 1 (returned then). An existing name is ResourceConflict.
  ApiResult<FunctionConfig> create(CreateFunctionRequest request);
  std::optional<FunctionConfig> get(const std::string& name) const;  // $LATEST
  // $LATEST of each function sorted by name; with `all_versions`, each
  // followed by its published versions (ListFunctions?FunctionVersion=ALL).
  std::vector<FunctionConfig> list(bool all_versions = false) const;
  // Deletes the function with every version and alias.
  ApiResult<FunctionConfig> remove(const std::string& name);
  // Both bump LastModified and RevisionId; with Publish the new version is returned.
  ApiResult<FunctionConfig> update_code(const std::string& name, UpdateCodeRequest request);
  ApiResult<FunctionConfig> update_configuration(const std::string& name,
                                                 const UpdateConfigurationRequest& request);
  // The EROFS image of a function's code.
  Result<std::string> code_image(const FunctionConfig& config) const;
  // The EROFS images of config.layers in mount order (index 0 first; later
  // layers win in the /opt overlay). Empty when the function has no layers.
  Result<std::vector<std::string>> layer_images(const FunctionConfig& config) const;

  // --- versions and aliases (function_versions.cc)
  // "$LATEST" or "N"; nullopt when the function or version does not exist.
  std::optional<FunctionConfig> get_version(const std::string& name,
                                            const std::string& version) const;
  // The config to run for Invoke?Qualifier=: "" or $LATEST, a version, or an
  // alias (weighted routing picks the version). config.version says which.
  ApiResult<FunctionConfig> resolve(const std::string& name, const std::string& qualifier);
  // The same without routing: an alias gives its FunctionVersion (GetFunction).
  ApiResult<FunctionConfig> find(const std::string& name, const std::string& qualifier) const;
  ApiResult<FunctionConfig> publish_version(const std::string& name,
                                            const PublishVersionRequest& request);
  // $LATEST first, then versions in ascending order.
  ApiResult<std::vector<FunctionConfig>> list_versions(const std::string& name) const;
  // DeleteFunction?Qualifier=N: not $LATEST, not while an alias uses it.
  ApiResult<FunctionConfig> remove_version(const std::string& name, const std::string& qualifier);
  ApiResult<Alias> create_alias(const std::string& name, const AliasRequest& request);
  ApiResult<Alias> update_alias(const std::string& name, const AliasRequest& request);
  ApiResult<Alias> get_alias(const std::string& name, const std::string& alias) const;
  ApiResult<Alias> remove_alias(const std::string& name, const std::string& alias);
  // Sorted by name; with `function_version`, only aliases pointing at it.
  ApiResult<std::vector<Alias>> list_aliases(const std::string& name,
                                             const std::optional<std::string>& function_version) const;

  // --- layer versions (registry_layers.cc)
  ApiResult<layers::LayerVersion> publish_layer_version(PublishLayerRequest request);
  ApiResult<layers::LayerVersion> get_layer_version(const std::string& name, uint32_t version) const;
  std::vector<layers::LayerVersion> list_layer_versions(const std::string& name) const;
  std::vector<layers::LayerVersion> list_layers() const;  // newest version of each
  ApiResult<layers::LayerVersion> remove_layer_version(const std::string& name, uint32_t version);

  const std::vector<std::string>& load_warnings() const { return warnings_; }
  uint64_t routing_seed() const { return router_.seed(); }

 private:
  struct Entry {
    FunctionConfig latest;
    std::map<uint32_t, FunctionConfig> versions;
    std::map<std::string, Alias> aliases;
  };

  FunctionRegistry(std::string dir, layers::ImageStore store,
                   std::unique_ptr<layers::LayerRegistry> layers, uint64_t routing_seed);
  // <state>/layers; a damaged layer record is renamed to NAME.json.damaged
  // with a warning (registry_layers.cc).
  static Result<std::unique_ptr<layers::LayerRegistry>> open_layer_registry(
      const std::string& dir, std::vector<std::string>& warnings);
  // Paths of the records (registry_records.cc).
  std::string record_path(const std::string& name) const;
  std::string extras_dir(const std::string& name) const;
  std::string version_path(const std::string& name, const std::string& version) const;
  std::string alias_path(const std::string& name, const std::string& alias) const;
  // Loads NAME.d of a loaded function; bad records become warnings.
  void load_extras(Entry& entry);
  // Writes a record atomically (parent directories made 0700); errors are ServiceException.
  static std::optional<ApiError> write_record(const std::string& path, const std::string& text);
  // Unlinks a record (already gone is fine); errors are ServiceException.
  static std::optional<ApiError> remove_record(const std::string& path);
  // The image of `zip` within the unpacked budget left by `layers`.
  ApiResult<layers::ImageInfo> store_code(std::span<const uint8_t> zip,
                                          const std::vector<FunctionLayer>& layers,
                                          std::string_view field);
  // Layers ARNs -> attached layers (each must exist), checking that code
  // (`code_unpacked` bytes) plus layers fit in the unpacked limit.
  ApiResult<std::vector<FunctionLayer>> attach_layers(const std::vector<std::string>& arns,
                                                      uint64_t code_unpacked) const;
  uint64_t layers_unpacked(const std::vector<FunctionLayer>& layers) const;
  // Requires mu_ held.
  Entry* entry_locked(const std::string& name);
  const Entry* entry_locked(const std::string& name) const;
  ApiResult<FunctionConfig> find_locked(const std::string& name, const std::string& qualifier,
                                        bool route) const;
  ApiResult<FunctionConfig> publish_locked(Entry& entry, const PublishVersionRequest& request);
  std::optional<ApiError> write_latest_locked(const FunctionConfig& config);

  std::string dir_;
  layers::ImageStore store_;
  std::unique_ptr<layers::LayerRegistry> layers_;
  mutable AliasRouter router_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> functions_;
  std::vector<std::string> warnings_;
};

// "2026-11-23T12:00:00.000+0000", Lambda's LastModified format.
std::string lambda_timestamp_now();
// "Function not found: arn:...:function:NAME[:QUALIFIER]" (404).
ApiError missing_function(std::string_view name, std::string_view qualifier = "");

}  // namespace thaw::agent
