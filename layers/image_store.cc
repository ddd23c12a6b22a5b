#include "layers/image_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <map>

#include "common/file_util.h"
#include "layers/child_process.h"
#include "layers/directory_sink.h"
#include "layers/entry_path.h"
#include "layers/sha256.h"
#include "layers/store_lock.h"
#include "layers/zip_reader.h"

namespace thaw::layers {

namespace json = boost::json;

namespace {

constexpr size_t kMaxRecordBytes = 4096;

Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::from_errno("mkdir {}", path);
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Error::from_errno("stat {}", path);
  if (!S_ISDIR(st.st_mode)) {
    return Error::format("{} exists but is not a directory; move it away", path);
  }
  return Ok();
}

// The temp tree of one conversion; removed on every exit path.
class WorkDir {
 public:
  static Result<WorkDir> create(const std::string& tmp_dir, const std::string& digest) {
    std::string templ = fmt::format("{}/{}.XXXXXX", tmp_dir, digest);
    if (!::mkdtemp(templ.data())) return Error::from_errno("mkdtemp {}", templ);
    return WorkDir(std::move(templ));
  }
  WorkDir(WorkDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  WorkDir(const WorkDir&) = delete;
  ~WorkDir() {
    if (!path_.empty()) remove_tree(path_);
  }
  const std::string& path() const { return path_; }

 private:
  explicit WorkDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

Result<void> fsync_dir(const std::string& dir) {
  auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!fd) return std::move(fd).error();
  if (::fsync(fd->get()) != 0) return Error::from_errno("fsync {}", dir);
  return Ok();
}

Result<uint64_t> get_u64(const json::object& o, std::string_view key, const std::string& file) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_number()) {
    return Error::format("{}: field '{}' is missing or not a number", file, key);
  }
  std::error_code ec;
  uint64_t n = v->to_number<uint64_t>(ec);
  if (ec) return Error::format("{}: field '{}' is not a non-negative integer", file, key);
  return n;
}

// Splits "<digest>.<suffix>" names in images/ and tmp/.
std::pair<std::string, std::string> split_name(const std::string& name) {
  size_t dot = name.find('.');
  if (dot == std::string::npos) return {name, ""};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

Result<std::vector<std::string>> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return Error::from_errno("opendir {}", dir);
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  return names;
}

}  // namespace

ImageStore::ImageStore(StoreOptions options)
    : options_(std::move(options)),
      images_dir_(options_.state_dir + "/images"),
      tmp_dir_(options_.state_dir + "/tmp"),
      locks_dir_(options_.state_dir + "/locks"),
      scratch_dir_(options_.scratch_dir.empty() ? tmp_dir_ : options_.scratch_dir) {}

std::string ImageStore::image_path(std::string_view digest) const {
  return fmt::format("{}/{}.erofs", images_dir_, digest);
}
std::string ImageStore::record_path(std::string_view digest) const {
  return fmt::format("{}/{}.json", images_dir_, digest);
}
std::string ImageStore::lock_path(std::string_view digest) const {
  return fmt::format("{}/{}.lock", locks_dir_, digest);
}

Result<ImageStore> ImageStore::open(StoreOptions options) {
  if (options.state_dir.empty()) return Error::format("image store: state_dir is empty");
  if (options.mkfs_path.empty()) {
    auto found = find_program("mkfs.erofs", "/usr/sbin:/usr/bin:/sbin:/bin");
    if (!found) return std::move(found).error();
    options.mkfs_path = *found;
  }
  ImageStore store(std::move(options));
  for (const auto& dir : {store.options_.state_dir, store.images_dir_, store.tmp_dir_,
                          store.locks_dir_, store.scratch_dir_}) {
    if (auto r = make_dir(dir); !r) return std::move(r).error();
  }
  if (auto r = store.clean_leftovers(); !r) return std::move(r).error();
  return store;
}

Result<void> ImageStore::clean_work_dir(const std::string& dir) {
  auto tmp = list_dir(dir);
  if (!tmp) return std::move(tmp).error();
  for (const auto& name : *tmp) {
    auto [digest, rest] = split_name(name);
    // A live conversion holds its digest's lock; only orphans are removed.
    if (is_sha256_hex(digest)) {
      auto lock = StoreLock::acquire(lock_path(digest), StoreLock::Mode::kTry);
      if (!lock) return std::move(lock).error();
      if (!lock->held()) continue;
    }
    remove_tree(dir + "/" + name);
    cleaned_.push_back(dir + "/" + name);
  }
  return Ok();
}

Result<void> ImageStore::clean_leftovers() {
  if (auto r = clean_work_dir(tmp_dir_); !r) return r;
  if (scratch_dir_ != tmp_dir_) {
    if (auto r = clean_work_dir(scratch_dir_); !r) return r;
  }
  auto images = list_dir(images_dir_);
  if (!images) return std::move(images).error();
  std::map<std::string, std::vector<std::string>> by_digest;
  for (const auto& name : *images) by_digest[split_name(name).first].push_back(name);
  for (const auto& [digest, names] : by_digest) {
    if (!is_sha256_hex(digest)) continue;  // not ours; leave it for the operator
    bool has_image = false, has_record = false;
    for (const auto& n : names) {
      has_image |= n == digest + ".erofs";
      has_record |= n == digest + ".json";
    }
    if (has_image && has_record && names.size() == 2) continue;
    auto lock = StoreLock::acquire(lock_path(digest), StoreLock::Mode::kTry);
    if (!lock) return std::move(lock).error();
    if (!lock->held()) continue;
    for (const auto& n : names) {
      bool keep = has_image && has_record && (n == digest + ".erofs" || n == digest + ".json");
      // A record without its image is a conversion that died before the
      // rename; an image without a record cannot be trusted either.
      if (keep) continue;
      std::string path = images_dir_ + "/" + n;
      if (::unlink(path.c_str()) == 0) cleaned_.push_back(path);
    }
  }
  return Ok();
}

Result<ImageInfo> ImageStore::check_budget(ImageInfo info, uint64_t budget) const {
  if (info.unpacked_bytes > budget) {
    return Error::format(
        "the package unpacks to {} bytes, over the {} bytes left of the {}-byte limit for "
        "code and layers together; make it or its layers smaller",
        info.unpacked_bytes, budget, options_.policy.max_unpacked_bytes);
  }
  return info;
}

Result<ImageInfo> ImageStore::put_file(const std::string& zip_path,
                                       std::optional<uint64_t> unpacked_budget) {
  auto bytes = read_file(zip_path, options_.policy.max_zip_bytes);
  if (!bytes) {
    return std::move(bytes).error().context(
        fmt::format("reading package (ZIP limit {} bytes)", options_.policy.max_zip_bytes));
  }
  return put(*bytes, unpacked_budget);
}

Result<ImageInfo> ImageStore::put(std::span<const uint8_t> zip,
                                  std::optional<uint64_t> unpacked_budget) {
  uint64_t budget = std::min(unpacked_budget.value_or(options_.policy.max_unpacked_bytes),
                             options_.policy.max_unpacked_bytes);
  if (zip.size() > options_.policy.max_zip_bytes) {
    return Error::format(
        "the ZIP is {} bytes, over the limit of {} bytes; make it smaller or move "
        "dependencies into layers",
        zip.size(), options_.policy.max_zip_bytes);
  }
  std::string digest = sha256_hex(zip);
  auto existing = find(digest);
  if (!existing) return std::move(existing).error();
  if (!*existing) {
    auto lock = StoreLock::acquire(lock_path(digest), StoreLock::Mode::kWait);
    if (!lock) return std::move(lock).error();
    existing = find(digest);  // another caller may have finished it while we waited
    if (!existing) return std::move(existing).error();
    if (!*existing) return convert(zip, digest, budget);
  }
  // Re-uploading renews the grace period that protects it from gc().
  ::utimensat(AT_FDCWD, (*existing)->image_path.c_str(), nullptr, 0);
  return check_budget(std::move(**existing), budget);
}

Result<ImageInfo> ImageStore::convert(std::span<const uint8_t> zip, const std::string& digest,
                                      uint64_t budget) {
  auto work = WorkDir::create(tmp_dir_, digest);
  if (!work) return std::move(work).error();
  std::optional<WorkDir> scratch;
  if (scratch_dir_ != tmp_dir_) {
    auto s = WorkDir::create(scratch_dir_, digest);
    if (!s) return std::move(s).error();
    scratch.emplace(std::move(*s));
  }
  auto sink = DirectorySink::create((scratch ? scratch->path() : work->path()) + "/root");
  if (!sink) return std::move(sink).error();
  ZipPolicy policy = options_.policy;
  policy.max_unpacked_bytes = budget;
  auto stats = read_zip(zip, policy, *sink);
  if (!stats) return std::move(stats).error();
  if (auto f = sink->finish(); !f) return std::move(f).error();

  std::string staged = work->path() + "/image.erofs";
  ErofsOptions erofs{options_.mkfs_path, options_.compression};
  if (auto b = build_erofs_image(sink->root(), staged, erofs); !b) return std::move(b).error();
  struct stat st {};
  if (::stat(staged.c_str(), &st) != 0) return Error::from_errno("stat {}", staged);

  ImageInfo info{digest,
                 image_path(digest),
                 zip.size(),
                 stats->unpacked_bytes,
                 stats->nodes,
                 static_cast<uint64_t>(st.st_size)};
  json::object record{{"digest", digest},
                      {"zip_bytes", info.zip_bytes},
                      {"unpacked_bytes", info.unpacked_bytes},
                      {"nodes", info.nodes},
                      {"files", stats->files},
                      {"symlinks", stats->symlinks},
                      {"image_bytes", info.image_bytes}};
  std::string text = json::serialize(record);
  // Record first, image second: the image's name appearing is the commit.
  auto w = write_file_atomic(record_path(digest),
                             {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, 0644);
  if (!w) return std::move(w).error();
  if (::rename(staged.c_str(), info.image_path.c_str()) != 0) {
    auto err = Error::from_errno("rename {} to {}", staged, info.image_path);
    ::unlink(record_path(digest).c_str());
    return err;
  }
  if (auto s = fsync_dir(images_dir_); !s) return std::move(s).error();
  return check_budget(std::move(info), budget);
}

Result<std::optional<ImageInfo>> ImageStore::find(std::string_view digest) const {
  if (!is_sha256_hex(digest)) {
    return Error::format("'{}' is not an image digest (64 lowercase hex digits of SHA-256)",
                         printable_name(digest.substr(0, 80)));
  }
  std::string image = image_path(digest);
  struct stat st {};
  if (::stat(image.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<ImageInfo>{};
    return Error::from_errno("stat {}", image);
  }
  std::string record = record_path(digest);
  auto bytes = read_file(record, kMaxRecordBytes);
  if (!bytes) {
    // gc() removes the image before the record, so this is a race lost to it.
    if (bytes.error().sys_errno == ENOENT) return std::optional<ImageInfo>{};
    return std::move(bytes).error();
  }
  std::error_code ec;
  json::value v = json::parse(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), ec);
  if (ec || !v.is_object()) {
    return Error::format("{} is not a JSON object ({}); delete it and re-upload the package",
                         record, ec ? ec.message() : "wrong type");
  }
  const json::object& o = v.as_object();
  const json::value* d = o.if_contains("digest");
  if (!d || !d->is_string() || d->as_string() != digest) {
    return Error::format("{} does not name digest {}; delete it and re-upload", record, digest);
  }
  ImageInfo info;
  info.digest = std::string(digest);
  info.image_path = image;
  info.image_bytes = static_cast<uint64_t>(st.st_size);
  for (auto [key, field] : {std::pair{"zip_bytes", &info.zip_bytes},
                            std::pair{"unpacked_bytes", &info.unpacked_bytes},
                            std::pair{"nodes", &info.nodes}}) {
    auto n = get_u64(o, key, record);
    if (!n) return std::move(n).error();
    *field = *n;
  }
  return std::optional<ImageInfo>(std::move(info));
}

Result<std::vector<ImageInfo>> ImageStore::list() const {
  auto names = list_dir(images_dir_);
  if (!names) return std::move(names).error();
  std::vector<ImageInfo> out;
  for (const auto& name : *names) {
    auto [digest, suffix] = split_name(name);
    if (suffix != "erofs" || !is_sha256_hex(digest)) continue;
    auto info = find(digest);
    if (!info) return std::move(info).error();
    if (*info) out.push_back(std::move(**info));
  }
  return out;
}

Result<GcReport> ImageStore::gc(const std::set<std::string>& referenced,
                                const std::set<std::string>& in_use) {
  auto names = list_dir(images_dir_);
  if (!names) return std::move(names).error();
  GcReport report;
  auto now = std::chrono::system_clock::now();
  for (const auto& name : *names) {
    auto [digest, suffix] = split_name(name);
    if (suffix != "erofs" || !is_sha256_hex(digest) || referenced.count(digest)) continue;
    if (in_use.count(digest)) {
      report.kept_in_use.push_back(digest);
      continue;
    }
    std::string image = image_path(digest);
    struct stat st {};
    if (::stat(image.c_str(), &st) != 0) continue;  // collected meanwhile
    auto mtime = std::chrono::system_clock::time_point(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec));
    if (now - mtime < options_.gc_grace) {
      report.kept_young.push_back(digest);
      continue;
    }
    auto lock = StoreLock::acquire(lock_path(digest), StoreLock::Mode::kTry);
    if (!lock) return std::move(lock).error();
    if (!lock->held()) {
      report.kept_busy.push_back(digest);
      continue;
    }
    // Image first: find() treats "no image" as absent, never half-present.
    if (::unlink(image.c_str()) != 0) return Error::from_errno("unlink {}", image);
    ::unlink(record_path(digest).c_str());
    report.removed.push_back(digest);
    report.bytes_freed += static_cast<uint64_t>(st.st_size);
  }
  if (!report.removed.empty()) {
    if (auto s = fsync_dir(images_dir_); !s) return std::move(s).error();
  }
  return report;
}

}  // namespace thaw::layers
