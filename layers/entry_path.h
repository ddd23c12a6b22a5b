// Pure checks on ZIP entry names and symlink targets: no I/O, so the unpacker,
// the package tree and the fuzzer share them. A name that could reach outside
// the package is refused here, before anything touches the disk.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "layers/zip_policy.h"

namespace thaw::layers {

struct EntryPath {
  std::string path;         // "a/b/c": no leading or trailing '/', no "." or ".." parts;
                            // "" only for a directory entry naming the root ("./")
  bool is_directory = false;  // the name ended in '/'
};

// Normalises a ZIP entry name ("./a//b/" -> "a/b", directory). Refuses empty
// names, absolute paths, ".." parts, backslashes, NUL and control bytes, and
// names over the policy's length/depth limits. Errors do not name the entry;
// the caller prefixes that.
Result<EntryPath> normalize_entry_name(std::string_view raw, const ZipPolicy& policy);

// Checks a symlink target the way the kernel will walk it from the link's
// directory, without looking at other links: absolute targets and targets
// whose ".." parts climb above the package root are refused. Returns the
// lexically resolved path ("" is the package root).
Result<std::string> resolve_link_lexically(std::string_view link_path, std::string_view target,
                                           const ZipPolicy& policy);

// Splits on '/', dropping empty parts ("a//b/" -> {"a","b"}).
std::vector<std::string_view> split_path(std::string_view path);

// A name as it may appear in an error message: control bytes and '\' are
// escaped (\xNN) so a hostile name cannot forge log lines, and anything past
// 200 bytes is cut ("...").
std::string printable_name(std::string_view raw);

// "a/b/c" -> "a/b"; "c" -> "".
std::string_view parent_of(std::string_view path);

}  // namespace thaw::layers
