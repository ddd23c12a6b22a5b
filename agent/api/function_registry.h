// The function registry: every function's $LATEST configuration, its code
// converted once into the layers ImageStore, one JSON record per function
// under <state>/functions/ written atomically, reloaded on restart.
// Thread-safe: the API calls it from the loop and from worker threads.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/api/function_config.h"
#include "layers/image_store.h"

namespace thaw::agent {

class FunctionRegistry {
 public:
  // Loads every record under <state_dir>/functions. A damaged record is
  // skipped and reported in load_warnings(), never half-loaded.
  static Result<std::unique_ptr<FunctionRegistry>> open(const std::string& state_dir,
                                                        layers::StoreOptions store_options);

  // Converts the ZIP (hostile input: refusals are InvalidParameterValue),
  // then records the function. An existing name is ResourceConflict.
  ApiResult<FunctionConfig> create(CreateFunctionRequest request);
  std::optional<FunctionConfig> get(const std::string& name) const;
  std::vector<FunctionConfig> list() const;  // sorted by name
  ApiResult<FunctionConfig> remove(const std::string& name);
  // The EROFS image of a function's code.
  Result<std::string> code_image(const FunctionConfig& config) const;

  const std::vector<std::string>& load_warnings() const { return warnings_; }

 private:
  FunctionRegistry(std::string dir, layers::ImageStore store);
  std::string record_path(const std::string& name) const;

  std::string dir_;
  layers::ImageStore store_;
  mutable std::mutex mu_;
  std::map<std::string, FunctionConfig> functions_;
  std::vector<std::string> warnings_;
};

// "2026-11-23T12:00:00.000+0000", Lambda's LastModified format.
std::string lambda_timestamp_now();

}  // namespace thaw::agent
