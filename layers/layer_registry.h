// Layer versions as Lambda's PublishLayerVersion creates them: a name, a
// version number that only grows (never reused after a delete), compatible
// runtimes, and the digest of the image in the ImageStore. One JSON file per
// layer name under the registry directory, replaced atomically. Used by the
// agent's API handlers and by gc (referenced_digests).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "layers/image_store.h"

namespace thaw::layers {

struct LayerVersion {
  std::string name;
  uint32_t version = 0;  // 1, 2, ...
  std::string description;
  std::vector<std::string> compatible_runtimes;
  std::string license_info;
  std::string digest;
  uint64_t zip_bytes = 0;       // Lambda's CodeSize
  uint64_t unpacked_bytes = 0;  // counts toward a function's 250 MB
  std::string created_date;     // ISO 8601, Lambda's form: 2026-11-23T11:30:00.000+0000
};

struct PublishLayer {
  std::string name;
  std::string description;
  std::vector<std::string> compatible_runtimes;
  std::string license_info;
  ImageInfo image;  // from ImageStore::put of the layer's ZIP
};

class LayerRegistry {
 public:
  // Loads every record under `dir` (created if missing); a malformed file is
  // an error naming it, never silently skipped.
  static Result<std::unique_ptr<LayerRegistry>> open(const std::string& dir);

  // Lambda limits: name 1-64 of [A-Za-z0-9_-]; description <= 256 bytes;
  // <= 15 compatible runtimes; license <= 512 bytes.
  Result<LayerVersion> publish(const PublishLayer& request);
  Result<LayerVersion> get(const std::string& name, uint32_t version) const;
  // Oldest first; empty when the layer has none.
  std::vector<LayerVersion> list_versions(const std::string& name) const;
  // The newest version of every layer, by name.
  std::vector<LayerVersion> latest_versions() const;
  Result<void> remove(const std::string& name, uint32_t version);
  std::set<std::string> referenced_digests() const;

  static Result<void> check_name(const std::string& name);

 private:
  struct Layer {
    uint32_t next_version = 1;
    std::map<uint32_t, LayerVersion> versions;
  };
  explicit LayerRegistry(std::string dir) : dir_(std::move(dir)) {}
  Result<void> load_file(const std::string& file);
  Result<void> save(const std::string& name, const Layer& layer) const;

  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, Layer> layers_;
};

}  // namespace thaw::layers
