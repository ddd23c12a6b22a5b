#include "layers/package_tree.h"

#include "layers/entry_path.h"

namespace thaw::layers {

namespace {

constexpr int kMaxSymlinkHops = 40;  // Linux MAXSYMLINKS (include/linux/namei.h)

const char* kind_name(NodeKind kind) {
  switch (kind) {
    case NodeKind::kDirectory: return "directory";
    case NodeKind::kFile: return "file";
    case NodeKind::kSymlink: return "symlink";
  }
  return "entry";
}

void pop_part(std::string& at) { at.resize(parent_of(at).size()); }

}  // namespace

Result<void> PackageTree::add(const std::string& path, NodeKind kind, std::string link_target) {
  // Parents first: each must be a directory or absent (then made implicitly).
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string parent = path.substr(0, slash);
    auto it = nodes_.find(parent);
    if (it == nodes_.end()) {
      name_bytes_ += parent.size();
      nodes_.emplace(std::move(parent), Node{NodeKind::kDirectory, true, {}});
    } else if (it->second.kind != NodeKind::kDirectory) {
      return Error::format("its parent '{}' is a {} in the package, not a directory",
                           printable_name(parent), kind_name(it->second.kind));
    }
  }
  auto [it, inserted] = nodes_.try_emplace(path, Node{kind, false, std::move(link_target)});
  if (inserted) {
    name_bytes_ += path.size() + it->second.target.size();
    return Ok();
  }
  if (kind == NodeKind::kDirectory && it->second.kind == NodeKind::kDirectory &&
      it->second.implicit) {
    it->second.implicit = false;
    return Ok();
  }
  return Error::format(
      "'{}' appears twice in the package (already a {}); names must be unique after "
      "removing './' and repeated '/'",
      printable_name(path), kind_name(it->second.kind));
}

Result<bool> PackageTree::walk(std::string& at, std::string_view target, int& hops) const {
  for (std::string_view part : split_path(target)) {
    if (part == ".") continue;
    if (part == "..") {
      if (at.empty()) return false;
      pop_part(at);
      continue;
    }
    size_t before = at.size();
    if (!at.empty()) at += '/';
    at += part;
    auto it = nodes_.find(at);
    if (it == nodes_.end() || it->second.kind != NodeKind::kSymlink) continue;
    if (++hops > kMaxSymlinkHops) {
      return Error::format("following it takes more than {} symlink hops (a loop)",
                           kMaxSymlinkHops);
    }
    at.resize(before);  // a link resolves relative to the directory holding it
    auto inner = walk(at, it->second.target, hops);
    if (!inner || !*inner) return inner;
  }
  return true;
}

Result<void> PackageTree::check_symlinks() const {
  for (const auto& [path, node] : nodes_) {
    if (node.kind != NodeKind::kSymlink) continue;
    std::string at(parent_of(path));
    int hops = 0;
    auto inside = walk(at, node.target, hops);
    if (!inside) {
      return std::move(inside).error().context(fmt::format("symlink '{}'", printable_name(path)));
    }
    if (!*inside) {
      return Error::format(
          "symlink '{}' -> '{}' leaves the package once the symlinks it passes through are "
          "followed; point it at a path inside the package",
          printable_name(path), printable_name(node.target));
    }
  }
  return Ok();
}

}  // namespace thaw::layers
