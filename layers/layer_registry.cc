#include "layers/layer_registry.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <ctime>

#include "common/file_util.h"
#include "layers/entry_path.h"
#include "layers/sha256.h"

namespace thaw::layers {

namespace json = boost::json;

namespace {

constexpr size_t kMaxNameBytes = 64;
constexpr size_t kMaxDescriptionBytes = 256;
constexpr size_t kMaxLicenseBytes = 512;
constexpr size_t kMaxRuntimes = 15;
constexpr size_t kMaxRuntimeBytes = 64;
constexpr size_t kMaxRecordFileBytes = 16 * 1024 * 1024;

std::string now_iso8601() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  time_t t = std::chrono::system_clock::to_time_t(now);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03}+0000", buf, ms.count());
}

json::object to_json(const LayerVersion& v) {
  json::array runtimes;
  for (const auto& r : v.compatible_runtimes) runtimes.emplace_back(r);
  return {{"version", v.version},           {"description", v.description},
          {"compatible_runtimes", runtimes}, {"license_info", v.license_info},
          {"digest", v.digest},             {"zip_bytes", v.zip_bytes},
          {"unpacked_bytes", v.unpacked_bytes}, {"created_date", v.created_date}};
}

// Field readers that name the file and field when a record is malformed.
struct Reader {
  const std::string& file;
  Result<std::string> str(const json::object& o, std::string_view key) const {
    const json::value* v = o.if_contains(key);
    if (!v || !v->is_string()) return Error::format("{}: '{}' is missing or not a string", file, key);
    return std::string(v->as_string());
  }
  Result<uint64_t> num(const json::object& o, std::string_view key) const {
    const json::value* v = o.if_contains(key);
    std::error_code ec;
    uint64_t n = v && v->is_number() ? v->to_number<uint64_t>(ec) : 0;
    if (!v || !v->is_number() || ec) {
      return Error::format("{}: '{}' is missing or not a non-negative integer", file, key);
    }
    return n;
  }
};

Result<LayerVersion> version_from_json(const json::value& jv, const std::string& name,
                                       const Reader& rd) {
  if (!jv.is_object()) return Error::format("{}: a version is not an object", rd.file);
  const json::object& o = jv.as_object();
  LayerVersion v;
  v.name = name;
  auto version = rd.num(o, "version");
  auto description = rd.str(o, "description");
  auto license = rd.str(o, "license_info");
  auto digest = rd.str(o, "digest");
  auto zip = rd.num(o, "zip_bytes");
  auto unpacked = rd.num(o, "unpacked_bytes");
  auto created = rd.str(o, "created_date");
  for (const Error* e : {version ? nullptr : &version.error(),
                         description ? nullptr : &description.error(),
                         license ? nullptr : &license.error(), digest ? nullptr : &digest.error(),
                         zip ? nullptr : &zip.error(), unpacked ? nullptr : &unpacked.error(),
                         created ? nullptr : &created.error()}) {
    if (e) return *e;
  }
  if (*version == 0 || *version > UINT32_MAX) {
    return Error::format("{}: version {} is out of range", rd.file, *version);
  }
  if (!is_sha256_hex(*digest)) {
    return Error::format("{}: version {} has a malformed digest", rd.file, *version);
  }
  v.version = static_cast<uint32_t>(*version);
  v.description = *description;
  v.license_info = *license;
  v.digest = *digest;
  v.zip_bytes = *zip;
  v.unpacked_bytes = *unpacked;
  v.created_date = *created;
  const json::value* rts = o.if_contains("compatible_runtimes");
  if (!rts || !rts->is_array()) {
    return Error::format("{}: 'compatible_runtimes' is missing or not an array", rd.file);
  }
  for (const auto& r : rts->as_array()) {
    if (!r.is_string()) return Error::format("{}: a compatible runtime is not a string", rd.file);
    v.compatible_runtimes.emplace_back(r.as_string());
  }
  return v;
}

}  // namespace

Result<void> LayerRegistry::check_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return Error::format("layer name '{}' must be 1 to {} characters long",
                         printable_name(name.substr(0, 80)), kMaxNameBytes);
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) {
      return Error::format("layer name '{}' may contain only letters, digits, '-' and '_'",
                           printable_name(name));
    }
  }
  return Ok();
}

Result<std::unique_ptr<LayerRegistry>> LayerRegistry::open(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::from_errno("mkdir {}", dir);
  }
  std::unique_ptr<LayerRegistry> reg(new LayerRegistry(dir));
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return Error::from_errno("opendir {}", dir);
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name.size() > 5 && name.ends_with(".json")) {
      if (auto r = reg->load_file(dir + "/" + name); !r) return std::move(r).error();
    } else if (name.find(".json.tmp.") != std::string::npos) {
      // A write_file_atomic() that died before its rename; the record it
      // was replacing is intact.
      ::unlink((dir + "/" + name).c_str());
    }
  }
  return reg;
}

Result<void> LayerRegistry::load_file(const std::string& file) {
  auto bytes = read_file(file, kMaxRecordFileBytes);
  if (!bytes) return std::move(bytes).error();
  std::error_code ec;
  json::value v = json::parse(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), ec);
  if (ec || !v.is_object()) {
    return Error::format("{} is not a JSON object ({}); restore it from a backup or delete it",
                         file, ec ? ec.message() : "wrong type");
  }
  Reader rd{file};
  const json::object& o = v.as_object();
  auto name = rd.str(o, "name");
  if (!name) return std::move(name).error();
  if (auto c = check_name(*name); !c) return c.error().context(file);
  if (file != dir_ + "/" + *name + ".json") {
    return Error::format("{} holds layer '{}'; the file name must match", file, *name);
  }
  auto next = rd.num(o, "next_version");
  if (!next) return std::move(next).error();
  Layer layer;
  layer.next_version = static_cast<uint32_t>(std::min<uint64_t>(*next, UINT32_MAX));
  const json::value* versions = o.if_contains("versions");
  if (!versions || !versions->is_array()) {
    return Error::format("{}: 'versions' is missing or not an array", file);
  }
  for (const auto& jv : versions->as_array()) {
    auto ver = version_from_json(jv, *name, rd);
    if (!ver) return std::move(ver).error();
    if (ver->version >= layer.next_version) {
      return Error::format("{}: version {} is not below next_version {}", file, ver->version,
                           layer.next_version);
    }
    uint32_t number = ver->version;
    if (!layer.versions.emplace(number, std::move(*ver)).second) {
      return Error::format("{}: version {} appears twice", file, number);
    }
  }
  layers_[*name] = std::move(layer);
  return Ok();
}

Result<void> LayerRegistry::save(const std::string& name, const Layer& layer) const {
  json::array versions;
  for (const auto& [_, v] : layer.versions) versions.emplace_back(to_json(v));
  json::object o{{"name", name}, {"next_version", layer.next_version}, {"versions", versions}};
  std::string text = json::serialize(o);
  return write_file_atomic(dir_ + "/" + name + ".json",
                           {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, 0600);
}

Result<LayerVersion> LayerRegistry::publish(const PublishLayer& request) {
  if (auto c = check_name(request.name); !c) return std::move(c).error();
  if (request.description.size() > kMaxDescriptionBytes) {
    return Error::format("layer description is {} bytes, over the limit of {}",
                         request.description.size(), kMaxDescriptionBytes);
  }
  if (request.license_info.size() > kMaxLicenseBytes) {
    return Error::format("layer license info is {} bytes, over the limit of {}",
                         request.license_info.size(), kMaxLicenseBytes);
  }
  if (request.compatible_runtimes.size() > kMaxRuntimes) {
    return Error::format("{} compatible runtimes given, over the limit of {}",
                         request.compatible_runtimes.size(), kMaxRuntimes);
  }
  for (const auto& r : request.compatible_runtimes) {
    bool plain = std::all_of(r.begin(), r.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    });
    if (r.empty() || r.size() > kMaxRuntimeBytes || !plain) {
      return Error::format(
          "compatible runtime '{}' must be 1 to {} characters of a-z, 0-9, '.', '-', '_' "
          "(e.g. python3.11)",
                           printable_name(r.substr(0, 80)), kMaxRuntimeBytes);
    }
  }
  if (!is_sha256_hex(request.image.digest)) {
    return Error::format("layer '{}': the image digest is malformed; upload the ZIP first",
                         request.name);
  }
  std::lock_guard guard(mu_);
  auto found = layers_.find(request.name);
  Layer updated = found == layers_.end() ? Layer{} : found->second;
  if (updated.next_version == UINT32_MAX) {
    return Error::format("layer '{}' has used every version number", request.name);
  }
  LayerVersion v{request.name,          updated.next_version,     request.description,
                 request.compatible_runtimes, request.license_info, request.image.digest,
                 request.image.zip_bytes, request.image.unpacked_bytes, now_iso8601()};
  updated.versions[v.version] = v;
  ++updated.next_version;
  // Persist first; memory changes only once the record is durable.
  if (auto s = save(request.name, updated); !s) return std::move(s).error();
  layers_[request.name] = std::move(updated);
  return v;
}

Result<LayerVersion> LayerRegistry::get(const std::string& name, uint32_t version) const {
  std::lock_guard guard(mu_);
  auto it = layers_.find(name);
  if (it != layers_.end()) {
    auto v = it->second.versions.find(version);
    if (v != it->second.versions.end()) return v->second;
  }
  return Error::format("layer version {}:{} does not exist; list versions with "
                       "ListLayerVersions",
                       name, version);
}

std::vector<LayerVersion> LayerRegistry::list_versions(const std::string& name) const {
  std::lock_guard guard(mu_);
  std::vector<LayerVersion> out;
  auto it = layers_.find(name);
  if (it == layers_.end()) return out;
  for (const auto& [_, v] : it->second.versions) out.push_back(v);
  return out;
}

std::vector<LayerVersion> LayerRegistry::latest_versions() const {
  std::lock_guard guard(mu_);
  std::vector<LayerVersion> out;
  for (const auto& [_, layer] : layers_) {
    if (!layer.versions.empty()) out.push_back(layer.versions.rbegin()->second);
  }
  return out;
}

Result<void> LayerRegistry::remove(const std::string& name, uint32_t version) {
  std::lock_guard guard(mu_);
  auto it = layers_.find(name);
  if (it == layers_.end() || !it->second.versions.count(version)) {
    return Error::format("layer version {}:{} does not exist", name, version);
  }
  // The file (with next_version) stays even when empty, so numbers are never reused.
  Layer updated = it->second;
  updated.versions.erase(version);
  if (auto s = save(name, updated); !s) return s;
  it->second = std::move(updated);
  return Ok();
}

std::set<std::string> LayerRegistry::referenced_digests() const {
  std::lock_guard guard(mu_);
  std::set<std::string> out;
  for (const auto& [_, layer] : layers_) {
    for (const auto& [__, v] : layer.versions) out.insert(v.digest);
  }
  return out;
}

}  // namespace thaw::layers
