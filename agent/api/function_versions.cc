// FunctionRegistry's published versions and aliases: PublishVersion (an
// immutable copy of $LATEST, numbered 1, 2, ... never reused), qualifier
// resolution for Invoke/GetFunction/DeleteFunction, and alias CRUD with
// Lambda's rules (versions must exist; a version an alias uses cannot go).
#include <fmt/format.h>

#include "agent/api/base64.h"
#include "agent/api/function_registry.h"

namespace thaw::agent {

namespace {

ApiError missing_alias(const std::string& name, const std::string& alias) {
  return {ApiErrorKind::kResourceNotFound,
          fmt::format("Alias not found: {}", qualified_function_arn(name, alias))};
}

std::optional<ApiError> check_qualifier(const std::string& qualifier) {
  if (qualifier.empty() || qualifier == "$LATEST" || parse_version_number(qualifier) ||
      !check_alias_name(qualifier)) {
    return std::nullopt;
  }
  return invalid_parameter(fmt::format(
      "Qualifier '{}' must be $LATEST, a version number or an alias name (1-128 of "
      "[a-zA-Z0-9-_])",
      qualifier.substr(0, 140)));
}

// Both versions an alias names must exist (404 naming the missing one).
std::optional<ApiError> check_alias_versions(const Alias& alias,
                                             const std::map<uint32_t, FunctionConfig>& versions) {
  for (const std::string* v :
       {&alias.function_version, alias.routing ? &alias.routing->version : nullptr}) {
    if (v != nullptr && *v != "$LATEST" && !versions.contains(*parse_version_number(*v))) {
      return missing_function(alias.function_name, *v);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<FunctionConfig> FunctionRegistry::get_version(const std::string& name,
                                                            const std::string& version) const {
  std::lock_guard lock(mu_);
  const Entry* e = entry_locked(name);
  if (e == nullptr) return std::nullopt;
  if (version == "$LATEST") return e->latest;
  auto n = parse_version_number(version);
  if (!n) return std::nullopt;
  auto it = e->versions.find(*n);
  if (it == e->versions.end()) return std::nullopt;
  return it->second;
}

ApiResult<FunctionConfig> FunctionRegistry::find_locked(const std::string& name,
                                                        const std::string& qualifier,
                                                        bool route) const {
  if (auto bad = check_qualifier(qualifier)) return *bad;
  const Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name, qualifier);
  if (qualifier.empty() || qualifier == "$LATEST") return e->latest;
  std::string version = qualifier;
  if (!parse_version_number(qualifier)) {
    auto alias = e->aliases.find(qualifier);
    if (alias == e->aliases.end()) return missing_function(name, qualifier);
    const Alias& a = alias->second;
    version = a.function_version;
    if (route && a.routing && a.routing->weight > 0) {
      version = router_.pick(a.function_version, a.routing->version, a.routing->weight);
    }
    if (version == "$LATEST") return e->latest;
  }
  auto it = e->versions.find(*parse_version_number(version));
  if (it == e->versions.end()) return missing_function(name, version);
  return it->second;
}

ApiResult<FunctionConfig> FunctionRegistry::resolve(const std::string& name,
                                                    const std::string& qualifier) {
  std::lock_guard lock(mu_);
  return find_locked(name, qualifier, true);
}

ApiResult<FunctionConfig> FunctionRegistry::find(const std::string& name,
                                                 const std::string& qualifier) const {
  std::lock_guard lock(mu_);
  return find_locked(name, qualifier, false);
}

ApiResult<FunctionConfig> FunctionRegistry::publish_version(const std::string& name,
                                                            const PublishVersionRequest& request) {
  std::lock_guard lock(mu_);
  Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name);
  return publish_locked(*e, request);
}

ApiResult<FunctionConfig> FunctionRegistry::publish_locked(Entry& e,
                                                           const PublishVersionRequest& request) {
  FunctionConfig& latest = e.latest;
  std::string sha = hex_to_base64(latest.code_digest).value_or("");
  if (!request.code_sha256.empty() && request.code_sha256 != sha) {
    return invalid_parameter(fmt::format(
        "CodeSHA256 ({}) is different from current CodeSHA256 in $LATEST ({}). Please try again "
        "with the CodeSHA256 in $LATEST.",
        request.code_sha256.substr(0, 64), sha));
  }
  if (auto bad = check_revision(request.revision_id, latest.revision_id, "$LATEST")) return *bad;
  // Lambda publishes nothing new for an unchanged $LATEST.
  if (!e.versions.empty() && same_code_and_settings(e.versions.rbegin()->second, latest)) {
    return e.versions.rbegin()->second;
  }
  if (latest.next_version == UINT32_MAX) {
    return ApiError{ApiErrorKind::kService,
                    fmt::format("function {} has used every version number", latest.name)};
  }
  FunctionConfig v = latest;
  v.version = std::to_string(latest.next_version);
  v.description = request.description.value_or(latest.description);
  v.last_modified = lambda_timestamp_now();
  v.revision_id = new_revision_id();
  v.next_version = 1;
  // The version record first: reloading derives the counter from it if the
  // $LATEST record below is not written.
  if (auto err = write_record(version_path(v.name, v.version), encode_function_record(v))) return *err;
  e.versions.emplace(latest.next_version, v);
  // The version is durable now, so it is returned even if the counter cannot
  // be written: reloading recounts from the version records.
  ++latest.next_version;
  (void)write_latest_locked(latest);
  return v;
}

ApiResult<std::vector<FunctionConfig>> FunctionRegistry::list_versions(const std::string& name) const {
  std::lock_guard lock(mu_);
  const Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name);
  std::vector<FunctionConfig> out{e->latest};
  for (const auto& [n, v] : e->versions) out.push_back(v);
  return out;
}

ApiResult<FunctionConfig> FunctionRegistry::remove_version(const std::string& name,
                                                           const std::string& qualifier) {
  if (qualifier == "$LATEST") {
    return invalid_parameter("$LATEST cannot be deleted on its own; call DeleteFunction without "
                             "a Qualifier to delete the function and all its versions");
  }
  auto n = parse_version_number(qualifier);
  if (!n) {
    if (auto bad = check_qualifier(qualifier)) return *bad;
    return invalid_parameter(fmt::format(
        "Qualifier '{}' is an alias; DeleteFunction deletes versions, DeleteAlias deletes aliases",
        qualifier));
  }
  std::lock_guard lock(mu_);
  Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name, qualifier);
  auto it = e->versions.find(*n);
  if (it == e->versions.end()) return missing_function(name, qualifier);
  std::string users;
  for (const auto& [alias_name, a] : e->aliases) {
    if (a.function_version == qualifier || (a.routing && a.routing->version == qualifier)) {
      users += (users.empty() ? "" : ", ") + alias_name;
    }
  }
  if (!users.empty()) {
    return ApiError{ApiErrorKind::kResourceConflict,
                    fmt::format("Unable to delete version {} of {}: aliases {} use it; update or "
                                "delete them first",
                                qualifier, name, users)};
  }
  if (auto err = remove_record(version_path(name, qualifier))) return *err;
  FunctionConfig removed = std::move(it->second);
  e->versions.erase(it);
  return removed;
}

ApiResult<Alias> FunctionRegistry::create_alias(const std::string& name, const AliasRequest& request) {
  std::lock_guard lock(mu_);
  Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name);
  if (e->aliases.contains(request.name)) {
    return ApiError{ApiErrorKind::kResourceConflict,
                    fmt::format("Alias already exists: {}", qualified_function_arn(name, request.name))};
  }
  Alias alias{name, request.name, "", "", new_revision_id(), std::nullopt};
  if (auto bad = apply_alias_request(request, alias)) return *bad;
  if (auto bad = check_alias_versions(alias, e->versions)) return *bad;
  if (auto err = write_record(alias_path(name, alias.name), encode_alias_record(alias))) return *err;
  return e->aliases.emplace(alias.name, alias).first->second;
}

ApiResult<Alias> FunctionRegistry::update_alias(const std::string& name, const AliasRequest& request) {
  std::lock_guard lock(mu_);
  Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name);
  auto it = e->aliases.find(request.name);
  if (it == e->aliases.end()) return missing_alias(name, request.name);
  if (auto bad = check_revision(request.revision_id, it->second.revision_id,
                                "alias " + request.name)) {
    return *bad;
  }
  Alias alias = it->second;
  if (auto bad = apply_alias_request(request, alias)) return *bad;
  if (auto bad = check_alias_versions(alias, e->versions)) return *bad;
  alias.revision_id = new_revision_id();
  if (auto err = write_record(alias_path(name, alias.name), encode_alias_record(alias))) return *err;
  it->second = alias;
  return alias;
}

ApiResult<Alias> FunctionRegistry::get_alias(const std::string& name, const std::string& alias) const {
  if (auto bad = check_alias_name(alias)) return *bad;
  std::lock_guard lock(mu_);
  const Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name);
  auto it = e->aliases.find(alias);
  if (it == e->aliases.end()) return missing_alias(name, alias);
  return it->second;
}

ApiResult<Alias> FunctionRegistry::remove_alias(const std::string& name, const std::string& alias) {
  if (auto bad = check_alias_name(alias)) return *bad;
  std::lock_guard lock(mu_);
  Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name);
  auto it = e->aliases.find(alias);
  if (it == e->aliases.end()) return missing_alias(name, alias);
  if (auto err = remove_record(alias_path(name, alias))) return *err;
  Alias removed = std::move(it->second);
  e->aliases.erase(it);
  return removed;
}

ApiResult<std::vector<Alias>> FunctionRegistry::list_aliases(
    const std::string& name, const std::optional<std::string>& function_version) const {
  std::lock_guard lock(mu_);
  const Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name);
  std::vector<Alias> out;
  for (const auto& [alias_name, a] : e->aliases) {
    if (!function_version || a.function_version == *function_version) out.push_back(a);
  }
  return out;
}

}  // namespace thaw::agent
