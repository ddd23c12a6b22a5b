// The set of names a package unpacks to, kept while streaming so duplicates,
// file-vs-directory clashes and symlinks that escape through other symlinks
// are refused before an image is built. Used by the ZIP reader.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "common/result.h"
#include "layers/zip_policy.h"

namespace thaw::layers {

enum class NodeKind { kDirectory, kFile, kSymlink };

class PackageTree {
 public:
  // Records a normalised path. Missing parent directories are added
  // implicitly (and count as nodes). Refuses a name seen before (an explicit
  // directory may name one created implicitly), and a path whose parent is a
  // file or a symlink. Errors name the clashing path; the caller adds the entry.
  Result<void> add(const std::string& path, NodeKind kind, std::string link_target = {});

  // Walks every symlink the way the kernel would from the package root,
  // following links inside the package, and refuses the first whose walk
  // climbs above the root (e.g. "d/s" -> ".." then "x" -> "d/s/.."), or that
  // takes more than 40 hops (Linux's MAXSYMLINKS).
  Result<void> check_symlinks() const;

  uint64_t size() const { return nodes_.size(); }
  // Bytes of every name held, implicit parents included.
  uint64_t name_bytes() const { return name_bytes_; }

 private:
  struct Node {
    NodeKind kind;
    bool implicit;
    std::string target;
  };
  // false when the walk leaves the root; hops counts links followed.
  Result<bool> walk(std::string& at, std::string_view target, int& hops) const;

  std::unordered_map<std::string, Node> nodes_;
  uint64_t name_bytes_ = 0;
};

}  // namespace thaw::layers
