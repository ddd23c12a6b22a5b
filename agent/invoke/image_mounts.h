// Host mounts of the EROFS images sandboxes share: each function code image
// and layer image is mounted once, read-only, under <work>/code/<digest> or
// <work>/layers/<digest>, and every process sandbox binds it. Thread-safe
// (cold starts run on worker threads); unmounts everything on destruction.
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "common/result.h"

namespace thaw::agent {

class ImageMounts {
 public:
  explicit ImageMounts(std::string work_dir) : work_dir_(std::move(work_dir)) {}
  ~ImageMounts();
  ImageMounts(const ImageMounts&) = delete;
  ImageMounts& operator=(const ImageMounts&) = delete;

  // The mount point of `image` (kind "code" or "layers", keyed by the
  // image's content digest), mounting it on first use.
  Result<std::string> mount(const std::string& kind, const std::string& digest,
                            const std::string& image);

 private:
  std::string work_dir_;
  std::mutex mu_;
  std::set<std::string> mounted_;
};

}  // namespace thaw::agent
