// Turns an unpacked package directory into a read-only EROFS image by running
// mkfs.erofs (erofs-utils) as a child process. Owners are forced to root and
// xattrs dropped so an image depends only on the package's names, modes,
// times and bytes. Used by the image store.
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"

namespace thaw::layers {

enum class ImageCompression { kNone, kLz4, kLz4hc };

struct ErofsOptions {
  std::string mkfs_path;  // absolute; see find_program()
  ImageCompression compression = ImageCompression::kNone;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

// Writes `image_path` (must not exist) from `source_dir` and fsyncs it. On
// failure the partial image is removed and the error quotes mkfs.erofs.
Result<void> build_erofs_image(const std::string& source_dir, const std::string& image_path,
                               const ErofsOptions& options);

}  // namespace thaw::layers
