#include "agent/api/function_registry.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include <fmt/chrono.h>

#include "common/file_util.h"

namespace thaw::agent {
namespace fs = std::filesystem;

namespace {
constexpr size_t kMaxRecordBytes = 64u << 10;
constexpr std::string_view kRecordSuffix = ".json";

}  // namespace

std::string lambda_timestamp_now() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}+0000", tm, static_cast<int>(ms % 1000));
}

ApiError missing_function(std::string_view name, std::string_view qualifier) {
  return {ApiErrorKind::kResourceNotFound,
          fmt::format("Function not found: {}", qualified_function_arn(name, qualifier))};
}

Result<std::unique_ptr<FunctionRegistry>> FunctionRegistry::open(const std::string& state_dir,
                                                                 layers::StoreOptions store_options,
                                                                 uint64_t routing_seed) {
  std::string dir = state_dir + "/functions";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error::format("creating {}: {}", dir, ec.message());
  ::chmod(dir.c_str(), 0700);
  auto store = layers::ImageStore::open(std::move(store_options));
  if (!store) return std::move(store).error().context("opening the image store");
  std::vector<std::string> warnings;
  auto layer_registry = open_layer_registry(state_dir + "/layers", warnings);
  if (!layer_registry) return std::move(layer_registry).error().context("opening the layer registry");
  std::unique_ptr<FunctionRegistry> reg(
      new FunctionRegistry(dir, std::move(*store), std::move(*layer_registry), routing_seed));
  reg->warnings_ = std::move(warnings);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string file = entry.path().filename().string();
    // Temp files of an interrupted write_file_atomic are not records.
    if (!file.ends_with(kRecordSuffix) || file.starts_with(".")) continue;
    auto bytes = read_file(entry.path().string(), kMaxRecordBytes);
    Result<FunctionConfig> config =
        bytes ? decode_function_record(*bytes) : Result<FunctionConfig>(bytes.error());
    std::string expected_name = file.substr(0, file.size() - kRecordSuffix.size());
    if (config && config->name != expected_name) {
      config = Error::format("it names function '{}'", config->name);
    }
    if (config && config->version != "$LATEST") {
      config = Error::format("it holds version {}, not $LATEST", config->version);
    }
    if (!config) {
      reg->warnings_.push_back(fmt::format("skipped function record {}: {}; fix or remove the file",
                                           entry.path().string(), config.error().message));
      continue;
    }
    Entry loaded{std::move(*config), {}, {}};
    reg->load_extras(loaded);
    std::string name = loaded.latest.name;
    reg->functions_.emplace(std::move(name), std::move(loaded));
  }
  if (ec) return Error::format("listing {}: {}", dir, ec.message());
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string file = entry.path().filename().string();
    if (!file.ends_with(".d") || reg->functions_.contains(file.substr(0, file.size() - 2))) continue;
    reg->warnings_.push_back(fmt::format(
        "left {} alone: the versions and aliases of a function whose record did not load; "
        "restore its .json record, or remove the directory (CreateFunction of that name "
        "replaces it)",
        entry.path().string()));
  }
  return reg;
}

FunctionRegistry::FunctionRegistry(std::string dir, layers::ImageStore store,
                                   std::unique_ptr<layers::LayerRegistry> layers,
                                   uint64_t routing_seed)
    : dir_(std::move(dir)),
      store_(std::move(store)),
      layers_(std::move(layers)),
      router_(routing_seed) {}

FunctionRegistry::Entry* FunctionRegistry::entry_locked(const std::string& name) {
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : &it->second;
}

const FunctionRegistry::Entry* FunctionRegistry::entry_locked(const std::string& name) const {
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : &it->second;
}

std::optional<ApiError> FunctionRegistry::write_latest_locked(const FunctionConfig& config) {
  return write_record(record_path(config.name), encode_function_record(config));
}

ApiResult<FunctionConfig> FunctionRegistry::create(CreateFunctionRequest request) {
  FunctionConfig& c = request.config;
  auto conflict = [&c] {
    return ApiError{ApiErrorKind::kResourceConflict,
                    fmt::format("Function already exist: {}", c.name)};
  };
  {
    std::lock_guard lock(mu_);
    if (functions_.contains(c.name)) return conflict();
  }
  auto attached = attach_layers(request.layer_arns, 0);
  if (!attached) return attached.error();
  c.layers = std::move(*attached);
  // Conversion takes a while for big packages: do it outside the lock (the
  // store serialises puts of the same ZIP itself).
  auto image = store_code(request.zip, c.layers, "Code.ZipFile");
  if (!image) return image.error();
  c.version = "$LATEST";
  c.code_digest = image->digest;
  c.code_size = image->zip_bytes;
  c.last_modified = lambda_timestamp_now();
  c.revision_id = new_revision_id();
  c.next_version = 1;
  std::lock_guard lock(mu_);
  if (functions_.contains(c.name)) return conflict();
  // Versions and aliases an earlier function of this name left behind (its
  // record was damaged or removed by hand) must not join the new one.
  remove_tree(extras_dir(c.name));
  if (auto e = write_latest_locked(c)) return *e;
  Entry& entry = functions_.emplace(c.name, Entry{c, {}, {}}).first->second;
  if (!request.publish) return c;
  auto published = publish_locked(entry, PublishVersionRequest{});
  if (!published) {
    return ApiError{ApiErrorKind::kService,
                    fmt::format("function {} was created but publishing version 1 failed: {}; "
                                "call PublishVersion",
                                c.name, published.error().message)};
  }
  return published;
}

std::optional<FunctionConfig> FunctionRegistry::get(const std::string& name) const {
  std::lock_guard lock(mu_);
  const Entry* e = entry_locked(name);
  if (e == nullptr) return std::nullopt;
  return e->latest;
}

std::vector<FunctionConfig> FunctionRegistry::list(bool all_versions) const {
  std::lock_guard lock(mu_);
  std::vector<FunctionConfig> out;
  out.reserve(functions_.size());
  for (const auto& [name, e] : functions_) {
    out.push_back(e.latest);
    if (!all_versions) continue;
    for (const auto& [n, v] : e.versions) out.push_back(v);
  }
  return out;
}

ApiResult<FunctionConfig> FunctionRegistry::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return missing_function(name);
  // The $LATEST record goes first: without it the rest is never loaded.
  if (auto err = remove_record(record_path(name))) return *err;
  remove_tree(extras_dir(name));
  FunctionConfig removed = std::move(it->second.latest);
  functions_.erase(it);
  return removed;
}

ApiResult<FunctionConfig> FunctionRegistry::update_code(const std::string& name,
                                                        UpdateCodeRequest request) {
  std::vector<FunctionLayer> layers;
  {
    std::lock_guard lock(mu_);
    const Entry* e = entry_locked(name);
    if (e == nullptr) return missing_function(name);
    if (auto bad = check_revision(request.revision_id, e->latest.revision_id, "$LATEST")) return *bad;
    layers = e->latest.layers;
  }
  auto image = store_code(request.zip, layers, "ZipFile");
  if (!image) return image.error();
  std::lock_guard lock(mu_);
  Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name);  // deleted while converting
  if (auto bad = check_revision(request.revision_id, e->latest.revision_id, "$LATEST")) return *bad;
  FunctionConfig updated = e->latest;
  updated.code_digest = image->digest;
  updated.code_size = image->zip_bytes;
  updated.last_modified = lambda_timestamp_now();
  updated.revision_id = new_revision_id();
  if (auto err = write_latest_locked(updated)) return *err;
  e->latest = std::move(updated);
  if (request.publish) return publish_locked(*e, PublishVersionRequest{});
  return e->latest;
}

ApiResult<FunctionConfig> FunctionRegistry::update_configuration(
    const std::string& name, const UpdateConfigurationRequest& request) {
  std::lock_guard lock(mu_);
  Entry* e = entry_locked(name);
  if (e == nullptr) return missing_function(name);
  if (auto bad = check_revision(request.revision_id, e->latest.revision_id, "$LATEST")) return *bad;
  FunctionConfig updated = e->latest;
  std::optional<std::vector<std::string>> layer_arns;
  if (auto bad = read_function_settings(request.fields, updated, layer_arns)) return *bad;
  if (auto bad = validate_function_config(updated)) return *bad;
  if (layer_arns) {
    auto code = store_.find(updated.code_digest);
    uint64_t code_unpacked = code && *code ? (*code)->unpacked_bytes : 0;
    auto attached = attach_layers(*layer_arns, code_unpacked);
    if (!attached) return attached.error();
    updated.layers = std::move(*attached);
  }
  updated.last_modified = lambda_timestamp_now();
  updated.revision_id = new_revision_id();
  if (auto err = write_latest_locked(updated)) return *err;
  e->latest = std::move(updated);
  return e->latest;
}

Result<std::string> FunctionRegistry::code_image(const FunctionConfig& config) const {
  auto info = store_.find(config.code_digest);
  if (!info) return std::move(info).error();
  if (!*info) {
    return Error::format("the code image {} of function {} is missing from the image store",
                         config.code_digest, config.name);
  }
  return (*info)->image_path;
}

Result<std::vector<std::string>> FunctionRegistry::layer_images(const FunctionConfig& config) const {
  std::vector<std::string> paths;
  for (const auto& layer : config.layers) {
    auto info = store_.find(layer.digest);
    if (!info) return std::move(info).error();
    if (!*info) {
      return Error::format("the image {} of layer {} (function {}) is missing from the image "
                           "store; publish the layer again and update the function's Layers",
                           layer.digest, layer.arn, config.name);
    }
    paths.push_back((*info)->image_path);
  }
  return paths;
}

}  // namespace thaw::agent
