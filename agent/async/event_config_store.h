// Every function's event invoke configs (one per qualifier), persisted as one
// JSON file per function under <state>/event-invoke-config/ written
// atomically and reloaded at start (a damaged file is skipped with a
// warning, never half-loaded). Thread-safe: the routes write it on the loop's
// worker, the dispatcher reads it from its threads.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/async/event_invoke_config.h"
#include "common/result.h"

namespace thaw::agent {

class EventConfigStore {
 public:
  static Result<std::unique_ptr<EventConfigStore>> open(const std::string& state_dir);

  std::optional<EventInvokeConfig> get(const std::string& function,
                                       const std::string& qualifier) const;
  // qualifier -> config, for ListFunctionEventInvokeConfigs.
  std::map<std::string, EventInvokeConfig> list(const std::string& function) const;
  Result<void> put(const std::string& function, const std::string& qualifier,
                   const EventInvokeConfig& config);
  // False when there was none.
  Result<bool> remove(const std::string& function, const std::string& qualifier);
  // Every qualifier's config (DeleteFunction without a qualifier).
  Result<void> remove_function(const std::string& function);

  const std::vector<std::string>& load_warnings() const { return warnings_; }

 private:
  explicit EventConfigStore(std::string dir) : dir_(std::move(dir)) {}
  Result<void> persist(const std::string& function);  // holds mu_

  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, EventInvokeConfig>> configs_;
  std::vector<std::string> warnings_;
};

}  // namespace thaw::agent
