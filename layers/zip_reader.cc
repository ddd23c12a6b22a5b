#include "layers/zip_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <memory>
#include <vector>

#include "layers/entry_path.h"
#include "layers/package_tree.h"
#include "layers/zip_directory.h"

namespace thaw::layers {

namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

std::string archive_message(archive* a) {
  const char* msg = archive_error_string(a);
  return msg ? msg : "unknown libarchive error";
}

// Walks one package; a class so each check reads as one small step.
class ZipWalk {
 public:
  ZipWalk(std::span<const uint8_t> zip, const ZipPolicy& policy, EntrySink& sink)
      : zip_(zip), policy_(policy), sink_(sink), buffer_(256 * 1024) {}

  Result<UnpackStats> run();

 private:
  Error entry_error(const Error& e) const {
    return e.context(fmt::format("ZIP entry #{} '{}'", index_, printable_name(raw_name_)));
  }
  Result<void> one_entry(archive* a, archive_entry* e);
  Result<void> charge(uint64_t bytes);
  Result<void> copy_data(archive* a, archive_entry* e);

  std::span<const uint8_t> zip_;
  const ZipPolicy& policy_;
  EntrySink& sink_;
  PackageTree tree_;
  UnpackStats stats_;
  std::vector<uint8_t> buffer_;
  uint64_t index_ = 0;
  std::string raw_name_;
};

Result<UnpackStats> ZipWalk::run() {
  if (zip_.size() > policy_.max_zip_bytes) {
    return Error::format(
        "the ZIP is {} bytes, over the limit of {} bytes; make it smaller or move "
        "dependencies into layers",
        zip_.size(), policy_.max_zip_bytes);
  }
  auto declared = scan_central_directory(zip_, policy_.max_entries);
  if (!declared) return std::move(declared).error();
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  if (!a) return Error::format("libarchive: out of memory creating a reader");
  // The central directory is authoritative (as for unzip and Lambda), so
  // local headers that disagree with it cannot smuggle in extra entries.
  archive_read_support_format_zip_seekable(a.get());
  if (archive_read_open_memory(a.get(), zip_.data(), zip_.size()) != ARCHIVE_OK) {
    return Error::format(
        "the package is not a readable ZIP archive ({}); it is truncated or corrupt, "
        "re-create it",
        archive_message(a.get()));
  }
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    ++index_;
    raw_name_.clear();
    if (r != ARCHIVE_OK) {
      return Error::format(
          "ZIP entry #{}: cannot read its header ({}); the archive is truncated or corrupt, "
          "re-create it",
          index_, archive_message(a.get()));
    }
    if (auto ok = one_entry(a.get(), e); !ok) return entry_error(ok.error());
  }
  // libarchive skips entries it cannot place (it did so for overlapping
  // ones before the directory scan refused them); a package that unpacks to
  // less than its directory lists is not the package that was uploaded.
  if (index_ != *declared) {
    return Error::format(
        "the ZIP's central directory lists {} entries but {} could be read; the archive is "
        "corrupt, re-create it",
        *declared, index_);
  }
  if (auto ok = tree_.check_symlinks(); !ok) return std::move(ok).error();
  stats_.nodes = tree_.size();
  return stats_;
}

Result<void> ZipWalk::charge(uint64_t bytes) {
  stats_.unpacked_bytes += bytes;
  if (stats_.unpacked_bytes > policy_.max_unpacked_bytes) {
    return Error::format(
        "unpacking it brings the package past {} bytes unpacked, over the limit of {} bytes "
        "(code and layers together); make the package smaller",
        stats_.unpacked_bytes, policy_.max_unpacked_bytes);
  }
  if (stats_.unpacked_bytes > policy_.ratio_floor_bytes &&
      stats_.unpacked_bytes / policy_.max_ratio > zip_.size()) {
    return Error::format(
        "the package unpacks to over {} times its {}-byte ZIP size ({} bytes so far), the "
        "signature of a zip bomb; ship the files without such compression",
        policy_.max_ratio, zip_.size(), stats_.unpacked_bytes);
  }
  return Ok();
}

Result<void> ZipWalk::one_entry(archive* a, archive_entry* e) {
  const char* name = archive_entry_pathname_utf8(e);
  if (!name) name = archive_entry_pathname(e);
  if (!name) return Error::format("its name cannot be decoded; use UTF-8 file names");
  raw_name_ = name;
  if (index_ > policy_.max_entries) {
    return Error::format("the package has more than {} entries; package fewer files",
                         policy_.max_entries);
  }
  if (auto t = check_entry_type(e); !t) return t;
  mode_t type = archive_entry_filetype(e);
  auto path = normalize_entry_name(raw_name_, policy_);
  if (!path) return std::move(path).error();
  // Some zip tools store the package root itself as "./"; it adds nothing.
  if (path->path.empty() && type == AE_IFDIR) return Ok();
  if (path->path.empty()) {
    return Error::format("it names the package root but is not a directory");
  }
  bool is_dir = type == AE_IFDIR || path->is_directory;
  if (path->is_directory && type == AE_IFLNK) {
    return Error::format("its name ends in '/' but it is a symlink");
  }
  uint32_t mode = archive_entry_perm(e) & 0777;  // no setuid/setgid: images are root-owned
  int64_t mtime = archive_entry_mtime(e);
  NodeKind kind = is_dir ? NodeKind::kDirectory
                         : type == AE_IFLNK ? NodeKind::kSymlink : NodeKind::kFile;
  std::string target;
  if (kind == NodeKind::kSymlink) {
    const char* t = archive_entry_symlink_utf8(e);
    if (!t) t = archive_entry_symlink(e);
    if (!t) return Error::format("its symlink target cannot be decoded");
    target = t;
    if (auto inside = resolve_link_lexically(path->path, target, policy_); !inside) {
      return std::move(inside).error();
    }
  }
  if (auto added = tree_.add(path->path, kind, target); !added) return std::move(added).error();
  if (tree_.name_bytes() > policy_.max_total_name_bytes) {
    return Error::format(
        "the package's names (with their parent directories) take more than {} bytes; "
        "use shorter or shallower paths",
        policy_.max_total_name_bytes);
  }
  if (tree_.size() > policy_.max_entries) {
    return Error::format(
        "the package holds more than {} files, directories and symlinks (implicit parent "
        "directories count); package fewer files",
        policy_.max_entries);
  }
  switch (kind) {
    case NodeKind::kDirectory:
      return sink_.directory(path->path, mode, mtime);
    case NodeKind::kSymlink:
      ++stats_.symlinks;
      if (auto c = charge(target.size()); !c) return c;
      return sink_.symlink(path->path, target, mtime);
    case NodeKind::kFile:
      ++stats_.files;
      if (auto b = sink_.begin_file(path->path, mode, mtime); !b) return b;
      if (auto d = copy_data(a, e); !d) return d;
      return sink_.end_file();
  }
  return Ok();
}

Result<void> ZipWalk::copy_data(archive* a, archive_entry* e) {
  // The declared size is a hint only; it lets an honest over-limit entry fail
  // before any byte is written. The bytes actually produced are charged below.
  if (archive_entry_size_is_set(e)) {
    uint64_t declared = static_cast<uint64_t>(archive_entry_size(e));
    if (declared > policy_.max_unpacked_bytes - stats_.unpacked_bytes) {
      return Error::format(
          "it declares {} bytes unpacked, more than the {} bytes left of the {}-byte limit "
          "(code and layers together); make the package smaller",
          declared, policy_.max_unpacked_bytes - stats_.unpacked_bytes,
          policy_.max_unpacked_bytes);
    }
  }
  for (;;) {
    la_ssize_t n = archive_read_data(a, buffer_.data(), buffer_.size());
    if (n == 0) return Ok();
    if (n < 0) {
      return Error::format("its data is truncated or corrupt ({}); re-create the archive",
                           archive_message(a));
    }
    auto chunk = std::span<const uint8_t>(buffer_.data(), static_cast<size_t>(n));
    if (auto c = charge(chunk.size()); !c) return c;
    if (auto w = sink_.file_data(chunk); !w) return w;
  }
}

}  // namespace

Result<void> check_entry_type(archive_entry* e) {
  if (archive_entry_is_encrypted(e)) {
    return Error::format("it is encrypted; upload a ZIP without a password");
  }
  if (archive_entry_hardlink(e)) {
    return Error::format("it is a hard link, which packages may not contain; store a copy");
  }
  mode_t type = archive_entry_filetype(e);
  if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
    return Error::format("it is {}; packages may hold only files, directories and symlinks",
                         filetype_name(type));
  }
  return Ok();
}

Result<UnpackStats> read_zip(std::span<const uint8_t> zip, const ZipPolicy& policy,
                             EntrySink& sink) {
  return ZipWalk(zip, policy, sink).run();
}

}  // namespace thaw::layers
