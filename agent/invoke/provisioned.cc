// SandboxPool's concurrency settings: reserved and provisioned concurrency
// changes (validated, persisted, applied) and the once-a-second tick that
// keeps each provisioned version's sandboxes initialised.
#include <cstdio>

#include <fmt/format.h>

#include "agent/api/function_registry.h"
#include "agent/invoke/pool_slot.h"

namespace thaw::agent {

namespace {

std::optional<ApiError> store_error(const Error& e) {
  return ApiError{ApiErrorKind::kService,
                  fmt::format("saving the concurrency settings: {}", e.message)};
}

}  // namespace

std::optional<ApiError> SandboxPool::put_reserved(const std::string& function, uint32_t reserved) {
  ConcurrencySettings next = store_.settings();
  if (auto bad = check_reservation(next, settings_.max_sandboxes, function, reserved)) return bad;
  next.reserved[function] = reserved;
  if (auto saved = store_.replace(std::move(next)); !saved) return store_error(saved.error());
  return std::nullopt;
}

std::optional<ApiError> SandboxPool::delete_reserved(const std::string& function) {
  ConcurrencySettings next = store_.settings();
  if (next.reserved.erase(function) == 0) return std::nullopt;
  if (auto saved = store_.replace(std::move(next)); !saved) return store_error(saved.error());
  return std::nullopt;
}

std::optional<ApiError> SandboxPool::put_provisioned(const std::string& function,
                                                     const std::string& qualifier,
                                                     uint32_t requested) {
  ConcurrencySettings next = store_.settings();
  if (auto bad = check_provisioned(next, settings_.max_sandboxes, function, qualifier, requested)) {
    return bad;
  }
  next.provisioned[{function, qualifier}] = {requested, lambda_timestamp_now()};
  if (auto saved = store_.replace(std::move(next)); !saved) return store_error(saved.error());
  provisioning_[{function, qualifier}].failure.clear();
  provisioning_[{function, qualifier}].retry_after = {};
  maintain_provisioned();
  return std::nullopt;
}

std::optional<ApiError> SandboxPool::delete_provisioned(const std::string& function,
                                                        const std::string& qualifier) {
  ConcurrencySettings next = store_.settings();
  if (next.provisioned.erase({function, qualifier}) == 0) {
    return ApiError{ApiErrorKind::kResourceNotFound,
                    fmt::format("No Provisioned Concurrency Config found for this function: "
                                "{}:{}",
                                function_arn(kRegion, function), qualifier)};
  }
  if (auto saved = store_.replace(std::move(next)); !saved) return store_error(saved.error());
  maintain_provisioned();
  return std::nullopt;
}

void SandboxPool::forget_concurrency(const std::string& function, const std::string& qualifier) {
  ConcurrencySettings next = store_.settings();
  bool changed = qualifier.empty() && next.reserved.erase(function) > 0;
  changed |= std::erase_if(next.provisioned, [&](const auto& entry) {
               return entry.first.first == function &&
                      (qualifier.empty() || entry.first.second == qualifier);
             }) > 0;
  if (!changed) return;
  if (auto saved = store_.replace(std::move(next)); !saved) {
    std::fprintf(stderr, "thawd: %s was deleted but its concurrency settings stay: %s\n",
                 function.c_str(), saved.error().message.c_str());
    return;
  }
  maintain_provisioned();
}

std::optional<ProvisionedStatus> SandboxPool::provisioned_status(const std::string& function,
                                                                 const std::string& qualifier) const {
  const auto& all = store_.settings().provisioned;
  auto it = all.find({function, qualifier});
  if (it == all.end()) return std::nullopt;
  ProvisionedStatus st;
  st.requested = it->second.requested;
  st.last_modified = it->second.last_modified;
  for (const auto& s : slots_) {
    if (s->provisioned_for != it->first) continue;
    ++st.allocated;
    st.available += s->state == Slot::State::kIdle;
  }
  auto p = provisioning_.find(it->first);
  if (st.allocated >= st.requested) {
    st.status = "READY";
  } else if (p != provisioning_.end() && !p->second.failure.empty()) {
    st.status = "FAILED";
    st.status_reason = p->second.failure;
  } else {
    st.status = "IN_PROGRESS";
  }
  return st;
}

std::optional<FunctionConfig> SandboxPool::provisioned_target(const std::string& function,
                                                              const std::string& qualifier) const {
  // An alias means its FunctionVersion (no weighted routing here).
  auto found = registry_.find(function, qualifier);
  if (!found) return std::nullopt;
  return std::move(*found);
}

void SandboxPool::on_tick() { maintain_provisioned(); }

void SandboxPool::maintain_provisioned() {
  const auto& wanted = store_.settings().provisioned;
  auto now = Clock::now();
  std::vector<Slot*> doomed;
  // Sandboxes of entries that are gone, or that target another version now
  // (an alias moved, a version deleted), stop being provisioned.
  std::map<std::pair<std::string, std::string>, std::string> keys;
  for (const auto& [entry, request] : wanted) {
    auto& p = provisioning_[entry];
    auto target = provisioned_target(entry.first, entry.second);
    if (!target) {
      p.failure = fmt::format("{}:{} does not exist (deleted?); delete this provisioned "
                              "concurrency config or publish the version",
                              entry.first, entry.second);
      continue;
    }
    keys[entry] = pool_key(*target);
  }
  for (auto& s : slots_) {
    if (!s->provisioned()) continue;
    auto k = keys.find(s->provisioned_for);
    if (k == keys.end() || k->second != s->key) {
      if (s->state == Slot::State::kIdle) {
        doomed.push_back(s.get());
      } else {
        s->provisioned_for = {};  // an on-demand sandbox once it finishes
      }
    }
  }
  for (Slot* s : doomed) retire(*s);
  doomed.clear();
  std::erase_if(provisioning_, [&wanted](const auto& p) {
    return !wanted.contains(p.first) && p.second.starting == 0;
  });

  for (const auto& [entry, key] : keys) {
    uint32_t requested = wanted.at(entry).requested;
    auto& p = provisioning_[entry];
    uint32_t have = p.starting;
    for (auto& s : slots_) have += s->provisioned_for == entry;
    // Lowered: kill idle extras.
    for (auto& s : slots_) {
      if (have <= requested) break;
      if (s->provisioned_for == entry && s->state == Slot::State::kIdle) {
        doomed.push_back(s.get());
        --have;
      }
    }
    for (Slot* s : doomed) retire(*s);
    doomed.clear();
    if (have >= requested || now < p.retry_after) continue;
    auto target = provisioned_target(entry.first, entry.second);
    if (!target) continue;
    while (have < requested) {
      if (!make_room()) {
        p.failure = fmt::format("no free sandbox: {} of --max-sandboxes {} are busy or "
                                "provisioned; retrying",
                                slots_.size() + starting_, settings_.max_sandboxes);
        p.retry_after = now + std::chrono::seconds(1);
        break;
      }
      auto job = std::make_unique<ColdJob>();
      job->config = *target;
      job->generation = generation_of(entry.first, target->version);
      job->provisioned_for = entry;
      ++p.starting;
      ++have;
      start_cold(std::move(job));
    }
  }
}

}  // namespace thaw::agent
