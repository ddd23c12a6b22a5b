// FunctionRegistry's layer side: PublishLayerVersion and friends over the
// layers LayerRegistry and the shared ImageStore, attaching layer versions to
// functions (existence, the 250 MB unpacked limit of code plus layers), and
// opening the layer records so that one damaged file cannot stop thawd.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "agent/api/function_registry.h"
#include "common/file_util.h"

namespace thaw::agent {
namespace fs = std::filesystem;

namespace {

// A store refusal of a hostile or over-limit ZIP is the caller's fault; a
// failing disk is ours.
ApiError store_error(const Error& e, std::string_view field) {
  if (e.sys_errno != 0) {
    return ApiError{ApiErrorKind::kService, fmt::format("storing {}: {}", field, e.message)};
  }
  return invalid_parameter(fmt::format("{}: {}", field, e.message));
}

ApiError layer_not_found(const std::string& name, uint32_t version) {
  return {ApiErrorKind::kResourceNotFound,
          fmt::format("Layer version {} does not exist; list them with ListLayerVersions",
                      layer_version_arn(name, version))};
}

}  // namespace

Result<std::unique_ptr<layers::LayerRegistry>> FunctionRegistry::open_layer_registry(
    const std::string& dir, std::vector<std::string>& warnings) {
  auto all = layers::LayerRegistry::open(dir);
  if (all) return all;
  // LayerRegistry refuses a directory with any bad record. Find the bad ones
  // by opening each record alone in a scratch directory, set them aside, and
  // load the rest.
  std::string scratch = dir + "/.check";
  std::error_code ec;
  std::vector<fs::path> records;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".json") records.push_back(entry.path());
  }
  for (const auto& record : records) {
    remove_tree(scratch);
    if (::mkdir(scratch.c_str(), 0700) < 0) return Error::from_errno("mkdir {}", scratch);
    std::string copy = scratch + "/" + record.filename().string();
    fs::copy_file(record, copy, ec);
    auto alone = ec ? Result<std::unique_ptr<layers::LayerRegistry>>(Error{ec.message(), 0})
                    : layers::LayerRegistry::open(scratch);
    if (!alone) {
      std::string aside = record.string() + ".damaged";
      if (::rename(record.c_str(), aside.c_str()) < 0) {
        return Error::from_errno("setting the damaged layer record {} aside", record.string());
      }
      warnings.push_back(fmt::format("skipped layer record {} ({}); moved to {}: fix it and "
                                     "rename it back, or remove it",
                                     record.string(), alone.error().message, aside));
    }
  }
  remove_tree(scratch);
  return layers::LayerRegistry::open(dir);
}

uint64_t FunctionRegistry::layers_unpacked(const std::vector<FunctionLayer>& layers) const {
  uint64_t total = 0;
  for (const auto& l : layers) {
    auto info = store_.find(l.digest);
    if (info && *info) total += (*info)->unpacked_bytes;
  }
  return total;
}

ApiResult<layers::ImageInfo> FunctionRegistry::store_code(std::span<const uint8_t> zip,
                                                          const std::vector<FunctionLayer>& layers,
                                                          std::string_view field) {
  uint64_t limit = store_.policy().max_unpacked_bytes;
  uint64_t used = layers_unpacked(layers);
  auto image = store_.put(zip, used >= limit ? 0 : limit - used);
  if (!image) return store_error(image.error(), field);
  return std::move(*image);
}

ApiResult<std::vector<FunctionLayer>> FunctionRegistry::attach_layers(
    const std::vector<std::string>& arns, uint64_t code_unpacked) const {
  std::vector<FunctionLayer> attached;
  uint64_t unpacked = code_unpacked;
  for (const auto& arn : arns) {
    auto ref = parse_layer_version_arn(arn);
    if (!ref) return ref.error();
    auto version = layers_->get(ref->name, ref->version);
    if (!version) {
      return invalid_parameter(fmt::format(
          "Layers: layer version {} does not exist; publish it with PublishLayerVersion", arn));
    }
    unpacked += version->unpacked_bytes;
    attached.push_back({arn, version->digest, version->zip_bytes});
  }
  uint64_t limit = store_.policy().max_unpacked_bytes;
  if (unpacked > limit) {
    return invalid_parameter(fmt::format(
        "Layers: the function's code and layers unpack to {} bytes, over the limit of {} "
        "bytes; use fewer or smaller layers",
        unpacked, limit));
  }
  return attached;
}

ApiResult<layers::LayerVersion> FunctionRegistry::publish_layer_version(PublishLayerRequest request) {
  auto image = store_.put(request.zip);
  if (!image) return store_error(image.error(), "Content.ZipFile");
  auto published = layers_->publish({request.name, request.description,
                                     request.compatible_runtimes, request.license_info, *image});
  if (!published) {
    const Error& e = published.error();
    if (e.sys_errno != 0) {
      return ApiError{ApiErrorKind::kService,
                      fmt::format("persisting layer {}: {}", request.name, e.message)};
    }
    return invalid_parameter(e.message);
  }
  return std::move(*published);
}

ApiResult<layers::LayerVersion> FunctionRegistry::get_layer_version(const std::string& name,
                                                                    uint32_t version) const {
  auto found = layers_->get(name, version);
  if (!found) return layer_not_found(name, version);
  return std::move(*found);
}

std::vector<layers::LayerVersion> FunctionRegistry::list_layer_versions(const std::string& name) const {
  return layers_->list_versions(name);
}

std::vector<layers::LayerVersion> FunctionRegistry::list_layers() const {
  return layers_->latest_versions();
}

ApiResult<layers::LayerVersion> FunctionRegistry::remove_layer_version(const std::string& name,
                                                                       uint32_t version) {
  auto found = layers_->get(name, version);
  if (!found) return layer_not_found(name, version);
  // Functions that use it keep its image (their records hold the digest).
  auto removed = layers_->remove(name, version);
  if (!removed) {
    return ApiError{ApiErrorKind::kService,
                    fmt::format("deleting layer version {}: {}", layer_version_arn(name, version),
                                removed.error().message)};
  }
  return std::move(*found);
}

}  // namespace thaw::agent
