#include "agent/async/event_config_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <boost/json.hpp>

#include "agent/api/function_config.h"
#include "agent/api/json_fields.h"
#include "common/file_util.h"

namespace thaw::agent {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr uint32_t kRecordVersion = 1;
constexpr size_t kMaxRecordBytes = 1u << 20;

Result<std::map<std::string, EventInvokeConfig>> decode_record(std::span<const uint8_t> bytes) {
  auto doc = parse_record_object(bytes);
  if (!doc) return std::move(doc).error();
  auto* version = doc->if_contains("record_version");
  if (version == nullptr || !version->is_int64() || version->as_int64() != kRecordVersion) {
    return Error::format("record_version is not {}", kRecordVersion);
  }
  auto* configs = doc->if_contains("configs");
  if (configs == nullptr || !configs->is_object()) return Error::format("'configs' is not an object");
  std::map<std::string, EventInvokeConfig> out;
  for (const auto& [qualifier, value] : configs->as_object()) {
    if (qualifier.empty() || qualifier.size() > 128) {
      return Error::format("qualifier '{}' is not 1-128 bytes", std::string_view(qualifier));
    }
    auto c = decode_event_invoke_config(value);
    if (!c) return c.error().context(fmt::format("qualifier {}", std::string_view(qualifier)));
    out[std::string(qualifier)] = std::move(*c);
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<EventConfigStore>> EventConfigStore::open(const std::string& state_dir) {
  std::string dir = state_dir + "/event-invoke-config";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error::format("creating {}: {}", dir, ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) return Error::from_errno("chmod {}", dir);
  std::unique_ptr<EventConfigStore> store(new EventConfigStore(dir));
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename();
    if (name.find(".json.tmp.") != std::string::npos) {
      fs::remove(entry.path(), ec);
      continue;
    }
    std::string function = name.ends_with(".json") ? name.substr(0, name.size() - 5) : "";
    std::string why;
    if (check_function_name(function)) {
      why = "its name is not <function>.json";
    } else if (auto bytes = read_file(entry.path(), kMaxRecordBytes); !bytes) {
      why = bytes.error().message;
    } else if (auto configs = decode_record(*bytes); !configs) {
      why = configs.error().message;
    } else {
      store->configs_[function] = std::move(*configs);
      continue;
    }
    store->warnings_.push_back("skipped event invoke config " + entry.path().string() + ": " + why);
  }
  if (ec) return Error::format("listing {}: {}", dir, ec.message());
  return store;
}

std::optional<EventInvokeConfig> EventConfigStore::get(const std::string& function,
                                                       const std::string& qualifier) const {
  std::lock_guard lock(mu_);
  auto f = configs_.find(function);
  if (f == configs_.end()) return std::nullopt;
  auto q = f->second.find(qualifier);
  if (q == f->second.end()) return std::nullopt;
  return q->second;
}

std::map<std::string, EventInvokeConfig> EventConfigStore::list(const std::string& function) const {
  std::lock_guard lock(mu_);
  auto f = configs_.find(function);
  return f == configs_.end() ? std::map<std::string, EventInvokeConfig>{} : f->second;
}

Result<void> EventConfigStore::persist(const std::string& function) {
  std::string path = dir_ + "/" + function + ".json";
  auto f = configs_.find(function);
  if (f == configs_.end() || f->second.empty()) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::from_errno("unlink {}", path);
    return Ok();
  }
  json::object configs;
  for (const auto& [qualifier, c] : f->second) configs[qualifier] = encode_event_invoke_config(c);
  std::string text =
      json::serialize(json::object{{"record_version", kRecordVersion}, {"configs", configs}});
  return write_file_atomic(path, {reinterpret_cast<const uint8_t*>(text.data()), text.size()},
                           0600);
}

Result<void> EventConfigStore::put(const std::string& function, const std::string& qualifier,
                                   const EventInvokeConfig& config) {
  std::lock_guard lock(mu_);
  auto& fn = configs_[function];
  std::optional<EventInvokeConfig> old;
  if (auto it = fn.find(qualifier); it != fn.end()) old = it->second;
  fn[qualifier] = config;
  auto written = persist(function);
  if (!written) {  // memory stays what the disk says
    if (old) {
      fn[qualifier] = *old;
    } else {
      fn.erase(qualifier);
      if (fn.empty()) configs_.erase(function);
    }
  }
  return written;
}

Result<bool> EventConfigStore::remove(const std::string& function, const std::string& qualifier) {
  std::lock_guard lock(mu_);
  auto f = configs_.find(function);
  if (f == configs_.end() || !f->second.contains(qualifier)) return false;
  EventInvokeConfig old = f->second[qualifier];
  f->second.erase(qualifier);
  auto written = persist(function);
  if (!written) {
    f->second[qualifier] = old;
    return std::move(written).error();
  }
  if (f->second.empty()) configs_.erase(f);
  return true;
}

Result<void> EventConfigStore::remove_function(const std::string& function) {
  std::lock_guard lock(mu_);
  if (configs_.erase(function) == 0) return Ok();
  return persist(function);  // no configs left: unlinks the file
}

}  // namespace thaw::agent
