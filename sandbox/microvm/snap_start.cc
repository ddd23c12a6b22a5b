#include "sandbox/microvm/snap_start.h"

#include <openssl/evp.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "common/file_util.h"

namespace thaw {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr size_t kNoticeEntropyBytes = 64;

std::atomic<uint64_t> tmp_counter{0};

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Names that become path components: what the Lambda API allows
// (function names, "$LATEST", version numbers), nothing that walks paths.
bool safe_component(const std::string& s) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '$' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// "path size mtime": a file's identity for the snapshot key (images are
// content-addressed by path; the kernel and initramfs change in place).
std::string file_identity(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) < 0) return path + " missing";
  return fmt::format("{} {} {}.{}", path, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

std::string sha256_prefix(std::string_view data, size_t hex_chars) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < len && hex.size() < hex_chars; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

// The Lambda error body of an init/restore error frame.
std::string error_body_of(const Frame& f, std::string_view fallback_type) {
  auto report = decode_error_report(f.payload);
  if (report) return report->body;
  return error_body_json(fallback_type, report.error().message);
}

}  // namespace

Result<Frame> next_frame(Sandbox& sandbox, int timeout_ms, std::string* log) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto f = sandbox.receive(static_cast<int>(std::max<int64_t>(0, left.count())));
    if (!f) return std::move(f).error();
    if (!*f) return Error::format("no frame from the sandbox within {} ms", timeout_ms);
    Frame& frame = **f;
    if (frame.type == FrameType::kLogChunk) {
      if (auto chunk = decode_log_chunk(frame.payload); chunk && log != nullptr) *log += chunk->text;
      continue;
    }
    if (frame.type == FrameType::kMetrics) continue;
    return std::move(frame);
  }
}

Result<Frame> await_frame(Sandbox& sandbox, FrameType want, int timeout_ms, std::string* log) {
  auto f = next_frame(sandbox, timeout_ms, log);
  if (!f) return Error(f.error()).context(fmt::format("waiting for a {} frame", frame_type_name(want)));
  if (f->type == want) return f;
  std::string detail(f->payload.begin(), f->payload.end());
  if (auto report = decode_error_report(f->payload)) detail = report->body;
  return Error::format("expected a {} frame, got {}: {:.400}", frame_type_name(want),
                       frame_type_name(f->type), detail);
}

RestoreNotice fresh_restore_notice() {
  RestoreNotice n;
  n.wall_clock_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
  n.entropy.resize(kNoticeEntropyBytes);
  size_t got = 0;
  while (got < n.entropy.size()) {
    ssize_t r = ::getrandom(n.entropy.data() + got, n.entropy.size() - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
  return n;
}

SnapStart::SnapStart(MicrovmGuest guest, std::string snapshots_dir)
    : guest_(std::move(guest)), snapshots_dir_(std::move(snapshots_dir)) {}

MicrovmSandboxOptions SnapStart::sandbox_options(const FunctionImages& images) const {
  MicrovmSandboxOptions o;
  o.vmm_path = guest_.vmm_path;
  o.kernel_path = guest_.kernel_path;
  o.initramfs_path = guest_.initramfs_path;
  o.cmdline = guest_.cmdline;
  o.cpu_model = guest_.cpu_model;
  o.root_image = images.root_image;
  o.code_image = images.code_image;
  o.layer_images = images.layer_images;
  o.tmp_size_mb = images.tmp_size_mb;
  o.work_dir = guest_.work_dir;
  o.boot_timeout_ms = guest_.boot_timeout_ms;
  return o;
}

Result<std::string> SnapStart::snapshot_dir(const std::string& function, const std::string& version,
                                            const InitConfig& init,
                                            const FunctionImages& images) const {
  if (!safe_component(function) || !safe_component(version)) {
    return Error::format("function '{}' version '{}' cannot name a snapshot directory (letters, "
                         "digits, '-', '_', '.', '$' only)",
                         function, version);
  }
  // Everything the post-Init guest memory depends on. The log stream name
  // is per sandbox, so it is left out (a restored sandbox keeps the one
  // Init ran with, as Lambda SnapStart does).
  InitConfig keyed = init;
  keyed.log_stream.clear();
  auto config = encode_init_config(keyed);
  std::string material(config.begin(), config.end());
  for (const auto& f : {guest_.kernel_path, guest_.initramfs_path, images.root_image,
                        images.code_image}) {
    material += "\n" + file_identity(f);
  }
  for (const auto& l : images.layer_images) material += "\n" + file_identity(l);
  material += fmt::format("\n{}\n{}\n{}", guest_.cmdline, guest_.cpu_model, images.tmp_size_mb);
  return fmt::format("{}/{}/{}-{}", snapshots_dir_, function, version, sha256_prefix(material, 16));
}

std::shared_ptr<std::mutex> SnapStart::lock_for(const std::string& dir) {
  std::lock_guard lock(mu_);
  auto& m = locks_[dir];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

Result<MicrovmColdStart> SnapStart::cold_start(const std::string& function,
                                               const std::string& version, const InitConfig& init,
                                               const FunctionImages& images, int init_timeout_ms) {
  auto dir = snapshot_dir(function, version, init, images);
  if (!dir) return std::move(dir).error();
  // Concurrent cold starts of one version wait for the first one's
  // snapshot and restore it, instead of each booting the guest.
  auto key_lock = lock_for(*dir);
  std::lock_guard hold(*key_lock);
  MicrovmColdStart out;
  if (::access((*dir + "/state").c_str(), F_OK) == 0) {
    auto t0 = Clock::now();
    auto sandbox = std::make_unique<MicrovmSandbox>(sandbox_options(images));
    auto restored = sandbox->restore(*dir, fresh_restore_notice());
    if (restored) {
      out.restored = true;
      out.init_log += sandbox->restore_log();
      out.create_ms = std::chrono::duration<double, std::milli>(sandbox->phases().connected).count();
      out.restore_ms = ms_since(t0);
      out.sandbox = std::move(sandbox);
      return out;
    }
    // A snapshot this host can no longer restore (corrupt, or made by an
    // older thaw-vmm) is dropped; the version boots and snapshots again.
    (void)sandbox->kill();
    out.init_log += fmt::format("thawd: restoring the snapshot {} failed; booting instead: {}\n",
                                *dir, restored.error().message.substr(0, 600));
    remove_tree(*dir);
  }
  auto booted = boot(*dir, init, images, init_timeout_ms);
  if (!booted) return booted;
  booted->init_log = out.init_log + booted->init_log;
  return booted;
}

Result<MicrovmColdStart> SnapStart::boot(const std::string& dir, const InitConfig& init,
                                         const FunctionImages& images, int init_timeout_ms) {
  MicrovmColdStart out;
  auto sandbox = std::make_unique<MicrovmSandbox>(sandbox_options(images));
  if (auto ok = sandbox->start(init); !ok) return std::move(ok).error().context("booting the microVM");
  out.create_ms = std::chrono::duration<double, std::milli>(sandbox->phases().connected).count();
  auto t_init = Clock::now();
  auto ready = next_frame(*sandbox, init_timeout_ms, &out.init_log);
  out.init_ms = ms_since(t_init);
  if (!ready || ready->type != FrameType::kReady) {
    // The function's Init failed: thaw-init's error report, or what
    // happened instead (the VM died, Init ran past its limit).
    (void)sandbox->kill();
    if (ready && ready->type == FrameType::kInitError) {
      out.init_error = error_body_of(*ready, "Runtime.ExitError");
    } else if (ready) {
      out.init_error = error_body_json(
          "Sandbox.InitFailed", fmt::format("unexpected {} frame during Init",
                                            frame_type_name(ready->type)));
    } else if (ready.error().message.starts_with("no frame")) {
      out.init_error = error_body_json(
          "Sandbox.Timedout", fmt::format("Init phase did not finish within {} ms", init_timeout_ms));
    } else {
      out.init_error = error_body_json("Runtime.ExitError", ready.error().message);
    }
    return out;
  }
  // The function snapshot: written beside its final name and renamed, so
  // a directory under its final name is always complete.
  auto t_snap = Clock::now();
  std::string tmp = fmt::format("{}.tmp-{}-{}", dir, ::getpid(), tmp_counter.fetch_add(1));
  std::error_code ec;
  fs::create_directories(fs::path(dir).parent_path(), ec);
  auto saved = sandbox->snapshot(tmp);
  if (saved && ::rename(tmp.c_str(), dir.c_str()) < 0) saved = Error::from_errno("rename {} -> {}", tmp, dir);
  if (!saved) {
    remove_tree(tmp);
    out.init_log += fmt::format("thawd: no function snapshot for this version (cold starts will "
                                "boot): {}\n", saved.error().message.substr(0, 600));
  }
  out.snapshot_ms = ms_since(t_snap);
  out.sandbox = std::move(sandbox);
  return out;
}

}  // namespace thaw
