#include "layers/mount_plan.h"

#include <set>

namespace thaw::layers {

std::vector<ImageMount> MountPlan::disks() const {
  std::vector<ImageMount> out{root, code};
  out.insert(out.end(), layers.begin(), layers.end());
  return out;
}

Result<MountPlan> build_mount_plan(const ImageStore& store, const std::string& runtime_image,
                                   const std::string& code_digest,
                                   const std::vector<std::string>& layer_digests,
                                   const ZipPolicy& policy) {
  if (layer_digests.size() > policy.max_layers) {
    return Error::format("{} layers requested, over the limit of {}; merge some layers",
                         layer_digests.size(), policy.max_layers);
  }
  if (runtime_image.empty()) return Error::format("mount plan: no runtime image given");
  MountPlan plan;
  plan.root = ImageMount{"", runtime_image, kRootTarget};
  auto lookup = [&](const std::string& digest, std::string_view what) -> Result<ImageInfo> {
    auto found = store.find(digest);
    if (!found) return std::move(found).error().context(what);
    if (!*found) {
      return Error::format("{}: no image with digest {} in the store; upload the ZIP again",
                           what, digest);
    }
    return std::move(**found);
  };
  auto code = lookup(code_digest, "function code");
  if (!code) return std::move(code).error();
  plan.code = ImageMount{code->digest, code->image_path, kCodeTarget};
  plan.unpacked_bytes = code->unpacked_bytes;
  std::set<std::string> seen;
  for (size_t i = 0; i < layer_digests.size(); ++i) {
    std::string what = fmt::format("layer {} of {}", i + 1, layer_digests.size());
    if (!seen.insert(layer_digests[i]).second) {
      return Error::format("{}: digest {} is listed twice; list each layer once", what,
                           layer_digests[i]);
    }
    auto layer = lookup(layer_digests[i], what);
    if (!layer) return std::move(layer).error();
    plan.unpacked_bytes += layer->unpacked_bytes;
    plan.layers.push_back(ImageMount{layer->digest, layer->image_path, kLayersTarget});
  }
  if (plan.unpacked_bytes > policy.max_unpacked_bytes) {
    return Error::format(
        "code and layers unpack to {} bytes together, over the limit of {} bytes; make the "
        "code or its layers smaller",
        plan.unpacked_bytes, policy.max_unpacked_bytes);
  }
  return plan;
}

}  // namespace thaw::layers
