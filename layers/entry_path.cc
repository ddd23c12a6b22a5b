#include "layers/entry_path.h"

namespace thaw::layers {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string printable_name(std::string_view raw) {
  constexpr size_t kMaxShown = 200;
  std::string out;
  for (size_t i = 0; i < raw.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(raw[i]);
    if (c < 0x20 || c == 0x7f || c == '\\') {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (raw.size() > kMaxShown) out += "...";
  return out;
}

std::string_view parent_of(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
}

namespace {

Result<void> check_bytes(std::string_view raw, std::string_view what) {
  for (unsigned char c : raw) {
    if (c == '\\') {
      return Error::format(
          "{} contains a backslash; ZIP names use '/' (APPNOTE 4.4.17), re-create the "
          "archive with a tool that writes forward slashes",
          what);
    }
    if (c < 0x20 || c == 0x7f) {
      return Error::format("{} contains the control byte 0x{:02x}; rename the file", what, c);
    }
  }
  return Ok();
}

}  // namespace

Result<EntryPath> normalize_entry_name(std::string_view raw, const ZipPolicy& policy) {
  if (raw.empty()) return Error::format("the entry name is empty");
  if (raw.size() > policy.max_path_bytes) {
    return Error::format("the name is {} bytes, over the {}-byte path limit; shorten it",
                         raw.size(), policy.max_path_bytes);
  }
  if (auto r = check_bytes(raw, "the name"); !r) return std::move(r).error();
  if (raw.front() == '/') {
    return Error::format(
        "the name is an absolute path; entries must be relative to the package root");
  }
  EntryPath out;
  out.is_directory = raw.back() == '/';
  uint32_t depth = 0;
  for (std::string_view part : split_path(raw)) {
    if (part == ".") continue;
    if (part == "..") {
      return Error::format(
          "the name contains a '..' part, which could write outside the package; "
          "remove it");
    }
    if (part.size() > policy.max_component_bytes) {
      return Error::format("a name part is {} bytes, over the {}-byte limit; shorten it",
                           part.size(), policy.max_component_bytes);
    }
    if (++depth > policy.max_depth) {
      return Error::format("the name is nested deeper than {} directories; flatten it",
                           policy.max_depth);
    }
    if (!out.path.empty()) out.path += '/';
    out.path += part;
  }
  if (out.path.empty() && !out.is_directory) {
    return Error::format("the file name has no parts besides '.' and '/'; give the file a name");
  }
  return out;
}

Result<std::string> resolve_link_lexically(std::string_view link_path, std::string_view target,
                                           const ZipPolicy& policy) {
  if (target.empty()) return Error::format("the symlink target is empty");
  if (target.size() > policy.max_path_bytes) {
    return Error::format("the symlink target is {} bytes, over the {}-byte limit",
                         target.size(), policy.max_path_bytes);
  }
  if (auto r = check_bytes(target, "the symlink target"); !r) return std::move(r).error();
  if (target.front() == '/') {
    return Error::format(
        "the symlink target '{}' is absolute; only relative targets that stay inside "
        "the package are allowed",
        printable_name(target));
  }
  std::vector<std::string_view> at = split_path(parent_of(link_path));
  for (std::string_view part : split_path(target)) {
    if (part == ".") continue;
    if (part == "..") {
      if (at.empty()) {
        return Error::format("the symlink target '{}' climbs above the package root",
                             printable_name(target));
      }
      at.pop_back();
      continue;
    }
    at.push_back(part);
  }
  std::string resolved;
  for (std::string_view part : at) {
    if (!resolved.empty()) resolved += '/';
    resolved += part;
  }
  return resolved;
}

}  // namespace thaw::layers
