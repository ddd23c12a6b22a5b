#include "runtime-api/sandbox_layout.h"

#include <fmt/format.h>

namespace thaw {
namespace {

// Mounts `src` read-only at `dir` unless it is a host directory already,
// and returns the directory that holds its tree.
std::string tree_of(const ImageSource& src, const std::string& dir, std::vector<MountSpec>& m) {
  if (src.fstype == "bind") return src.source;
  m.push_back({src.source, dir, src.fstype, "", true});
  return dir;
}

}  // namespace

std::string layout_root(const SandboxLayout& l) { return l.stage + "/root"; }

std::vector<MountSpec> layout_mounts(const SandboxLayout& l) {
  const std::string& s = l.stage;
  const std::string root = layout_root(l);
  std::vector<MountSpec> m;
  m.push_back({"thaw-stage", s, "tmpfs", fmt::format("mode=0755,size={}m", l.root_upper_mb), false});
  std::string lower = tree_of(l.root, s + "/image", m);
  m.push_back({"overlay", root, "overlay",
               fmt::format("lowerdir={},upperdir={}/upper,workdir={}/work", lower, s, s), false});
  if (!l.code.source.empty()) {
    if (l.code.fstype == "bind") {
      m.push_back({l.code.source, root + "/var/task", "bind", "", true});
    } else {
      m.push_back({l.code.source, root + "/var/task", l.code.fstype, "", true});
    }
  }
  std::vector<std::string> layer_dirs;
  for (size_t i = 0; i < l.layers.size(); ++i) {
    layer_dirs.push_back(tree_of(l.layers[i], fmt::format("{}/layers/{}", s, i), m));
  }
  if (layer_dirs.size() == 1) {
    m.push_back({layer_dirs[0], root + "/opt", "bind", "", true});
  } else if (layer_dirs.size() > 1) {
    // overlayfs lists the TOP layer first; Lambda layers later in the list win.
    std::string lowerdir;
    for (auto it = layer_dirs.rbegin(); it != layer_dirs.rend(); ++it) {
      if (!lowerdir.empty()) lowerdir += ':';
      lowerdir += *it;
    }
    m.push_back({"layers", root + "/opt", "overlay", "lowerdir=" + lowerdir, true});
  } else {
    m.push_back({"opt", root + "/opt", "tmpfs", "mode=0755,size=4k", true});
  }
  m.push_back({"tmp", root + "/tmp", "tmpfs", fmt::format("mode=1777,size={}m", l.tmp_size_mb),
               false});
  m.push_back({"proc", root + "/proc", "proc", "", false});
  if (l.dev == DevNodes::kDevtmpfs) {
    m.push_back({"devtmpfs", root + "/dev", "devtmpfs", "", false});
  } else {
    // A /dev with only the harmless character devices, not the host's.
    m.push_back({"dev", root + "/dev", "tmpfs-dev", "mode=0755,size=64k", false});
    for (const char* dev : {"null", "zero", "full", "random", "urandom"}) {
      m.push_back({std::string("/dev/") + dev, root + "/dev/" + dev, "bind", "", false});
    }
  }
  m.push_back({"shm", root + "/dev/shm", "tmpfs", "mode=1777,size=64m", false});
  return m;
}

}  // namespace thaw
