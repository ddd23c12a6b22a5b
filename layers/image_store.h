// The content-addressed store of read-only EROFS images made from code and
// layer ZIPs. Key = SHA-256 of the ZIP bytes; a ZIP uploaded twice (or by two
// callers at once) is converted once; a crash mid-conversion leaves nothing
// visible, and open() removes the leftovers. Used by the agent (thawd).
//
//   <state_dir>/images/<digest>.erofs   the image (0444), present = ready
//   <state_dir>/images/<digest>.json    its facts (sizes, counts), written first
//   <state_dir>/tmp/<digest>.XXXXXX/    one conversion in progress (image staged here)
//   <scratch_dir>/<digest>.XXXXXX/      its unpacked tree, when scratch_dir is set
//   <state_dir>/locks/<digest>.lock     flock serialising work on one digest
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "layers/erofs_builder.h"
#include "layers/zip_policy.h"

namespace thaw::layers {

struct ImageInfo {
  std::string digest;      // SHA-256 of the ZIP, 64 lowercase hex digits
  std::string image_path;  // absolute or as state_dir was given
  uint64_t zip_bytes = 0;
  uint64_t unpacked_bytes = 0;  // counts toward the 250 MB code + layers limit
  uint64_t nodes = 0;           // files, directories and symlinks
  uint64_t image_bytes = 0;
};

struct StoreOptions {
  std::string state_dir;
  ZipPolicy policy;
  std::string mkfs_path;  // empty: look for mkfs.erofs in /usr/sbin:/usr/bin:/sbin:/bin
  ImageCompression compression = ImageCompression::kNone;
  // Where packages are unpacked before mkfs.erofs reads them; empty means
  // <state_dir>/tmp. A tmpfs (e.g. /run/thaw/unpack) roughly halves the
  // conversion's CPU time: the tree is read once and deleted, so it need
  // never reach a disk. Needs room for one unpacked package per concurrent put.
  std::string scratch_dir;
  // gc() spares images created or re-uploaded this recently, so an upload
  // whose function record is not yet written cannot lose its image.
  std::chrono::seconds gc_grace{std::chrono::minutes(10)};
};

struct GcReport {
  std::vector<std::string> removed;      // digests deleted
  uint64_t bytes_freed = 0;
  std::vector<std::string> kept_in_use;  // unreferenced but used by a live sandbox
  std::vector<std::string> kept_young;   // unreferenced but inside the grace period
  std::vector<std::string> kept_busy;    // being converted or locked right now
};

class ImageStore {
 public:
  // Creates the directories if needed and removes what crashed conversions
  // left (temp trees, half-written records) unless another process is
  // working on that digest right now.
  static Result<ImageStore> open(StoreOptions options);

  // Checks, unpacks and converts `zip`, or returns the existing image.
  // `unpacked_budget` (default: the policy's whole 250 MB) is what is left
  // for this package once the function's other packages are counted.
  Result<ImageInfo> put(std::span<const uint8_t> zip,
                        std::optional<uint64_t> unpacked_budget = std::nullopt);
  Result<ImageInfo> put_file(const std::string& zip_path,
                             std::optional<uint64_t> unpacked_budget = std::nullopt);

  // nullopt when no image has that digest; an error when the digest is
  // malformed or the record is unreadable.
  Result<std::optional<ImageInfo>> find(std::string_view digest) const;
  Result<std::vector<ImageInfo>> list() const;

  // Deletes every image neither `referenced` (by a function or layer
  // version) nor `in_use` (by a live sandbox), outside the grace period.
  Result<GcReport> gc(const std::set<std::string>& referenced,
                      const std::set<std::string>& in_use);

  const ZipPolicy& policy() const { return options_.policy; }
  // Paths open() removed as leftovers of interrupted work.
  const std::vector<std::string>& cleaned_at_open() const { return cleaned_; }

 private:
  explicit ImageStore(StoreOptions options);
  std::string image_path(std::string_view digest) const;
  std::string record_path(std::string_view digest) const;
  std::string lock_path(std::string_view digest) const;
  Result<void> clean_leftovers();
  Result<void> clean_work_dir(const std::string& dir);
  Result<ImageInfo> convert(std::span<const uint8_t> zip, const std::string& digest,
                            uint64_t budget);
  Result<ImageInfo> check_budget(ImageInfo info, uint64_t budget) const;

  StoreOptions options_;
  std::string images_dir_, tmp_dir_, locks_dir_, scratch_dir_;
  std::vector<std::string> cleaned_;
};

}  // namespace thaw::layers
